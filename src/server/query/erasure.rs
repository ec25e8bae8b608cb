//! Running `ml_erase_subject`: the [`Erasure`] a statement planned is
//! carried out before the rest of its plan runs, and replaced in it by the
//! rows that say what was done, so the statement's own projection, filter
//! and order apply to them.
//!
//! Each table's rows go by the `DELETE` a user would write, planned and run
//! as that statement is (`dml`), so privileges, locks, copy-on-write and
//! staging are the same. All of them run in one transaction: inside the
//! caller's block they are staged with its other writes; outside one, in a
//! block of the statement's own that commits when every delete succeeded
//! and is rolled back otherwise. An erasure that loses a race with another
//! write (`40001` at its commit) is run again, as a lone `DELETE` is.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan, LogicalPlanBuilder, Values};
use datafusion::sql::parser::DFParserBuilder;

use crate::catalog::Catalog;
use crate::catalog::staging::Isolation;
use crate::dialect::QuarryDialect;
use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::governance::ml_erase_subject::{Erasure, Outcome};
use crate::governance::subject::PlaceKind;
use crate::session::{QueryControl, Session};

/// How often an erasure outside a block runs again after losing a race.
const ATTEMPTS: usize = 8;

/// `plan` with its erasure carried out and replaced by its result rows.
pub(super) async fn run(
    session: &Arc<Session>,
    catalog: &Catalog,
    plan: LogicalPlan,
    erasure: &Erasure,
    control: &QueryControl,
) -> Result<LogicalPlan> {
    let outcomes = if session.block.is_open() {
        erase(session, erasure, control).await?
    } else {
        let mut attempt = 0;
        loop {
            attempt += 1;
            session.block.open(Isolation::ReadCommitted);
            let erased = erase(session, erasure, control).await;
            let ended = match &erased {
                Ok(_) => session.block.commit(catalog).await.map(|_| ()),
                Err(_) => {
                    session.block.roll_back();
                    Ok(())
                }
            };
            session.relations_changed();
            catalog.store().advance();
            match ended.and(erased) {
                Err(e) if e.code == sqlstate::SERIALIZATION_FAILURE && attempt < ATTEMPTS => {
                    tracing::debug!(attempt, "erasure lost a race; running it again");
                }
                other => break other?,
            }
        }
    };
    let rows = erasure.rows(&outcomes);
    let result = if rows.is_empty() {
        LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: false,
            schema: erasure.schema().clone(),
        })
    } else {
        LogicalPlan::Values(Values {
            schema: erasure.schema().clone(),
            values: rows,
        })
    };
    plan.transform_up_with_subqueries(|node| match &node {
        LogicalPlan::Extension(ext) if ext.node.as_any().downcast_ref::<Erasure>().is_some() => {
            Ok(Transformed::yes(result.clone()))
        }
        _ => Ok(Transformed::no(node)),
    })
    .map(|t| t.data)
    .sql_err()
}

/// Every place's deletes (or count, for a snapshot), in the open block.
async fn erase(
    session: &Arc<Session>,
    erasure: &Erasure,
    control: &QueryControl,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(erasure.places.len());
    for place in &erasure.places {
        let outcome = match erasure.delete_statement(place) {
            Some(sql) => Outcome {
                rows: delete(session, &sql, control).await?,
                erased: true,
                note: None,
            },
            None => {
                debug_assert_eq!(place.kind, PlaceKind::Snapshot);
                let rows = count(session, place, &erasure.value, control).await?;
                Outcome {
                    rows,
                    erased: false,
                    note: (rows > 0).then(|| erasure.snapshot_note(place)),
                }
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Runs one `DELETE` statement; returns the rows it deleted.
async fn delete(session: &Arc<Session>, sql: &str, control: &QueryControl) -> Result<u64> {
    let dialect = QuarryDialect::default();
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .build()
        .and_then(|mut p| p.parse_statements())
        .sql_err()?;
    let statement = statements
        .pop_front()
        .ok_or_else(|| SqlStateError::internal("an erasure's DELETE did not parse"))?;
    let planner = session.plan_state();
    let plan = super::dml::statement_to_plan(&planner, &statement)
        .await
        .sql_err()?;
    let change = super::dml::row_change(&plan)
        .ok_or_else(|| SqlStateError::internal("an erasure's DELETE is not a row change"))?;
    let (rows, _) = super::dml::apply_change(session, change, control).await?;
    Ok(rows)
}

/// The rows of a snapshot place that hold the subject.
async fn count(
    session: &Arc<Session>,
    place: &crate::governance::subject::Place,
    value: &str,
    control: &QueryControl,
) -> Result<u64> {
    use datafusion::functions_aggregate::expr_fn::count;
    use datafusion::logical_expr::lit;
    let plan = LogicalPlanBuilder::from(place.plan.clone())
        .filter(place.matches(value))
        .and_then(|b| {
            b.aggregate(
                Vec::<datafusion::logical_expr::Expr>::new(),
                vec![count(lit(1))],
            )
        })
        .and_then(LogicalPlanBuilder::build)
        .sql_err()?;
    control
        .run(async {
            let df = session.ctx.execute_logical_plan(plan).await.sql_err()?;
            let batches = df.collect().await.sql_err()?;
            let n = batches
                .first()
                .and_then(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<datafusion::arrow::array::Int64Array>()
                        .map(|a| a.value(0))
                })
                .unwrap_or(0);
            Ok(n as u64)
        })
        .await
}
