//! `SELECT * FROM ml_stationarity(relation, value_col [, time_col] [, alpha => 0.05])`:
//! the augmented Dickey–Fuller and KPSS tests of one series.
//!
//! Output, one row per test: test ('adf', 'kpss'), statistic, p_value, lags,
//! critical_1, critical_5, critical_10, stationary, verdict. The tests are
//! statsmodels' `adfuller` (constant, lag by AIC, MacKinnon p-values) and
//! `kpss` (level, automatic lag; p-values interpolated in the published
//! table, so clipped to [0.01, 0.1]) — see [`crate::kernels::stationarity`].
//! ADF's null is a unit root (stationary when p < alpha), KPSS's null is
//! stationarity (stationary when p >= alpha); the verdict combines them:
//! both stationary → 'stationary', neither → 'non-stationary', only KPSS →
//! 'trend-stationary', only ADF → 'difference-stationary'.

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan, LogicalPlanBuilder, col,
};
use std::sync::Arc;

use super::{Series, ordered_values, series_call};
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, Param, Params, RELATION, unknown_option};
use crate::functions::relation::{
    LIST_COLUMN, RelationFunction, find_column, numeric_column, unknown_column,
};
use crate::kernels::stationarity::{adf, kpss};

pub const NAME: &str = "ml_stationarity";
pub const DEFAULT_ALPHA: f64 = 0.05;

fn test_fields() -> Fields {
    let float = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        Field::new("test", DataType::Utf8, false),
        float("statistic"),
        float("p_value"),
        Field::new("lags", DataType::Int64, true),
        float("critical_1"),
        float("critical_5"),
        float("critical_10"),
        Field::new("stationary", DataType::Boolean, true),
        Field::new("verdict", DataType::Utf8, true),
    ])
}

/// The two tests of one series, as result columns.
fn tests(values: &[f64], alpha: f64) -> Vec<ArrayRef> {
    let a = adf(values);
    let k = kpss(values);
    let critical = |level: f64| -> [Option<f64>; 2] {
        let pick = |pairs: &[(f64, f64)]| {
            pairs
                .iter()
                .find(|(l, _)| (l - level).abs() < 1e-9)
                .map(|p| p.1)
        };
        [
            a.as_ref().and_then(|a| pick(&a.critical)),
            k.as_ref().and_then(|k| pick(&k.critical)),
        ]
    };
    let adf_stationary = a.as_ref().map(|a| a.p_value < alpha);
    let kpss_stationary = k.as_ref().map(|k| k.p_value >= alpha);
    let verdict = match (adf_stationary, kpss_stationary) {
        (Some(true), Some(true)) => Some("stationary"),
        (Some(false), Some(false)) => Some("non-stationary"),
        (Some(false), Some(true)) => Some("trend-stationary"),
        (Some(true), Some(false)) => Some("difference-stationary"),
        _ => None,
    };
    vec![
        Arc::new(StringArray::from(vec!["adf", "kpss"])),
        Arc::new(Float64Array::from(vec![
            a.map(|a| a.statistic),
            k.map(|k| k.statistic),
        ])),
        Arc::new(Float64Array::from(vec![
            a.map(|a| a.p_value),
            k.map(|k| k.p_value),
        ])),
        Arc::new(Int64Array::from(vec![
            a.map(|a| a.used_lag as i64),
            k.map(|k| k.lags as i64),
        ])),
        Arc::new(Float64Array::from(critical(0.01).to_vec())),
        Arc::new(Float64Array::from(critical(0.05).to_vec())),
        Arc::new(Float64Array::from(critical(0.10).to_vec())),
        Arc::new(BooleanArray::from(vec![adf_stationary, kpss_stationary])),
        Arc::new(StringArray::from(vec![verdict, verdict])),
    ]
}

/// The hidden scalar: (values in time order, alpha) → list of two test rows.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
struct StationarityUdf;

impl Series for StationarityUdf {
    const NAME: &'static str = "__quarry_stationarity";

    fn fields() -> Fields {
        test_fields()
    }

    fn rows(values: &[f64], constant: &ScalarValue) -> (usize, Vec<ArrayRef>) {
        let alpha = match constant {
            ScalarValue::Float64(Some(a)) => *a,
            _ => DEFAULT_ALPHA,
        };
        (2, tests(values, alpha))
    }
}

#[derive(Debug, Default)]
pub struct StationarityUdtf;

impl TableFunctionSpec for StationarityUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        RELATION,
        Param::value("value_col", "Text: the numeric column tested."),
        Param::value(
            "time_col",
            "Optional text: the column that orders the values.",
        )
        .optional(),
        Param::named("alpha", "Optional significance level (default 0.05)."),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Drift and monitoring", description: None },
            "Tests whether a series is stationary, with the augmented Dickey-Fuller test (statsmodels adfuller: constant, lag chosen by AIC up to 12 (n/100)^(1/4), MacKinnon p-values) and the KPSS test (statsmodels kpss: level, automatic lag; its p-value is interpolated in the published table, so it is clipped to [0.01, 0.1]). One row per test: test, statistic, p_value, lags, critical_1, critical_5, critical_10, stationary (ADF: p < alpha; KPSS: p >= alpha) and verdict, the same on both rows: 'stationary' (both agree), 'non-stationary' (both reject it), 'trend-stationary' (only KPSS says stationary: detrend) or 'difference-stationary' (only ADF says so: difference it). Values are taken in time_col order (the relation's order without one); NULLs are left out. A series too short (ADF needs 4 values, KPSS 3) or constant gives NULL statistics and verdict. Errors: 22023 for an unknown column or an alpha outside (0, 1); 42804 for a value column that is not numeric.",
            "SELECT * FROM ml_stationarity(relation, value_col [, time_col] [, alpha => 0.05])",
        )
        .with_sql_example(
r#"```sql
> SELECT test, round(statistic, 3) AS statistic, round(p_value, 4) AS p_value, verdict
  FROM ml_stationarity((SELECT day, units FROM daily_sales WHERE store_id = 1), 'units', 'day');
+------+-----------+---------+----------------+
| test | statistic | p_value | verdict        |
+------+-----------+---------+----------------+
| adf  | -0.815    | 0.8147  | non-stationary |
| kpss | 2.442     | 0.01    | non-stationary |
+------+-----------+---------+----------------+
```"#,
        )
    }
}

impl RelationFunction for StationarityUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        if args.len() < 2 {
            return Err(args.usage_error());
        }
        let input = args.relation(0)?;
        let value_name = args.text(1)?;
        let time_name = if args.len() > 2 {
            Some(args.text(2)?)
        } else {
            None
        };
        args.at_most(3)?;
        let mut alpha = DEFAULT_ALPHA;
        args.each_option("alpha", |v| {
            alpha = match v {
                Expr::Literal(v, _) => match v.cast_to(&DataType::Float64) {
                    Ok(ScalarValue::Float64(Some(a))) if a > 0.0 && a < 1.0 => a,
                    _ => {
                        return Err(SqlStateError::arg(
                            NAME,
                            "alpha",
                            "must be between 0 and 1",
                            v,
                        ));
                    }
                },
                // Not a constant: said as of any other name.
                _ => return Err(unknown_option(NAME, "alpha", "alpha")),
            };
            Ok(())
        })?;
        let value = numeric_column(NAME, &input, &value_name)?;
        let time = time_name
            .map(|t| find_column(&input, &t).ok_or_else(|| unknown_column(NAME, &t)))
            .transpose()?;
        let mut present = value.clone().is_not_null();
        if let Some(t) = &time {
            present = present.and(t.clone().is_not_null());
        }
        let plan = LogicalPlanBuilder::from(input)
            .filter(present)?
            .aggregate(
                Vec::<Expr>::new(),
                vec![ordered_values(value, time)?.alias("__quarry_v")],
            )?
            .project(vec![
                series_call::<StationarityUdf>(
                    col("__quarry_v"),
                    ScalarValue::Float64(Some(alpha)),
                )
                .alias(LIST_COLUMN),
            ])?
            .unnest_column(LIST_COLUMN)?;
        let fields: Vec<Expr> = test_fields()
            .iter()
            .map(|f| get_field(col(LIST_COLUMN), f.name()).alias(f.name()))
            .collect();
        plan.project(fields)?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    #[test]
    fn verdicts_combine_both_tests() {
        // A random walk: ADF cannot reject a unit root, KPSS rejects stationarity.
        let mut x = 0.0;
        let mut state = 7u64;
        let walk: Vec<f64> = (0..300)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x += (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                x
            })
            .collect();
        let rows = tests(&walk, 0.05);
        let verdict = rows[8]
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("verdict");
        assert_eq!(verdict.value(0), "non-stationary");
        // Too short: NULLs, no verdict.
        let rows = tests(&[1.0, 2.0], 0.05);
        assert!(rows[1].is_null(0) && rows[8].is_null(0));
    }
}
