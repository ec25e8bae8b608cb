//! Table function calls that look alike to the optimizer are told apart.
//!
//! DataFusion names the scan of a table function call after the function
//! alone (`generate_series()`, `ml_predict()`), whatever its arguments, and
//! two scans compare equal by name and schema, not by what they read. So in
//! `SELECT (SELECT count(*) FROM generate_series(1, 3)),
//! (SELECT count(*) FROM generate_series(1, 5))` common subexpression
//! elimination took the second subquery for the first and answered `3, 3`.
//! This analyzer rule gives each scan of a function called more than once in
//! a statement a name of its own (`generate_series()#2`) under an alias with
//! the old name, so every column still resolves as it did and no two calls
//! compare equal. A statement with one call per function is left alone.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Result, TableReference};
use datafusion::logical_expr::{LogicalPlan, SubqueryAlias, TableScan, TableScanBuilder};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct DistinctTableFunctionScans;

/// Whether `name` is the name DataFusion gives a table function's scan.
fn is_call(name: &TableReference) -> bool {
    matches!(name, TableReference::Bare { table } if table.ends_with("()"))
}

impl AnalyzerRule for DistinctTableFunctionScans {
    fn name(&self) -> &str {
        "quarry_distinct_table_function_scans"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let mut calls: HashMap<TableReference, usize> = HashMap::new();
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && is_call(&scan.table_name)
            {
                *calls.entry(scan.table_name.clone()).or_default() += 1;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        calls.retain(|_, n| *n > 1);
        if calls.is_empty() {
            return Ok(plan);
        }
        let mut seen: HashMap<TableReference, usize> = HashMap::new();
        plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = node else {
                return Ok(Transformed::no(node));
            };
            if !calls.contains_key(&scan.table_name) {
                return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
            }
            let n = seen.entry(scan.table_name.clone()).or_default();
            *n += 1;
            let TableScan {
                table_name,
                source,
                projection,
                filters,
                fetch,
                ..
            } = scan;
            let own = TableReference::bare(format!("{}#{n}", table_name.table()));
            let renamed = TableScanBuilder::new(own, source)
                .with_projection(projection)
                .with_filters(filters)
                .with_fetch(fetch)
                .build()?;
            let aliased =
                SubqueryAlias::try_new(Arc::new(LogicalPlan::TableScan(renamed)), table_name)?;
            Ok(Transformed::yes(LogicalPlan::SubqueryAlias(aliased)))
        })
        .map(|t| t.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn analyzed(sql: &str) -> LogicalPlan {
        let ctx = SessionContext::new();
        let plan = ctx.state().create_logical_plan(sql).await.expect("plans");
        DistinctTableFunctionScans
            .analyze(plan, &ConfigOptions::default())
            .expect("analyzes")
    }

    fn scans(plan: &LogicalPlan) -> Vec<String> {
        let mut names = Vec::new();
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                names.push(scan.table_name.to_string());
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .expect("walks");
        names.sort();
        names
    }

    #[tokio::test]
    async fn calls_of_one_function_get_names_of_their_own() {
        let plan = analyzed(
            "SELECT (SELECT count(*) FROM generate_series(1, 3)), \
             (SELECT count(*) FROM generate_series(1, 5)) AS b",
        )
        .await;
        assert_eq!(scans(&plan), ["generate_series()#1", "generate_series()#2"]);
    }

    #[tokio::test]
    async fn a_single_call_is_left_alone() {
        let plan = analyzed("SELECT count(*) FROM generate_series(1, 3)").await;
        assert_eq!(scans(&plan), ["generate_series()"]);
    }

    #[tokio::test]
    async fn the_answer_is_each_calls_own() {
        let ctx = SessionContext::new();
        let mut state = ctx.state();
        let mut rules = datafusion::optimizer::Analyzer::new().rules;
        rules.push(Arc::new(DistinctTableFunctionScans));
        state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
            .with_analyzer_rules(rules)
            .build();
        let ctx = SessionContext::new_with_state(state);
        let batches = ctx
            .sql(
                "SELECT (SELECT count(*) FROM generate_series(1, 3)) AS a, \
                 (SELECT count(*) FROM generate_series(1, 5)) AS b",
            )
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("formats")
            .to_string();
        assert!(text.contains("| 3 | 5 |"), "{text}");
    }
}
