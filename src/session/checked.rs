//! Integer `+`, `-` and `*` that raise `22003` on overflow, as PostgreSQL's
//! do, instead of wrapping.
//!
//! DataFusion evaluates integer arithmetic with wrapping kernels, so
//! `SELECT 9223372036854775807 + 1` answered -9223372036854775808. Its
//! physical `BinaryExpr` can check overflow, but the physical planner never
//! asks it to and offers no hook. This analyzer rule, run after type
//! coercion (when both operands have one integer type), replaces each
//! integer `+ - *` with a function computing the same operation with Arrow's
//! checked kernels; names are preserved, so result columns are called what
//! they were. Floats and decimals are left alone (floats follow IEEE 754 as
//! PostgreSQL's do; decimals already check their precision). `sum` of a
//! `bigint` is summed without wrapping too (see `checked_sum`).
//!
//! Casts of fractional numbers to integers round, as PostgreSQL's do,
//! where Arrow's truncate (`3.7::int` was 3): a `double precision` or
//! `real` value to the nearest, ties to even (PostgreSQL's `rint`); a
//! `numeric` (and a literal such as `2.5`, which PostgreSQL reads as
//! `numeric` and DataFusion as a float) half away from zero.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::{SqlStateError, sqlstate};

/// The analyzer rule: integer `+ - *` become their checked functions.
#[derive(Debug, Default)]
pub struct CheckedIntegerArithmetic;

impl AnalyzerRule for CheckedIntegerArithmetic {
    fn name(&self) -> &str {
        "checked_integer_arithmetic"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(check_node)
            .map(|t| t.data)
    }
}

/// Whether `e` holds anything this rule may rewrite: checked before the
/// node's names are saved and its schema looked up, so a plan without
/// arithmetic (nearly every catalog query, `SELECT 1`) costs one walk.
fn candidate(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(match e {
            Expr::BinaryExpr(b) => {
                matches!(b.op, Operator::Plus | Operator::Minus | Operator::Multiply)
            }
            Expr::AggregateFunction(agg) => agg.func.name() == "sum",
            Expr::Cast(c) => c.field.data_type().is_integer(),
            Expr::TryCast(c) => c.field.data_type().is_integer(),
            _ => false,
        })
    })
    .unwrap_or(false)
}

fn check_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    super::exprs::rewrite_node(plan, candidate, checked_expr)
}

fn checked_expr(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    if let Expr::AggregateFunction(agg) = &e
        && agg.func.name() == "sum"
    {
        return checked_sum(e, schema);
    }
    if matches!(&e, Expr::Cast(c) if c.field.data_type().is_integer())
        || matches!(&e, Expr::TryCast(c) if c.field.data_type().is_integer())
    {
        return rounded_cast(e, schema);
    }
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    let udf = match op {
        Operator::Plus => &*ADD,
        Operator::Minus => &*SUB,
        Operator::Multiply => &*MUL,
        _ => return Ok(Transformed::no(e)),
    };
    let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(e));
    };
    if l != r || !l.is_integer() {
        return Ok(Transformed::no(e));
    }
    let Expr::BinaryExpr(BinaryExpr { left, right, .. }) = e else {
        return Ok(Transformed::no(e));
    };
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(udf.clone(), vec![*left, *right]),
    )))
}

/// `sum` of a `bigint`: DataFusion sums 64-bit integers in 64 bits and
/// wrapped past 2^63. Summed as `DECIMAL(38, 0)` (which cannot overflow
/// short of 10^19 rows of the largest bigint) and cast back, a total past
/// the bigint range is `22003 bigint out of range`. PostgreSQL answers
/// `numeric` there; the result type stays `bigint` here because plans (and
/// what clients were told at Describe) are typed before this rule runs.
fn checked_sum(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::AggregateFunction(mut agg) = e else {
        return Ok(Transformed::no(e));
    };
    let wide = match agg.params.args.as_slice() {
        [arg] => matches!(arg.get_type(schema), Ok(DataType::Int64 | DataType::UInt64)),
        _ => false,
    };
    if !wide {
        return Ok(Transformed::no(Expr::AggregateFunction(agg)));
    }
    let arg = agg.params.args.remove(0);
    let Ok(t) = arg.get_type(schema) else {
        return Ok(Transformed::no(Expr::AggregateFunction(agg)));
    };
    agg.params.args.push(Expr::Cast(Cast::new(
        Box::new(arg),
        DataType::Decimal128(38, 0),
    )));
    Ok(Transformed::yes(Expr::Cast(Cast::new(
        Box::new(Expr::AggregateFunction(agg)),
        t,
    ))))
}

/// A cast of a float or decimal to an integer, with its operand rounded
/// first (see the module's note).
fn rounded_cast(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let operand = match &e {
        Expr::Cast(c) => &c.expr,
        Expr::TryCast(c) => &c.expr,
        _ => return Ok(Transformed::no(e)),
    };
    let Ok(from) = operand.get_type(schema) else {
        return Ok(Transformed::no(e));
    };
    let half_even = match from {
        DataType::Float32 | DataType::Float64 => !matches!(operand.as_ref(), Expr::Literal(..)),
        DataType::Decimal128(_, s) if s > 0 => false,
        _ => return Ok(Transformed::no(e)),
    };
    let udf = if half_even { &*TIES_EVEN } else { &*TIES_AWAY };
    let round = |operand: Box<Expr>| {
        Box::new(Expr::ScalarFunction(ScalarFunction::new_udf(
            udf.clone(),
            vec![*operand],
        )))
    };
    Ok(Transformed::yes(match e {
        Expr::Cast(mut c) => {
            c.expr = round(c.expr);
            Expr::Cast(c)
        }
        Expr::TryCast(mut c) => {
            c.expr = round(c.expr);
            Expr::TryCast(c)
        }
        other => other,
    }))
}

static TIES_EVEN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Rounded::udf(true));
static TIES_AWAY: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Rounded::udf(false));

/// A float or decimal rounded to a whole number, in its own type: ties to
/// even (`half_even`) or away from zero. Not registered by name: only the
/// analyzer rule makes it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Rounded {
    half_even: bool,
    signature: Signature,
}

impl Rounded {
    fn udf(half_even: bool) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(Rounded {
            half_even,
            signature: Signature::any(1, Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for Rounded {
    fn name(&self) -> &str {
        if self.half_even {
            "round_ties_even"
        } else {
            "round_ties_away"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Float64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{AsArray, PrimitiveArray};
        use datafusion::arrow::datatypes::{Decimal128Type, Float32Type, Float64Type};
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let input = args.args[0].to_array(args.number_rows)?;
        let even = self.half_even;
        let out: ArrayRef = match input.data_type() {
            DataType::Float64 => Arc::new(
                input
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(
                        |v| if even { v.round_ties_even() } else { v.round() },
                    ),
            ),
            DataType::Float32 => Arc::new(
                input
                    .as_primitive::<Float32Type>()
                    .unary::<_, Float32Type>(
                        |v| if even { v.round_ties_even() } else { v.round() },
                    ),
            ),
            DataType::Decimal128(p, s) => {
                let (p, s) = (*p, *s);
                let unit = 10i128.pow(u32::from(s.unsigned_abs()));
                let rounded: PrimitiveArray<Decimal128Type> =
                    input.as_primitive::<Decimal128Type>().unary(|v| {
                        let (whole, rest) = (v / unit, v % unit);
                        let away = rest.abs() * 2 >= unit;
                        (whole + if away { v.signum() } else { 0 }) * unit
                    });
                Arc::new(rounded.with_precision_and_scale(p, s)?)
            }
            _ => input,
        };
        crate::compat::shaped(out, scalar)
    }
}

static ADD: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| CheckedOp::udf(Op::Add));
static SUB: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| CheckedOp::udf(Op::Sub));
static MUL: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| CheckedOp::udf(Op::Mul));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Sub,
    Mul,
}

/// One checked operation over two arrays of one integer type. Not
/// registered by name: only the analyzer rule makes it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedOp {
    op: Op,
    signature: Signature,
}

impl CheckedOp {
    fn udf(op: Op) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(CheckedOp {
            op,
            signature: Signature::any(2, Volatility::Immutable),
        }))
    }
}

/// PostgreSQL's message for an integer type out of range.
fn out_of_range(t: &DataType) -> SqlStateError {
    let name = match t {
        DataType::Int16 | DataType::Int8 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        _ => "bigint",
    };
    SqlStateError::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{name} out of range"),
    )
}

impl ScalarUDFImpl for CheckedOp {
    fn name(&self) -> &str {
        match self.op {
            Op::Add => "checked_add",
            Op::Sub => "checked_sub",
            Op::Mul => "checked_mul",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Int64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [l, r] = arrays.as_slice() else {
            return Err(SqlStateError::internal("checked arithmetic takes two operands").into_df());
        };
        let out: std::result::Result<ArrayRef, ArrowError> = match self.op {
            Op::Add => numeric::add(l, r),
            Op::Sub => numeric::sub(l, r),
            Op::Mul => numeric::mul(l, r),
        };
        let out = out.map_err(|e| match e {
            ArrowError::ArithmeticOverflow(_) => out_of_range(l.data_type()).into_df(),
            other => other.into(),
        })?;
        crate::compat::shaped(out, scalar)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn run(sql: &str) -> std::result::Result<String, String> {
        let state = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_default_features()
            .with_analyzer_rule(Arc::new(CheckedIntegerArithmetic))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let batches = ctx
            .sql(sql)
            .await
            .map_err(|e| e.to_string())?
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .map_err(|e| e.to_string())?
                .to_string(),
        )
    }

    #[tokio::test]
    async fn integer_overflow_is_an_error_and_the_rest_is_unchanged() {
        for sql in [
            "SELECT 9223372036854775807 + 1",
            "SELECT -9223372036854775807 - 2",
            "SELECT 4611686018427387904 * 2",
            "SELECT CAST(2147483647 AS INT) + CAST(1 AS INT)",
            "SELECT x * x FROM (VALUES (CAST(3037000500 AS BIGINT))) t(x)",
        ] {
            let e = run(sql).await.expect_err(sql);
            assert!(e.contains("out of range"), "{sql}: {e}");
        }
        let ok = run("SELECT 1 + 2 AS three, 7 - 10, 6 * 7, 1.5 + 1")
            .await
            .expect("runs");
        assert!(ok.contains("| three |"), "{ok}");
        assert!(ok.contains("| 3     | -3"), "{ok}");
        let rounded = run(
            "SELECT CAST(3.7 AS INT) AS a, CAST(-2.5 AS INT) AS b, CAST(x AS INT) AS c, \
             CAST(y AS BIGINT) AS d, CAST(z AS INT) AS e \
             FROM (VALUES (CAST(2.5 AS DOUBLE), CAST(-3.5 AS REAL), CAST(2.5 AS DECIMAL(5, 1)))) t(x, y, z)",
        )
        .await
        .expect("runs");
        // Literals (numeric in PostgreSQL) and numerics: half away from
        // zero; floats: ties to even, as PostgreSQL's rint.
        assert!(rounded.contains("| 4 | -3 | 2 | -4 | 3 |"), "{rounded}");
        let named = run("SELECT x + 1 FROM (VALUES (1)) t(x)")
            .await
            .expect("runs");
        assert!(named.contains("t.x + Int64(1)"), "{named}");
    }
}
