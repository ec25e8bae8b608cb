//! `ml_set_policy(model, policy)`: merges JSON keys into a model's policy
//! (`registry::policy` lists them); answers with the whole policy. Needs
//! DEPLOY on the model: a policy decides what reaches production.

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Documentation, ScalarFunctionArgs, Signature, Volatility};
use datafusion_macros::user_doc;

use super::{Action, literal, text};
use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_set_policy";

#[user_doc(
    doc_section(label = "Model registry"),
    description = "Sets keys of a model's policy, what the server does for the model on its own, and returns the whole policy as JSON. Keys: log_sample_rate (0 to 1: the share of keys, or of rows without a key, whose predictions every scoring path logs to ml_prediction_log), key (the column naming whom a prediction is about; sampling is by a stable hash of it, so one customer is always in or always out), log_retention_days (logged predictions older than this are removed), approvals_required (an array of role names whose approval, ml_approve, a version needs before ml_deploy moves production to it); and what the scheduler does (ml_run_policy, ml_jobs): retrain_every (an interval such as '7 days': retrain when the newest version is older), retrain_on_drift (a PSI threshold: retrain when production's logged predictions or any logged feature drift above it over monitor_window), retrain_on_metric (a condition such as 'roc_auc < 0.75' on production's live metric from feedback), min_new_rows (retrain only when the training query has that many more rows), auto_deploy ('never', the default, or 'if_better': deploy the candidate when ml_compare finds it better than production on compare_on with a p-value below deploy_p_value, default 0.05; deploy_metric picks the metric), rollback_on_metric ({\"metric\": \"roc_auc\", \"margin\": 0.02}: roll production back when its live metric since its deploy is below the replaced version's by more than the margin), monitor_window (default '7 days'), min_labelled (feedback rows a live metric needs, default 30) and job_retention_days (days ml_jobs keeps the jobs that changed nothing, default 30); the alert keys (alert_to, escalate_after, escalate_to, alert_psi, alert_metric, alert_error_rate, alert_latency_ms, alert_spc) are in docs/operations.md. A key set to null is removed. Errors: 42704 unknown model; 22023 when the policy is not a JSON object, has an unknown key, or a value of the wrong type (a bad interval, condition or threshold); 42501 for a webhook on a host --alert-webhook-hosts does not list.",
    syntax_example = "ml_set_policy(model, policy)",
    sql_example = r#"```sql
> SELECT ml_set_policy('churn', '{"log_sample_rate": 1.0, "key": "customer_id"}');
+---------------------------------------------+
| ml_set_policy                               |
+---------------------------------------------+
| {"key":"customer_id","log_sample_rate":1.0} |
+---------------------------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(
        name = "policy",
        description = "JSON object of the keys to set, e.g. '{\"log_sample_rate\": 0.1, \"key\": \"customer_id\"}'."
    )
)]
#[derive(Debug, Default)]
pub struct SetPolicyUdf;

impl Action for SetPolicyUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Volatile)
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        let model = text(literal(NAME, &args.args, 0)?)
            .ok_or_else(|| SqlStateError::bad_argument("ml_set_policy: model must be text"))?;
        let policy = text(literal(NAME, &args.args, 1)?)
            .ok_or_else(|| SqlStateError::bad_argument("ml_set_policy: policy must be text"))?;
        crate::access::require_model(
            &args.config_options,
            &model,
            crate::access::Privilege::Deploy,
        )?;
        let user = quarry_udfs::session_info::user(&args.config_options);
        Ok(registry.set_policy(&model, &policy, &user)?.to_string())
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
