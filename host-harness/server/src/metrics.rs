//! `GET /metrics`: the host's metrics in the Prometheus text format, for
//! the operator only (the admin key; open only on a loopback server with
//! no key at all), and the count of every request the server answers, by
//! method, route template and status.

use super::Shared;
use super::tenancy::{self, Caller};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

pub(super) async fn metrics(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let keys = state.keys();
    let open = keys.api_key.is_none() && keys.admin_key.is_none();
    let operator = matches!(
        tenancy::identify(&headers, &keys, state.manager.store()).await,
        Ok(Caller::Admin)
    );
    if !open && !operator {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "unauthorized", "message": "the metrics are the operator's: send the admin key"})),
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, host_metrics::CONTENT_TYPE)],
        host_metrics::metrics().encode(),
    )
        .into_response()
}

/// Counts the request once it is answered: by its route's template, so
/// ids never become labels (a path no route matches is not counted).
pub(super) async fn count(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let m = host_metrics::metrics();
    m.http_requests
        .get_or_create(&host_metrics::RequestLabels {
            method,
            route,
            status: response.status().as_u16().to_string(),
        })
        .inc();
    m.http_request_seconds
        .observe(started.elapsed().as_secs_f64());
    response
}
