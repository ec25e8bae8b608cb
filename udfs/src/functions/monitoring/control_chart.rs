//! `SELECT * FROM ml_control_chart(relation, time_col, value_col [, baseline => 20])`:
//! a Shewhart individuals chart with the Western Electric rules.
//!
//! Output: the time column, the value column, center, ucl, lcl,
//! out_of_control and rule (the rules broken, e.g. '1' or '2,4'; NULL when
//! none). Limits come from the first `baseline` points in time order (all of
//! them when there are fewer): center = their mean, σ = their average moving
//! range / 1.128, limits center ± 3σ ([`crate::kernels::spc`]). Rows with a
//! NULL time or value are left out.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Column, ScalarValue};
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::ExprFunctionExt;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan, LogicalPlanBuilder, col,
};

use super::{Series, ordered_values, series_call, whole_option};
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, Param, Params, RELATION};
use crate::functions::relation::{RelationFunction, find_column, numeric_column, unknown_column};
use crate::kernels::spc::{Limits, rules};

pub const NAME: &str = "ml_control_chart";
/// Points that set the limits by default.
pub const DEFAULT_BASELINE: i64 = 20;

fn point_fields() -> Fields {
    Fields::from(vec![
        Field::new("value", DataType::Float64, true),
        Field::new("center", DataType::Float64, true),
        Field::new("ucl", DataType::Float64, true),
        Field::new("lcl", DataType::Float64, true),
        Field::new("out_of_control", DataType::Boolean, true),
        Field::new("rule", DataType::Utf8, true),
    ])
}

/// The chart of one series: one row per value.
fn chart(values: &[f64], baseline: usize) -> Vec<ArrayRef> {
    let n = values.len();
    let limits = Limits::of(&values[..baseline.min(n)]);
    let broken = limits
        .map(|l| rules(values, l))
        .unwrap_or_else(|| vec![Vec::new(); n]);
    let repeat = |f: fn(&Limits) -> f64| Float64Array::from(vec![limits.as_ref().map(f); n]);
    vec![
        Arc::new(Float64Array::from(values.to_vec())),
        Arc::new(repeat(|l| l.center)),
        Arc::new(repeat(Limits::upper)),
        Arc::new(repeat(Limits::lower)),
        Arc::new(BooleanArray::from_iter(
            broken
                .iter()
                .map(|r| limits.is_some().then_some(!r.is_empty())),
        )),
        Arc::new(StringArray::from_iter(broken.iter().map(|r| {
            (!r.is_empty()).then(|| r.iter().map(u8::to_string).collect::<Vec<_>>().join(","))
        }))),
    ]
}

/// The hidden scalar: (values in time order, baseline) → list of chart rows.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
struct ChartUdf;

impl Series for ChartUdf {
    const NAME: &'static str = "__quarry_control_chart";

    fn fields() -> Fields {
        point_fields()
    }

    fn rows(values: &[f64], constant: &ScalarValue) -> (usize, Vec<ArrayRef>) {
        let baseline = match constant {
            ScalarValue::Int64(Some(b)) => *b as usize,
            _ => DEFAULT_BASELINE as usize,
        };
        (values.len(), chart(values, baseline))
    }
}

#[derive(Debug, Default)]
pub struct ControlChartUdtf;

impl TableFunctionSpec for ControlChartUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        RELATION,
        Param::value(
            "time_col",
            "Text: the column that orders the points (any sortable type).",
        ),
        Param::value("value_col", "Text: the numeric column charted."),
        Param::named(
            "baseline",
            "Optional: how many of the first points set the limits (default 20, at least 2).",
        ),
    ])
    .with_usage("(relation, time_col, value_col [, baseline => n])");

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Drift and monitoring", description: None },
            "A Shewhart individuals control chart of a numeric column in time order, one row per point: the time column, the value column, center, ucl, lcl (center +/- 3 sigma), out_of_control and rule, the Western Electric rules the point breaks as text ('1' beyond 3 sigma; '2' two of three beyond 2 sigma on one side; '3' four of five beyond 1 sigma on one side; '4' eight in a row on one side of the center; e.g. '2,4'), NULL when none. The center and sigma come from the first baseline points (default 20; all points when there are fewer): their mean, and their average moving range / 1.128. Aggregate first for a rate per period, e.g. weekly positive rate from a GROUP BY. Rows with a NULL time or value are left out. Errors: 22023 for an unknown column or a baseline below 2; 42804 for a value column that is not numeric.",
            "SELECT * FROM ml_control_chart(relation, time_col, value_col [, baseline => 20])",
        )
        .with_sql_example(
r#"```sql
> SELECT week, round(rate, 3) AS rate, round(ucl, 3) AS ucl, rule
  FROM ml_control_chart((SELECT date_trunc('week', signup_ts) AS week, avg(CAST(churned AS INT)) AS rate
                         FROM customers GROUP BY 1), 'week', 'rate')
  WHERE out_of_control;
+---------------------+-------+------+------+
| week                | rate  | ucl  | rule |
+---------------------+-------+------+------+
| 2023-02-20 00:00:00 | 0.23  | 0.22 | 1    |
| 2023-03-20 00:00:00 | 0.104 | 0.22 | 2    |
+---------------------+-------+------+------+
```"#,
        )
    }
}

impl RelationFunction for ControlChartUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let input = args.relation(0)?;
        let time_name = args.text(1)?;
        let value_name = args.text(2)?;
        args.at_most(3)?;
        let mut baseline = DEFAULT_BASELINE;
        args.each_option("baseline", |value| {
            baseline = whole_option(NAME, "baseline", value, 2)?;
            Ok(())
        })?;
        let time =
            find_column(&input, &time_name).ok_or_else(|| unknown_column(NAME, &time_name))?;
        let value = numeric_column(NAME, &input, &value_name)?;
        let times = datafusion::functions_aggregate::expr_fn::array_agg(time.clone())
            .order_by(vec![time.clone().sort(true, false)])
            .build()?;
        let plan = LogicalPlanBuilder::from(input)
            .filter(time.clone().is_not_null().and(value.clone().is_not_null()))?
            .aggregate(
                Vec::<Expr>::new(),
                vec![
                    times.alias("__quarry_t"),
                    ordered_values(value, Some(time.clone()))?.alias("__quarry_v"),
                ],
            )?
            .project(vec![
                col("__quarry_t"),
                series_call::<ChartUdf>(col("__quarry_v"), ScalarValue::Int64(Some(baseline)))
                    .alias("__quarry_c"),
            ])?
            .unnest_columns_with_options(
                vec![
                    Column::from_name("__quarry_t"),
                    Column::from_name("__quarry_c"),
                ],
                Default::default(),
            )?;
        let field = |f: &str| get_field(col("__quarry_c"), f).alias(f);
        plan.project(vec![
            col("__quarry_t").alias(&time_name),
            get_field(col("__quarry_c"), "value").alias(&value_name),
            field("center"),
            field("ucl"),
            field("lcl"),
            field("out_of_control"),
            field("rule"),
        ])?
        .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    #[test]
    fn chart_rows_carry_limits_and_rules() {
        let values = [10.0, 12.0, 11.0, 13.0, 30.0];
        let rows = chart(&values, 4);
        let ucl = rows[2]
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("ucl");
        assert!((ucl.value(0) - (11.5 + 3.0 * 5.0 / 3.0 / 1.128)).abs() < 1e-12);
        let rule = rows[5]
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("rule");
        assert_eq!(rule.value(4), "1");
        assert!(rule.is_null(0));
        // One point cannot set limits: no verdicts.
        let single = chart(&[5.0], 20);
        let flags = single[4]
            .as_any()
            .downcast_ref::<BooleanArray>()
            .expect("flags");
        assert!(flags.is_null(0));
    }
}
