//! `SELECT * FROM ml_run_policy(model)`: evaluates a model's policy now,
//! as the scheduler would at its next tick, and answers with the job's row
//! of `ml_jobs`.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};

use super::jobs;
use crate::registry::Registry;
use crate::registry::functions::{at_execution, model_call};

pub const NAME: &str = "ml_run_policy";

/// The `ml_run_policy` table function.
#[derive(Debug)]
pub struct RunPolicyUdtf {
    registry: Arc<Registry>,
}

impl RunPolicyUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        RunPolicyUdtf { registry }
    }
}

impl TableFunctionSpec for RunPolicyUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[Param::value(
        "model",
        "The model whose policy (ml_set_policy) to evaluate now.",
    )]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Lifecycle automation", description: None },
            "Evaluates a model's policy now, as the scheduler does every --scheduler-interval, and returns the job's row of ml_jobs: id, model, run_by, trigger (the rule that fired: retrain_every, retrain_on_drift, retrain_on_metric or rollback_on_metric; NULL when none did), started_at, finished_at, status (succeeded or failed), candidate_version (the version it trained), decision (none, trained, deployed, kept or rolled back), reason (what each rule measured, in words) and error. The job runs as the model's owner, with the owner's privileges: it reads live metrics and drift with ml_monitor over the policy's monitor_window, retrains with the production version's training query and options, compares with ml_compare (auto_deploy if_better) and deploys only as its last step, so a failed job deploys nothing. A job that fails is a row with status failed, not an error. Needs TRAIN and DEPLOY on the model. Errors: 42704 unknown model; 42501 without TRAIN or DEPLOY; 55006 while another job for the model runs.",
            "SELECT * FROM ml_run_policy(model)",
        )
        .with_sql_example(
r#"```sql
> SELECT version FROM ml_train('churn_auto', 'SELECT age, tenure_months, support_calls, churned FROM customers',
    '{"algorithm": "logistic", "label": "churned"}');
+---------+
| version |
+---------+
| 1       |
+---------+
> SELECT ml_set_policy('churn_auto', '{"retrain_every": "1 microsecond"}');
+-----------------------------------+
| ml_set_policy                     |
+-----------------------------------+
| {"retrain_every":"1 microsecond"} |
+-----------------------------------+
> SELECT trigger, status, candidate_version, decision FROM ml_run_policy('churn_auto');
+---------------+-----------+-------------------+----------+
| trigger       | status    | candidate_version | decision |
+---------------+-----------+-------------------+----------+
| retrain_every | succeeded | 2                 | trained  |
+---------------+-----------+-------------------+----------+
```"#,
        )
    }
}

impl TableFunctionImpl for RunPolicyUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        use crate::access::Privilege;
        let (model, user) = model_call(
            NAME,
            &self.registry,
            &args,
            &[Privilege::Train, Privilege::Deploy],
        )?;
        let registry = self.registry.clone();
        at_execution(
            jobs::schema(),
            Arc::new(move || {
                let (registry, model, user) = (registry.clone(), model.clone(), user.clone());
                Box::pin(async move {
                    let id = registry.run_policy(&model, &user).await?;
                    let row = jobs::Jobs::of(registry.store().clone()).get(id)?;
                    jobs::batch(&row.into_iter().collect::<Vec<_>>())
                })
            }),
        )
    }
}
