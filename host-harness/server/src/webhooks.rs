//! The webhook the API pushes trigger events to (`/webhooks/{connection}`):
//! its challenges (GET) and its deliveries (POST).
//!
//! Neither needs the server's API key: the API cannot send it. A challenge
//! is answered only for the app-level connection push was set up with, and
//! a delivery is taken only when its signature verifies under that
//! connection's key; the key never leaves the host.

use super::Shared;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use host_triggers::push::{self, PushError};
use serde_json::json;
use std::collections::HashMap;

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not_found", "message": "no webhook here"})),
    )
        .into_response()
}

/// Whether `id` is the connection push was set up with.
fn is_push_connection(state: &Shared, id: &str) -> bool {
    state
        .config
        .push
        .as_ref()
        .is_some_and(|p| p.connection_id == id)
}

/// Answers the API's challenge.
pub(super) async fn challenge(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(spec) = state.manager.manifest().push.as_ref() else {
        return not_found();
    };
    if !is_push_connection(&state, &id) {
        return not_found();
    }
    let Some(token) = query.get(&spec.challenge_parameter) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_input",
                "field": spec.challenge_parameter,
                "message": format!("`{}` is missing", spec.challenge_parameter),
            })),
        )
            .into_response();
    };
    match push::answer_challenge(&state.manager, &id, token).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e @ PushError::NotAChallenge { .. }) => {
            tracing::warn!(error = %e, "refused a challenge");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": "invalid_input",
                    "field": spec.challenge_parameter,
                    "message": e.to_string(),
                })),
            )
                .into_response()
        }
        Err(e @ PushError::TooManyChallenges { retry_after_secs }) => {
            tracing::warn!(error = %e, "refused a challenge");
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(
                    axum::http::header::RETRY_AFTER,
                    retry_after_secs.to_string(),
                )],
                Json(json!({"error": "rate_limited", "message": e.to_string()})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot answer the API's challenge");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "unavailable", "message": e.to_string()})),
            )
                .into_response()
        }
    }
}

/// Takes a delivery the API pushed, if its signature verifies.
pub(super) async fn delivery(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(spec) = state.manager.manifest().push.as_ref() else {
        return not_found();
    };
    if !is_push_connection(&state, &id) {
        return not_found();
    }
    // Two signatures would let a forged one stand beside a copied one;
    // a delivery carries exactly one.
    let mut signatures = headers.get_all(spec.signature_header.as_str()).iter();
    let signature = signatures.next().and_then(|v| v.to_str().ok());
    let outcome = if signatures.next().is_some() {
        Err(PushError::SeveralSignatures(spec.signature_header.clone()))
    } else {
        push::receive(&state.manager, &id, signature, &body).await
    };
    match outcome {
        Ok(queued) => {
            if let Some(runner) = state.config.triggers.as_ref().filter(|_| queued > 0) {
                runner.queued.notify_one();
            }
            Json(json!({ "queued": queued })).into_response()
        }
        Err(e @ (PushError::BadSignature(_) | PushError::SeveralSignatures(_))) => {
            tracing::warn!(error = %e, "refused a pushed delivery");
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "unauthorized", "message": e.to_string()})),
            )
                .into_response()
        }
        Err(e @ PushError::NotJson(_)) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_input", "message": e.to_string()})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot take a pushed delivery");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "unavailable", "message": e.to_string()})),
            )
                .into_response()
        }
    }
}
