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

use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, Expr, LogicalPlan, LogicalPlanBuilder,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, col, lit,
};

use crate::error::{SqlStateError, sqlstate};
use crate::functions::evaluation::evaluate::METRIC_COLUMN;
use crate::functions::monitoring::{numeric_column, ordered_values, series_rows, struct_lists};
use crate::functions::relation::{Arg, Call, RelationFunction, find_column, text_arg};
use crate::kernels::stationarity::{adf, kpss};

pub const NAME: &str = "ml_stationarity";
const HIDDEN: &str = "__quarry_stationarity";
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
#[derive(Debug, PartialEq, Eq, Hash)]
struct StationarityUdf {
    signature: Signature,
}

impl ScalarUDFImpl for StationarityUdf {
    fn name(&self) -> &str {
        HIDDEN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(test_fields()),
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let alpha = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Float64(Some(a))) => *a,
            _ => DEFAULT_ALPHA,
        };
        let rows = series_rows(HIDDEN, &args.args[0], args.number_rows)?
            .into_iter()
            .map(|values| (2, tests(&values.unwrap_or_default(), alpha)))
            .collect();
        struct_lists(&test_fields(), rows)
    }
}

pub fn stationarity_function() -> ScalarUDF {
    ScalarUDF::from(StationarityUdf {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

#[derive(Debug, Default)]
pub struct Stationarity;

impl Stationarity {
    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Drift and monitoring", description: None },
            "Tests whether a series is stationary, with the augmented Dickey-Fuller test (statsmodels adfuller: constant, lag chosen by AIC up to 12 (n/100)^(1/4), MacKinnon p-values) and the KPSS test (statsmodels kpss: level, automatic lag; its p-value is interpolated in the published table, so it is clipped to [0.01, 0.1]). One row per test: test, statistic, p_value, lags, critical_1, critical_5, critical_10, stationary (ADF: p < alpha; KPSS: p >= alpha) and verdict, the same on both rows: 'stationary' (both agree), 'non-stationary' (both reject it), 'trend-stationary' (only KPSS says stationary: detrend) or 'difference-stationary' (only ADF says so: difference it). Values are taken in time_col order (the relation's order without one); NULLs are left out. A series too short (ADF needs 4 values, KPSS 3) or constant gives NULL statistics and verdict. Errors: 22023 for an unknown column or an alpha outside (0, 1); 42804 for a value column that is not numeric.",
            "SELECT * FROM ml_stationarity(relation, value_col [, time_col] [, alpha => 0.05])",
        )
        .with_sql_example(
            "```sql\n> SELECT test, round(statistic, 3) AS statistic, round(p_value, 4) AS p_value, verdict\n  FROM ml_stationarity((SELECT day, units FROM daily_sales WHERE store_id = 1), 'units', 'day');\n+------+-----------+---------+----------------+\n| test | statistic | p_value | verdict        |\n+------+-----------+---------+----------------+\n| adf  | -0.815    | 0.8147  | non-stationary |\n| kpss | 2.442     | 0.01    | non-stationary |\n+------+-----------+---------+----------------+\n```",
        )
        .with_argument("relation", "A table name, a parenthesized subquery, or text holding a name or a query.")
        .with_argument("value_col", "Text: the numeric column tested.")
        .with_argument("time_col", "Optional text: the column that orders the values.")
        .with_argument("alpha", "Optional significance level (default 0.05).")
        .build()
    }
}

impl RelationFunction for Stationarity {
    fn docs(&self) -> Documentation {
        Self::documentation()
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn is_relation(&self, position: usize) -> bool {
        position == 0
    }

    fn plan(&self, call: Call, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let df = SqlStateError::into_df;
        let usage = || {
            df(SqlStateError::bad_argument(format!(
                "{NAME}: expected (relation, value_col [, time_col])"
            )))
        };
        let mut args = call.args.into_iter();
        let (Some(Arg::Relation(input)), Some(value)) = (args.next(), args.next()) else {
            return Err(usage());
        };
        let value_name = text_arg(NAME, Some(&value), "value_col (argument 2)").map_err(df)?;
        let time_name = args
            .next()
            .map(|t| text_arg(NAME, Some(&t), "time_col (argument 3)"))
            .transpose()
            .map_err(df)?;
        if args.next().is_some() {
            return Err(usage());
        }
        let mut alpha = DEFAULT_ALPHA;
        for (name, v) in &call.named {
            match (name.as_str(), v) {
                ("alpha", Expr::Literal(v, _)) => {
                    alpha = match v.cast_to(&DataType::Float64) {
                        Ok(ScalarValue::Float64(Some(a))) if a > 0.0 && a < 1.0 => a,
                        _ => {
                            return Err(df(SqlStateError::bad_argument(format!(
                                "{NAME}: alpha must be between 0 and 1, got {v}"
                            ))));
                        }
                    }
                }
                _ => {
                    return Err(df(SqlStateError::bad_argument(format!(
                        "{NAME}: unknown option {name}; the option is alpha"
                    ))));
                }
            }
        }
        let value = numeric_column(NAME, &input, &value_name).map_err(df)?;
        let time = time_name
            .map(|t| {
                find_column(&input, &t)
                    .ok_or_else(|| df(crate::functions::monitoring::unknown_column(NAME, &t)))
            })
            .transpose()?;
        let hidden = ctx
            .context_provider()
            .get_function_meta(HIDDEN)
            .ok_or_else(|| {
                df(SqlStateError::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("{HIDDEN} is not registered"),
                ))
            })?;
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
                Expr::ScalarFunction(ScalarFunction::new_udf(
                    hidden,
                    vec![col("__quarry_v"), lit(alpha)],
                ))
                .alias(METRIC_COLUMN),
            ])?
            .unnest_column(METRIC_COLUMN)?;
        let fields: Vec<Expr> = test_fields()
            .iter()
            .map(|f| get_field(col(METRIC_COLUMN), f.name()).alias(f.name()))
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
