//! `SELECT * FROM ml_trace_subject('customers.customer_id', 42)`: where a
//! data subject's rows are, for an access request (GDPR article 15).
//!
//! Looked in: every managed table with a column of the key's name; every
//! snapshot (training sets included) with a column whose recorded lineage
//! is the key column; the prediction log and the feedback of every model
//! whose policy `key` is the key column's name. One row per place, with
//! the rows that hold the subject (0 included: where it looked is part of
//! the answer). The call is one query: each place is a branch of a union
//! of counts, so tables are checked for `SELECT` as in any query.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan, LogicalPlanBuilder, ident,
    lit,
};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Args, Params};
use quarry_udfs::functions::relation::RelationFunction;

use super::{Governance, subject};
use crate::error::SqlStateError;

pub const NAME: &str = "ml_trace_subject";

#[derive(Debug)]
pub struct TraceSubjectUdtf {
    governance: Arc<Governance>,
}

impl TraceSubjectUdtf {
    pub fn new(governance: &Arc<Governance>) -> Self {
        TraceSubjectUdtf {
            governance: governance.clone(),
        }
    }
}

impl TableFunctionSpec for TraceSubjectUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[subject::KEY, subject::VALUE]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Governance", description: None },
            "Where a data subject's rows are, for an access request: one row per place looked in, with kind ('table', 'snapshot', 'prediction_log' or 'feedback'), object (the table, snapshot@version or model), column_name (the column that holds the key there) and rows (how many rows hold the subject, 0 included). Places: every managed table with a column of the key's name; every snapshot, training snapshots included, with a column whose lineage (ml_lineage) is the key column; the prediction log and feedback of every model whose policy key (ml_set_policy) has the key column's name. Values are compared as text. Rows reached only through other columns (a table keyed by e-mail address) are not found: trace each key. Superusers and members of auditor only, and SELECT on each table as in any query. Errors: 42P01 unknown table; 42703 unknown column; 42501 without the role or a privilege; 22023 for a NULL or non-constant value.",
            "SELECT * FROM ml_trace_subject(key, value)",
        )
        .with_sql_example(
r#"```sql
> SELECT kind, object, column_name, rows FROM ml_trace_subject('customers.customer_id', 42)
  WHERE kind = 'table' ORDER BY object;
+-------+-------------------------+-------------+------+
| kind  | object                  | column_name | rows |
+-------+-------------------------+-------------+------+
| table | public.customers        | customer_id | 1    |
| table | public.customers_recent | customer_id | 0    |
+-------+-------------------------+-------------+------+
```"#,
        )
    }
}

impl RelationFunction for TraceSubjectUdtf {
    fn plan(&self, args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let (table, column, value) =
            subject::key_and_value(NAME, "trace a data subject", &self.governance, args, ctx)?;
        // Each place's matching rows as (kind, object, column, 1), and each
        // place once with 0 (so a place without the subject is listed),
        // summed per place. (Counting in each branch instead would put a
        // global aggregate under the literal columns, and a filter on
        // them, pushed below it, would turn a 0 into a row.)
        let places =
            subject::places(&self.governance, &table, &column).map_err(SqlStateError::into_df)?;
        let zeros: Vec<Vec<Expr>> = places
            .iter()
            .map(|p| {
                vec![
                    lit(p.kind.name()),
                    lit(p.object.clone()),
                    lit(p.column.clone()),
                    lit(0i64),
                ]
            })
            .collect();
        if zeros.is_empty() {
            // Only a view or an external table has the column: no rows.
            return LogicalPlanBuilder::empty(false)
                .project(vec![
                    lit(ScalarValue::Utf8(None)).alias("kind"),
                    lit(ScalarValue::Utf8(None)).alias("object"),
                    lit(ScalarValue::Utf8(None)).alias("column_name"),
                    lit(ScalarValue::Int64(None)).alias("rows"),
                ])?
                .build();
        }
        let mut plan = LogicalPlanBuilder::values(zeros)?.project(vec![
            ident("column1").alias("kind"),
            ident("column2").alias("object"),
            ident("column3").alias("column_name"),
            ident("column4").alias("hit"),
        ])?;
        for place in places {
            let branch = LogicalPlanBuilder::from(place.plan.clone())
                .filter(place.matches(&value))?
                .project(vec![
                    lit(place.kind.name()).alias("kind"),
                    lit(place.object).alias("object"),
                    lit(place.column).alias("column_name"),
                    lit(1i64).alias("hit"),
                ])?
                .build()?;
            plan = plan.union(branch)?;
        }
        plan.aggregate(
            vec![ident("kind"), ident("object"), ident("column_name")],
            vec![sum(ident("hit")).alias("rows")],
        )?
        .build()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_compare_as_their_text() {
        use datafusion::common::ScalarValue;
        assert_eq!(ScalarValue::Int64(Some(42)).to_string(), "42");
        assert_eq!(ScalarValue::Utf8(Some("42".into())).to_string(), "42");
    }
}
