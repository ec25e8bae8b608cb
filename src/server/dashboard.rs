//! The dashboard: `GET /` is one page the server builds, with no CDN and no
//! build step (`dashboard.html`: inline CSS, SVG drawn by a little vanilla
//! JS). The page carries its first data in the HTML, so it shows
//! everything on load, then refreshes itself from `GET /v1/dashboard`.
//!
//! For the selected model (`?model=name`, else the first with a
//! `production` alias, else the first) the data are:
//!
//! | part | from |
//! |------|------|
//! | models, versions, aliases | the registry (as `GET /v1/models`) |
//! | volume, latency, errors per minute (last hour) | `ml_model_metrics` |
//! | live metric with CI, mean prediction per day (30 days) | `ml_monitor` |
//! | drift per feature | today's PSI of the logged inputs (`serving::live_drift`) |
//! | control chart of the daily mean prediction | the SPC kernel of `ml_control_chart` |
//! | hold-out ROC and lift | the curves the version kept at training |
//!
//! The SQL runs as the requesting user, through the same functions a
//! session calls.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use datafusion::prelude::SessionContext;
use quarry_udfs::kernels::spc::{Limits, rules};
use quarry_udfs::model::{ModelRef, ModelStore};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ServerState;
use super::rest::{ApiError, User, models_json};
use crate::error::{SqlStateError, classify};

const PAGE: &str = include_str!("dashboard.html");
/// Where the page's first data goes.
const DATA_MARK: &str = "/*QUARRY_DATA*/null";

#[derive(Debug, Deserialize)]
pub struct Selected {
    model: Option<String>,
}

/// `GET /`: the page, with the selected model's data in it.
pub async fn page(
    State(state): State<Arc<ServerState>>,
    Query(q): Query<Selected>,
    axum::Extension(User(user)): axum::Extension<User>,
) -> Response {
    let data = match dashboard_json(&state, q.model.as_deref(), &user).await {
        Ok(d) => d,
        Err(e) => json!({"error": e.message, "sqlstate": e.code}),
    };
    // JSON in a script element: no `<` at all, so neither `</script>` nor
    // `<!--` can change how the page parses (`<` only occurs in strings,
    // where `\u003c` means the same).
    let data = data.to_string().replace('<', "\\u003c");
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE.replace(DATA_MARK, &data),
    )
        .into_response()
}

/// `GET /v1/dashboard[?model=name]`: what the page refreshes from.
pub async fn data(
    State(state): State<Arc<ServerState>>,
    Query(q): Query<Selected>,
    axum::Extension(User(user)): axum::Extension<User>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        dashboard_json(&state, q.model.as_deref(), &user).await?,
    ))
}

/// The models `user` may score (`PREDICT`: a model's monitoring is for
/// those who may use it), and the selected model's panels (`42501` for
/// one the user may not score).
async fn dashboard_json(
    state: &ServerState,
    model: Option<&str>,
    user: &str,
) -> Result<Value, SqlStateError> {
    let models = models_json(state)?;
    let acl = state.access.acl()?;
    let may = |name: &str| {
        acl.allowed(
            user,
            crate::access::ObjectKind::Model,
            name,
            crate::access::Privilege::Predict,
        )
    };
    let list: Vec<Value> = models["models"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["name"].as_str().is_some_and(&may))
        .collect();
    if let Some(m) = model {
        let name = crate::access::analyzer::model_of(m);
        if !may(&name) {
            return Err(crate::access::denied(
                crate::access::Object {
                    kind: crate::access::ObjectKind::Model,
                    key: &name,
                    name: &name,
                },
                crate::access::Privilege::Predict,
                user,
            ));
        }
    }
    let deployed = list.iter().find(|m| {
        m["versions"].as_array().is_some_and(|vs| {
            vs.iter().any(|v| {
                v["aliases"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a == "production"))
            })
        })
    });
    let selected = match model {
        Some(m) => Some(m.to_string()),
        None => deployed
            .or(list.first())
            .and_then(|m| m["name"].as_str())
            .map(str::to_string),
    };
    let panels = match selected {
        Some(name) => model_json(state, &name).await?,
        None => Value::Null,
    };
    Ok(json!({
        "models": list,
        "selected": panels,
        "generated_at": chrono::Utc::now().to_rfc3339(),
    }))
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The rows of a query as JSON objects.
async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Value>, SqlStateError> {
    let batches = ctx
        .sql(sql)
        .await
        .map_err(|e| classify(&e))?
        .collect()
        .await
        .map_err(|e| classify(&e))?;
    let mut buf = Vec::new();
    {
        let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut buf);
        for b in &batches {
            writer.write(b).map_err(SqlStateError::internal)?;
        }
        writer.finish().map_err(SqlStateError::internal)?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).map_err(SqlStateError::internal)
}

/// The metric a task is watched by.
fn primary_metric(task: &str, classes: usize) -> &'static str {
    match task {
        "regression" => "rmse",
        "classification" if classes == 2 => "roc_auc",
        _ => "accuracy",
    }
}

async fn model_json(state: &ServerState, reference: &str) -> Result<Value, SqlStateError> {
    let served: ModelRef = state.registry.resolve(reference)?;
    let loaded = state.registry.load(&served)?;
    let classes = loaded
        .envelope
        .label
        .as_ref()
        .map_or(0, |l| l.classes.len());
    let task = loaded.task().name();
    let metric = primary_metric(task, classes);
    let ctx = SessionContext::new_with_state(state.base.clone());
    let name = sql_text(&served.name);
    let minutes = rows(
        &ctx,
        &format!(
            "SELECT version, minute, sum(predictions) AS predictions, sum(calls) AS calls, \
             sum(errors) AS errors, max(p50_latency_us) AS p50_us, max(p99_latency_us) AS p99_us \
             FROM ml_model_metrics WHERE model = {name} AND minute >= now() - INTERVAL '60 minutes' \
             GROUP BY version, minute ORDER BY minute, version"
        ),
    )
    .await?;
    let daily = rows(
        &ctx,
        &format!(
            "SELECT period, version, predictions, labelled, metric, value, ci_lower, ci_upper, \
             override_rate, mean_prediction, prediction_psi, drifted_features \
             FROM ml_monitor({name}, window => '30 days', grain => 'day', bootstrap => 200) \
             ORDER BY period, version, metric"
        ),
    )
    .await?;
    // The control chart: one point per day, the version that made most of
    // its predictions.
    let mut points: Vec<(String, i64, f64)> = Vec::new();
    for row in &daily {
        let (Some(period), Some(n), Some(mean)) = (
            row["period"].as_str(),
            row["predictions"].as_i64(),
            row["mean_prediction"].as_f64(),
        ) else {
            continue;
        };
        match points.last_mut() {
            Some(last) if last.0 == period => {
                if n > last.1 {
                    *last = (period.to_string(), n, mean);
                }
            }
            _ => points.push((period.to_string(), n, mean)),
        }
    }
    let values: Vec<f64> = points.iter().map(|p| p.2).collect();
    let control = Limits::of(&values).map(|limits| {
        let broken = rules(&values, limits);
        json!({
            "center": limits.center,
            "ucl": limits.upper(),
            "lcl": limits.lower(),
            "points": points.iter().zip(&broken).map(|((period, _, v), r)| {
                json!({"period": period, "value": v, "rules": r})
            }).collect::<Vec<_>>(),
        })
    });
    let drift: Vec<Value> = state
        .serving
        .log
        .drift
        .get()
        .map(|d| {
            d.psi(crate::serving::log::now_us(), |m| *m == served)
                .into_iter()
                .map(|f| json!({"feature": f.feature, "psi": f.psi, "drifted": f.drifted}))
                .collect()
        })
        .unwrap_or_default();
    let curves = state
        .registry
        .profile(&served)
        .ok()
        .and_then(|p| p.get("curves").cloned())
        .unwrap_or(Value::Null);
    Ok(json!({
        "name": served.name,
        "version": served.version,
        "alias": state.serving.alias(&served),
        "task": task,
        "metric": metric,
        "features": loaded.features().iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        "minutes": minutes,
        "daily": daily,
        "drift": drift,
        "control": control,
        "curves": curves,
    }))
}
