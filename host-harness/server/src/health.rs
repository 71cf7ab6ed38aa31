//! What a load balancer and an orchestrator ask: `GET /healthz` (the
//! process serves) and `GET /readyz` (it can do its work: the store
//! answers with the schema this host knows, and the server is not
//! stopping). Neither needs a key nor answers more than that; why a node
//! is not ready goes to its log.

use super::Shared;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long the store has to answer a readiness check.
const STORE_CHECK: Duration = Duration::from_secs(2);
/// When a load balancer may ask again.
const RETRY_AFTER_SECS: &str = "5";

pub(super) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

fn unavailable(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
        Json(json!({"status": "unavailable", "reason": reason})),
    )
        .into_response()
}

pub(super) async fn readyz(State(state): State<Shared>) -> Response {
    let ready = &host_metrics::metrics().ready;
    ready.set(0);
    if state.draining.load(Ordering::Relaxed) {
        return unavailable("stopping");
    }
    match tokio::time::timeout(STORE_CHECK, state.manager.store().ready()).await {
        Ok(Ok(())) => {
            ready.set(1);
            Json(json!({"status": "ready"})).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the store");
            unavailable("store")
        }
        Err(_) => {
            tracing::warn!("not ready: the store did not answer in time");
            unavailable("store")
        }
    }
}
