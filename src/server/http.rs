//! HTTP endpoint. For now `GET /health`, which load balancers and the
//! docker-compose health check poll.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::net::TcpListener;
use tracing::warn;

use super::ServerState;

async fn health(State(state): State<Arc<ServerState>>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "sessions": state.sessions.active(),
    }))
}

pub async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    let shutdown = state.shutdown.clone();
    let app = Router::new()
        .route("/health", get(health))
        .with_state(state);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    {
        warn!(error = %e, "http server stopped");
    }
}
