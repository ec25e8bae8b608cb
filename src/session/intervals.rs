//! `interval * number`, `number * interval` and `interval / number`, as
//! PostgreSQL computes them (`now() - 7 * interval '1 day'`).
//!
//! DataFusion has no such operators: typing the expression fails while the
//! statement is planned ("cannot get result type for temporal operation"),
//! before any analyzer rule could help. So an [`ExprPlanner`] plans the
//! operator as [`IntervalScale`], which follows PostgreSQL's `interval_mul`:
//! months, days and time are scaled apart; a fraction of a month left over
//! becomes days (30 to a month) and a fraction of a day becomes time (24
//! hours to a day), rounded to the microsecond.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    Cast, ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::error::{SqlStateError, sqlstate};

/// The instant a positive interval (`INTERVAL '7 days'`, or its text
/// `'7 days'`) before `now`; `None` for anything else (a negative or zero
/// interval, a part below zero, text that is no interval, an instant out of
/// range). Months are calendar months, as PostgreSQL subtracts them.
pub fn before(
    value: &datafusion::scalar::ScalarValue,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let interval = value
        .cast_to(&DataType::Interval(IntervalUnit::MonthDayNano))
        .ok()?;
    let datafusion::scalar::ScalarValue::IntervalMonthDayNano(Some(i)) = interval else {
        return None;
    };
    if i.months < 0
        || i.days < 0
        || i.nanoseconds < 0
        || (i.months, i.days, i.nanoseconds) == (0, 0, 0)
    {
        return None;
    }
    now.checked_sub_months(chrono::Months::new(i.months as u32))?
        .checked_sub_signed(chrono::TimeDelta::days(i.days as i64))?
        .checked_sub_signed(chrono::TimeDelta::nanoseconds(i.nanoseconds))
}

/// Plans `*` and `/` between an interval and a number.
#[derive(Debug, Default)]
pub struct IntervalArithmetic;

impl ExprPlanner for IntervalArithmetic {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let interval = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Interval(_)));
        let number = |e: &Expr| e.get_type(schema).is_ok_and(|t| t.is_numeric());
        let (span, factor, divide) = match expr.op {
            BinaryOperator::Multiply if interval(&expr.left) && number(&expr.right) => {
                (expr.left, expr.right, false)
            }
            BinaryOperator::Multiply if number(&expr.left) && interval(&expr.right) => {
                (expr.right, expr.left, false)
            }
            BinaryOperator::Divide if interval(&expr.left) && number(&expr.right) => {
                (expr.left, expr.right, true)
            }
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let udf = if divide { &*DIVIDE } else { &*MULTIPLY };
        let args = vec![
            Expr::Cast(Cast::new(
                Box::new(span),
                DataType::Interval(IntervalUnit::MonthDayNano),
            )),
            Expr::Cast(Cast::new(Box::new(factor), DataType::Float64)),
        ];
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(udf.clone(), args),
        )))
    }
}

static MULTIPLY: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| IntervalScale::udf(false));
static DIVIDE: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| IntervalScale::udf(true));

/// An interval times (or divided by) a float, PostgreSQL's way. Made only
/// by [`IntervalArithmetic`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IntervalScale {
    divide: bool,
    signature: Signature,
}

impl IntervalScale {
    fn udf(divide: bool) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(IntervalScale {
            divide,
            signature: Signature::exact(
                vec![
                    DataType::Interval(IntervalUnit::MonthDayNano),
                    DataType::Float64,
                ],
                Volatility::Immutable,
            ),
        }))
    }
}

const NANOS_PER_DAY: f64 = 86_400e9;
const DAYS_PER_MONTH: f64 = 30.0;

fn out_of_range() -> datafusion::error::DataFusionError {
    SqlStateError::new(sqlstate::DATETIME_FIELD_OVERFLOW, "interval out of range").into_df()
}

/// `span * factor` as PostgreSQL's `interval_mul` computes it.
pub fn scale(span: IntervalMonthDayNano, factor: f64) -> Option<IntervalMonthDayNano> {
    let months = f64::from(span.months) * factor;
    let whole_months = months.trunc();
    let days = f64::from(span.days) * factor;
    let whole_days = days.trunc();
    let month_days = (months - whole_months) * DAYS_PER_MONTH;
    let all_days = whole_days + month_days.trunc();
    let left_over = (days - whole_days) + (month_days - month_days.trunc());
    // Time to the microsecond, as PostgreSQL keeps it.
    let nanos = span.nanoseconds as f64 * factor + left_over * NANOS_PER_DAY;
    let nanos = (nanos / 1e3).round() * 1e3;
    let fits = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
    if !fits(whole_months, i32::MIN as f64, i32::MAX as f64)
        || !fits(all_days, i32::MIN as f64, i32::MAX as f64)
        || !fits(nanos, i64::MIN as f64, i64::MAX as f64)
    {
        return None;
    }
    Some(IntervalMonthDayNano::new(
        whole_months as i32,
        all_days as i32,
        nanos as i64,
    ))
}

impl ScalarUDFImpl for IntervalScale {
    fn name(&self) -> &str {
        if self.divide {
            "interval_div"
        } else {
            "interval_mul"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let spans = arrays[0].as_primitive::<IntervalMonthDayNanoType>();
        let factors = arrays[1].as_primitive::<Float64Type>();
        let mut out = Vec::with_capacity(spans.len());
        for i in 0..spans.len() {
            if spans.is_null(i) || factors.is_null(i) {
                out.push(None);
                continue;
            }
            let factor = factors.value(i);
            let factor = if self.divide {
                if factor == 0.0 {
                    return Err(
                        SqlStateError::new(sqlstate::DIVISION_BY_ZERO, "division by zero")
                            .into_df(),
                    );
                }
                1.0 / factor
            } else {
                factor
            };
            out.push(Some(
                scale(spans.value(i), factor).ok_or_else(out_of_range)?,
            ));
        }
        crate::compat::shaped(Arc::new(IntervalMonthDayNanoArray::from(out)), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(months: i32, days: i32, micros: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(months, days, micros * 1000)
    }

    #[test]
    fn an_interval_back_from_now() {
        use chrono::{TimeZone, Utc};
        use datafusion::scalar::ScalarValue;
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).single();
        let now = now.expect("a valid instant");
        let text = |t: &str| ScalarValue::Utf8(Some(t.into()));
        assert_eq!(
            before(&text("7 days"), now),
            Utc.with_ymd_and_hms(2026, 3, 24, 12, 0, 0).single()
        );
        // A calendar month back from March 31 is the end of February.
        assert_eq!(
            before(&text("1 month 1 hour"), now),
            Utc.with_ymd_and_hms(2026, 2, 28, 11, 0, 0).single()
        );
        assert_eq!(
            before(&ScalarValue::IntervalMonthDayNano(Some(iv(0, 0, 1))), now),
            now.checked_sub_signed(chrono::TimeDelta::microseconds(1))
        );
        for bad in ["0 days", "-1 day", "1 day -2 hours", "soon", ""] {
            assert_eq!(before(&text(bad), now), None, "{bad}");
        }
        assert_eq!(before(&ScalarValue::Int64(Some(5)), now), None);
    }

    #[test]
    fn scaling_carries_fractions_down_as_postgresql_does() {
        // Answers of PostgreSQL 15.
        // interval '1 day' * 7 = 7 days
        assert_eq!(scale(iv(0, 1, 0), 7.0), Some(iv(0, 7, 0)));
        // interval '1 month' * 1.5 = 1 mon 15 days
        assert_eq!(scale(iv(1, 0, 0), 1.5), Some(iv(1, 15, 0)));
        // interval '1 day' * 1.5 = 1 day 12:00:00
        assert_eq!(scale(iv(0, 1, 0), 1.5), Some(iv(0, 1, 12 * 3_600_000_000)));
        // interval '1 hour' / 3 = 00:20:00
        assert_eq!(
            scale(iv(0, 0, 3_600_000_000), 1.0 / 3.0),
            Some(iv(0, 0, 1_200_000_000))
        );
        // interval '1 mon 1 day' * -2 = -2 mons -2 days
        assert_eq!(scale(iv(1, 1, 0), -2.0), Some(iv(-2, -2, 0)));
        assert_eq!(scale(iv(i32::MAX, 0, 0), 2.0), None);
    }
}
