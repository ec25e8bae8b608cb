//! `SELECT * FROM ml_asof_join(left, right, key, left_time, right_time)`:
//! every left row with the latest right row of the same key at or before its
//! time — point-in-time correct features, no peeking into the future.
//!
//! Output: every left column, then every right column but the key; a right
//! column whose name a left column already has comes out as `right_<name>`.
//! A left row with no earlier right row (or a NULL key or time) keeps NULLs
//! on the right, as in a LEFT JOIN. Right rows with a NULL key or time never
//! match. Among right rows with the same key and time, which one wins is not
//! defined.
//!
//! Plan (one sort per key, no inequality join): both sides are projected to
//! (key, time, side, left row, right row) with each row packed in a struct,
//! unioned, and `last_value(right row) IGNORE NULLS` runs over each key's
//! rows in time order, right rows before left rows at the same time; the left
//! rows then carry the latest right row seen.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::{get_field, named_struct};
use datafusion::functions_aggregate::first_last::last_value_udaf;
use datafusion::logical_expr::expr::NullTreatment;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, Expr, ExprFunctionExt, ExprSchemable,
    LogicalPlan, LogicalPlanBuilder, WindowFrame, WindowFunctionDefinition, cast, col, lit, when,
};

use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, Param, Params};
use crate::functions::relation::{RelationFunction, find_column};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;

pub const NAME: &str = "ml_asof_join";

#[derive(Debug, Default)]
pub struct AsofJoinUdtf;

impl TableFunctionSpec for AsofJoinUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::relation(
            "left",
            "The rows to enrich: a table name, a parenthesized subquery, or text holding a name or a query.",
        ),
        Param::relation(
            "right",
            "The time-stamped values: a table name, a parenthesized subquery, or text.",
        ),
        Param::value(
            "key",
            "Text: the column both sides are matched on (the same name on both sides).",
        ),
        Param::value("left_time", "Text: the time column of left."),
        Param::value(
            "right_time",
            "Text: the time column of right: the moment each value became known.",
        ),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Features", description: None },
            "A point-in-time join: every row of left with the latest row of right that has the same key and a time at or before the left row's time, so features are the values known at that moment and never later ones. Output: every left column, then the right columns except the key (a name the left side already has gets a right_ prefix). A left row without an earlier right row, or with a NULL key or time, keeps NULLs on the right, as in a LEFT JOIN. Runs as one sort per key, not an inequality join. Errors: 22023 for an unknown column or a column given not as text; 42804 when the keys or the times of the two sides cannot be compared.",
            "SELECT * FROM ml_asof_join(left, right, key, left_time, right_time)",
        )
        .with_sql_example(
r#"```sql
> SELECT o.order_id, o.at, price FROM ml_asof_join(orders, prices, 'item', 'at', 'valid_from') o ORDER BY o.order_id;
+----------+---------------------+-------+
| order_id | at                  | price |
+----------+---------------------+-------+
| 1        | 2024-01-05 10:00:00 | 9.5   |
| 2        | 2024-01-01 08:00:00 |       |
+----------+---------------------+-------+
```"#,
        )
    }
}

fn column_of(function_side: &str, plan: &LogicalPlan, name: &str) -> Result<Expr, SqlStateError> {
    find_column(plan, name).ok_or_else(|| {
        SqlStateError::new(
            crate::error::sqlstate::UNDEFINED_COLUMN,
            format!("{NAME}: the {function_side} relation has no column {name}"),
        )
    })
}

/// Columns packed in one struct.
fn packed(columns: &[(Expr, String)]) -> Expr {
    named_struct(
        columns
            .iter()
            .flat_map(|(e, n)| [lit(n.as_str()), e.clone()])
            .collect(),
    )
}

fn null_of(expr: &Expr, plan: &LogicalPlan) -> Result<Expr> {
    let t = expr.get_type(plan.schema().as_ref())?;
    Ok(cast(lit(ScalarValue::Null), t))
}

impl RelationFunction for AsofJoinUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let df = SqlStateError::into_df;
        if !args.named.is_empty() || args.len() != 5 {
            return Err(args.usage_error());
        }
        let left = args.relation(0)?;
        let right = args.relation(1)?;
        let key = args.text(2)?;
        let left_time = args.text(3)?;
        let right_time = args.text(4)?;
        let lk = column_of("left", &left, &key).map_err(df)?;
        let rk = column_of("right", &right, &key).map_err(df)?;
        let lt = column_of("left", &left, &left_time).map_err(df)?;
        let rt = column_of("right", &right, &right_time).map_err(df)?;
        let (lk_type, lt_type) = (
            lk.get_type(left.schema().as_ref())?,
            lt.get_type(left.schema().as_ref())?,
        );
        let mismatch = |what: &str, a: &DataType, b: &DataType| {
            df(SqlStateError::new(
                crate::error::sqlstate::DATATYPE_MISMATCH,
                format!("{NAME}: the {what} columns cannot be compared: {a} and {b}"),
            ))
        };
        let (rk_type, rt_type) = (
            rk.get_type(right.schema().as_ref())?,
            rt.get_type(right.schema().as_ref())?,
        );
        // Both sides in the type DataFusion compares them in, so neither is
        // truncated (a time cast to a coarser unit could match the future).
        let text =
            |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
        let common = |what: &str, a: &DataType, b: &DataType| {
            comparison_coercion(a, b)
                // Numbers or times compared as text would order wrongly.
                .filter(|t| !text(t) || (text(a) && text(b)))
                .ok_or_else(|| mismatch(what, a, b))
        };
        let key_type = common("key", &lk_type, &rk_type)?;
        let time_type = common("time", &lt_type, &rt_type)?;

        let columns = |plan: &LogicalPlan| -> Vec<(Expr, String)> {
            plan.schema()
                .iter()
                .map(|(q, f)| {
                    (
                        Expr::Column(Column::new(q.cloned(), f.name())),
                        f.name().clone(),
                    )
                })
                .collect()
        };
        let left_columns = columns(&left);
        let left_names: Vec<&String> = left_columns.iter().map(|(_, n)| n).collect();
        let right_columns: Vec<(Expr, String)> = columns(&right)
            .into_iter()
            .filter(|(_, n)| !n.eq_ignore_ascii_case(&key))
            .collect();
        let right_out: Vec<String> = right_columns
            .iter()
            .map(|(_, n)| {
                if left_names.iter().any(|l| l.eq_ignore_ascii_case(n)) {
                    format!("right_{n}")
                } else {
                    n.clone()
                }
            })
            .collect();
        let left_row = packed(&left_columns);
        let right_row = packed(&right_columns);
        let left_null = null_of(&left_row, &left)?;
        let right_null = null_of(&right_row, &right)?;

        let left_side = LogicalPlanBuilder::from(left.clone())
            .project(vec![
                cast(lk, key_type.clone()).alias("__quarry_k"),
                cast(lt, time_type.clone()).alias("__quarry_t"),
                lit(1i32).alias("__quarry_side"),
                left_row.alias("__quarry_l"),
                right_null.clone().alias("__quarry_r"),
            ])?
            .build()?;
        let right_side = LogicalPlanBuilder::from(right.clone())
            .filter(rk.clone().is_not_null().and(rt.clone().is_not_null()))?
            .project(vec![
                cast(rk, key_type).alias("__quarry_k"),
                cast(rt, time_type).alias("__quarry_t"),
                lit(0i32).alias("__quarry_side"),
                left_null.alias("__quarry_l"),
                right_row.alias("__quarry_r"),
            ])?
            .build()?;
        let latest = Expr::WindowFunction(Box::new(WindowFunction::new(
            WindowFunctionDefinition::AggregateUDF(last_value_udaf()),
            vec![col("__quarry_r")],
        )))
        .partition_by(vec![col("__quarry_k")])
        .order_by(vec![
            col("__quarry_t").sort(true, true),
            col("__quarry_side").sort(true, true),
        ])
        .window_frame(WindowFrame::new(Some(true)))
        .null_treatment(NullTreatment::IgnoreNulls)
        .build()?
        .alias("__quarry_m");
        let matched = when(
            col("__quarry_k").is_null().or(col("__quarry_t").is_null()),
            right_null.clone(),
        )
        .otherwise(col("__quarry_m"))?;
        let mut projection: Vec<Expr> = left_columns
            .iter()
            .map(|(_, n)| get_field(col("__quarry_l"), n.as_str()).alias(n))
            .collect();
        projection.extend(
            right_columns
                .iter()
                .zip(&right_out)
                .map(|((_, n), out)| get_field(col("__quarry_match"), n.as_str()).alias(out)),
        );
        LogicalPlanBuilder::from(left_side)
            .union(right_side)?
            .window(vec![latest])?
            .filter(col("__quarry_side").eq(lit(1i32)))?
            .project(vec![col("__quarry_l"), matched.alias("__quarry_match")])?
            .project(projection)?
            .build()
    }
}
