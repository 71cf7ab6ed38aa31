//! A record of every exchange, for tests that check requests and answers
//! against X's OpenAPI specification.

use crate::Shared;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Largest request body the emulator accepts.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Request bodies longer than this are recorded by their first bytes only,
/// so that media uploads do not pile up in memory.
const RECORDED_BODY: usize = 64 * 1024;

/// One request and its answer.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Request headers; the value of `authorization` is reduced to its scheme.
    pub request_headers: Vec<(String, String)>,
    /// The request body, or its first 64 KiB when it was longer.
    pub request_body: Vec<u8>,
    /// The request body's whole length.
    pub request_body_len: usize,
    pub status: u16,
    pub response_content_type: Option<String>,
    pub response_body: Vec<u8>,
}

/// Middleware that records each exchange.
pub async fn record(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(request_body) = to_bytes(body, MAX_BODY).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )
            .into_response();
    };
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    *shared
        .arrivals
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default() += 1;
    let query = parts.uri.query().map(str::to_string);
    let request_headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or("<binary>");
            let value = if *name == header::AUTHORIZATION {
                value.split_whitespace().next().unwrap_or("").to_string()
            } else {
                value.to_string()
            };
            (name.to_string(), value)
        })
        .collect();
    let response = next
        .run(Request::from_parts(parts, Body::from(request_body.clone())))
        .await;
    let (parts, body) = response.into_parts();
    let response_body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    shared.traffic.lock().unwrap().push(Exchange {
        method,
        path,
        query,
        request_headers,
        request_body: request_body[..request_body.len().min(RECORDED_BODY)].to_vec(),
        request_body_len: request_body.len(),
        status: parts.status.as_u16(),
        response_content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        response_body: response_body.to_vec(),
    });
    Response::from_parts(parts, Body::from(response_body))
}
