//! `ml_ack_alert(id, note)`: someone is on an alert. An acknowledged alert
//! is not escalated; it is still resolved when the checks no longer find it.

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Documentation, ScalarFunctionArgs, Signature, Volatility};
use datafusion::scalar::ScalarValue;
use datafusion_macros::user_doc;

use super::alerts::{Alerts, unknown};
use crate::access::Privilege;
use crate::error::SqlStateError;
use crate::registry::Registry;
use crate::registry::functions::{Action, literal, text};

pub const NAME: &str = "ml_ack_alert";

#[user_doc(
    doc_section(label = "Lifecycle automation"),
    description = "Acknowledges an open alert of ml_alerts (its id a constant): its status becomes acknowledged, with who, when and the note; an acknowledged alert is not escalated (the policy's escalate_after), and is still resolved when the checks no longer find it. Acknowledging an alert that is acknowledged or resolved changes nothing. Returns the alert's status. Needs DEPLOY on the alert's model. Errors: 42704 unknown alert; 42501 without DEPLOY; 22023 for an empty note.",
    syntax_example = "ml_ack_alert(id, note)",
    sql_example = r#"```sql
> SELECT version FROM ml_train('churn_alerted', customers, '{"algorithm": "sql_rule", "task": "classification",
    "label": "churned", "expression": "least(1.0, support_calls / 6.0)"}');
+---------+
| version |
+---------+
| 1       |
+---------+
> SELECT ml_deploy('churn_alerted', 1);
+-----------------------------------+
| ml_deploy                         |
+-----------------------------------+
| churn_alerted@1 is now production |
+-----------------------------------+
> SELECT ml_set_policy('churn_alerted', '{"key": "customer_id", "log_sample_rate": 1, "alert_to": ["table"]}');
+----------------------------------------------------------------+
| ml_set_policy                                                  |
+----------------------------------------------------------------+
| {"alert_to":["table"],"key":"customer_id","log_sample_rate":1} |
+----------------------------------------------------------------+
> SELECT count(prediction) AS scored FROM ml_predict('churn_alerted', customers_recent);
+--------+
| scored |
+--------+
| 10000  |
+--------+
> SELECT reason FROM ml_run_policy('churn_alerted');
+---------------------------------------------------------------------------------------------------------------+
| reason                                                                                                        |
+---------------------------------------------------------------------------------------------------------------+
| alerts: 4 opened (prediction drift, feature drift, SPC rule, SPC rule), 0 still open, 0 resolved, 0 escalated |
+---------------------------------------------------------------------------------------------------------------+
> SELECT id, kind, severity, status FROM ml_alerts WHERE model = 'churn_alerted' ORDER BY id;
+----+------------------+----------+--------+
| id | kind             | severity | status |
+----+------------------+----------+--------+
| 1  | prediction drift | critical | open   |
| 2  | feature drift    | critical | open   |
| 3  | SPC rule         | critical | open   |
| 4  | SPC rule         | critical | open   |
+----+------------------+----------+--------+
> SELECT ml_ack_alert(1, 'on it: support calls went up with the new plans');
+-------------------------------------------------------------+
| ml_ack_alert                                                |
+-------------------------------------------------------------+
| alert 1 (prediction drift of churn_alerted) is acknowledged |
+-------------------------------------------------------------+
```"#,
    argument(name = "id", description = "The alert's id in ml_alerts."),
    argument(name = "note", description = "Who is on it and what they are doing.")
)]
#[derive(Debug, Default)]
pub struct AckAlertUdf;

impl Action for AckAlertUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::exact(vec![DataType::Int64, DataType::Utf8], Volatility::Volatile)
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        let id = match literal(NAME, &args.args, 0)? {
            ScalarValue::Int64(Some(id)) => *id,
            other => {
                return Err(SqlStateError::arg(NAME, "id", "must be an alert id", other));
            }
        };
        let note = text(literal(NAME, &args.args, 1)?)
            .ok_or_else(|| SqlStateError::bad_argument(format!("{NAME}: note must be text")))?;
        if note.trim().is_empty() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: note must not be empty"
            )));
        }
        let alerts = Alerts::of(registry.store().clone());
        let alert = alerts.get(id)?.ok_or_else(|| unknown(id))?;
        crate::access::require_model(&args.config_options, &alert.model, Privilege::Deploy)?;
        let user = quarry_udfs::session_info::user(&args.config_options);
        let alert = alerts.acknowledge(id, &user, &note)?;
        Ok(format!(
            "alert {id} ({} of {}) is {}",
            alert.kind, alert.model, alert.status
        ))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
