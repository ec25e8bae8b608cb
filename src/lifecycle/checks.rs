//! The alert checks of a policy job: what `ml_alerts` records
//! (`alerts`), measured with the SQL users call.
//!
//! - drift: `ml_monitor` over `monitor_window` (grain `window`): the
//!   prediction's PSI and the largest feature PSI against the training
//!   profile, above `alert_psi`;
//! - the live metric over the same window against `alert_metric`, on at
//!   least `min_labelled` feedback rows;
//! - SPC: each day's mean prediction and mean of each numeric feature
//!   (`ml_monitor`, 30 days, grain `day`) standardized against the training profile's mean and standard
//!   deviation of the prediction or feature (z = (mean − μ) / (σ / √n)), and the
//!   Western Electric rules (`kernels::spc`) on that series with center 0
//!   and σ 1: the training data is the chart's baseline, so one drifting
//!   day is caught without weeks of live history. With thousands of rows a
//!   day, a small shift in the population is a real rule break: that is
//!   what the chart is for, and `alert_spc = false` turns it off;
//! - error rate and latency: `ml_model_metrics` over the last hour (the
//!   share of failed scoring calls; the worst minute's p99).

use std::sync::Arc;

use chrono::Utc;
use quarry_udfs::kernels::spc;
use quarry_udfs::model::ModelRef;
use serde_json::Value as Json;

use super::alerts::{
    AlertRules, ERROR_RATE, FEATURE_DRIFT, Finding, LATENCY, METRIC_DROP, PREDICTION_DRIFT,
    SPC_RULE, route,
};
use super::jobs::Outcome;
use super::{Lifecycle, Monitored, number, quote, rows, show, text};
use crate::error::Result;
use crate::session::Session;

/// Days of daily means the SPC check reads.
const SPC_DAYS: &str = "30 days";

/// Severity of a threshold crossed: critical beyond twice it.
fn severity(value: f64, threshold: f64) -> &'static str {
    if value > 2.0 * threshold {
        "critical"
    } else {
        "warning"
    }
}

impl Lifecycle {
    /// Runs the alert checks of `model` (its `version` in production),
    /// records what they find, routes what opens and escalates.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn check_alerts(
        &self,
        model: &str,
        version: u32,
        rules: &AlertRules,
        window: &str,
        min_labelled: u64,
        monitored: &Monitored,
        session: &Arc<Session>,
        out: &mut Outcome,
    ) -> Result<()> {
        // Every kind is checked each time: a rule taken out of the policy
        // resolves its alerts as a threshold no longer crossed does.
        let checked = [
            FEATURE_DRIFT,
            PREDICTION_DRIFT,
            SPC_RULE,
            METRIC_DROP,
            ERROR_RATE,
            LATENCY,
        ];
        let mut findings = Vec::new();
        if let Some(psi) = monitored.prediction_psi.filter(|p| *p > rules.psi) {
            findings.push(Finding {
                version,
                kind: PREDICTION_DRIFT,
                subject: String::new(),
                severity: severity(psi, rules.psi),
                value: psi,
                threshold: rules.psi,
                detail: format!(
                    "the PSI of version {version}'s predictions over the last {window} is {}, above {}",
                    show(psi),
                    rules.psi
                ),
            });
        }
        if let Some((psi, feature)) = monitored
            .feature_psi
            .clone()
            .filter(|(p, _)| *p > rules.psi)
        {
            findings.push(Finding {
                version,
                kind: FEATURE_DRIFT,
                subject: String::new(),
                severity: severity(psi, rules.psi),
                value: psi,
                threshold: rules.psi,
                detail: format!(
                    "the PSI of feature {feature} in version {version}'s logged inputs over the last {window} is {}, above {}",
                    show(psi),
                    rules.psi
                ),
            });
        }
        if let Some(condition) = &rules.metric
            && let Some(super::Live { labelled: n, value }) = monitored.live(&condition.metric)
            && n >= min_labelled as i64
            && condition.holds(value)
        {
            findings.push(Finding {
                version,
                kind: METRIC_DROP,
                subject: condition.metric.clone(),
                severity: "critical",
                value,
                threshold: condition.threshold,
                detail: format!(
                    "live {} of version {version} over the last {window} is {} (n={n}), {condition}",
                    condition.metric,
                    show(value)
                ),
            });
        }
        // Scoring calls of the last hour.
        let sql = format!(
            "SELECT sum(calls) AS calls, sum(errors) AS errors, max(p99_latency_us) AS p99 FROM ml_model_metrics WHERE model = {} AND minute >= now() - INTERVAL '1 hour'",
            quote(model)
        );
        let batches = self.query(session, &sql).await?;
        let first = rows(&batches).next();
        let calls = first
            .and_then(|(b, i)| number(b, "calls", i))
            .unwrap_or(0.0);
        let errors = first
            .and_then(|(b, i)| number(b, "errors", i))
            .unwrap_or(0.0);
        if calls > 0.0 && errors / calls > rules.error_rate {
            let rate = errors / calls;
            findings.push(Finding {
                version,
                kind: ERROR_RATE,
                subject: String::new(),
                severity: "critical",
                value: rate,
                threshold: rules.error_rate,
                detail: format!(
                    "{errors} of {calls} scoring calls failed in the last hour ({}), above {}",
                    show(rate),
                    rules.error_rate
                ),
            });
        }
        if let Some(limit) = rules.latency_ms
            && let Some(p99) = first
                .and_then(|(b, i)| number(b, "p99", i))
                .map(|us| us / 1000.0)
                .filter(|ms| *ms > limit)
        {
            findings.push(Finding {
                version,
                kind: LATENCY,
                subject: String::new(),
                severity: severity(p99, limit),
                value: p99,
                threshold: limit,
                detail: format!(
                    "the p99 scoring latency reached {} ms in the last hour, above {limit} ms",
                    show(p99)
                ),
            });
        }
        if rules.spc {
            findings.extend(self.spc(model, version, session).await?);
        }

        let recorded = self.alerts.record(model, &checked, &findings)?;
        for alert in &recorded.opened {
            route(alert, &rules.routes, false, &self.notifier);
        }
        let mut escalated = 0;
        if let Some(after) = &rules.escalate_after
            && !rules.escalate_to.is_empty()
            && let Some(before) = super::rules::interval_start(after, Utc::now())
        {
            let before = before.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            // An alert opened by this check has had no time to be
            // acknowledged: it escalates at a later one.
            let fresh: Vec<i64> = recorded.opened.iter().map(|a| a.id).collect();
            for alert in self.alerts.escalate(model, &before, &fresh)? {
                route(&alert, &rules.escalate_to, true, &self.notifier);
                escalated += 1;
            }
        }
        let opened: Vec<&str> = recorded.opened.iter().map(|a| a.kind.as_str()).collect();
        out.notes.push(format!(
            "alerts: {} opened{}, {} still open, {} resolved, {escalated} escalated",
            opened.len(),
            if opened.is_empty() {
                String::new()
            } else {
                format!(" ({})", opened.join(", "))
            },
            recorded.still_open,
            recorded.resolved
        ));
        Ok(())
    }

    /// The Western Electric rules the latest day breaks, for the mean
    /// prediction and each numeric feature's mean, standardized against
    /// the training profile.
    async fn spc(&self, model: &str, version: u32, session: &Arc<Session>) -> Result<Vec<Finding>> {
        let profile = self.registry.profile(&ModelRef {
            name: model.to_string(),
            version,
        })?;
        let moments = |p: &Json| Some((p.get("mean")?.as_f64()?, p.get("sd")?.as_f64()?));
        let sql = format!(
            "SELECT DISTINCT period, predictions, mean_prediction, feature_means FROM ml_monitor({}, window => {}, grain => 'day', bootstrap => 0) ORDER BY period",
            quote(&format!("{model}@{version}")),
            quote(SPC_DAYS)
        );
        let batches = self.query(session, &sql).await?;
        // (day, rows, mean prediction, feature means) in time order.
        let days: Vec<(String, f64, Option<f64>, Json)> = rows(&batches)
            .filter_map(|(b, i)| {
                Some((
                    text(b, "period", i)?,
                    number(b, "predictions", i).filter(|n| *n > 0.0)?,
                    number(b, "mean_prediction", i),
                    text(b, "feature_means", i)
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or(Json::Null),
                ))
            })
            .collect();
        // (subject, training (mean, sd), daily (mean, rows)).
        type Series = (String, (f64, f64), Vec<(f64, f64)>);
        let mut series: Vec<Series> = Vec::new();
        if let Some(reference) = profile.get("prediction").and_then(moments) {
            let points = days
                .iter()
                .filter_map(|(_, n, m, _)| Some((m.as_ref().copied()?, *n)))
                .collect();
            series.push(("mean prediction".into(), reference, points));
        }
        for feature in profile
            .get("features")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(reference)) =
                (feature.get("name").and_then(Json::as_str), moments(feature))
            else {
                continue;
            };
            let points = days
                .iter()
                .filter_map(|(_, n, _, means)| Some((means.get(name)?.as_f64()?, *n)))
                .collect();
            series.push((format!("mean of {name}"), reference, points));
        }
        let Some(day) = days
            .last()
            .map(|d| d.0.chars().take(10).collect::<String>())
        else {
            return Ok(Vec::new());
        };
        let mut findings = Vec::new();
        for (subject, (mean, sd), points) in series {
            let Some(&(last, n)) = points.last() else {
                continue;
            };
            let z: Vec<f64> = points
                .iter()
                .map(|(m, n)| {
                    let se = sd / n.sqrt();
                    if se > 0.0 {
                        (m - mean) / se
                    } else if *m == mean {
                        0.0
                    } else {
                        (m - mean).signum() * f64::INFINITY
                    }
                })
                .collect();
            let broken = spc::rules(
                &z,
                spc::Limits {
                    center: 0.0,
                    sigma: 1.0,
                },
            );
            let Some(latest) = broken.last().filter(|r| !r.is_empty()) else {
                continue;
            };
            let list: Vec<String> = latest.iter().map(u8::to_string).collect();
            findings.push(Finding {
                version,
                kind: SPC_RULE,
                severity: if latest.contains(&1) { "critical" } else { "warning" },
                value: last,
                threshold: mean,
                detail: format!(
                    "Western Electric rule {} on {day}: the day's {subject} {} (n={n}) against the training mean {} ± {} (3σ of a mean of n)",
                    list.join(","),
                    show(last),
                    show(mean),
                    show(3.0 * sd / n.sqrt())
                ),
                subject,
            });
        }
        Ok(findings)
    }
}
