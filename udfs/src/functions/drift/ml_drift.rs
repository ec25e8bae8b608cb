//! `SELECT * FROM ml_drift(model, relation)` and
//! `SELECT * FROM ml_drift(reference_relation, current_relation)`: drift of
//! every feature (and of a model's predictions) in one table.
//!
//! Output: feature, metric, value, p_value, threshold, drifted. Numbers get
//! `psi` (drifted above the PSI threshold) and `ks` (value D, drifted when its
//! p-value is below the p threshold); categories get `chi2` (value = the
//! statistic) and `psi` over categories.
//!
//! Against a model, the reference is the training profile stored with the
//! version, so the training data is not needed: exact value counts for
//! features with at most 1000 distinct values, else 1001 quantiles whose
//! interpolated CDF stands in for the training sample (KS is then accurate to
//! about 0.001 in D). Categories compare the reference's 100 most frequent
//! levels plus `other` (everything else, including levels never seen in
//! training): with thousands of rare levels, per-level PSI measures noise.
//! Two relations are compared the same way, with the reference computed from
//! the first relation, exactly.
//!
//! Plan: project every feature to a number (epoch seconds for times) or text,
//! flag the side, union when two relations are given, one hidden aggregate
//! per feature (`__quarry_drift`, a list of result rows each), concatenate the
//! lists and unnest them.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};
use datafusion::common::{Column, ScalarValue};
use datafusion::error::Result;
use datafusion::functions_nested::expr_fn::array_concat;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, DocSection, Documentation, Expr, ExprSchemable,
    LogicalPlan, LogicalPlanBuilder, Signature, Volatility, cast, lit,
};
use serde_json::{Value as Json, json};

use super::state::{Either, Sides};
use super::{DEFAULT_BINS, MAX_BINS};
use crate::error::{SqlStateError, sqlstate};
use crate::functions::evaluation::evaluate::{METRIC_COLUMN, metric_rows, model_text};
use crate::functions::metrics::Call;
use crate::functions::metrics::state::MetricState;
use crate::functions::relation::{Arg, Call as RelationCall, RelationFunction, find_column};
use crate::kernels::drift::{Reference, binned, categorical, chi2_independence};
use crate::kernels::ks::ks_pvalue;
use crate::model::ModelStore;
use crate::model::schema::{FeatureKind, Task};

pub const NAME: &str = "ml_drift";
const AGGREGATE: &str = "__quarry_drift";
const SIDE: &str = "__quarry_side";
/// Categories compared one by one; the rest are pooled as `other`.
pub const TOP_LEVELS: usize = 100;

/// Thresholds and bins of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub psi: f64,
    pub p: f64,
    pub bins: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi: 0.2,
            p: 0.01,
            bins: DEFAULT_BINS,
        }
    }
}

impl Thresholds {
    fn read(named: &[(String, Expr)]) -> Result<Thresholds, SqlStateError> {
        let mut t = Thresholds::default();
        for (name, value) in named {
            let number = match value {
                Expr::Literal(v, _) => v.cast_to(&DataType::Float64).ok().and_then(|v| match v {
                    ScalarValue::Float64(Some(x)) if x.is_finite() => Some(x),
                    _ => None,
                }),
                _ => None,
            };
            let bad = |expected: &str| {
                SqlStateError::bad_argument(format!(
                    "{NAME}: {name} must be {expected}, got {value}"
                ))
            };
            match name.to_ascii_lowercase().as_str() {
                "psi_threshold" => {
                    t.psi = number
                        .filter(|x| *x > 0.0)
                        .ok_or_else(|| bad("a positive number"))?
                }
                "p_threshold" => {
                    t.p = number
                        .filter(|x| *x > 0.0 && *x < 1.0)
                        .ok_or_else(|| bad("a number between 0 and 1"))?
                }
                "bins" => {
                    t.bins = number
                        .filter(|x| x.fract() == 0.0 && (2.0..=MAX_BINS as f64).contains(x))
                        .ok_or_else(|| bad(&format!("a whole number from 2 to {MAX_BINS}")))?
                        as usize
                }
                other => {
                    return Err(SqlStateError::bad_argument(format!(
                        "{NAME}: unknown option {other}; valid options are psi_threshold, p_threshold, bins"
                    )));
                }
            }
        }
        Ok(t)
    }
}

/// The reference of a categorical feature: the most frequent levels with
/// their counts, and everything else as one count.
#[derive(Debug, Clone, PartialEq)]
pub struct Levels {
    pub top: Vec<(String, u64)>,
    pub other: u64,
}

impl Levels {
    /// The `TOP_LEVELS` most frequent of (level, count) pairs; ties by name.
    pub fn of_counts(mut counts: Vec<(String, u64)>) -> Levels {
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let other = counts.iter().skip(TOP_LEVELS).map(|c| c.1).sum();
        counts.truncate(TOP_LEVELS);
        Levels { top: counts, other }
    }

    /// (reference, current) counts per top level, then `other`.
    fn table(&self, current: &[(String, u64)]) -> Vec<[u64; 2]> {
        let index: std::collections::HashMap<&str, usize> = self
            .top
            .iter()
            .enumerate()
            .map(|(i, (l, _))| (l.as_str(), i))
            .collect();
        let mut table: Vec<[u64; 2]> = self.top.iter().map(|(_, c)| [*c, 0]).collect();
        table.push([self.other, 0]);
        let other = table.len() - 1;
        for (level, count) in current {
            table[index.get(level.as_str()).copied().unwrap_or(other)][1] += count;
        }
        if table[other] == [0, 0] {
            table.pop();
        }
        table
    }
}

/// A reference distribution read from a training profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Profiled {
    Numeric(Reference),
    Categorical(Levels),
    /// No training values (all NULL): nothing to compare with.
    Empty {
        numeric: bool,
    },
}

/// Reads one feature's training profile (see `model::profile`).
pub fn profiled(profile: &Json) -> Option<Profiled> {
    let numbers =
        |v: &Json| -> Option<Vec<f64>> { v.as_array()?.iter().map(Json::as_f64).collect() };
    match profile.get("kind")?.as_str()? {
        "numeric" => {
            let rows = profile.get("count")?.as_u64()?;
            if rows == 0 {
                return Some(Profiled::Empty { numeric: true });
            }
            if let Some(cdf) = profile.get("cdf") {
                let values = numbers(cdf.get("values")?)?;
                let counts: Vec<u64> = cdf
                    .get("counts")?
                    .as_array()?
                    .iter()
                    .map(Json::as_u64)
                    .collect::<Option<_>>()?;
                let valid = values.len() == counts.len() && counts.iter().sum::<u64>() > 0;
                return valid.then_some(Profiled::Numeric(Reference::Counts { values, counts }));
            }
            let grid = profile
                .get("fine_quantiles")
                .or_else(|| profile.get("quantiles"))
                .and_then(numbers)?;
            (!grid.is_empty()).then_some(Profiled::Numeric(Reference::Grid { grid, rows }))
        }
        "categorical" => {
            let top = profile
                .get("top")?
                .as_array()?
                .iter()
                .map(|pair| Some((pair.get(0)?.as_str()?.to_string(), pair.get(1)?.as_u64()?)))
                .collect::<Option<Vec<_>>>()?;
            let other = profile.get("other").and_then(Json::as_u64).unwrap_or(0);
            if top.iter().map(|t| t.1).sum::<u64>() + other == 0 {
                return Some(Profiled::Empty { numeric: false });
            }
            Some(Profiled::Categorical(Levels { top, other }))
        }
        _ => None,
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub metric: &'static str,
    pub value: Option<f64>,
    pub p_value: Option<f64>,
    pub threshold: f64,
    pub drifted: Option<bool>,
}

fn psi_finding(psi: Option<f64>, t: &Thresholds) -> Finding {
    Finding {
        metric: "psi",
        value: psi,
        p_value: None,
        threshold: t.psi,
        drifted: psi.map(|v| v > t.psi),
    }
}

fn test_finding(
    metric: &'static str,
    value: Option<f64>,
    p: Option<f64>,
    t: &Thresholds,
) -> Finding {
    Finding {
        metric,
        value,
        p_value: p,
        threshold: t.p,
        drifted: p.map(|p| p < t.p),
    }
}

/// Numeric drift: PSI and KS of an ascending current sample.
pub fn numeric_findings(
    reference: Option<&Reference>,
    current: &[f64],
    t: &Thresholds,
) -> Vec<Finding> {
    match reference {
        Some(r) if r.rows() > 0 && !current.is_empty() => {
            let (psi, _) = binned(r, current, t.bins);
            let d = r.ks_statistic(current);
            let p = ks_pvalue(d, r.rows() as usize, current.len());
            vec![
                psi_finding(Some(psi), t),
                test_finding("ks", Some(d), Some(p), t),
            ]
        }
        _ => vec![psi_finding(None, t), test_finding("ks", None, None, t)],
    }
}

/// Categorical drift: χ² and PSI over the reference's top levels and `other`.
pub fn categorical_findings(
    reference: &Levels,
    current: &[(String, u64)],
    t: &Thresholds,
) -> Vec<Finding> {
    let table = reference.table(current);
    let chi2 = chi2_independence(&table);
    let psi = categorical(&table).map(|(psi, _)| psi);
    vec![
        test_finding("chi2", chi2.map(|c| c.0), chi2.map(|c| c.1), t),
        psi_finding(psi, t),
    ]
}

/// What one `__quarry_drift` call compares.
#[derive(Debug, Clone)]
struct Config {
    feature: String,
    thresholds: Thresholds,
    /// The training profile of the feature; `None` compares the two sides.
    reference: Option<Profiled>,
}

impl Config {
    fn json(feature: &str, t: &Thresholds, profile: Option<&Json>) -> String {
        json!({
            "feature": feature,
            "psi": t.psi,
            "p": t.p,
            "bins": t.bins,
            "profile": profile,
        })
        .to_string()
    }

    fn parse(text: &str) -> Result<Config, SqlStateError> {
        let bad = || {
            SqlStateError::new(
                sqlstate::INTERNAL_ERROR,
                format!("{AGGREGATE}: bad configuration {text}"),
            )
        };
        let v: Json = serde_json::from_str(text).map_err(|_| bad())?;
        let reference = match v.get("profile") {
            None | Some(Json::Null) => None,
            Some(p) => Some(profiled(p).ok_or_else(|| {
                SqlStateError::new(
                    sqlstate::DATA_EXCEPTION,
                    format!(
                        "{NAME}: the stored training profile of {} is empty or unreadable",
                        v.get("feature").and_then(Json::as_str).unwrap_or("?")
                    ),
                )
            })?),
        };
        Ok(Config {
            feature: v
                .get("feature")
                .and_then(Json::as_str)
                .ok_or_else(bad)?
                .to_string(),
            thresholds: Thresholds {
                psi: v.get("psi").and_then(Json::as_f64).ok_or_else(bad)?,
                p: v.get("p").and_then(Json::as_f64).ok_or_else(bad)?,
                bins: v.get("bins").and_then(Json::as_u64).ok_or_else(bad)? as usize,
            },
            reference,
        })
    }
}

fn row_fields() -> Fields {
    Fields::from(vec![
        Field::new("feature", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("p_value", DataType::Float64, true),
        Field::new("threshold", DataType::Float64, true),
        Field::new("drifted", DataType::Boolean, true),
    ])
}

fn rows_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(row_fields()),
        true,
    )))
}

/// The hidden aggregate: (value, is_current, configuration JSON) → result rows.
#[derive(Debug)]
struct DriftUdaf {
    signature: Signature,
}

impl PartialEq for DriftUdaf {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for DriftUdaf {}
impl Hash for DriftUdaf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        AGGREGATE.hash(state);
    }
}

pub fn drift_aggregate() -> AggregateUDF {
    AggregateUDF::from(DriftUdaf {
        signature: Signature::any(3, Volatility::Immutable),
    })
}

const CALL: Call = Call {
    function: NAME,
    args: &["value", "is_current"],
};

impl AggregateUDFImpl for DriftUdaf {
    fn name(&self) -> &str {
        AGGREGATE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(rows_type())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(Sides::<Either>::fields(args.name))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let text = crate::functions::literal_text(AGGREGATE, &args, 2)?;
        let config = Config::parse(&text).map_err(SqlStateError::into_df)?;
        let numeric = args
            .expr_fields
            .first()
            .is_some_and(|f| f.data_type() == &DataType::Float64);
        Ok(Box::new(DriftAccumulator {
            config,
            sides: Sides::lenient(CALL, numeric),
        }))
    }
}

#[derive(Debug)]
struct DriftAccumulator {
    config: Config,
    sides: Sides<Either>,
}

impl DriftAccumulator {
    fn findings(&mut self) -> Vec<Finding> {
        let t = self.config.thresholds;
        match &self.config.reference {
            Some(Profiled::Numeric(reference)) => {
                let (_, current) = self.sides.sorted();
                numeric_findings(Some(reference), current, &t)
            }
            Some(Profiled::Categorical(levels)) => {
                let current: Vec<(String, u64)> = self.current_levels();
                categorical_findings(levels, &current, &t)
            }
            Some(Profiled::Empty { numeric: true }) => numeric_findings(None, &[], &t),
            Some(Profiled::Empty { numeric: false }) => {
                vec![test_finding("chi2", None, None, &t), psi_finding(None, &t)]
            }
            None if self.sides.numeric => {
                let (reference, current) = self.sides.sorted();
                let reference = (!reference.is_empty()).then(|| Reference::of_sorted(reference));
                numeric_findings(reference.as_ref(), current, &t)
            }
            None => {
                let levels = Levels::of_counts(
                    self.sides
                        .names
                        .iter()
                        .zip(&self.sides.counts)
                        .filter(|(_, c)| c[0] > 0)
                        .map(|(n, c)| (n.clone(), c[0]))
                        .collect(),
                );
                categorical_findings(&levels, &self.current_levels(), &t)
            }
        }
    }

    fn current_levels(&self) -> Vec<(String, u64)> {
        self.sides
            .names
            .iter()
            .zip(&self.sides.counts)
            .filter(|(_, c)| c[1] > 0)
            .map(|(n, c)| (n.clone(), c[1]))
            .collect()
    }
}

impl Accumulator for DriftAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.sides
            .update(CALL, &values[0], &values[1])
            .map_err(SqlStateError::into_df)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let findings = self.findings();
        let n = findings.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.config.feature.as_str(); n])),
            Arc::new(StringArray::from_iter_values(
                findings.iter().map(|f| f.metric),
            )),
            Arc::new(Float64Array::from_iter(findings.iter().map(|f| f.value))),
            Arc::new(Float64Array::from_iter(findings.iter().map(|f| f.p_value))),
            Arc::new(Float64Array::from_iter_values(
                findings.iter().map(|f| f.threshold),
            )),
            Arc::new(BooleanArray::from_iter(findings.iter().map(|f| f.drifted))),
        ];
        let rows = StructArray::try_new(row_fields(), columns, None)?;
        Ok(ScalarValue::List(Arc::new(
            datafusion::arrow::array::ListArray::new(
                Arc::new(Field::new_list_field(DataType::Struct(row_fields()), true)),
                datafusion::arrow::buffer::OffsetBuffer::from_lengths([n]),
                Arc::new(rows),
                None,
            ),
        )))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.sides.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.sides.take()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.sides.merge(states)
    }
}

#[derive(Debug)]
pub struct Drift {
    store: Arc<dyn ModelStore>,
}

impl Drift {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        Drift { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Drift and monitoring", description: None },
            "Drift of every feature, one row per feature and test: against a model, the current rows of the relation are compared with the training profile stored with the model version (no training data needed), and the model's predictions on them with its predictions at training (feature 'prediction'); given two relations, every column of the first that the second also has is compared. Numbers (and times, as epoch seconds) get psi (drifted when above psi_threshold) and ks (value = D, p_value from the two-sample KS test, drifted when p_value < p_threshold); text and booleans get chi2 (value = the statistic) and psi over the reference's 100 most frequent categories plus 'other'. Against a profile, numbers with more than 1000 distinct training values are compared with a 1001-quantile summary, so KS is accurate to about 0.001 in D. NULL and NaN values are ignored. A first argument in quotes is a model reference; pass a bare table name or a query to compare two relations. Errors: 42704 unknown model; 22023 for a relation without a feature of the model, no common columns, or a bad option.",
            "SELECT * FROM ml_drift(model | reference_relation, current_relation [, psi_threshold => 0.2, p_threshold => 0.01, bins => 10])",
        )
        .with_sql_example(
            "```sql\n> SELECT feature, metric, round(value, 3) AS value, drifted\n  FROM ml_drift('churn', customers_recent) WHERE drifted ORDER BY feature, metric;\n+---------------+--------+----------+---------+\n| feature       | metric | value    | drifted |\n+---------------+--------+----------+---------+\n| age           | ks     | 0.2      | true    |\n| age           | psi    | 0.255    | true    |\n| monthly_fee   | ks     | 0.148    | true    |\n| prediction    | ks     | 0.172    | true    |\n| region        | chi2   | 2582.536 | true    |\n| region        | psi    | 0.321    | true    |\n| support_calls | ks     | 0.31     | true    |\n| support_calls | psi    | 0.637    | true    |\n+---------------+--------+----------+---------+\n```",
        )
        .with_argument("model", "A model reference in quotes ('churn', 'churn@3'): compare with its training profile. Or a relation (bare table name, parenthesized subquery, or a query in quotes): the reference data.")
        .with_argument("current_relation", "The rows to check: a table name, a parenthesized subquery, or text holding a name or a query.")
        .with_argument("psi_threshold", "Optional: PSI above this is drift (default 0.2).")
        .with_argument("p_threshold", "Optional: a test p-value below this is drift (default 0.01).")
        .with_argument("bins", "Optional: quantile bins for numeric PSI (default 10).")
        .build()
    }
}

/// A feature as the aggregate sees it: a number or text.
fn comparable(expr: Expr, kind: FeatureKind, data_type: &DataType) -> Expr {
    match kind {
        FeatureKind::Numeric => cast(expr, DataType::Float64),
        FeatureKind::Boolean | FeatureKind::Categorical => cast(expr, DataType::Utf8),
        FeatureKind::Temporal => {
            let tz = match data_type {
                DataType::Timestamp(_, tz) => tz.clone(),
                _ => None,
            };
            cast(
                cast(
                    cast(expr, DataType::Timestamp(TimeUnit::Second, tz)),
                    DataType::Int64,
                ),
                DataType::Float64,
            )
        }
    }
}

fn drift_call(ctx: &mut dyn RelationPlannerContext, value: Expr, config: String) -> Result<Expr> {
    let udaf = ctx
        .context_provider()
        .get_aggregate_meta(AGGREGATE)
        .ok_or_else(|| {
            SqlStateError::new(
                sqlstate::UNDEFINED_FUNCTION,
                format!("{AGGREGATE} is not registered"),
            )
            .into_df()
        })?;
    Ok(udaf.call(vec![
        value,
        Expr::Column(Column::new_unqualified(SIDE)),
        lit(config),
    ]))
}

fn function(
    ctx: &mut dyn RelationPlannerContext,
    name: &str,
) -> Result<Arc<datafusion::logical_expr::ScalarUDF>> {
    ctx.context_provider()
        .get_function_meta(name)
        .ok_or_else(|| {
            SqlStateError::new(
                sqlstate::UNDEFINED_FUNCTION,
                format!("function {name} is not registered"),
            )
            .into_df()
        })
}

impl Drift {
    /// Features of a model against its training profile.
    fn against_model(
        &self,
        ctx: &mut dyn RelationPlannerContext,
        reference: &str,
        input: LogicalPlan,
        t: &Thresholds,
    ) -> Result<(LogicalPlanBuilder, Vec<Expr>)> {
        let pinned = self.store.resolve(reference).map_err(|e| {
            // Quoted text names a model here; say how to pass a table.
            e.with_hint(format!(
                "to compare two relations, give the first as a bare name or a query: \
                     ml_drift({reference}, ...) or ml_drift('SELECT * FROM {reference}', ...)"
            ))
            .into_df()
        })?;
        let model = self.store.load(&pinned).map_err(SqlStateError::into_df)?;
        let profile = self
            .store
            .profile(&pinned)
            .map_err(SqlStateError::into_df)?;
        let profiles = profile
            .get("features")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let schema = input.schema().clone();
        let mut columns = Vec::new();
        let mut features = Vec::new();
        let mut missing = Vec::new();
        for feature in model.features() {
            match find_column(&input, &feature.name) {
                Some(column) => {
                    let data_type = column.get_type(&schema)?;
                    features.push(column.clone().alias(feature.name.clone()));
                    // Compared in the form the profile kept: booleans as 0/1.
                    let kind = match feature.kind {
                        FeatureKind::Boolean => FeatureKind::Numeric,
                        kind => kind,
                    };
                    columns.push((feature.name.clone(), comparable(column, kind, &data_type)));
                }
                None => missing.push(feature.name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: the relation lacks features of model {pinned}: {}",
                missing.join(", ")
            ))
            .into_df());
        }
        let mut aggregates = Vec::new();
        let mut projection: Vec<Expr> = Vec::new();
        for (i, (name, expr)) in columns.into_iter().enumerate() {
            let feature_profile = profiles
                .iter()
                .find(|p| p.get("name").and_then(Json::as_str) == Some(name.as_str()));
            let Some(feature_profile) = feature_profile else {
                continue;
            };
            let alias = format!("__quarry_f{i}");
            projection.push(expr.alias(&alias));
            aggregates.push(drift_call(
                ctx,
                Expr::Column(Column::new_unqualified(&alias)),
                Config::json(&name, t, Some(feature_profile)),
            )?);
        }
        // The predictions, in the form the profile kept: the positive-class
        // probability of a binary classifier, else the prediction.
        if let Some(prediction_profile) = profile
            .get("prediction")
            .filter(|p| p.get("kind").is_some())
        {
            let args: Vec<Expr> = std::iter::once(lit(pinned.to_string()))
                .chain(features)
                .collect();
            let binary = model.task() == Task::Classification
                && model
                    .envelope
                    .label
                    .as_ref()
                    .is_some_and(|l| l.classes.len() == 2);
            let udf = function(
                ctx,
                if binary {
                    crate::functions::scoring::predict_proba::NAME
                } else {
                    crate::functions::scoring::predict::NAME
                },
            )?;
            let prediction = Expr::ScalarFunction(ScalarFunction::new_udf(udf, args));
            let prediction = match prediction_profile.get("kind").and_then(Json::as_str) {
                Some("numeric") => cast(prediction, DataType::Float64),
                _ => cast(prediction, DataType::Utf8),
            };
            projection.push(prediction.alias("__quarry_prediction"));
            aggregates.push(drift_call(
                ctx,
                Expr::Column(Column::new_unqualified("__quarry_prediction")),
                Config::json("prediction", t, Some(prediction_profile)),
            )?);
        }
        projection.push(lit(true).alias(SIDE));
        Ok((
            LogicalPlanBuilder::from(input).project(projection)?,
            aggregates,
        ))
    }

    /// Columns of two relations.
    fn two_relations(
        &self,
        ctx: &mut dyn RelationPlannerContext,
        reference: LogicalPlan,
        current: LogicalPlan,
        t: &Thresholds,
    ) -> Result<(LogicalPlanBuilder, Vec<Expr>)> {
        let (ref_schema, cur_schema) = (reference.schema().clone(), current.schema().clone());
        let mut left = Vec::new();
        let mut right = Vec::new();
        let mut aggregates = Vec::new();
        for (i, field) in ref_schema.fields().iter().enumerate() {
            let name = field.name();
            if field.name().starts_with("__quarry") {
                continue;
            }
            let Some(other) = find_column(&current, name) else {
                continue;
            };
            let other_type = other.get_type(&cur_schema)?;
            let (Some(a), Some(b)) = (
                FeatureKind::of(field.data_type()),
                FeatureKind::of(&other_type),
            ) else {
                continue;
            };
            // Both sides must be compared in one form.
            let kind = if a == b { a } else { FeatureKind::Categorical };
            let alias = format!("__quarry_f{i}");
            let (qualifier, _) = ref_schema.qualified_field(i);
            left.push(
                comparable(
                    Expr::Column(Column::new(qualifier.cloned(), name)),
                    kind,
                    field.data_type(),
                )
                .alias(&alias),
            );
            right.push(comparable(other, kind, &other_type).alias(&alias));
            aggregates.push(drift_call(
                ctx,
                Expr::Column(Column::new_unqualified(&alias)),
                Config::json(name, t, None),
            )?);
        }
        if aggregates.is_empty() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: the two relations have no column in common that can be compared (numbers, text, booleans, times)"
            ))
            .into_df());
        }
        left.push(lit(false).alias(SIDE));
        right.push(lit(true).alias(SIDE));
        let right = LogicalPlanBuilder::from(current).project(right)?.build()?;
        let plan = LogicalPlanBuilder::from(reference)
            .project(left)?
            .union(right)?;
        Ok((plan, aggregates))
    }
}

impl RelationFunction for Drift {
    fn docs(&self) -> Documentation {
        Self::documentation()
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn is_relation(&self, position: usize) -> bool {
        position <= 1
    }

    fn model_text(&self, position: usize) -> bool {
        position == 0
    }

    fn plan(
        &self,
        call: RelationCall,
        ctx: &mut dyn RelationPlannerContext,
    ) -> Result<LogicalPlan> {
        let usage = || {
            SqlStateError::bad_argument(format!(
                "{NAME}: expected (model, relation) or (reference_relation, current_relation), options as name => value"
            ))
            .into_df()
        };
        let t = Thresholds::read(&call.named).map_err(SqlStateError::into_df)?;
        let mut args = call.args.into_iter();
        let (first, current) = match (args.next(), args.next(), args.next()) {
            (Some(first), Some(Arg::Relation(current)), None) => (first, current),
            _ => return Err(usage()),
        };
        let (plan, aggregates) = match first {
            Arg::Value(m) => {
                let reference = model_text(NAME, 1, &m).map_err(SqlStateError::into_df)?;
                self.against_model(ctx, &reference, current, &t)?
            }
            Arg::Relation(reference) => self.two_relations(ctx, reference, current, &t)?,
        };
        let names: Vec<String> = (0..aggregates.len())
            .map(|i| format!("__quarry_d{i}"))
            .collect();
        let aggregates: Vec<Expr> = aggregates
            .into_iter()
            .zip(&names)
            .map(|(a, n)| a.alias(n))
            .collect();
        let lists: Vec<Expr> = names
            .iter()
            .map(|n| Expr::Column(Column::new_unqualified(n)))
            .collect();
        let plan = plan
            .aggregate(Vec::<Expr>::new(), aggregates)?
            .project(vec![array_concat(lists).alias(METRIC_COLUMN)])?;
        metric_rows(
            plan,
            None,
            &[
                "feature",
                "metric",
                "value",
                "p_value",
                "threshold",
                "drifted",
            ],
        )
    }
}
