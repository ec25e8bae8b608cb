//! The lifecycle keys of a model's policy, checked when `ml_set_policy`
//! stores them and read by the scheduler as [`Rules`].
//!
//! | key                  | value | meaning |
//! |----------------------|-------|---------|
//! | `retrain_every`      | interval text (`'7 days'`) | retrain when the newest version is older |
//! | `retrain_on_drift`   | PSI > 0 (`0.2`) | retrain when the logged predictions or any logged feature of production, over `monitor_window`, have a PSI above it against the training profile |
//! | `retrain_on_metric`  | `"roc_auc < 0.75"` | retrain when production's live metric (feedback over `monitor_window`, at least `min_labelled` rows) crosses it |
//! | `min_new_rows`       | integer ≥ 0 | retrain only when the training query returns this many rows more than the newest version learned from |
//! | `auto_deploy`        | `never` (default) \| `if_better` | deploy a candidate only when it beats production on `compare_on` with `ml_compare`'s p-value below `deploy_p_value` |
//! | `deploy_metric`      | metric name | the metric `if_better` compares (default `roc_auc` for binary classifiers, `accuracy` for multi-class, `rmse` for regressors) |
//! | `deploy_p_value`     | number in (0, 1) | default 0.05 |
//! | `compare_on`         | relation text | labelled rows neither version trained on (default: the training query's rows now, see docs) |
//! | `rollback_on_metric` | `{"metric": "roc_auc", "margin": 0.02}` | roll production back when its live metric since its deploy is below the previous version's live metric by more than the margin |
//! | `monitor_window`     | interval text | how far back live metrics and drift are read (default `'7 days'`) |
//! | `min_labelled`       | integer ≥ 1 | feedback rows a live metric needs to count (default 30) |
//! | `job_retention_days` | integer ≥ 1 | days the `ml_jobs` rows of jobs that changed nothing are kept (default 30); jobs that trained, deployed, kept or rolled back stay |
//! | `alert_to`, `escalate_after`, `escalate_to`, `alert_psi`, `alert_metric`, `alert_error_rate`, `alert_latency_ms`, `alert_spc` | see `alerts` | the alert checks |

use chrono::{DateTime, Utc};
use datafusion::scalar::ScalarValue;
use serde_json::Value as Json;

/// The lifecycle keys and what each must be.
pub const KEYS: &[(&str, &str)] = &[
    ("retrain_every", "a positive interval such as '7 days'"),
    ("retrain_on_drift", "a PSI threshold above 0, such as 0.2"),
    (
        "retrain_on_metric",
        "a condition on a live metric such as \"roc_auc < 0.75\" (metrics: roc_auc, accuracy, f1, rmse, mae; < or >)",
    ),
    ("min_new_rows", "a whole number of rows, 0 or more"),
    ("auto_deploy", "'never' or 'if_better'"),
    (
        "deploy_metric",
        "a metric name: roc_auc, accuracy, f1, rmse or mae",
    ),
    ("deploy_p_value", "a number between 0 and 1 (exclusive)"),
    (
        "compare_on",
        "a relation: a table name or a query starting with SELECT or WITH",
    ),
    (
        "rollback_on_metric",
        "an object such as {\"metric\": \"roc_auc\", \"margin\": 0.02} (margin 0 or more)",
    ),
    ("monitor_window", "a positive interval such as '7 days'"),
    ("min_labelled", "a whole number of rows, at least 1"),
    ("job_retention_days", "a whole number of days, at least 1"),
    (
        "alert_to",
        "an array of routes: \"table\", \"log\" or \"webhook:http://host:port/path\"",
    ),
    ("escalate_after", "a positive interval such as '1 hour'"),
    (
        "escalate_to",
        "an array of routes: \"table\", \"log\" or \"webhook:http://host:port/path\"",
    ),
    ("alert_psi", "a PSI threshold above 0, such as 0.2"),
    (
        "alert_metric",
        "a condition on a live metric such as \"roc_auc < 0.7\" (metrics: roc_auc, accuracy, f1, rmse, mae; < or >)",
    ),
    (
        "alert_error_rate",
        "a share of failed calls between 0 and 1",
    ),
    ("alert_latency_ms", "a number of milliseconds above 0"),
    ("alert_spc", "true or false"),
];

/// Live metrics `ml_monitor` computes.
pub const METRICS: &[&str] = &["roc_auc", "accuracy", "f1", "rmse", "mae"];

/// Whether a lower value of `metric` is better.
pub fn lower_is_better(metric: &str) -> bool {
    matches!(metric, "rmse" | "mae")
}

/// Whether `value` is a valid value of lifecycle key `key`.
pub fn valid(key: &str, value: &Json) -> bool {
    match key {
        "retrain_every" | "monitor_window" => value
            .as_str()
            .is_some_and(|t| interval_start(t, Utc::now()).is_some()),
        "retrain_on_drift" => value.as_f64().is_some_and(|p| p > 0.0 && p.is_finite()),
        "retrain_on_metric" => value.as_str().and_then(Condition::parse).is_some(),
        "min_new_rows" => value.as_u64().is_some(),
        "min_labelled" | "job_retention_days" => value.as_u64().is_some_and(|n| n >= 1),
        "auto_deploy" => matches!(value.as_str(), Some("never" | "if_better")),
        "deploy_metric" => value.as_str().is_some_and(|m| METRICS.contains(&m)),
        "deploy_p_value" => value.as_f64().is_some_and(|p| p > 0.0 && p < 1.0),
        "compare_on" => value
            .as_str()
            .is_some_and(|r| quarry_udfs::functions::relation::parse_relation_text(r).is_ok()),
        "rollback_on_metric" => Rollback::parse(value).is_some(),
        "alert_to" | "escalate_to" => super::alerts::Route::list(value).is_some(),
        "escalate_after" => value
            .as_str()
            .is_some_and(|t| interval_start(t, Utc::now()).is_some()),
        "alert_psi" => value.as_f64().is_some_and(|p| p > 0.0 && p.is_finite()),
        "alert_metric" => value.as_str().and_then(Condition::parse).is_some(),
        "alert_error_rate" => value.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r)),
        "alert_latency_ms" => value.as_f64().is_some_and(|ms| ms > 0.0 && ms.is_finite()),
        "alert_spc" => value.is_boolean(),
        _ => false,
    }
}

/// The instant `text` (an interval: `'7 days'`, `'1 hour'`) before `now`;
/// `None` unless it is a positive interval.
pub fn interval_start(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    crate::session::intervals::before(&ScalarValue::Utf8(Some(text.to_string())), now)
}

/// `metric < threshold` or `metric > threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub metric: String,
    pub below: bool,
    pub threshold: f64,
}

impl Condition {
    pub fn parse(text: &str) -> Option<Condition> {
        let (at, below) = match (text.find('<'), text.find('>')) {
            (Some(i), None) => (i, true),
            (None, Some(i)) => (i, false),
            _ => return None,
        };
        let metric = text[..at].trim().to_ascii_lowercase();
        let threshold: f64 = text[at + 1..].trim_start_matches('=').trim().parse().ok()?;
        (METRICS.contains(&metric.as_str()) && threshold.is_finite()).then_some(Condition {
            metric,
            below,
            threshold,
        })
    }

    /// Whether `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        if self.below {
            value < self.threshold
        } else {
            value > self.threshold
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = if self.below { "<" } else { ">" };
        write!(f, "{} {op} {}", self.metric, self.threshold)
    }
}

/// `rollback_on_metric`: how far production's live metric may fall below
/// the previous version's.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    pub metric: String,
    pub margin: f64,
}

impl Rollback {
    pub fn parse(value: &Json) -> Option<Rollback> {
        let object = value.as_object()?;
        if object.keys().any(|k| k != "metric" && k != "margin") {
            return None;
        }
        let metric = object.get("metric")?.as_str()?.to_ascii_lowercase();
        let margin = object.get("margin").map_or(Some(0.0), Json::as_f64)?;
        (METRICS.contains(&metric.as_str()) && margin >= 0.0 && margin.is_finite())
            .then_some(Rollback { metric, margin })
    }
}

/// Whether to deploy a better candidate on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoDeploy {
    Never,
    IfBetter,
}

/// What the scheduler does for one model, read from its policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub retrain_every: Option<String>,
    pub retrain_on_drift: Option<f64>,
    pub retrain_on_metric: Option<Condition>,
    pub min_new_rows: u64,
    pub auto_deploy: AutoDeploy,
    pub deploy_metric: Option<String>,
    pub deploy_p_value: f64,
    pub compare_on: Option<String>,
    pub rollback_on_metric: Option<Rollback>,
    pub monitor_window: String,
    pub min_labelled: u64,
    /// Days a job that changed nothing stays in `ml_jobs`.
    pub job_retention_days: u64,
    /// The alert checks, when the policy routes alerts (`alert_to`).
    pub alerts: Option<super::alerts::AlertRules>,
}

impl Rules {
    /// The rules of a stored policy (its values were checked when stored).
    pub fn of(policy: &Json) -> Rules {
        let text = |k: &str| policy.get(k).and_then(Json::as_str).map(str::to_string);
        Rules {
            retrain_every: text("retrain_every"),
            retrain_on_drift: policy.get("retrain_on_drift").and_then(Json::as_f64),
            retrain_on_metric: text("retrain_on_metric").and_then(|t| Condition::parse(&t)),
            min_new_rows: policy
                .get("min_new_rows")
                .and_then(Json::as_u64)
                .unwrap_or(0),
            auto_deploy: match text("auto_deploy").as_deref() {
                Some("if_better") => AutoDeploy::IfBetter,
                _ => AutoDeploy::Never,
            },
            deploy_metric: text("deploy_metric"),
            deploy_p_value: policy
                .get("deploy_p_value")
                .and_then(Json::as_f64)
                .unwrap_or(0.05),
            compare_on: text("compare_on"),
            rollback_on_metric: policy.get("rollback_on_metric").and_then(Rollback::parse),
            monitor_window: text("monitor_window").unwrap_or_else(|| "7 days".into()),
            min_labelled: policy
                .get("min_labelled")
                .and_then(Json::as_u64)
                .unwrap_or(30),
            job_retention_days: policy
                .get("job_retention_days")
                .and_then(Json::as_u64)
                .unwrap_or(30),
            alerts: super::alerts::AlertRules::of(policy),
        }
    }

    /// Whether the scheduler has anything to do for the model.
    pub fn any(&self) -> bool {
        self.retrain_every.is_some()
            || self.retrain_on_drift.is_some()
            || self.retrain_on_metric.is_some()
            || self.rollback_on_metric.is_some()
            || self.alerts.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_parse_and_hold() {
        let c = Condition::parse("roc_auc < 0.75").expect("valid");
        assert_eq!(c.metric, "roc_auc");
        assert!(c.holds(0.7) && !c.holds(0.75) && !c.holds(0.8));
        let c = Condition::parse(" RMSE>=2.5").expect("valid");
        assert!(!c.below && c.threshold == 2.5 && c.holds(3.0));
        for bad in [
            "roc_auc",
            "auc < 0.7",
            "roc_auc < x",
            "a < 1 > 2",
            "roc_auc < inf",
        ] {
            assert_eq!(Condition::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn values_are_checked() {
        assert!(valid("retrain_every", &json!("7 days")));
        assert!(valid("retrain_every", &json!("1 hour")));
        for bad in [json!("soon"), json!("0 days"), json!("-1 day"), json!(7)] {
            assert!(!valid("retrain_every", &bad), "{bad}");
        }
        assert!(valid("retrain_on_drift", &json!(0.2)));
        assert!(!valid("retrain_on_drift", &json!(0)));
        assert!(!valid("retrain_on_drift", &json!("0.2")));
        assert!(valid("auto_deploy", &json!("if_better")));
        assert!(!valid("auto_deploy", &json!("always")));
        assert!(valid(
            "rollback_on_metric",
            &json!({"metric": "roc_auc", "margin": 0.02})
        ));
        assert!(valid("rollback_on_metric", &json!({"metric": "rmse"})));
        assert!(!valid(
            "rollback_on_metric",
            &json!({"metric": "roc_auc", "margin": -1})
        ));
        assert!(!valid("rollback_on_metric", &json!({"metric": "auc"})));
        assert!(!valid(
            "rollback_on_metric",
            &json!({"metric": "f1", "gap": 1})
        ));
        assert!(!valid("deploy_p_value", &json!(1)));
        assert!(valid("min_new_rows", &json!(0)));
        assert!(!valid("min_labelled", &json!(0)));
        assert!(valid(
            "alert_to",
            &json!(["table", "webhook:http://127.0.0.1:9/a"])
        ));
        assert!(!valid("alert_to", &json!(["pager"])));
        assert!(!valid("alert_to", &json!("log")));
        assert!(valid("escalate_after", &json!("1 hour")));
        assert!(!valid("alert_error_rate", &json!(2)));
        assert!(valid("alert_spc", &json!(false)));
        assert!(!valid("alert_spc", &json!("no")));
    }

    #[test]
    fn rules_default_sensibly() {
        let r = Rules::of(&json!({"retrain_on_drift": 0.25, "auto_deploy": "if_better"}));
        assert!(r.any());
        assert_eq!(r.retrain_on_drift, Some(0.25));
        assert_eq!(r.auto_deploy, AutoDeploy::IfBetter);
        assert_eq!(r.deploy_p_value, 0.05);
        assert_eq!(r.monitor_window, "7 days");
        assert_eq!(r.min_labelled, 30);
        assert!(!Rules::of(&json!({"log_sample_rate": 1})).any());
        assert!(Rules::of(&json!({"alert_to": ["log"]})).any());
    }
}
