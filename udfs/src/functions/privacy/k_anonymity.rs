//! `ml_k_anonymity(relation, quasi_identifiers [, k])`: how anonymous a
//! table is under k-anonymity, measured.

use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, LogicalPlan, LogicalPlanBuilder, lit,
};

use super::groups::{MEASURE, ROWS, quasi_identifiers, summary, target};
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, Param, Params, RELATION};
use crate::functions::relation::RelationFunction;

pub const NAME: &str = "ml_k_anonymity";

/// The k asked for when none is given: a common floor in practice (the
/// UK ICO and many health-data guidelines use 5 or more).
pub const DEFAULT_K: i64 = 5;

#[derive(Debug, Default)]
pub struct KAnonymityUdtf;

impl TableFunctionSpec for KAnonymityUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        RELATION,
        Param::value(
            "quasi_identifiers",
            "Text: the columns that together could single a person out, comma-separated ('age_band, zip3, gender').",
        ),
        Param::value(
            "k",
            "Optional whole number of at least 1: the group size to reach, default 5.",
        )
        .optional(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Privacy", description: None },
            "How k-anonymous a relation is over its quasi-identifiers: the rows are grouped by those columns (NULL is a value), and the answer is one row: k (the size of the smallest group: every row shares its quasi-identifiers with at least k - 1 others), groups, groups_below_k (groups smaller than the target k), rows_at_risk (the rows in those groups), rows, and target_k. A relation is k-anonymous for the target when groups_below_k is 0. Generalize (ml_generalize) or suppress the rows at risk before sharing or training. k-anonymity does not protect a group whose sensitive values are all alike (see ml_l_diversity) nor against linkage with data outside the quasi-identifiers you named. Errors: 22023 for an unknown column, an empty list or a target below 1.",
            "SELECT * FROM ml_k_anonymity(relation, quasi_identifiers [, k])",
        )
        .with_sql_example(
r#"```sql
> SELECT * FROM ml_k_anonymity(customers, 'region, plan', 5);
+------+--------+----------------+--------------+-------+----------+
| k    | groups | groups_below_k | rows_at_risk | rows  | target_k |
+------+--------+----------------+--------------+-------+----------+
| 1552 | 15     | 0              | 0            | 50000 | 5        |
+------+--------+----------------+--------------+-------+----------+
```"#,
        )
    }
}

impl RelationFunction for KAnonymityUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let input = args.relation(0)?;
        let list = args.text(1)?;
        let k = target(NAME, "k", &mut args, 2, DEFAULT_K)?;
        args.at_most(3)?;
        let qis = quasi_identifiers(NAME, &input, &list)?;
        let grouped = LogicalPlanBuilder::from(input)
            .aggregate(qis, vec![count(lit(1)).alias(ROWS)])?
            .project(vec![
                datafusion::logical_expr::col(ROWS),
                datafusion::logical_expr::col(ROWS).alias(MEASURE),
            ])?
            .build()?;
        summary(grouped, k, "k", "groups_below_k", "target_k")
    }
}
