//! What `ml_k_anonymity` and `ml_l_diversity` share: the quasi-identifier
//! columns a call names, a target given as a positive whole number, and
//! the summary of group sizes (or diversities) against it.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{count, min, sum};
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, col, lit};
use datafusion::prelude::coalesce;

use crate::error::SqlStateError;
use crate::functions::params::{Arg, Args};
use crate::functions::relation::find_column;

/// Rows per group.
pub const ROWS: &str = "__quarry_group_rows";
/// The measure per group (rows for k, distinct sensitive values for l).
pub const MEASURE: &str = "__quarry_group_measure";

/// The columns `list` names ('age_band, zip3'), found in `input`.
pub fn quasi_identifiers(function: &str, input: &LogicalPlan, list: &str) -> Result<Vec<Expr>> {
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(SqlStateError::bad_argument(format!(
            "{function}: quasi_identifiers must name at least one column, as 'age_band, zip3'"
        ))
        .into_df());
    }
    names
        .into_iter()
        .map(|name| {
            find_column(input, name).ok_or_else(|| {
                SqlStateError::bad_argument(format!(
                    "{function}: quasi_identifiers: the relation has no column {name}"
                ))
                .into_df()
            })
        })
        .collect()
}

/// The optional target at `position` (or named `name`): a whole number
/// of at least 1; `default` when not given.
pub fn target(
    function: &str,
    name: &str,
    args: &mut Args,
    position: usize,
    default: i64,
) -> Result<i64> {
    let check = |v: &ScalarValue| -> std::result::Result<i64, SqlStateError> {
        match v.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
            Ok(ScalarValue::Int64(Some(t))) if t >= 1 => Ok(t),
            _ => Err(SqlStateError::arg(
                function,
                name,
                "must be a whole number of at least 1",
                v,
            )),
        }
    };
    let mut out = match args.take(position) {
        None => default,
        Some(Arg::Value(Expr::Literal(v, _))) => check(&v).map_err(SqlStateError::into_df)?,
        Some(_) => {
            return Err(SqlStateError::bad_argument(format!(
                "{function}: {name} must be a constant whole number"
            ))
            .into_df());
        }
    };
    args.each_option(name, |value| {
        match value {
            Expr::Literal(v, _) => out = check(v)?,
            _ => {
                return Err(SqlStateError::bad_argument(format!(
                    "{function}: {name} must be a constant whole number"
                )));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// One row summarizing `grouped` (a row per group with [`ROWS`] and
/// [`MEASURE`]) against `target`: the smallest measure (`measure_name`),
/// the number of groups, the groups whose measure is under the target
/// (`below_name`), the rows in those groups, all rows, and the target
/// (`target_name`).
pub fn summary(
    grouped: LogicalPlan,
    target: i64,
    measure_name: &str,
    below_name: &str,
    target_name: &str,
) -> Result<LogicalPlan> {
    let below = col(MEASURE).lt(lit(target));
    LogicalPlanBuilder::from(grouped)
        .aggregate(
            Vec::<Expr>::new(),
            vec![
                min(col(MEASURE)).alias(measure_name),
                count(lit(1)).alias("groups"),
                count(lit(1))
                    .filter(below.clone())
                    .build()?
                    .alias(below_name),
                coalesce(vec![sum(col(ROWS)).filter(below).build()?, lit(0_i64)])
                    .alias("rows_at_risk"),
                coalesce(vec![sum(col(ROWS)), lit(0_i64)]).alias("rows"),
            ],
        )?
        .project(vec![
            col(measure_name),
            col("groups"),
            col(below_name),
            col("rows_at_risk"),
            col("rows"),
            lit(target).alias(target_name),
        ])?
        .build()
}
