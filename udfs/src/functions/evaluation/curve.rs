//! Shared machinery of `ml_roc_curve`, `ml_pr_curve` and `ml_lift_curve`:
//! the table function itself ([`CurveUdtf`], over each curve's
//! [`CurveFunction`]), a hidden aggregate (`__quarry_<curve>_curve`, held by
//! the plan, not registered) that keeps every (label, score) pair of a
//! binary classifier (mergeable, exact) and returns the curve's points as a
//! list, and the plan around it (labelled rows, optional segment, one output
//! row per point).
//!
//! | curve | points | columns |
//! |-------|--------|---------|
//! | roc   | the starting corner, then up to `bins` thresholds at score quantiles (0 = every distinct score) | threshold, fpr, tpr |
//! | pr    | the same thresholds | threshold, recall, precision |
//! | lift  | `bins` equal groups by descending score (ties shared evenly) | bin, rows, positives, positive_rate, lift, cumulative_gain, cumulative_lift |

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, LogicalPlan, LogicalPlanBuilder, Signature,
    Volatility, lit,
};
use datafusion::physical_expr::expressions::Literal;

use super::{LABELLED, outputs, segment_group};
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::list_value;
use crate::functions::metrics::pr_auc::descending_thresholds;
use crate::functions::metrics::state::{MetricState, Ranked};
use crate::functions::params::text_literal;
use crate::functions::params::{Args, Param, Params};
use crate::functions::relation::RelationFunction;
use crate::functions::relation::{LIST_COLUMN, list_rows};
use crate::kernels::bootstrap::Kind;
use crate::model::ModelStore;
use datafusion::logical_expr::DocumentationBuilder;
use datafusion::logical_expr::planner::RelationPlannerContext;

/// The parameters of the curve functions.
pub const PARAMS: Params = Params::new(&[
    Param::model(
        "model",
        "A binary classifier: 'name', 'name@3' or 'name@alias'.",
    ),
    LABELLED,
    Param::value(
        "bins",
        "How many points (roc, pr; 0 = all) or groups (lift); also bins => n.",
    )
    .optional(),
    Param::value(
        "segment",
        "Optional column name: one curve per value; also segment => 'col'.",
    )
    .optional(),
]);

/// Which curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    Roc,
    Pr,
    Lift,
}

impl Curve {
    /// The name of the hidden aggregate computing this curve.
    fn aggregate(self) -> &'static str {
        match self {
            Curve::Roc => "__quarry_roc_curve",
            Curve::Pr => "__quarry_pr_curve",
            Curve::Lift => "__quarry_lift_curve",
        }
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Curve::Roc => &["threshold", "fpr", "tpr"],
            Curve::Pr => &["threshold", "recall", "precision"],
            Curve::Lift => &[
                "bin",
                "rows",
                "positives",
                "positive_rate",
                "lift",
                "cumulative_gain",
                "cumulative_lift",
            ],
        }
    }

    pub fn default_bins(self) -> i64 {
        match self {
            Curve::Roc | Curve::Pr => 100,
            Curve::Lift => 10,
        }
    }

    fn fields(self) -> Fields {
        Fields::from(
            self.columns()
                .iter()
                .map(|c| {
                    let t = if *c == "bin" {
                        DataType::Int64
                    } else {
                        DataType::Float64
                    };
                    Field::new(*c, t, true)
                })
                .collect::<Vec<_>>(),
        )
    }
}

/// `(threshold, tp, fp)` at every distinct score, highest first.
fn thresholds(positives: &[f64], negatives: &[f64]) -> Vec<(f64, usize, usize)> {
    let mut points = Vec::new();
    descending_thresholds(positives, negatives, |t, tp, fp| points.push((t, tp, fp)));
    points
}

/// Keeps about `bins` points evenly spaced in rows (all when `bins` is 0),
/// always the last one.
fn thin(points: Vec<(f64, usize, usize)>, bins: usize) -> Vec<(f64, usize, usize)> {
    if bins == 0 || points.len() <= bins {
        return points;
    }
    let total = points.last().map_or(0, |p| p.1 + p.2).max(1);
    let mut out = Vec::with_capacity(bins + 1);
    let mut next = 1;
    let n = points.len();
    for (i, p) in points.into_iter().enumerate() {
        let covered = p.1 + p.2;
        if covered * bins >= next * total || i + 1 == n {
            out.push(p);
            while next * total <= covered * bins {
                next += 1;
            }
        }
    }
    out
}

/// The rows of a curve as columns.
pub fn curve_columns(curve: Curve, state: &mut Ranked, bins: usize) -> Vec<ArrayRef> {
    let (positives, negatives) = state.sorted();
    let (p, n) = (positives.len() as f64, negatives.len() as f64);
    let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
    match curve {
        Curve::Roc | Curve::Pr => {
            let points = thin(thresholds(positives, negatives), bins);
            let mut threshold = Vec::with_capacity(points.len() + 1);
            let (mut x, mut y) = (Vec::new(), Vec::new());
            if curve == Curve::Roc {
                threshold.push(Some(f64::INFINITY));
                x.push(ratio(0.0, n));
                y.push(ratio(0.0, p));
            }
            for (t, tp, fp) in points {
                threshold.push(Some(t));
                let (tp, fp) = (tp as f64, fp as f64);
                if curve == Curve::Roc {
                    x.push(ratio(fp, n));
                    y.push(ratio(tp, p));
                } else {
                    x.push(ratio(tp, p));
                    y.push(ratio(tp, tp + fp));
                }
            }
            vec![
                Arc::new(Float64Array::from(threshold)),
                Arc::new(Float64Array::from(x)),
                Arc::new(Float64Array::from(y)),
            ]
        }
        Curve::Lift => {
            let total = p + n;
            let bins = bins.max(1);
            let mut rows = vec![0.0; bins];
            let mut hits = vec![0.0; bins];
            // Walk tie groups from the top; each covers ranks [start, end)
            // and shares its positives evenly over the bins it overlaps.
            let mut start = 0.0;
            descending_groups(positives, negatives, |pos, size| {
                let end = start + size;
                let first = ((start * bins as f64 / total).floor() as usize).min(bins - 1);
                let last = (((end * bins as f64 / total).ceil() as usize).max(1) - 1).min(bins - 1);
                for b in first..=last {
                    let (lo, hi) = (
                        b as f64 * total / bins as f64,
                        (b + 1) as f64 * total / bins as f64,
                    );
                    let overlap = (end.min(hi) - start.max(lo)).max(0.0);
                    rows[b] += overlap;
                    hits[b] += overlap * pos / size;
                }
                start = end;
            });
            let base = ratio(p, total);
            let (mut cum_rows, mut cum_hits) = (0.0, 0.0);
            let mut columns: Vec<Vec<Option<f64>>> = vec![Vec::new(); 6];
            for b in 0..bins {
                cum_rows += rows[b];
                cum_hits += hits[b];
                let rate = ratio(hits[b], rows[b]);
                columns[0].push(Some(rows[b]));
                columns[1].push(Some(hits[b]));
                columns[2].push(rate);
                columns[3].push(rate.zip(base).and_then(|(r, b)| ratio(r, b)));
                columns[4].push(ratio(cum_hits, p));
                columns[5].push(
                    ratio(cum_hits, cum_rows)
                        .zip(base)
                        .and_then(|(r, b)| ratio(r, b)),
                );
            }
            let mut out: Vec<ArrayRef> =
                vec![Arc::new(Int64Array::from_iter_values(1..=bins as i64))];
            out.extend(
                columns
                    .into_iter()
                    .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef),
            );
            out
        }
    }
}

/// What a binary classifier keeps of its evaluation rows for the
/// dashboard, computed as `ml_roc_curve` (100 thresholds) and
/// `ml_lift_curve` (deciles) compute them: `{"roc": [[fpr, tpr], ...],
/// "lift": [[decile, cumulative_lift, cumulative_gain], ...]}`.
pub fn kept_curves(y: &[bool], score: &[f64]) -> serde_json::Value {
    let (mut positives, mut negatives) = (Vec::new(), Vec::new());
    for (&label, &s) in y.iter().zip(score) {
        if label {
            positives.push(s);
        } else {
            negatives.push(s);
        }
    }
    let mut ranked = Ranked::from_scores(positives, negatives);
    let number = |a: &ArrayRef, i: usize| {
        let a = a.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        a.is_valid(i).then(|| a.value(i))
    };
    let roc = curve_columns(Curve::Roc, &mut ranked, 100);
    let lift = curve_columns(Curve::Lift, &mut ranked, 10);
    serde_json::json!({
        "roc": (0..roc[1].len())
            .filter_map(|i| Some([number(&roc[1], i)?, number(&roc[2], i)?]))
            .collect::<Vec<_>>(),
        "lift": (0..lift[0].len())
            .filter_map(|i| Some([(i + 1) as f64, number(&lift[6], i)?, number(&lift[5], i)?]))
            .collect::<Vec<_>>(),
    })
}

/// Calls `visit(positives, size)` per group of tied scores, highest first.
fn descending_groups(positives: &[f64], negatives: &[f64], mut visit: impl FnMut(f64, f64)) {
    let (mut last_tp, mut last_fp) = (0, 0);
    descending_thresholds(positives, negatives, |_, tp, fp| {
        let (pos, neg) = (tp - last_tp, fp - last_fp);
        visit(pos as f64, (pos + neg) as f64);
        (last_tp, last_fp) = (tp, fp);
    });
}

/// `__quarry_<curve>_curve(bins, y, score)` → list of points; errors name
/// `function`, the table function it serves.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CurveUdaf {
    curve: Curve,
    function: &'static str,
    signature: Signature,
}

impl CurveUdaf {
    fn new(curve: Curve, function: &'static str) -> Self {
        CurveUdaf {
            curve,
            function,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn call(&self) -> crate::functions::metrics::Call {
        crate::functions::metrics::Call {
            function: self.function,
            args: &["label", "probability"],
        }
    }
}

impl AggregateUDFImpl for CurveUdaf {
    fn name(&self) -> &str {
        self.curve.aggregate()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                0 => DataType::Int64,
                _ if matches!(t, DataType::Boolean) => DataType::Boolean,
                _ => DataType::Float64,
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(self.curve.fields()),
            true,
        ))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(Ranked::fields(args.name))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let literal = |i: usize| {
            args.exprs
                .get(i)
                .and_then(|e| e.downcast_ref::<Literal>())
                .map(|l| l.value().clone())
        };
        let curve = self.curve;
        let bins = match literal(0) {
            Some(ScalarValue::Int64(Some(b))) => b.max(0) as usize,
            _ => curve.default_bins() as usize,
        };
        Ok(Box::new(CurveAccumulator {
            curve,
            call: self.call(),
            bins,
            state: Ranked::new(self.call(), &args.expr_fields[1..])?,
        }))
    }
}

#[derive(Debug)]
struct CurveAccumulator {
    curve: Curve,
    call: crate::functions::metrics::Call,
    bins: usize,
    state: Ranked,
}

impl Accumulator for CurveAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.state
            .update(self.call, &values[1], &values[2])
            .map_err(SqlStateError::into_df)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let fields = self.curve.fields();
        let columns = curve_columns(self.curve, &mut self.state, self.bins);
        let points = StructArray::try_new(fields, columns, None)?;
        Ok(list_value(Arc::new(points)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.state.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.state.take()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.state.merge(states)
    }
}

/// One curve table function: its name, its curve and its reference entry;
/// [`CurveUdtf`] does the rest.
pub trait CurveFunction: Debug + Send + Sync + 'static {
    const NAME: &'static str;
    const CURVE: Curve;

    fn doc() -> DocumentationBuilder;
}

/// The table function of a [`CurveFunction`].
#[derive(Debug)]
pub struct CurveUdtf<K: CurveFunction> {
    store: Arc<dyn ModelStore>,
    curve: PhantomData<K>,
}

impl<K: CurveFunction> CurveUdtf<K> {
    pub fn new(services: &Services) -> Self {
        CurveUdtf {
            store: services.models.clone(),
            curve: PhantomData,
        }
    }
}

impl<K: CurveFunction> TableFunctionSpec for CurveUdtf<K> {
    const NAME: &'static str = K::NAME;
    const PARAMS: Params = PARAMS;

    fn doc() -> DocumentationBuilder {
        K::doc()
    }
}

impl<K: CurveFunction> RelationFunction for CurveUdtf<K> {
    fn plan(&self, args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        plan_curve(K::NAME, K::CURVE, &self.store, args)
    }
}

/// Plans `ml_<curve>_curve(model, relation [, bins [, segment]])`.
fn plan_curve(
    function: &'static str,
    curve: Curve,
    store: &Arc<dyn ModelStore>,
    mut args: Args,
) -> Result<LogicalPlan> {
    if args.len() < 2 {
        return Err(args.usage_error());
    }
    let reference = args.model(0)?;
    let input = args.relation(1)?;
    args.at_most(4)?;
    let mut bins = curve.default_bins();
    let mut segment: Option<String> = None;
    let mut set = |name: &str, value: &Expr| -> Result<(), SqlStateError> {
        match (name, value) {
            ("bins", Expr::Literal(v, _)) => {
                let ok = match v.cast_to(&DataType::Int64) {
                    Ok(ScalarValue::Int64(Some(b)))
                        if (0..=100_000).contains(&b)
                            && (b > 0 || curve != Curve::Lift)
                            && !matches!(v, ScalarValue::Float64(Some(f)) if f.fract() != 0.0) =>
                    {
                        Some(b)
                    }
                    _ => None,
                };
                let least = if curve == Curve::Lift { 1 } else { 0 };
                bins = ok.ok_or_else(|| {
                    SqlStateError::arg(
                        function,
                        "bins",
                        format!("must be a whole number from {least} to 100000"),
                        v,
                    )
                })?;
                Ok(())
            }
            ("segment", value) if text_literal(value).is_some() => {
                segment = text_literal(value).map(str::to_string);
                Ok(())
            }
            ("bins" | "segment", other) => Err(SqlStateError::arg(
                function,
                name,
                "must be a constant",
                other,
            )),
            (other, _) => Err(SqlStateError::bad_argument(format!(
                "{function}: unknown named argument {other}; it takes bins and segment"
            ))),
        }
    };
    if let Some(b) = args.value(2) {
        set("bins", &b)?;
    }
    if let Some(s) = args.value(3) {
        set("segment", &s)?;
    }
    for (name, value) in &args.named {
        set(&name.to_ascii_lowercase(), value)?;
    }
    let (out, _) = outputs(function, store, &reference, &input)?;
    if out.kind != Kind::Binary {
        return Err(SqlStateError::bad_argument(format!(
            "{function}: model {} is not a binary classifier; curves rank the positive class",
            out.pinned
        ))
        .into_df());
    }
    let group = segment_group(function, &input, segment.as_deref())?;
    let udaf = AggregateUDF::new_from_impl(CurveUdaf::new(curve, function));
    let aggregate = udaf
        .call(vec![lit(bins), out.y, out.score])
        .alias(LIST_COLUMN);
    let plan = LogicalPlanBuilder::from(input)
        .filter(out.labelled)?
        .aggregate(group, vec![aggregate])?;
    list_rows(plan, segment.as_deref(), curve.columns())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Float64Type;

    fn floats(a: &ArrayRef) -> Vec<f64> {
        a.as_primitive::<Float64Type>().values().to_vec()
    }

    #[test]
    fn roc_points_match_scikit_learn() {
        // sklearn.metrics.roc_curve([0,0,1,1], [0.1,0.4,0.35,0.8], drop_intermediate=False):
        // thresholds [inf, 0.8, 0.4, 0.35, 0.1], fpr [0,0,0.5,0.5,1], tpr [0,0.5,0.5,1,1]
        let mut state = Ranked::from_scores(vec![0.35, 0.8], vec![0.1, 0.4]);
        let c = curve_columns(Curve::Roc, &mut state, 0);
        assert_eq!(floats(&c[0]), vec![f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
        assert_eq!(floats(&c[1]), vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(floats(&c[2]), vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        // precision_recall_curve: precision [1, 0.5, 0.667, 0.5] at recall [0.5, 0.5, 1, 1]
        let c = curve_columns(Curve::Pr, &mut state, 0);
        assert_eq!(floats(&c[1]), vec![0.5, 0.5, 1.0, 1.0]);
        let p = floats(&c[2]);
        assert!((p[2] - 2.0 / 3.0).abs() < 1e-15 && p[0] == 1.0 && p[3] == 0.5);
    }

    #[test]
    fn thinning_keeps_about_bins_points_and_the_last() {
        let positives: Vec<f64> = (0..500).map(|i| i as f64).collect();
        let negatives: Vec<f64> = (0..500).map(|i| i as f64 + 0.5).collect();
        let mut state = Ranked::from_scores(positives, negatives);
        let c = curve_columns(Curve::Roc, &mut state, 20);
        let tpr = floats(&c[2]);
        assert!((20..=22).contains(&tpr.len()), "{}", tpr.len());
        assert_eq!(tpr.last(), Some(&1.0));
    }

    #[test]
    fn lift_bins_share_ties_evenly() {
        // 10 rows, 4 positive, 5 bins of 2 rows: the two top positives, then
        // a tie of 4 rows (1 positive) over bins 2 and 3, two negatives, and
        // a tie of a positive and a negative.
        let mut state =
            Ranked::from_scores(vec![0.9, 0.8, 0.5, 0.1], vec![0.5, 0.5, 0.5, 0.2, 0.2, 0.1]);
        let c = curve_columns(Curve::Lift, &mut state, 5);
        let rows = floats(&c[1]);
        let hits = floats(&c[2]);
        assert_eq!(rows, vec![2.0; 5]);
        // tie group of 4 (1 positive) spans bins 2 and 3: 0.5 positive each
        assert_eq!(hits, vec![2.0, 0.5, 0.5, 0.0, 1.0]);
        let gain = floats(&c[5]);
        assert_eq!(gain[0], 0.5);
        assert_eq!(gain[4], 1.0);
        // lift of the top bin: rate 1.0 over base 0.4
        assert!((floats(&c[4])[0] - 2.5).abs() < 1e-12);
    }
}
