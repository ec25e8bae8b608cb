//! `SELECT * FROM ml_explain(model, relation [, top_k])`: every row with its
//! prediction, the model's base value and each feature's contribution.
//!
//! The explanation is a JSON array `[{"feature", "value", "contribution"}]`,
//! largest |contribution| first (the first `top_k` only, when given). The
//! base value plus all contributions is the explained raw output: log-odds
//! for logistic and gbdt classifiers, the class frequency for forests, the
//! value for regressors (see `model::explain`).
//!
//! The work happens in a hidden scalar function ([`ExplainUdf`],
//! `__quarry_explain`) that the table function's plan calls once per row
//! and whose struct result is split into the two columns.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, StringBuilder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, Expr, LogicalPlan, LogicalPlanBuilder,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, col, lit,
};
use datafusion::scalar::ScalarValue;

use crate::error::SqlStateError;
use crate::functions::evaluation::evaluate::model_text;
use crate::functions::relation::{Arg, Call, RelationFunction, find_column};
use crate::functions::scoring::{bind, feature_arrays, load};
use crate::model::{FeatureKind, LoadedModel, ModelStore};

pub const NAME: &str = "ml_explain";
/// The hidden scalar that computes explanations for the table function.
pub const ROW_FUNCTION: &str = "__quarry_explain";
const STRUCT_COLUMN: &str = "__quarry_explanation";

fn struct_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("base_value", DataType::Float64, true),
        Field::new("explanation", DataType::Utf8, true),
    ]))
}

/// `__quarry_explain(model, top_k, feature, ...)` → struct(base_value, explanation).
#[derive(Debug)]
pub struct ExplainUdf {
    store: Arc<dyn ModelStore>,
    signature: Signature,
}

impl ExplainUdf {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        ExplainUdf {
            store,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl PartialEq for ExplainUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Eq for ExplainUdf {}

impl std::hash::Hash for ExplainUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        ROW_FUNCTION.hash(state);
    }
}

impl ScalarUDFImpl for ExplainUdf {
    fn name(&self) -> &str {
        ROW_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(struct_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = |i: usize| match args.args.get(i) {
            Some(ColumnarValue::Scalar(v)) => Some(v.clone()),
            _ => None,
        };
        let model =
            load(self.store.as_ref(), NAME, scalar(0).as_ref()).map_err(SqlStateError::into_df)?;
        let top_k = match scalar(1) {
            Some(ScalarValue::Int64(Some(k))) if k > 0 => k as usize,
            _ => usize::MAX,
        };
        let fields = &args.arg_fields[2..];
        let order = bind(NAME, &model, fields).map_err(SqlStateError::into_df)?;
        let inputs = feature_arrays(&args.args[2..], fields, &order, args.number_rows)?;
        // TreeSHAP costs O(trees × leaves × depth²) per row: spread a batch's
        // rows over the session's threads (scoped threads, no pool to spin).
        let threads = args.config_options.execution.target_partitions.max(1);
        let rows = args.number_rows;
        let chunk = rows.div_ceil(threads).max(64);
        let ranges: Vec<(usize, usize)> = (0..rows)
            .step_by(chunk)
            .map(|start| (start, chunk.min(rows - start)))
            .collect();
        let parts = crate::kernels::parallel::par_map(&ranges, threads, |&(start, len)| {
            let slice: Vec<_> = inputs.iter().map(|a| a.slice(start, len)).collect();
            model.explain(&slice)
        });
        let mut explained = crate::model::explain::Explained {
            base: Vec::with_capacity(rows),
            contributions: Vec::with_capacity(rows * model.features().len()),
            features: model.features().len(),
        };
        for part in parts {
            let part = part.map_err(SqlStateError::into_df)?;
            explained.base.extend(part.base);
            explained.contributions.extend(part.contributions);
        }
        let values = ValueTexts::new(&model, &inputs)?;
        let mut base = Float64Builder::with_capacity(rows);
        let mut json = StringBuilder::with_capacity(rows, rows * 64);
        let names: Vec<String> = model.features().iter().map(|f| quote(&f.name)).collect();
        let mut order: Vec<usize> = Vec::with_capacity(names.len());
        let mut text = String::new();
        for i in 0..rows {
            base.append_value(explained.base[i]);
            let row = explained.row(i);
            order.clear();
            order.extend(0..row.len());
            order.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()));
            text.clear();
            text.push('[');
            for (n, &f) in order.iter().take(top_k).enumerate() {
                if n > 0 {
                    text.push(',');
                }
                let _ = write!(text, "{{\"feature\":{},\"value\":", names[f]);
                values.write(f, i, &mut text);
                text.push_str(",\"contribution\":");
                number(row[f], &mut text);
                text.push('}');
            }
            text.push(']');
            json.append_value(&text);
        }
        let DataType::Struct(fields) = struct_type() else {
            return Err(SqlStateError::new(
                crate::error::sqlstate::INTERNAL_ERROR,
                "internal error: explanation type",
            )
            .into_df());
        };
        let out = StructArray::try_new(
            fields,
            vec![Arc::new(base.finish()), Arc::new(json.finish())],
            None,
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A float as JSON: shortest round-trip digits, null when not finite.
fn number(v: f64, out: &mut String) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

/// The input values of a batch as JSON text, per feature.
struct ValueTexts {
    columns: Vec<(ArrayRef, bool)>,
}

impl ValueTexts {
    fn new(model: &LoadedModel, inputs: &[ArrayRef]) -> Result<Self> {
        let columns = model
            .features()
            .iter()
            .zip(inputs)
            .map(|(f, a)| {
                let quoted = matches!(f.kind, FeatureKind::Categorical | FeatureKind::Temporal)
                    || matches!(
                        a.data_type(),
                        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                    );
                Ok((cast(a, &DataType::Utf8)?, quoted))
            })
            .collect::<Result<_>>()?;
        Ok(ValueTexts { columns })
    }

    fn write(&self, feature: usize, row: usize, out: &mut String) {
        let (array, quoted) = &self.columns[feature];
        if array.is_null(row) {
            out.push_str("null");
            return;
        }
        let text = array.as_string::<i32>().value(row);
        // NaN and infinity are not JSON numbers.
        if *quoted || text.parse::<f64>().is_ok_and(|v| !v.is_finite()) {
            out.push_str(&quote(text));
        } else {
            out.push_str(text);
        }
    }
}

/// The table form, planned as a projection over the relation.
#[derive(Debug)]
pub struct ExplainTable {
    store: Arc<dyn ModelStore>,
}

impl ExplainTable {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        ExplainTable { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Explanation", description: None },
            "Every row of a table or query with the model's prediction, its base value and a JSON explanation [{\"feature\", \"value\", \"contribution\"}, ...], largest |contribution| first. Exact TreeSHAP for decision_tree, random_forest and gbdt; coef × (x − training mean) for linear, ridge, lasso and logistic. base_value + Σ contributions is the explained raw output: log-odds (logistic, gbdt classifiers; the predicted class's score for multi-class), the positive-class or predicted-class frequency (forests), or the predicted value (regressors). One-hot and hashed columns are summed into their input feature. Errors: 42704 unknown model; 0A000 for models without explanations (kmeans, isolation_forest, baseline, sql_rule); 22023 when the relation lacks a feature or top_k is not a non-negative integer constant.",
            "SELECT * FROM ml_explain(model, relation [, top_k])",
        )
        .with_sql_example(
            "```sql\n> SELECT customer_id, round(base_value, 3) AS base, explanation\n  FROM ml_explain('churn', (SELECT * FROM customers_recent WHERE customer_id = 100017), 2);\n+-------------+--------+------------------------------------------------------------------------------------------------------------+\n| customer_id | base   | explanation                                                                                                |\n+-------------+--------+------------------------------------------------------------------------------------------------------------+\n| 100017      | -1.162 | [{\"feature\":\"support_calls\",\"value\":6,\"contribution\":1.02},{\"feature\":\"tenure_months\",\"value\":3,\"contribution\":0.71}] |\n+-------------+--------+------------------------------------------------------------------------------------------------------------+\n```",
        )
        .with_argument("model", "Model reference: 'name', 'name@3' or 'name@alias'.")
        .with_argument(
            "relation",
            "A table name, a parenthesized subquery, or text holding a table name or a query starting with SELECT or WITH.",
        )
        .with_argument(
            "top_k",
            "Keep only the k largest contributions per row (default: every feature; 0 means every feature).",
        )
        .build()
    }
}

fn top_k_value(expr: &Expr) -> std::result::Result<i64, SqlStateError> {
    let shown = match expr {
        Expr::Literal(v, _) => v.to_string(),
        other => other.to_string(),
    };
    let bad = || {
        SqlStateError::bad_argument(format!(
            "{NAME}: top_k must be a non-negative integer constant, got {shown}"
        ))
    };
    match expr {
        Expr::Literal(v, _) if v.is_null() => Ok(0),
        Expr::Literal(v, _) => match v.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(Some(k)))
                if k >= 0 && !matches!(v, ScalarValue::Float64(Some(f)) if f.fract() != 0.0) =>
            {
                Ok(k)
            }
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

impl RelationFunction for ExplainTable {
    fn docs(&self) -> Documentation {
        Self::documentation()
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn is_relation(&self, position: usize) -> bool {
        position == 1
    }

    fn plan(&self, call: Call, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let bad = |msg: String| SqlStateError::bad_argument(msg).into_df();
        let mut top_k = 0;
        for (name, value) in &call.named {
            match name.to_ascii_lowercase().as_str() {
                "top_k" => top_k = top_k_value(value).map_err(SqlStateError::into_df)?,
                other => {
                    return Err(bad(format!(
                        "{NAME}: unknown named argument {other}; it takes (model, relation [, top_k])"
                    )));
                }
            }
        }
        let mut args = call.args.into_iter();
        let (reference, input) = match (args.next(), args.next()) {
            (Some(Arg::Value(model)), Some(Arg::Relation(input))) => (
                model_text(NAME, 1, &model).map_err(SqlStateError::into_df)?,
                input,
            ),
            _ => return Err(bad(format!("{NAME}: expected (model, relation [, top_k])"))),
        };
        match (args.next(), args.next()) {
            (None, None) => {}
            (Some(Arg::Value(k)), None) => {
                top_k = top_k_value(&k).map_err(SqlStateError::into_df)?
            }
            _ => return Err(bad(format!("{NAME}: expected (model, relation [, top_k])"))),
        }
        // One version for the whole query, as in ml_predict.
        let pinned = self
            .store
            .resolve(&reference)
            .map_err(SqlStateError::into_df)?;
        let model = self.store.load(&pinned).map_err(SqlStateError::into_df)?;
        model.explainable().map_err(SqlStateError::into_df)?;
        let mut features = Vec::with_capacity(model.features().len());
        let mut missing = Vec::new();
        for feature in model.features() {
            match find_column(&input, &feature.name) {
                Some(column) => features.push(column.alias(feature.name.clone())),
                None => missing.push(feature.name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(bad(format!(
                "{NAME}: the relation lacks features of model {pinned}: {}",
                missing.join(", ")
            )));
        }
        let function = |name: &str| {
            ctx.context_provider()
                .get_function_meta(name)
                .ok_or_else(|| {
                    SqlStateError::new(
                        crate::error::sqlstate::UNDEFINED_FUNCTION,
                        format!("function {name} is not registered"),
                    )
                    .into_df()
                })
        };
        let passthrough: Vec<Expr> = input
            .schema()
            .iter()
            .map(|(qualifier, field)| {
                Expr::Column(datafusion::common::Column::new(
                    qualifier.cloned(),
                    field.name(),
                ))
            })
            .collect();
        let predict_args: Vec<Expr> = std::iter::once(lit(pinned.to_string()))
            .chain(features.iter().cloned())
            .collect();
        let explain_args: Vec<Expr> = [lit(pinned.to_string()), lit(top_k)]
            .into_iter()
            .chain(features)
            .collect();
        let mut inner = passthrough.clone();
        inner.push(
            function(crate::functions::scoring::predict::NAME)?
                .call(predict_args)
                .alias("prediction"),
        );
        inner.push(
            function(ROW_FUNCTION)?
                .call(explain_args)
                .alias(STRUCT_COLUMN),
        );
        let mut outer = passthrough;
        outer.push(col("prediction"));
        outer.push(get_field(col(STRUCT_COLUMN), "base_value").alias("base_value"));
        outer.push(get_field(col(STRUCT_COLUMN), "explanation").alias("explanation"));
        LogicalPlanBuilder::from(input)
            .project(inner)?
            .project(outer)?
            .build()
    }
}

/// Registers the hidden row function.
pub fn row_function(store: Arc<dyn ModelStore>) -> ScalarUDF {
    ScalarUDF::from(ExplainUdf::new(store))
}
