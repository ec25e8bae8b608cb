//! A SQL rule as a model (`sql_rule`): option `expression` is evaluated over
//! the columns of each row, so a heuristic is registered, versioned, scored,
//! evaluated and A/B-tested like a learned model.
//!
//! | task           | the expression's value                          |
//! |----------------|-------------------------------------------------|
//! | classification | the positive-class score (binary labels only); the class is score ≥ 0.5 |
//! | regression     | the prediction                                  |
//!
//! The model's features are the columns the expression names, with the types
//! they had in the training query; inputs of other types are cast to them.
//! The expression is compiled with DataFusion's own SQL planner and physical
//! expressions, so every scalar function of the engine is available.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::hyper::{Hyper, Hyperparameters};
use super::{Algorithm, FitInput, FitReport, Fitted, Inputs, Payload, Rows, Scores};
use crate::error::{SqlStateError, sqlstate};
use crate::model::schema::{Feature, Result, Task};

/// A SQL expression over the features.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SqlRule {
    pub expression: String,
    /// The expression compiled for the model's features, made once per
    /// loaded model; not part of the artifact.
    #[serde(skip)]
    compiled: OnceLock<Rule>,
}

impl SqlRule {
    pub fn new(expression: String) -> SqlRule {
        SqlRule {
            expression,
            compiled: OnceLock::new(),
        }
    }

    /// The compiled expression, compiling it on first use.
    fn rule(&self, features: &[Feature]) -> Result<&Rule> {
        if let Some(rule) = self.compiled.get() {
            return Ok(rule);
        }
        let rule = compile(&self.expression, features)?;
        Ok(self.compiled.get_or_init(|| rule))
    }
}

impl PartialEq for SqlRule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression
    }
}

/// A compiled expression and the schema it evaluates over.
#[derive(Debug, Clone)]
struct Rule {
    expr: Arc<dyn PhysicalExpr>,
    schema: Arc<Schema>,
}

/// The `sql_rule` algorithm.
#[derive(Debug)]
pub struct SqlRuleModel;

pub const SQL_RULE: SqlRuleModel = SqlRuleModel;

const EXPRESSION: Hyper = Hyper::text(
    "expression",
    "required",
    "SQL expression over the features; for a classifier, the positive-class score",
);

impl Algorithm for SqlRuleModel {
    fn name(&self) -> &'static str {
        "sql_rule"
    }

    fn options(&self) -> &'static [Hyper] {
        &[EXPRESSION]
    }

    fn inputs(&self) -> Inputs {
        Inputs::COLUMNS
    }

    fn check(&self, hyper: &Hyperparameters<'_>) -> Result<()> {
        if hyper.text(&EXPRESSION).is_none() {
            return Err(SqlStateError::bad_argument(
                "option expression is required for algorithm sql_rule",
            )
            .with_hint("e.g. expression = 'CASE WHEN support_calls > 3 THEN 0.9 ELSE 0.1 END'"));
        }
        Ok(())
    }

    fn reads(
        &self,
        hyper: &Hyperparameters<'_>,
        features: &[Feature],
    ) -> Result<Option<Vec<String>>> {
        let expression = hyper.text(&EXPRESSION).unwrap_or_default();
        compile(expression, features)?;
        Ok(Some(referenced_columns(expression, features)?))
    }

    fn fit(&self, input: &FitInput<'_>, _out: &mut FitReport) -> Result<Payload> {
        if input.task == Task::Classification && input.class_count > 2 {
            return Err(SqlStateError::bad_argument(
                "sql_rule classification needs a binary label: the expression is the positive-class score",
            ));
        }
        let expression = input.hyper.text(&EXPRESSION).unwrap_or_default();
        Ok(Payload::SqlRule(SqlRule::new(expression.to_string())))
    }
}

impl Fitted for SqlRule {
    fn score(&self, rows: &Rows<'_>) -> Result<Scores> {
        let n = rows.len();
        let rule = self.rule(rows.features)?;
        let columns: Vec<ArrayRef> = rows
            .inputs
            .iter()
            .zip(rule.schema.fields())
            .map(|(a, f)| {
                if a.data_type() == f.data_type() {
                    Ok(a.clone())
                } else {
                    cast(a, f.data_type()).map_err(|e| {
                        SqlStateError::new(
                            sqlstate::DATATYPE_MISMATCH,
                            format!("feature \"{}\": {e}", f.name()),
                        )
                    })
                }
            })
            .collect::<Result<_>>()?;
        let batch =
            RecordBatch::try_new(rule.schema.clone(), columns).map_err(SqlStateError::internal)?;
        let reference = rows.reference;
        let value = rule
            .expr
            .evaluate(&batch)
            .and_then(|v| v.into_array(n))
            .map_err(|e| SqlStateError::bad_data(format!("sql_rule {reference}: {e}")))?;
        let numbers = cast(&value, &DataType::Float64).map_err(|e| {
            SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!("sql_rule {reference}: the expression must be numeric: {e}"),
            )
        })?;
        let numbers = numbers
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| SqlStateError::internal("cast"))?;
        Ok(Scores::Values(
            (0..n)
                .map(|i| {
                    if numbers.is_valid(i) {
                        numbers.value(i)
                    } else {
                        f64::NAN
                    }
                })
                .collect(),
        ))
    }

    fn describe(&self) -> Vec<(&'static str, &'static str, String)> {
        vec![("rule", "expression", self.expression.clone())]
    }

    fn prepare(&self, features: &[Feature]) -> Result<()> {
        self.rule(features).map(drop)
    }
}

/// The features as the schema an expression is planned against.
fn input_schema(features: &[Feature]) -> Arc<Schema> {
    let fields: Vec<Field> = features
        .iter()
        .map(|f| {
            let t: DataType = f.data_type.parse().unwrap_or(DataType::Utf8);
            Field::new(&f.name, t, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn df_schema(schema: &Schema) -> Result<DFSchema> {
    DFSchema::try_from(schema.clone()).map_err(SqlStateError::internal)
}

/// Why an expression does not compile: 42601 when it is not SQL (an
/// unknown operator such as `>>>` or `===` included), 42703 for a column
/// the training query lacks, 22023 otherwise.
fn expression_error(expression: &str, e: &datafusion::error::DataFusionError) -> SqlStateError {
    use datafusion::error::DataFusionError;
    let hint = "the expression may use the columns of the training query and SQL functions";
    let e = e.find_root();
    let (code, detail) = match e {
        DataFusionError::SQL(parser, _) => {
            let text = parser.to_string();
            let text = text
                .strip_prefix("sql parser error: ")
                .unwrap_or(&text)
                .to_string();
            (sqlstate::SYNTAX_ERROR, text)
        }
        DataFusionError::NotImplemented(m) if m.contains("binary operator") => {
            (sqlstate::SYNTAX_ERROR, m.clone())
        }
        DataFusionError::SchemaError(..) => (sqlstate::UNDEFINED_COLUMN, e.to_string()),
        other => (sqlstate::INVALID_PARAMETER_VALUE, other.to_string()),
    };
    SqlStateError::new(
        code,
        format!("sql_rule expression '{expression}' is not valid: {detail}"),
    )
    .with_hint(hint)
}

/// Compiles an expression over the features.
fn compile(expression: &str, features: &[Feature]) -> Result<Rule> {
    let schema = input_schema(features);
    let df_schema = df_schema(&schema)?;
    let ctx = SessionContext::new();
    let bad = |e: datafusion::error::DataFusionError| expression_error(expression, &e);
    let expr = ctx.parse_sql_expr(expression, &df_schema).map_err(bad)?;
    let expr = ctx.create_physical_expr(expr, &df_schema).map_err(bad)?;
    Ok(Rule { expr, schema })
}

/// The feature columns an expression reads.
fn referenced_columns(expression: &str, features: &[Feature]) -> Result<Vec<String>> {
    let schema = df_schema(&input_schema(features))?;
    let ctx = SessionContext::new();
    let expr = ctx
        .parse_sql_expr(expression, &schema)
        .map_err(|e| expression_error(expression, &e))?;
    Ok(expr
        .column_refs()
        .into_iter()
        .map(|c| c.name.clone())
        .collect())
}
