//! HTTP endpoint: `GET /health`, which load balancers and the
//! docker-compose health check poll; `GET /metrics` for Prometheus; the
//! REST API (`rest`); the dashboard at `GET /` (`dashboard`). All but `/health` need a server user's HTTP Basic
//! credentials when the server has a password.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tracing::warn;

use super::ServerState;

/// Prometheus's scrape ([`crate::serving::prometheus`]).
async fn metrics(State(state): State<Arc<ServerState>>) -> impl axum::response::IntoResponse {
    let reserved = state.base.runtime_env().memory_pool.reserved();
    let body = crate::serving::prometheus::render(
        &state.serving,
        &state.audit,
        &state.lifecycle.notifier.counts,
        state.sessions.active(),
        reserved,
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

async fn health(State(state): State<Arc<ServerState>>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "sessions": state.sessions.active(),
    }))
}

pub async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    let shutdown = state.shutdown.clone();
    let protected = Router::new()
        .route("/", get(super::dashboard::page))
        .route("/v1/dashboard", get(super::dashboard::data))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(super::rest::models))
        .route("/v1/models/{name}", get(super::rest::model))
        .route("/v1/models/{name}/predict", post(super::rest::predict))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::rest::require_user,
        ));
    let app = Router::new()
        .route("/health", get(health))
        .merge(protected)
        .with_state(state);
    // The client's address reaches handlers (the audit log records it).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    {
        warn!(error = %e, "http server stopped");
    }
}
