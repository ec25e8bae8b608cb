//! Filters that must stay above an aggregate which answers one row for no
//! input.
//!
//! DataFusion 55's `PushDownFilter` moves a predicate below an aggregate when
//! every column it references is a grouping column, and a predicate that
//! references no column at all passes that test. Below a global aggregate
//! (no `GROUP BY`, or a grouping set that includes `()`) this changes the
//! answer: the aggregate still returns its row for the empty input, so
//!
//! ```sql
//! SELECT * FROM (SELECT 'x' AS kind, count(*) AS n FROM t) s WHERE kind = 'y'
//! ```
//!
//! answered `x | 0` where PostgreSQL answers no rows (the predicate becomes
//! `'x' = 'y'` once pushed through the projection; the same bug class as
//! SPARK-17712 and SPARK-22983). A predicate on a volatile grouping key
//! (`GROUP BY random() < 0.5`) is also unsafe to push, since below the
//! aggregate it draws again (apache/datafusion#25415, fixed after 55).
//!
//! [`KeepFiltersAboveGlobalAggregates`] takes `PushDownFilter`'s place in
//! the rule list and keeps those predicates above the aggregate, handing
//! every other plan to DataFusion's rule unchanged. It goes when the
//! upstream rule keeps them itself.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{Aggregate, Expr, Filter, GroupingSet, LogicalPlan};
use datafusion::optimizer::push_down_filter::PushDownFilter;
use datafusion::optimizer::{ApplyOrder, Optimizer, OptimizerConfig, OptimizerRule};

/// DataFusion's logical optimizer rules, with `PushDownFilter` wrapped.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let inner = PushDownFilter::new();
    Optimizer::new()
        .rules
        .into_iter()
        .map(|rule| {
            if rule.name() == inner.name() {
                Arc::new(KeepFiltersAboveGlobalAggregates {
                    inner: PushDownFilter::new(),
                }) as Arc<dyn OptimizerRule + Send + Sync>
            } else {
                rule
            }
        })
        .collect()
}

/// `PushDownFilter`, except for the predicates over an aggregate that
/// pushing would make wrong (see the module documentation).
#[derive(Debug, Default)]
pub struct KeepFiltersAboveGlobalAggregates {
    inner: PushDownFilter,
}

impl OptimizerRule for KeepFiltersAboveGlobalAggregates {
    fn name(&self) -> &str {
        // The name DataFusion's own rule has, so settings and EXPLAIN
        // VERBOSE that name it still find it.
        self.inner.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.inner.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else {
            return self.inner.rewrite(plan, config);
        };
        let LogicalPlan::Aggregate(aggregate) = filter.input.as_ref() else {
            return self.inner.rewrite(LogicalPlan::Filter(filter), config);
        };
        let pinned = Pinned::of(aggregate);
        if pinned.is_none() {
            return self.inner.rewrite(LogicalPlan::Filter(filter), config);
        }
        let (keep, push): (Vec<Expr>, Vec<Expr>) =
            split_conjunction_owned(filter.predicate.clone())
                .into_iter()
                .partition(|predicate| pinned.holds(predicate));
        if keep.is_empty() {
            return self.inner.rewrite(LogicalPlan::Filter(filter), config);
        }
        let Some(push) = conjunction(push) else {
            // Nothing may move: the filter stays where it is.
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        let pushed = self.inner.rewrite(
            LogicalPlan::Filter(Filter::try_new(push, filter.input.clone())?),
            config,
        )?;
        let keep = conjunction(keep).expect("keep is not empty");
        pushed.map_data(|plan| Ok(LogicalPlan::Filter(Filter::try_new(keep, Arc::new(plan))?)))
    }
}

/// What about an aggregate keeps a predicate above it.
struct Pinned {
    /// The aggregate answers a row for no input, so a predicate without
    /// columns (its answer the same for every row) must filter that row.
    one_row_for_none: bool,
    /// Output columns of grouping keys that draw a new value each time.
    volatile_keys: HashSet<Column>,
}

impl Pinned {
    fn of(aggregate: &Aggregate) -> Self {
        let one_row_for_none = aggregate.group_expr.is_empty()
            || aggregate.group_expr.iter().any(|expr| match expr {
                // Both answer the grand total `()` too.
                Expr::GroupingSet(GroupingSet::Rollup(_) | GroupingSet::Cube(_)) => true,
                Expr::GroupingSet(GroupingSet::GroupingSets(sets)) => {
                    sets.iter().any(Vec::is_empty)
                }
                _ => false,
            });
        let schema = aggregate.schema.as_ref();
        let volatile_keys = aggregate
            .group_expr
            .iter()
            .enumerate()
            .filter(|(_, expr)| expr.is_volatile())
            .map(|(index, _)| Column::from(schema.qualified_field(index)))
            .collect();
        Self {
            one_row_for_none,
            volatile_keys,
        }
    }

    fn is_none(&self) -> bool {
        !self.one_row_for_none && self.volatile_keys.is_empty()
    }

    fn holds(&self, predicate: &Expr) -> bool {
        let columns = predicate.column_refs();
        (self.one_row_for_none && columns.is_empty())
            || columns.iter().any(|c| self.volatile_keys.contains(c))
            || predicate.is_volatile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn context() -> Result<SessionContext> {
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_default_features()
            .with_optimizer_rules(optimizer_rules())
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.sql("CREATE TABLE t (a INT, b INT) AS VALUES (1, 2), (3, 4)")
            .await?;
        Ok(ctx)
    }

    /// The optimized plan, and whether its filter is below its aggregate.
    async fn filter_below_aggregate(sql: &str) -> Result<(bool, String)> {
        let plan = context().await?.sql(sql).await?.into_optimized_plan()?;
        let text = plan.display_indent().to_string();
        let at = |node: &str| text.find(node).unwrap_or(usize::MAX);
        Ok((at("Filter") > at("Aggregate"), text))
    }

    async fn rows(sql: &str) -> Result<usize> {
        let batches = context().await?.sql(sql).await?.collect().await?;
        Ok(batches.iter().map(|b| b.num_rows()).sum())
    }

    #[tokio::test]
    async fn a_constant_predicate_filters_the_row_of_a_global_aggregate() -> Result<()> {
        let global = "SELECT * FROM (SELECT 'x' AS kind, count(*) AS n FROM t) s";
        assert_eq!(rows(&format!("{global} WHERE kind = 'y'")).await?, 0);
        assert_eq!(rows(&format!("{global} WHERE kind = 'x'")).await?, 1);
        assert_eq!(
            rows("SELECT * FROM (SELECT 1 AS z, min(a) FROM t WHERE false) s WHERE z <> z").await?,
            0
        );
        // ROLLUP answers its grand total row for no input too.
        assert_eq!(
            rows("SELECT * FROM (SELECT 'x' AS k, a, count(*) FROM t GROUP BY ROLLUP (a)) s WHERE k = 'y'")
                .await?,
            0
        );
        Ok(())
    }

    #[tokio::test]
    async fn predicates_on_grouping_keys_are_still_pushed() -> Result<()> {
        let (below, plan) = filter_below_aggregate(
            "SELECT * FROM (SELECT a, count(*) AS n FROM t GROUP BY a) s WHERE a = 1",
        )
        .await?;
        assert!(below, "{plan}");
        // Below a grouped aggregate a constant predicate is as good as
        // HAVING: no group, no row.
        assert_eq!(
            rows("SELECT * FROM (SELECT 'x' AS kind, a FROM t GROUP BY a) s WHERE kind = 'y'")
                .await?,
            0
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_predicate_on_a_volatile_key_stays_above() -> Result<()> {
        let (below, plan) = filter_below_aggregate(
            "SELECT * FROM (SELECT random() < 2 AS k, count(*) AS n FROM t GROUP BY random() < 2) s WHERE k",
        )
        .await?;
        assert!(!below, "{plan}");
        Ok(())
    }
}
