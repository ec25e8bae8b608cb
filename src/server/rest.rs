//! The REST API for applications that do not speak SQL:
//!
//! | request | answer |
//! |---------|--------|
//! | `GET /v1/models` | every model with its versions and aliases |
//! | `GET /v1/models/{name}` | one model: versions, the served version's features |
//! | `POST /v1/models/{name}/predict` | `{"rows": [{feature: value, ...}]}` → `{"model", "version", "predictions", "probabilities"?}` |
//!
//! `{name}` is a model reference as in SQL (`churn`, `churn@3`,
//! `churn@challenger`), resolved, cached, scored, counted and logged by the
//! same code as `ml_predict`: predictions equal SQL's bit for bit. Rows are
//! checked before scoring: a missing or unknown field, or a value of the
//! wrong type, is a 400 naming the row, the field and the type expected; an
//! unknown model is a 404. When the server has a password, requests need
//! HTTP Basic credentials of a server user (401 otherwise).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use quarry_udfs::functions::scoring::Arms;
use quarry_udfs::model::route;
use quarry_udfs::model::serving::{PredictionSink, Scored};
use quarry_udfs::model::{FeatureKind, LoadedModel, ModelRef, ModelStore};
use serde_json::{Value, json};

use super::ServerState;
use crate::error::SqlStateError;
use crate::sync::lock;

/// Rows at or above which a request is scored off the async runtime.
const POOLED_ROWS: usize = 1024;

/// An error answer: status, SQLSTATE and message, as JSON.
pub struct ApiError {
    status: StatusCode,
    error: SqlStateError,
}

impl ApiError {
    fn bad(message: String) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: SqlStateError::bad_argument(message),
        }
    }
}

impl From<SqlStateError> for ApiError {
    fn from(error: SqlStateError) -> Self {
        let status = match error.code {
            "42704" => StatusCode::NOT_FOUND,
            "42501" | "28P01" | "28000" => StatusCode::FORBIDDEN,
            c if c.starts_with("XX") || c.starts_with("58") || c.starts_with("53") => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError { status, error }
    }
}

/// The SQLSTATE an error answer carries, for the audit log.
#[derive(Clone, Debug)]
struct AnswerCode(&'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.error.message, "sqlstate": self.error.code});
        if let Some(hint) = &self.error.hint {
            body["hint"] = json!(hint);
        }
        let mut response = (self.status, Json(body)).into_response();
        response
            .extensions_mut()
            .insert(AnswerCode(self.error.code));
        response
    }
}

/// Credentials checked recently: a PBKDF2 per request would cost more than
/// scoring. Keyed by a hash of the header, kept for a minute, with the
/// stored password they matched: a hit still reads the user's catalog row,
/// so a dropped user, a changed password or a NOLOGIN is refused at once.
#[derive(Debug, Default)]
pub struct Logins {
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

/// A login checked at `at`: the user and the stored password it matched.
#[derive(Debug)]
struct Verified {
    user: String,
    stored: Vec<u8>,
    at: Instant,
}

const LOGIN_TTL: Duration = Duration::from_secs(60);

fn unauthorized(why: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"quarry\"")],
        Json(json!({"error": why, "sqlstate": "28P01"})),
    )
        .into_response();
    response.extensions_mut().insert(AnswerCode("28P01"));
    response
}

/// The user name of `headers`' Basic credentials, checked or not (an
/// audited failed login names whom it claimed to be).
fn claimed_user(headers: &HeaderMap) -> String {
    use base64::Engine;
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, _)| u.to_string()))
        .unwrap_or_default()
}

/// The user of `headers`' Basic credentials, when they are a server user's.
fn authenticate(state: &ServerState, headers: &HeaderMap) -> Result<String, &'static str> {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("authentication required: send HTTP Basic credentials of a server user")?;
    let encoded = value
        .strip_prefix("Basic ")
        .ok_or("only HTTP Basic authentication is accepted")?;
    let key: [u8; 32] = Sha256::digest(encoded.as_bytes()).into();
    let cached = lock(&state.logins.verified)
        .get(&key)
        .filter(|v| v.at.elapsed() < LOGIN_TTL)
        .map(|v| (v.user.clone(), v.stored.clone()));
    if let Some((user, stored)) = cached {
        let current = state.catalog.store().user(&user).ok().flatten();
        if current.and_then(|row| row.salted_password).as_deref() == Some(stored.as_slice())
            && may_log_in(state, &user)
        {
            return Ok(user);
        }
        lock(&state.logins.verified).remove(&key);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("malformed Basic credentials")?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or("malformed Basic credentials")?;
    let row = state
        .catalog
        .store()
        .user(user)
        .ok()
        .flatten()
        .ok_or("password authentication failed")?;
    let (Some(salt), Some(stored)) = (row.salt, row.salted_password) else {
        return Err("password authentication failed");
    };
    let salted = pgwire::api::auth::sasl::scram::gen_salted_password(
        password,
        &salt,
        pgwire::api::auth::sasl::scram::SCRAM_ITERATIONS,
    );
    let same = salted.len() == stored.len()
        && salted
            .iter()
            .zip(&stored)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err("password authentication failed");
    }
    if !may_log_in(state, user) {
        return Err("the role is not permitted to log in");
    }
    let mut verified = lock(&state.logins.verified);
    verified.retain(|_, v| v.at.elapsed() < LOGIN_TTL);
    verified.insert(
        key,
        Verified {
            user: user.to_string(),
            stored,
            at: Instant::now(),
        },
    );
    Ok(user.to_string())
}

/// Whether `user` is a role that may log in (not `NOLOGIN`).
fn may_log_in(state: &ServerState, user: &str) -> bool {
    state
        .access
        .acl()
        .is_ok_and(|acl| acl.role(user).is_some_and(|r| r.login))
}

/// The user a request runs as: checked when the server has a password,
/// else the bootstrap superuser (a loopback server that trusts its clients).
#[derive(Clone, Debug)]
pub struct User(pub String);

/// Authentication for the API, the dashboard and `/metrics`; each
/// request, refused or answered, is audited (`audit`): the user, the
/// client's address, the method and path, the model it names, how long it
/// took and the SQLSTATE of its answer (`00000` for success).
pub async fn require_user(
    State(state): State<Arc<ServerState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let at_us = crate::serving::log::now_us();
    let statement = format!(
        "{} {}",
        request.method(),
        request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().path(), |p| p.as_str())
    );
    let objects = request
        .uri()
        .path()
        .strip_prefix("/v1/models/")
        .and_then(|rest| rest.split('/').next())
        .map(|m| {
            percent_encoding::percent_decode_str(m)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.to_string());
    let authenticated = if state.config.password.is_some() {
        authenticate(&state, request.headers())
    } else {
        Ok(state.config.superuser.clone())
    };
    let (user, response) = match authenticated {
        Ok(user) => {
            request.extensions_mut().insert(User(user.clone()));
            (user, next.run(request).await)
        }
        Err(why) => (claimed_user(request.headers()), unauthorized(why)),
    };
    let sqlstate = match response.extensions().get::<AnswerCode>() {
        Some(code) => code.0,
        None if response.status().is_success() => "00000",
        None if response.status().is_server_error() => "XX000",
        None => "22023",
    };
    state.audit.offer(crate::audit::Entry {
        at_us,
        user,
        role: None,
        client,
        session: None,
        kind: crate::audit::Kind::Http,
        statement: statement.into(),
        objects: Some(objects),
        rows: None,
        duration_us: started.elapsed().as_micros() as i64,
        sqlstate: sqlstate.to_string(),
    });
    response
}

/// `42501` (HTTP 403) unless `user` holds `PREDICT` on `model`, as the
/// same call in SQL.
fn may_predict(state: &ServerState, user: &str, model: &str) -> Result<(), SqlStateError> {
    crate::access::Checks {
        access: &state.access,
        user: user.to_string(),
    }
    .model(model, crate::access::Privilege::Predict)
}

/// `GET /v1/models`.
pub async fn models(State(state): State<Arc<ServerState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(models_json(&state)?))
}

/// Every model with its versions, as `GET /v1/models` answers.
pub fn models_json(state: &ServerState) -> Result<Value, SqlStateError> {
    let versions = state.registry.versions(None)?;
    let mut models: Vec<Value> = Vec::new();
    let mut current: Option<(String, Vec<Value>)> = None;
    let flush = |current: Option<(String, Vec<Value>)>, models: &mut Vec<Value>| {
        if let Some((name, versions)) = current {
            models.push(json!({"name": name, "versions": versions}));
        }
    };
    for v in versions {
        if current.as_ref().is_none_or(|(n, _)| *n != v.model) {
            flush(current.take(), &mut models);
            current = Some((v.model.clone(), Vec::new()));
        }
        if let Some((_, list)) = current.as_mut() {
            list.push(version_json(&v));
        }
    }
    flush(current, &mut models);
    Ok(json!({"models": models}))
}

fn version_json(v: &crate::registry::VersionRow) -> Value {
    json!({
        "version": v.version,
        "task": v.task,
        "algorithm": v.algorithm,
        "status": v.status,
        "aliases": v.aliases,
        "metrics": serde_json::from_str::<Value>(&v.metrics).unwrap_or(Value::Null),
        "created_by": v.created_by,
        "created_at": v.created_at,
    })
}

/// `GET /v1/models/{name}`: its versions, and the features of the version
/// the reference serves.
pub async fn model(
    State(state): State<Arc<ServerState>>,
    Path(reference): Path<String>,
    axum::Extension(User(user)): axum::Extension<User>,
) -> Result<Json<Value>, ApiError> {
    let pinned = state.registry.resolve(&reference)?;
    may_predict(&state, &user, &pinned.name)?;
    let loaded = state.registry.load(&pinned)?;
    let versions = state.registry.versions(Some(&pinned.name))?;
    let features: Vec<Value> = loaded
        .features()
        .iter()
        .map(|f| json!({"name": f.name, "kind": f.kind.name(), "type": f.data_type}))
        .collect();
    Ok(Json(json!({
        "name": pinned.name,
        "serves": pinned.version,
        "task": loaded.task().name(),
        "features": features,
        "versions": versions.iter().map(version_json).collect::<Vec<_>>(),
    })))
}

/// `POST /v1/models/{name}/predict`.
pub async fn predict(
    State(state): State<Arc<ServerState>>,
    Path(reference): Path<String>,
    axum::Extension(User(user)): axum::Extension<User>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("the body must be JSON: {e}")))?;
    let rows = match request.get("rows") {
        Some(Value::Array(rows)) => rows,
        _ => {
            return Err(ApiError::bad(
                "the body must be an object with \"rows\": an array of objects, one per row".into(),
            ));
        }
    };
    let arms = Arms::load(state.registry.as_ref(), &reference)?;
    let production = arms.production.clone();
    may_predict(&state, &user, &production.name)?;
    let pinned = ModelRef {
        name: production.name.clone(),
        version: production.version,
    };
    let policy = state.serving.policy(&pinned);
    let key_field = policy.as_ref().and_then(|p| p.key.clone());
    let all = arms.models();
    let (features, key) = columns(&production, rows, key_field.as_deref(), &all)?;
    let request = quarry_udfs::control::next_request();
    let Some(route) = &arms.route else {
        let (prediction, probability) = score_and_record(
            &state,
            &production,
            features,
            key,
            None,
            &user,
            request,
            started,
        )
        .await?;
        let mut answer = json!({
            "model": pinned.name,
            "version": pinned.version,
            "predictions": values(&prediction)?,
        });
        if let Some(p) = &probability {
            answer["probabilities"] = values(p)?;
        }
        return Ok(Json(answer));
    };
    // A split model: each arm scores its rows (by the key, as SQL splits
    // them), and the answers go back in row order with each row's arm.
    let divided = route.divide(key.as_ref(), rows.len());
    let mut predictions: Vec<ArrayRef> = Vec::new();
    let mut probabilities: Vec<ArrayRef> = Vec::new();
    for (part, challenger) in divided.arms().enumerate() {
        let model = match (challenger, &arms.challenger) {
            (true, Some(challenger)) => challenger,
            _ => &production,
        };
        let (features, _) = columns(model, rows, key_field.as_deref(), &all)?;
        let features = divided
            .take(part, &features)
            .map_err(SqlStateError::internal)?;
        let key = match &key {
            Some(k) => divided
                .take(part, std::slice::from_ref(k))
                .map_err(SqlStateError::internal)?
                .pop(),
            None => None,
        };
        let (prediction, probability) = score_and_record(
            &state,
            model,
            features,
            key,
            Some(route.arm(challenger)),
            &user,
            request,
            started,
        )
        .await?;
        predictions.push(prediction);
        probabilities.extend(probability);
    }
    if let Some(shadow) = &arms.shadow {
        // For the log only: its failure is counted, never answered.
        if let Ok((features, _)) = columns(shadow, rows, key_field.as_deref(), &all) {
            let _ = score_and_record(
                &state,
                shadow,
                features,
                key.clone(),
                Some(route::SHADOW),
                &user,
                request,
                started,
            )
            .await;
        }
    }
    let merge = |parts: &[ArrayRef]| divided.merge(parts).map_err(SqlStateError::internal);
    let arm_of = |i: usize| divided.to_challenger[i];
    let mut answer = json!({
        "model": pinned.name,
        "version": pinned.version,
        "predictions": values(&merge(&predictions)?)?,
        "arms": (0..rows.len()).map(|i| route.arm(arm_of(i))).collect::<Vec<_>>(),
        "versions": (0..rows.len())
            .map(|i| match (&route.challenger, arm_of(i)) {
                (Some(split), true) => split.version,
                _ => route.production,
            })
            .collect::<Vec<_>>(),
    });
    if probabilities.len() == predictions.len() && !probabilities.is_empty() {
        answer["probabilities"] = values(&merge(&probabilities)?)?;
    }
    Ok(Json(answer))
}

/// Scores `features` with `model` (off the runtime when the batch is
/// large) and reports the call as served by `arm`.
#[allow(clippy::too_many_arguments)]
async fn score_and_record(
    state: &ServerState,
    model: &Arc<LoadedModel>,
    features: Vec<ArrayRef>,
    key: Option<ArrayRef>,
    arm: Option<&str>,
    user: &str,
    request: u64,
    started: Instant,
) -> Result<(ArrayRef, Option<ArrayRef>), ApiError> {
    let pinned = ModelRef {
        name: model.name.clone(),
        version: model.version,
    };
    let policy = state.serving.policy(&pinned);
    let rows = features.first().map_or(0, |f| f.len());
    let scoring = model.clone();
    let scoring_features = features.clone();
    let score = move || scoring.predict_scored(&scoring_features);
    let scored = if rows >= POOLED_ROWS {
        tokio::task::spawn_blocking(score)
            .await
            .map_err(|e| SqlStateError::internal(format!("scoring: {e}")))?
    } else {
        score()
    };
    let (prediction, probability) = match scored {
        Ok(p) => p,
        Err(e) => {
            state.serving.failed(&pinned, "rest");
            return Err(e.into());
        }
    };
    state.serving.record(&Scored {
        model,
        function: "rest",
        features: &features,
        key: key.as_ref(),
        prediction: Some(&prediction),
        probability: probability.as_ref(),
        policy: policy.as_ref(),
        rows,
        elapsed: started.elapsed(),
        user,
        request,
        arm,
    });
    Ok((prediction, probability))
}

/// A result column as JSON values: booleans, numbers and text as
/// themselves (a float is written in its shortest exact form, so it reads
/// back as the same double), NULL as null.
fn values(array: &ArrayRef) -> Result<Value, SqlStateError> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};
    let as_type = |t: DataType| cast(array, &t).map_err(SqlStateError::internal);
    let out: Vec<Value> = match array.data_type() {
        DataType::Boolean => array.as_boolean().iter().map(Value::from).collect(),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => as_type(DataType::Float64)?
            .as_primitive::<Float64Type>()
            .iter()
            .map(Value::from)
            .collect(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            as_type(DataType::Int64)?
                .as_primitive::<Int64Type>()
                .iter()
                .map(Value::from)
                .collect()
        }
        _ => as_type(DataType::Utf8)?
            .as_string::<i32>()
            .iter()
            .map(Value::from)
            .collect(),
    };
    Ok(Value::Array(out))
}

/// What a JSON value is, for error messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The feature arrays (model order) and the key column of `rows`, checked:
/// every row an object with every feature, nothing else but the key.
fn columns(
    model: &LoadedModel,
    rows: &[Value],
    key_field: Option<&str>,
    all: &[&LoadedModel],
) -> Result<(Vec<ArrayRef>, Option<ArrayRef>), ApiError> {
    let features = model.features();
    // A field is known when any version the name routes to takes it.
    let known = |name: &str| {
        features.iter().any(|f| f.name == name)
            || all
                .iter()
                .any(|m| m.features().iter().any(|f| f.name == name))
    };
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(fields) = row else {
            return Err(ApiError::bad(format!(
                "row {i}: expected an object of feature values, got {}",
                json_kind(row)
            )));
        };
        for name in fields.keys() {
            if !known(name) && Some(name.as_str()) != key_field {
                let takes: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
                return Err(ApiError::bad(format!(
                    "row {i}: \"{name}\" is not a feature of model {}@{}, which takes ({})",
                    model.name,
                    model.version,
                    takes.join(", ")
                )));
            }
        }
        if let Some(f) = features.iter().find(|f| !fields.contains_key(&f.name)) {
            return Err(ApiError::bad(format!(
                "row {i}: feature \"{}\" is missing (send null for a missing value)",
                f.name
            )));
        }
    }
    let mut arrays = Vec::with_capacity(features.len());
    for f in features {
        let wrong = |i: usize, v: &Value, expected: &str| {
            ApiError::bad(format!(
                "row {i}: feature \"{}\" must be {expected}, got {}",
                f.name,
                json_kind(v)
            ))
        };
        let array: ArrayRef = match f.kind {
            FeatureKind::Numeric => {
                let mut b = Float64Builder::with_capacity(rows.len());
                for (i, row) in rows.iter().enumerate() {
                    match row.get(&f.name).unwrap_or(&Value::Null) {
                        Value::Null => b.append_null(),
                        Value::Number(n) => b.append_option(n.as_f64()),
                        Value::Bool(v) => b.append_value(f64::from(u8::from(*v))),
                        v => return Err(wrong(i, v, "a number or null")),
                    }
                }
                Arc::new(b.finish())
            }
            FeatureKind::Boolean => {
                let mut b = BooleanBuilder::with_capacity(rows.len());
                for (i, row) in rows.iter().enumerate() {
                    match row.get(&f.name).unwrap_or(&Value::Null) {
                        Value::Null => b.append_null(),
                        Value::Bool(v) => b.append_value(*v),
                        v => return Err(wrong(i, v, "a boolean or null")),
                    }
                }
                Arc::new(b.finish())
            }
            FeatureKind::Categorical if f.data_type.starts_with("Int") => {
                let mut b = Int64Builder::with_capacity(rows.len());
                for (i, row) in rows.iter().enumerate() {
                    match row.get(&f.name).unwrap_or(&Value::Null) {
                        Value::Null => b.append_null(),
                        Value::Number(n) if n.is_i64() => b.append_option(n.as_i64()),
                        v => return Err(wrong(i, v, "an integer or null")),
                    }
                }
                Arc::new(b.finish())
            }
            FeatureKind::Categorical | FeatureKind::Temporal => {
                let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
                for (i, row) in rows.iter().enumerate() {
                    match row.get(&f.name).unwrap_or(&Value::Null) {
                        Value::Null => b.append_null(),
                        Value::String(s) => b.append_value(s),
                        Value::Bool(v) if f.kind == FeatureKind::Categorical => {
                            b.append_value(if *v { "true" } else { "false" })
                        }
                        v if f.kind == FeatureKind::Temporal => {
                            return Err(wrong(i, v, "a timestamp string or null"));
                        }
                        v => return Err(wrong(i, v, "a string or null")),
                    }
                }
                let text: ArrayRef = Arc::new(b.finish());
                if f.kind == FeatureKind::Temporal {
                    cast(&text, &DataType::Timestamp(TimeUnit::Microsecond, None)).map_err(|e| {
                        ApiError::bad(format!(
                            "feature \"{}\" must hold timestamps such as 2024-05-01T12:00:00: {e}",
                            f.name
                        ))
                    })?
                } else {
                    text
                }
            }
        };
        arrays.push(array);
    }
    // Integer keys stay integers: sampling hashes them as SQL hashes an
    // integer key column, so a customer is in or out on both paths.
    let key = key_field.map(|k| {
        let integers = rows
            .iter()
            .all(|r| r.get(k).is_none_or(|v| v.is_null() || v.is_i64()));
        if integers {
            let mut b = Int64Builder::with_capacity(rows.len());
            for row in rows {
                b.append_option(row.get(k).and_then(Value::as_i64));
            }
            return Arc::new(b.finish()) as ArrayRef;
        }
        let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
        for row in rows {
            match row.get(k) {
                None | Some(Value::Null) => b.append_null(),
                Some(Value::String(s)) => b.append_value(s),
                Some(v) => b.append_value(v.to_string()),
            }
        }
        Arc::new(b.finish()) as ArrayRef
    });
    Ok((arrays, key))
}
