//! A tenant's platform events: the webhook they go to
//! (`PUT`/`GET`/`DELETE /api/v1/webhook`) and what was queued for it
//! (`GET /api/v1/events`), each with how its delivery went. The events
//! themselves are queued by the store and sent by every server
//! (`host-triggers`' `platform_events.rs`).

use super::Shared;
use super::api::{self, invalid};
use super::tenancy::{Caller, Scope};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use credential_store::PlatformEventRecord;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

/// The webhook to set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWebhook {
    url: String,
}

fn no_webhook() -> Response {
    api::error(
        StatusCode::NOT_FOUND,
        json!({"error": "not-found", "message": "no webhook is set for platform events (PUT /api/v1/webhook)"}),
    )
}

/// Sets the caller's webhook; answers with the key that signs its events,
/// shown this once. Replacing a webhook replaces its key.
#[utoipa::path(
    put,
    path = "/webhook",
    tag = "events",
    summary = "Sets the webhook platform events go to; its key is shown once",
    request_body = NewWebhook,
    responses(
        (status = 200, description = "The webhook, with `signing_secret` this once", body = crate::openapi::Webhook),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn set_webhook(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewWebhook>, JsonRejection>,
) -> Response {
    if let Some(refused) = api::refusal(&caller, Scope::Connections) {
        return refused;
    }
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return api::bad_json(rejection),
    };
    let url = match state
        .config
        .targets
        .check_url_resolved(new.url.trim())
        .await
    {
        Ok(url) => url.to_string(),
        Err(e) => return invalid("url", format!("`url` {e}")),
    };
    let tenant = caller.tenant().cloned().flatten();
    let store = state.manager.store();
    let key = match store.set_tenant_webhook(tenant.as_deref(), &url).await {
        Ok(key) => key,
        Err(e) => return api::store_error(e),
    };
    match store.tenant_webhook(tenant.as_deref()).await {
        Ok(Some(webhook)) => (
            StatusCode::OK,
            Json(json!({
                "url": webhook.url,
                "created_at": webhook.created_at,
                "signing_secret": key.expose_secret(),
            })),
        )
            .into_response(),
        Ok(None) => no_webhook(),
        Err(e) => api::store_error(e),
    }
}

#[utoipa::path(
    get,
    path = "/webhook",
    tag = "events",
    summary = "The webhook platform events go to",
    responses(
        (status = 200, description = "The webhook", body = crate::openapi::Webhook),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn show_webhook(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Response {
    if let Some(refused) = api::refusal(&caller, Scope::Read) {
        return refused;
    }
    let tenant = caller.tenant().cloned().flatten();
    match state
        .manager
        .store()
        .tenant_webhook(tenant.as_deref())
        .await
    {
        Ok(Some(webhook)) => {
            Json(json!({"url": webhook.url, "created_at": webhook.created_at})).into_response()
        }
        Ok(None) => no_webhook(),
        Err(e) => api::store_error(e),
    }
}

#[utoipa::path(
    delete,
    path = "/webhook",
    tag = "events",
    summary = "Removes the webhook",
    responses(
        (status = 204, description = "Removed"),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn delete_webhook(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Response {
    if let Some(refused) = api::refusal(&caller, Scope::Connections) {
        return refused;
    }
    let tenant = caller.tenant().cloned().flatten();
    match state
        .manager
        .store()
        .delete_tenant_webhook(tenant.as_deref())
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => no_webhook(),
        Err(e) => api::store_error(e),
    }
}

/// How many events to list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    #[serde(default)]
    limit: Option<u32>,
}

fn event_json(e: &PlatformEventRecord) -> Value {
    let mut shown: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
    shown["delivery"] = json!({
        "status": e.status.as_str(),
        "attempts": e.attempts,
        "last_error": e.last_error,
        "settled_at": e.settled_at,
    });
    shown
}

/// The caller's platform events, newest first, with how each delivery went.
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    summary = "The latest platform events and how each delivery went",
    params(
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000)"),
    ),
    responses(
        (status = 200, description = "The events, newest first", body = crate::openapi::PlatformEvents),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn list_events(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(refused) = api::refusal(&caller, Scope::Read) {
        return refused;
    }
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return invalid("limit", rejection.body_text()),
    };
    let tenant = caller.tenant().cloned().flatten();
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    match state
        .manager
        .store()
        .platform_events(tenant.as_deref(), limit)
        .await
    {
        Ok(events) => Json(json!({"events": events.iter().map(event_json).collect::<Vec<_>>()}))
            .into_response(),
        Err(e) => api::store_error(e),
    }
}
