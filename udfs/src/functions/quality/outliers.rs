//! `SELECT * FROM ml_outliers(relation, column, method [, threshold])`:
//! every row with an outlier score of one numeric column and a flag.
//!
//! | method   | score                                             | outlier when | default |
//! |----------|---------------------------------------------------|--------------|---------|
//! | `zscore` | (x − mean) / sd (population sd, as scipy.stats.zscore) | \|score\| > t | 3 |
//! | `iqr`    | distance outside [Q1, Q3] in IQRs, 0 inside (Tukey's fences) | score > t | 1.5 |
//! | `mad`    | 0.6745 (x − median) / MAD (Iglewicz–Hoaglin modified z) | \|score\| > t | 3.5 |
//!
//! Quantiles are numpy's linear ones. A NULL value gets a NULL score and
//! flag; when the spread is zero (a constant column) scores are NULL and
//! nothing is an outlier.
//!
//! Plan: the hidden aggregate `__quarry_spread` (held by the plan, not
//! registered) computes (center, scale) over the column; the relation is cross-joined with that one row and the
//! score is an expression of it.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, DocSection, Documentation, DocumentationBuilder,
    Expr, LogicalPlan, LogicalPlanBuilder, Signature, Volatility, cast, col, lit, when,
};

use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::drift::state::{Numbers, Sides};
use crate::functions::metrics::Call;
use crate::functions::metrics::state::{MetricState, Sum};
use crate::functions::params::Arg;
use crate::functions::params::{Args, Param, Params, RELATION, unknown_option};
use crate::functions::relation::{RelationFunction, numeric_column, passthrough};
use crate::kernels::quantile::quantile_sorted;

pub const NAME: &str = "ml_outliers";
const AGGREGATE: &str = "__quarry_spread";
const SPREAD: &str = "__quarry_spread";
/// The constant of the modified z-score: Φ⁻¹(0.75).
const MAD_SCALE: f64 = 0.6745;

/// How scores are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ZScore,
    Iqr,
    Mad,
}

impl Method {
    pub fn parse(text: &str) -> Option<Method> {
        match text.to_ascii_lowercase().as_str() {
            "zscore" | "z" => Some(Method::ZScore),
            "iqr" => Some(Method::Iqr),
            "mad" => Some(Method::Mad),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::ZScore => "zscore",
            Method::Iqr => "iqr",
            Method::Mad => "mad",
        }
    }

    pub fn default_threshold(self) -> f64 {
        match self {
            Method::ZScore => 3.0,
            Method::Iqr => 1.5,
            Method::Mad => 3.5,
        }
    }
}

/// (center, scale) of an ascending sample: (mean, sd) for zscore, (Q1, Q3)
/// for iqr, (median, MAD) for mad. `None` for an empty sample.
pub fn spread(method: Method, sorted: &[f64]) -> Option<(f64, f64)> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as f64;
    // The sample is not empty here, so every quantile exists.
    let quantile = |sample: &[f64], q| quantile_sorted(sample, q).unwrap_or(f64::NAN);
    Some(match method {
        Method::ZScore => {
            let mut s = Sum::default();
            sorted.iter().for_each(|&x| s.add(x));
            let mean = s.value() / n;
            let mut m2 = Sum::default();
            sorted.iter().for_each(|&x| m2.add((x - mean) * (x - mean)));
            (mean, (m2.value() / n).sqrt())
        }
        Method::Iqr => (quantile(sorted, 0.25), quantile(sorted, 0.75)),
        Method::Mad => {
            let median = quantile(sorted, 0.5);
            let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
            deviations.sort_by(f64::total_cmp);
            (median, quantile(&deviations, 0.5))
        }
    })
}

/// The score of `x` given the spread; `None` when the spread is zero.
pub fn score(method: Method, x: f64, (a, b): (f64, f64)) -> Option<f64> {
    match method {
        Method::ZScore => (b > 0.0).then(|| (x - a) / b),
        Method::Mad => (b > 0.0).then(|| MAD_SCALE * (x - a) / b),
        Method::Iqr => {
            let iqr = b - a;
            (iqr > 0.0).then(|| ((a - x).max(x - b).max(0.0)) / iqr)
        }
    }
}

fn spread_fields() -> Fields {
    Fields::from(vec![
        Field::new("center", DataType::Float64, true),
        Field::new("scale", DataType::Float64, true),
    ])
}

/// The hidden aggregate: (value, method) → struct(center, scale).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SpreadUdaf {
    signature: Signature,
}

impl Default for SpreadUdaf {
    fn default() -> Self {
        SpreadUdaf {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

const CALL: Call = Call {
    function: NAME,
    args: &["column"],
};

impl AggregateUDFImpl for SpreadUdaf {
    fn name(&self) -> &str {
        AGGREGATE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(spread_fields()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(Sides::<Numbers>::fields(args.name))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let text = crate::functions::literal_text(AGGREGATE, &args, 1)?;
        let method = Method::parse(&text).ok_or_else(|| {
            SqlStateError::internal(format!("{AGGREGATE}: unknown method {text}")).into_df()
        })?;
        Ok(Box::new(SpreadAccumulator {
            method,
            values: Sides::lenient(CALL, true),
        }))
    }
}

#[derive(Debug)]
struct SpreadAccumulator {
    method: Method,
    values: Sides<Numbers>,
}

impl Accumulator for SpreadAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.values
            .push_side(&values[0], false)
            .map_err(SqlStateError::into_df)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let s = spread(self.method, self.values.sorted().0);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![s.map(|s| s.0)])),
            Arc::new(Float64Array::from(vec![s.map(|s| s.1)])),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            spread_fields(),
            columns,
            None,
        )?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.values.take()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.values.merge(states)
    }
}

#[derive(Debug, Default)]
pub struct OutliersUdtf;

impl TableFunctionSpec for OutliersUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        RELATION,
        Param::value(
            "column",
            "Text: the name of a numeric column of the relation.",
        ),
        Param::value("method", "Text: 'zscore', 'iqr' or 'mad'."),
        Param::value(
            "threshold",
            "Optional positive constant; defaults 3 (zscore), 1.5 (iqr), 3.5 (mad).",
        )
        .optional(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Data quality", description: None },
            "Every row of a table or query with an outlier score of one numeric column and is_outlier. Methods: zscore, score (x - mean) / sd with the population sd (scipy.stats.zscore), outlier when |score| > threshold (default 3); iqr, the distance outside [Q1, Q3] in interquartile ranges (0 inside), outlier when score > threshold (default 1.5: Tukey's fences); mad, the modified z-score 0.6745 (x - median) / MAD (Iglewicz and Hoaglin), outlier when |score| > threshold (default 3.5). Quantiles use linear interpolation. A NULL value gets NULL score and is_outlier; a column with zero spread gets NULL scores and no outliers. For many columns at once, train an isolation_forest model. Errors: 22023 for an unknown column or method or a threshold that is not a positive constant; 42804 for a column that is not numeric.",
            "SELECT * FROM ml_outliers(relation, column, method [, threshold])",
        )
        .with_sql_example(
r#"```sql
> SELECT customer_id, monthly_fee, round(score, 2) AS score FROM ml_outliers(customers, 'monthly_fee', 'iqr') WHERE is_outlier ORDER BY score DESC LIMIT 2;
+-------------+-------------+-------+
| customer_id | monthly_fee | score |
+-------------+-------------+-------+
| 42530       | 109.73      | 1.89  |
| 9259        | 108.64      | 1.85  |
+-------------+-------------+-------+
```"#,
        )
    }
}

/// A threshold: a positive number.
fn threshold(v: &ScalarValue) -> Result<f64, SqlStateError> {
    match v.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(Some(t))) if t.is_finite() && t > 0.0 => Ok(t),
        _ => Err(SqlStateError::arg(
            NAME,
            "threshold",
            "must be a positive number",
            v,
        )),
    }
}

impl RelationFunction for OutliersUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let df = SqlStateError::into_df;
        let input = args.relation(0)?;
        let name = args.text(1)?;
        let method_text = args.text(2)?;
        let method = Method::parse(&method_text).ok_or_else(|| {
            df(SqlStateError::bad_argument(format!(
                "{NAME}: method must be 'zscore', 'iqr' or 'mad', got '{method_text}'"
            )))
        })?;
        let mut threshold_value = match args.take(3) {
            None => method.default_threshold(),
            Some(Arg::Value(Expr::Literal(v, _))) => threshold(&v)?,
            Some(_) => {
                return Err(df(SqlStateError::bad_argument(format!(
                    "{NAME}: threshold must be a constant number"
                ))));
            }
        };
        args.each_option("threshold", |value| {
            match value {
                Expr::Literal(v, _) => threshold_value = threshold(v)?,
                // Not a constant: said as of any other name.
                _ => return Err(unknown_option(NAME, "threshold", "threshold")),
            }
            Ok(())
        })?;
        args.at_most(4)?;
        let column = numeric_column(NAME, &input, &name)?;
        let udaf = AggregateUDF::new_from_impl(SpreadUdaf::default());
        let spread = LogicalPlanBuilder::from(input.clone())
            .aggregate(
                Vec::<Expr>::new(),
                vec![
                    udaf.call(vec![
                        cast(column.clone(), DataType::Float64),
                        lit(method.name()),
                    ])
                    .alias(SPREAD),
                ],
            )?
            .build()?;
        let x = cast(column, DataType::Float64);
        let (a, b) = (
            get_field(col(SPREAD), "center"),
            get_field(col(SPREAD), "scale"),
        );
        let positive = |e: Expr| when(e.clone().gt(lit(0.0)), e).end();
        let score = match method {
            Method::ZScore => (x.clone() - a) / positive(b)?,
            Method::Mad => lit(MAD_SCALE) * (x.clone() - a) / positive(b)?,
            Method::Iqr => {
                let iqr = positive(b.clone() - a.clone())?;
                when(x.clone().lt(a.clone()), (a - x.clone()) / iqr.clone())
                    .when(x.clone().gt(b.clone()), (x.clone() - b) / iqr.clone())
                    .otherwise(lit(0.0) / iqr)?
            }
        };
        let magnitude = match method {
            Method::Iqr => score.clone(),
            _ => datafusion::functions::math::expr_fn::abs(score.clone()),
        };
        let is_outlier = when(x.is_null(), lit(ScalarValue::Boolean(None))).otherwise(
            datafusion::functions::core::expr_fn::coalesce(vec![
                magnitude.gt(lit(threshold_value)),
                lit(false),
            ]),
        )?;
        for taken in ["score", "is_outlier"] {
            if input
                .schema()
                .fields()
                .iter()
                .any(|f| f.name().eq_ignore_ascii_case(taken))
            {
                return Err(df(SqlStateError::bad_argument(format!(
                    "{NAME}: the relation already has a column named {taken}, which the output adds"
                ))
                .with_hint("select the columns you need and rename it, e.g. (SELECT id, amount, score AS old_score FROM t)")));
            }
        }
        let mut projection = passthrough(&input);
        projection.push(score.alias("score"));
        projection.push(is_outlier.alias("is_outlier"));
        LogicalPlanBuilder::from(input)
            .cross_join(spread)?
            .project(projection)?
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_and_scores_follow_their_definitions() {
        let x = [1.0, 2.0, 3.0, 4.0, 100.0];
        // scipy.stats.zscore(x)[-1] == 1.9993428618189626: mean 22, population sd 39.0128...
        let (mean, sd) = spread(Method::ZScore, &x).expect("spread");
        assert_eq!(mean, 22.0);
        assert!((sd - 39.01281840626232).abs() < 1e-12);
        assert!(
            (score(Method::ZScore, 100.0, (mean, sd)).expect("z") - 1.9993428618189626).abs()
                < 1e-12
        );
        // numpy quantiles 2 and 4: 100 is (100 - 4) / 2 = 48 IQRs out
        let iqr = spread(Method::Iqr, &x).expect("spread");
        assert_eq!(iqr, (2.0, 4.0));
        assert_eq!(score(Method::Iqr, 100.0, iqr), Some(48.0));
        assert_eq!(score(Method::Iqr, 3.0, iqr), Some(0.0));
        assert_eq!(score(Method::Iqr, 0.0, iqr), Some(1.0));
        // median 3, |x - 3| = [2, 1, 0, 1, 97] → MAD 1
        let mad = spread(Method::Mad, &x).expect("spread");
        assert_eq!(mad, (3.0, 1.0));
        assert!((score(Method::Mad, 100.0, mad).expect("m") - 0.6745 * 97.0).abs() < 1e-12);
        assert_eq!(score(Method::ZScore, 5.0, (5.0, 0.0)), None);
        assert_eq!(spread(Method::Mad, &[]), None);
    }
}
