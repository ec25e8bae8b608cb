//! The scheduler: a task inside the server that evaluates every model's
//! policy at each `--scheduler-interval` tick, one model after another,
//! each as a job in `ml_jobs` ([`Lifecycle::run`]). A model whose job is
//! still running (from `ml_run_policy`) is skipped until the next tick; a
//! tick that comes while the previous one still runs is delayed, not
//! stacked. It holds no queue: what it does is bounded by the models with
//! a policy, and its queries run in sessions like any client's, sharing
//! the compute pool rather than taking it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::Lifecycle;
use crate::error::sqlstate;

/// The user `ml_jobs` names for the scheduler's jobs.
pub const RUN_BY: &str = "scheduler";

/// Runs until `shutdown`.
pub async fn run(lifecycle: Arc<Lifecycle>, every: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick is immediate: the first evaluation comes one interval
    // after start-up.
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let models = match lifecycle.models() {
            Ok(models) => models,
            Err(e) => {
                warn!(error = %e.message, "scheduler: cannot read the policies");
                continue;
            }
        };
        for model in models {
            if shutdown.is_cancelled() {
                return;
            }
            match lifecycle.run(&model, RUN_BY).await {
                Ok(job) => debug!(model, job, "scheduler: policy evaluated"),
                Err(e) if e.code == sqlstate::OBJECT_IN_USE => {
                    debug!(model, "scheduler: a job is running, skipped")
                }
                Err(e) => warn!(model, error = %e.message, "scheduler: policy not evaluated"),
            }
        }
    }
}
