//! The JSON API under `/api/v1`, for workflow engines and scripts:
//! connections (secrets accepted, never returned) and action runs.
//!
//! Every error is one JSON object tagged by `error` (its kind), with the
//! status a client would branch on: an action's error is its typed error,
//! as the command line prints it; the API's own carry `message`, and
//! `field` when a field is at fault.
//! Requests with a body must be `application/json`, which a cross-site form
//! cannot send; with an API key, every request must carry it.

use super::Shared;
use super::security;
use crate::ActionError;
use crate::connections::{ConnectError, ConnectRequest, public_summary};
use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use credential_store::StoreError;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub fn router(state: Shared) -> Router<Shared> {
    Router::new()
        .route("/actions", get(actions))
        .route("/connections", get(list).post(create))
        .route("/connections/{id}", get(show).delete(delete))
        .route("/connections/{id}/test", post(test))
        .route("/connections/{id}/actions/{action}", post(invoke))
        .route_layer(middleware::from_fn_with_state(state, require_key))
}

/// Refuses a request without the server's API key.
async fn require_key(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if security::api_key_ok(request.headers(), state.config.api_key.as_ref()) {
        return next.run(request).await;
    }
    error(
        StatusCode::UNAUTHORIZED,
        json!({"error": "unauthorized", "message": "this server requires its API key: `Authorization: Bearer KEY` or `X-API-Key: KEY`"}),
    )
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn connect_error(e: ConnectError) -> Response {
    let message = e.to_string();
    match e {
        ConnectError::Store(StoreError::NoSuchConnection(_)) => error(
            StatusCode::NOT_FOUND,
            json!({"error": "not-found", "message": message}),
        ),
        ConnectError::UnknownMethod { .. } => error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid-input", "field": "method", "message": message}),
        ),
        ConnectError::UnknownField { field, .. }
        | ConnectError::FixedField { field, .. }
        | ConnectError::InvalidField { field, .. } => error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid-input", "field": format!("fields.{field}"), "message": message}),
        ),
        ConnectError::Auth(crate::auth::AuthError::MissingField { field, .. }) => error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid-input", "field": format!("fields.{field}"), "message": message}),
        ),
        ConnectError::WrongMethod { .. } => error(
            StatusCode::CONFLICT,
            json!({"error": "conflict", "message": message}),
        ),
        ConnectError::Auth(_) | ConnectError::Identity(_) => error(
            StatusCode::BAD_GATEWAY,
            json!({"error": "sign-in-failed", "message": message}),
        ),
        ConnectError::Store(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal", "message": message}),
        ),
    }
}

fn bad_json(rejection: JsonRejection) -> Response {
    error(
        rejection.status(),
        json!({"error": "invalid-input", "message": rejection.body_text()}),
    )
}

async fn actions(State(state): State<Shared>) -> Response {
    Json(json!({ "actions": state.manager.connector().descriptor().actions })).into_response()
}

async fn list(State(state): State<Shared>) -> Response {
    match state.manager.list().await {
        Ok(records) => Json(json!({
            "connections": records.iter().map(public_summary).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => connect_error(e),
    }
}

async fn show(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.manager.store().connection(&id).await {
        Ok(record) => Json(public_summary(&record)).into_response(),
        Err(e) => connect_error(e.into()),
    }
}

async fn delete(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.manager.delete(&id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => connect_error(e),
    }
}

/// Tests a connection. Like every other request that acts, it must say it
/// is JSON (its body may be empty), which a cross-site form cannot.
async fn test(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"error": "invalid-input", "message": "send `Content-Type: application/json` (the body may be empty)"}),
        );
    }
    match state.manager.test(&id).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => connect_error(e),
    }
}

/// A connection to create: the form's values as the manifest names them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewConnection {
    method: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, FieldInput>,
}

/// A field's value: text, or a list (scopes).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FieldInput {
    Text(String),
    List(Vec<String>),
}

/// Creates a connection. One that needs no browser sign-in is checked at
/// once; an OAuth one answers with the URL to send its user to, and
/// completes at this server's callback.
async fn create(
    State(state): State<Shared>,
    body: Result<Json<NewConnection>, JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_json(rejection),
    };
    let request = ConnectRequest {
        method: new.method,
        name: new.name,
        brand: new.brand,
        fields: new
            .fields
            .into_iter()
            .map(|(k, v)| match v {
                FieldInput::Text(t) => (k, t),
                FieldInput::List(l) => (k, l.join(" ")),
            })
            .collect(),
    };
    let manager = &state.manager;
    let record = match manager.create(&request).await {
        Ok(record) => record,
        Err(e) => return connect_error(e),
    };
    let authorization_url = match state.begin_sign_in(&record.id).await {
        Ok(Some(url)) => url,
        Ok(None) => {
            return match manager.activate(&record.id).await {
                Ok(record) => (StatusCode::CREATED, Json(public_summary(&record))).into_response(),
                Err(e) => connect_error(e),
            };
        }
        Err(e) => return connect_error(e),
    };
    (
        StatusCode::CREATED,
        Json(json!({
            "connection": public_summary(&record),
            "authorization_url": authorization_url,
            "callback_url": state.config.callback_url(),
        })),
    )
        .into_response()
}

/// The HTTP status a client would branch on for an action's error.
fn action_status(e: &ActionError) -> StatusCode {
    match e {
        ActionError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
        ActionError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        ActionError::Forbidden { .. } => StatusCode::FORBIDDEN,
        ActionError::NotFound { .. } => StatusCode::NOT_FOUND,
        ActionError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ActionError::Conflict { .. } => StatusCode::CONFLICT,
        ActionError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        ActionError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        ActionError::LimitExceeded { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Runs an action: the body is its input.
async fn invoke(
    State(state): State<Shared>,
    Path((id, action)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Json(input) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_json(rejection),
    };
    let connection = match state.manager.connection(&id).await {
        Ok(connection) => connection,
        Err(e) => return connect_error(e),
    };
    match state
        .manager
        .connector()
        .invoke(&connection, &action, &input.to_string())
        .await
    {
        Ok(output) => Json(json!({ "output": output })).into_response(),
        Err(e) => (action_status(&e), Json(e)).into_response(),
    }
}
