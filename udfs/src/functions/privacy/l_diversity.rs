//! `ml_l_diversity(relation, quasi_identifiers, sensitive [, l])`: whether
//! each group of look-alike rows holds several sensitive values.

use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, LogicalPlan, LogicalPlanBuilder, lit,
};

use super::groups::{MEASURE, ROWS, quasi_identifiers, summary, target};
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, Param, Params, RELATION};
use crate::functions::relation::{RelationFunction, find_column};

pub const NAME: &str = "ml_l_diversity";

/// The l asked for when none is given: at least two different sensitive
/// values in every group.
pub const DEFAULT_L: i64 = 2;

#[derive(Debug, Default)]
pub struct LDiversityUdtf;

impl TableFunctionSpec for LDiversityUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        RELATION,
        Param::value(
            "quasi_identifiers",
            "Text: the columns that together could single a person out, comma-separated.",
        ),
        Param::value("sensitive", "Text: the column whose value must not be inferable."),
        Param::value(
            "l",
            "Optional whole number of at least 1: the distinct sensitive values each group needs, default 2.",
        )
        .optional(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Privacy", description: None },
            "Distinct l-diversity of a relation: the rows are grouped by the quasi-identifiers (NULL is a value) and each group's distinct non-NULL values of the sensitive column are counted. One row: l (the fewest distinct sensitive values in any group: a group with 1 tells everyone in it their sensitive value), groups, groups_below_l (groups with fewer than the target l), rows_at_risk (their rows), rows, and target_l. Distinct l-diversity does not weigh how skewed the values are (entropy or t-closeness do) and, like k-anonymity, covers only the quasi-identifiers named. Errors: 22023 for an unknown column, an empty list or a target below 1.",
            "SELECT * FROM ml_l_diversity(relation, quasi_identifiers, sensitive [, l])",
        )
        .with_sql_example(
r#"```sql
> SELECT * FROM ml_l_diversity(customers, 'region, plan', 'churned');
+---+--------+----------------+--------------+-------+----------+
| l | groups | groups_below_l | rows_at_risk | rows  | target_l |
+---+--------+----------------+--------------+-------+----------+
| 2 | 15     | 0              | 0            | 50000 | 2        |
+---+--------+----------------+--------------+-------+----------+
```"#,
        )
    }
}

impl RelationFunction for LDiversityUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let input = args.relation(0)?;
        let list = args.text(1)?;
        let sensitive_name = args.text(2)?;
        let l = target(NAME, "l", &mut args, 3, DEFAULT_L)?;
        args.at_most(4)?;
        let qis = quasi_identifiers(NAME, &input, &list)?;
        let sensitive = find_column(&input, &sensitive_name).ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "{NAME}: sensitive: the relation has no column {sensitive_name}"
            ))
            .into_df()
        })?;
        let grouped = LogicalPlanBuilder::from(input)
            .aggregate(
                qis,
                vec![
                    count(lit(1)).alias(ROWS),
                    count_distinct(sensitive).alias(MEASURE),
                ],
            )?
            .build()?;
        summary(grouped, l, "l", "groups_below_l", "target_l")
    }
}
