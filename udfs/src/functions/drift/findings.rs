//! `__quarry_drift`, the hidden aggregate behind `ml_drift`: one feature's
//! drift findings (PSI and KS for numbers, χ² and PSI for categories)
//! against a training profile or against the reference side of the rows,
//! and the reading of training profiles. Held by `ml_drift`'s plan, not
//! registered.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use serde_json::{Value as Json, json};

use super::DEFAULT_BINS;
use super::state::{Either, Sides};
use crate::error::SqlStateError;
use crate::functions::list_value;
use crate::functions::metrics::Call;
use crate::functions::metrics::state::MetricState;
use crate::kernels::drift::{Reference, binned, categorical, chi2_independence};
use crate::kernels::ks::ks_pvalue;

const AGGREGATE: &str = "__quarry_drift";
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
pub struct Config {
    feature: String,
    thresholds: Thresholds,
    /// The training profile of the feature; `None` compares the two sides.
    reference: Option<Profiled>,
}

impl Config {
    pub fn json(feature: &str, t: &Thresholds, profile: Option<&Json>) -> String {
        json!({
            "feature": feature,
            "psi": t.psi,
            "p": t.p,
            "bins": t.bins,
            "profile": profile,
        })
        .to_string()
    }

    fn parse(function: &str, text: &str) -> Result<Config, SqlStateError> {
        let bad = || SqlStateError::internal(format!("{AGGREGATE}: bad configuration {text}"));
        let v: Json = serde_json::from_str(text).map_err(|_| bad())?;
        let reference = match v.get("profile") {
            None | Some(Json::Null) => None,
            Some(p) => Some(profiled(p).ok_or_else(|| {
                SqlStateError::data(
                    function,
                    format!(
                        "the stored training profile of {} is empty or unreadable",
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

/// The hidden aggregate: (value, is_current, configuration JSON) → result
/// rows; errors name `function`, the table function it serves.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DriftUdaf {
    function: &'static str,
    signature: Signature,
}

impl DriftUdaf {
    pub fn new(function: &'static str) -> Self {
        DriftUdaf {
            function,
            signature: Signature::any(3, Volatility::Immutable),
        }
    }

    fn call(&self) -> Call {
        Call {
            function: self.function,
            args: &["value", "is_current"],
        }
    }
}

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
        let config = Config::parse(self.function, &text)?;
        let numeric = args
            .expr_fields
            .first()
            .is_some_and(|f| f.data_type() == &DataType::Float64);
        Ok(Box::new(DriftAccumulator {
            config,
            call: self.call(),
            sides: Sides::lenient(self.call(), numeric),
        }))
    }
}

#[derive(Debug)]
struct DriftAccumulator {
    config: Config,
    call: Call,
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
            .update(self.call, &values[0], &values[1])
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
        Ok(list_value(Arc::new(rows)))
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
