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
use super::tenancy::{self, Caller, Scope};
use super::tenants;
use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use credential_store::StoreError;
use host_auth::connections::{ConnectError, ConnectRequest, public_summary};
use host_core::ActionError;
use host_triggers as triggers;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub fn router(state: Shared) -> Router<Shared> {
    Router::new()
        .route("/actions", get(actions))
        .route("/connections", get(list).post(create))
        .route("/connections/{id}", get(show).delete(delete))
        .route("/connections/{id}/test", post(test))
        .route(
            "/connections/{id}/mcp-tools",
            get(super::mcp::show_tools).put(super::mcp::set_tools),
        )
        .route("/connections/{id}/actions/{action}", post(invoke))
        .route(
            "/connections/{id}/subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/subscriptions/{id}",
            get(show_subscription).delete(delete_subscription),
        )
        .route("/subscriptions/{id}/events", get(subscription_events))
        .route(
            "/tenants",
            get(tenants::list_tenants).post(tenants::create_tenant),
        )
        .route(
            "/tenants/{id}",
            get(tenants::show_tenant).patch(tenants::update_tenant),
        )
        .route("/connect-sessions", post(super::connect::create_session))
        .route("/sign-in-sessions", post(super::sign_in::create_session))
        .route("/sign-in-sessions/exchange", post(super::sign_in::exchange))
        .route("/usage", get(super::usage::usage))
        .route(
            "/webhook",
            get(super::events::show_webhook)
                .put(super::events::set_webhook)
                .delete(super::events::delete_webhook),
        )
        .route("/events", get(super::events::list_events))
        .route("/tenants/{id}/usage", get(super::usage::tenant_usage))
        .route(
            "/tenants/{id}/api-keys",
            get(tenants::list_keys).post(tenants::create_key),
        )
        .route(
            "/tenants/{id}/api-keys/{key}",
            axum::routing::delete(tenants::revoke_key),
        )
        .route(
            "/tenants/{id}/api-keys/{key}/rotate",
            post(tenants::rotate_key),
        )
        .route(
            "/tenants/{id}/app-credentials/{method}",
            get(tenants::show_app_credentials).put(tenants::set_app_credentials),
        )
        .route("/subscriptions/{id}/dead-letters", get(dead_letters))
        .route(
            "/subscriptions/{id}/dead-letters/retry",
            post(retry_dead_letters),
        )
        .route_layer(middleware::from_fn_with_state(state, require_key))
        // The document describes and holds nothing: no key needed.
        .route("/openapi.json", get(super::openapi::document))
        .layer(middleware::from_fn(json_errors))
}

/// Makes every refusal JSON, as the API promises: axum's own (a query or
/// path it cannot parse, a method a route does not take) come as text.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let kind = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "invalid-input",
        _ => "invalid-input",
    };
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("refused").to_string()
    } else {
        text
    };
    let mut answer = error(status, json!({"error": kind, "message": message}));
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// Finds who the request acts for (the operator, or a tenant with its
/// key's scopes) and hands it to the handler; refuses a request without a
/// key the server knows.
async fn require_key(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    match tenancy::identify(request.headers(), &state.keys(), state.manager.store()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e @ tenancy::Refused::NoKey) => error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "unauthorized", "message": e.to_string()}),
        ),
        Err(tenancy::Refused::Store(e)) => {
            tracing::error!(error = %e, "cannot check an API key");
            unavailable(&e)
        }
    }
}

/// Refuses what the caller's key may not do. The admin key manages
/// tenants only: it reaches no tenant's connections.
pub(super) fn refusal(caller: &Caller, scope: Scope) -> Option<Response> {
    match caller {
        _ if caller.may(scope) => None,
        Caller::Admin => Some(error(
            StatusCode::FORBIDDEN,
            json!({"error": "forbidden", "reason": "admin-key", "message": "the admin key manages tenants and their keys; use a tenant's key for its connections"}),
        )),
        Caller::Tenant { .. } => Some(error(
            StatusCode::FORBIDDEN,
            json!({"error": "forbidden", "reason": "key-scope", "missing_scopes": [scope.as_str()],
                   "message": format!("this API key was not given the `{}` scope", scope.as_str())}),
        )),
    }
}

/// The connection `id` when it is the caller's and its key has `scope`;
/// another tenant's is answered exactly as one that does not exist.
pub(super) async fn connection_for(
    state: &Shared,
    caller: &Caller,
    scope: Scope,
    id: &str,
) -> Result<credential_store::ConnectionRecord, Response> {
    if let Some(refused) = refusal(caller, scope) {
        return Err(refused);
    }
    match state.manager.store().connection(id).await {
        Ok(record) if caller.owns(&record.tenant_id) => Ok(record),
        Ok(_) => Err(connect_error(
            StoreError::NoSuchConnection(id.to_string()).into(),
        )),
        Err(e) => Err(connect_error(e.into())),
    }
}

/// The subscription `sid` when its connection is the caller's and its key
/// has `scope`; another tenant's is answered exactly as one that does not
/// exist.
async fn subscription_for(
    state: &Shared,
    caller: &Caller,
    scope: Scope,
    sid: &str,
) -> Result<credential_store::SubscriptionRecord, Response> {
    if let Some(refused) = refusal(caller, scope) {
        return Err(refused);
    }
    let store = state.manager.store();
    let subscription = store.subscription(sid).await.map_err(store_error)?;
    match store.connection(&subscription.connection_id).await {
        Ok(record) if caller.owns(&record.tenant_id) => Ok(subscription),
        Ok(_) | Err(StoreError::NoSuchConnection(_)) => {
            Err(store_error(StoreError::NoSuchSubscription(sid.to_string())))
        }
        Err(e) => Err(store_error(e)),
    }
}

pub(super) fn error(status: StatusCode, body: Value) -> Response {
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
        ConnectError::InvalidLabel { field, .. } => error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid-input", "field": field, "message": message}),
        ),
        ConnectError::Auth(host_auth::AuthError::MissingField { field, .. }) => error(
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
        ConnectError::Store(e) if e.is_unavailable() => unavailable(&e),
        ConnectError::Store(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal", "message": message}),
        ),
    }
}

pub(super) fn bad_json(rejection: JsonRejection) -> Response {
    error(
        rejection.status(),
        json!({"error": "invalid-input", "message": rejection.body_text()}),
    )
}

#[utoipa::path(
    get,
    path = "/actions",
    tag = "connections",
    summary = "The catalogue of actions",
    responses(
        (status = 200, description = "Every action with its schemas", body = crate::openapi::Actions),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn actions(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Response {
    if let Some(refused) = refusal(&caller, Scope::Read) {
        return refused;
    }
    Json(json!({ "actions": state.manager.connector().descriptor().actions })).into_response()
}

/// Which of the caller's connections to list: those of one end user, one
/// organisation, or carrying tags (`tag=name:value`, repeated: all of them).
#[derive(Debug, Default)]
struct ListFilter {
    end_user: Option<String>,
    organization: Option<String>,
    tags: Vec<(String, String)>,
}

impl ListFilter {
    /// The filter, or the parameter at fault and why.
    fn parse(query: &[(String, String)]) -> Result<ListFilter, (String, String)> {
        let mut filter = ListFilter::default();
        for (name, value) in query {
            match name.as_str() {
                "end_user" => filter.end_user = Some(value.clone()),
                "organization" => filter.organization = Some(value.clone()),
                "tag" => match value.split_once(':') {
                    Some((k, v)) => filter.tags.push((k.to_string(), v.to_string())),
                    None => return Err(("tag".into(), "is `name:value`".into())),
                },
                other => {
                    return Err((
                        other.to_string(),
                        format!("`{other}` is not one of end_user, organization, tag"),
                    ));
                }
            }
        }
        Ok(filter)
    }

    fn keeps(&self, record: &credential_store::ConnectionRecord) -> bool {
        let user = record.end_user.as_ref();
        self.end_user
            .as_ref()
            .is_none_or(|id| user.is_some_and(|u| &u.id == id))
            && self
                .organization
                .as_ref()
                .is_none_or(|org| user.is_some_and(|u| u.organization.as_ref() == Some(org)))
            && self
                .tags
                .iter()
                .all(|(k, v)| user.is_some_and(|u| u.tags.get(k) == Some(v)))
    }
}

#[utoipa::path(
    get,
    path = "/connections",
    tag = "connections",
    summary = "The caller's connections",
    params(
        ("end_user" = Option<String>, Query, description = "Only those of this end user"),
        ("organization" = Option<String>, Query, description = "Only those of this organisation"),
        ("tag" = Option<String>, Query, description = "Only those with this tag, as `name:value`"),
    ),
    responses(
        (status = 200, description = "The connections", body = crate::openapi::ConnectionList),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn list(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = refusal(&caller, Scope::Read) {
        return refused;
    }
    let filter = match ListFilter::parse(&query) {
        Ok(filter) => filter,
        Err((field, message)) => return invalid(&field, message),
    };
    let tenant = caller.tenant().cloned().flatten();
    let records = match (&tenant, &filter.end_user) {
        (Some(tenant), Some(end_user)) => state.manager.list_of_end_user(tenant, end_user).await,
        _ => state.manager.list_of(tenant.as_deref()).await,
    };
    match records {
        Ok(records) => Json(json!({
            "connections": records
                .iter()
                .filter(|r| caller.owns(&r.tenant_id) && filter.keeps(r))
                .map(public_summary)
                .collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => connect_error(e),
    }
}

#[utoipa::path(
    get,
    path = "/connections/{id}",
    tag = "connections",
    summary = "One connection",
    params(
        ("id" = String, Path, description = "The connection's id"),
    ),
    responses(
        (status = 200, description = "The connection", body = crate::openapi::Connection),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn show(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match connection_for(&state, &caller, Scope::Read, &id).await {
        Ok(record) => Json(public_summary(&record)).into_response(),
        Err(refused) => refused,
    }
}

#[utoipa::path(
    delete,
    path = "/connections/{id}",
    tag = "connections",
    summary = "Deletes a connection and everything kept for it",
    params(
        ("id" = String, Path, description = "The connection's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn delete(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = connection_for(&state, &caller, Scope::Connections, &id).await {
        return refused;
    }
    match state.manager.delete(&id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => connect_error(e),
    }
}

/// Tests a connection. Like every other request that acts, it must say it
/// is JSON (its body may be empty), which a cross-site form cannot.
#[utoipa::path(
    post,
    path = "/connections/{id}/test",
    tag = "connections",
    summary = "Tests a connection (send `Content-Type: application/json`; the body may be empty)",
    params(
        ("id" = String, Path, description = "The connection's id"),
    ),
    responses(
        (status = 200, description = "How the test went", body = crate::openapi::TestReport),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn test(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !is_json(&headers) {
        return needs_json();
    }
    if let Err(refused) = connection_for(&state, &caller, Scope::Actions, &id).await {
        return refused;
    }
    match state.manager.test(&id).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => connect_error(e),
    }
}

/// Whether a request says it is JSON, which a cross-site form cannot.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

fn needs_json() -> Response {
    error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        json!({"error": "invalid-input", "message": "send `Content-Type: application/json` (the body may be empty)"}),
    )
}

/// A connection to create: the form's values as the manifest names them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewConnection {
    method: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, FieldInput>,
}

/// A field's value: text, or a list (scopes).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(super) enum FieldInput {
    Text(String),
    List(Vec<String>),
}

/// Creates a connection. One that needs no browser sign-in is checked at
/// once; an OAuth one answers with the URL to send its user to, and
/// completes at this server's callback.
#[utoipa::path(
    post,
    path = "/connections",
    tag = "connections",
    summary = "Creates a connection",
    request_body = NewConnection,
    responses(
        (status = 201, description = "Connected, or waiting for its browser sign-in at `authorization_url`", body = crate::openapi::CreatedConnection),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn create(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewConnection>, JsonRejection>,
) -> Response {
    if let Some(refused) = refusal(&caller, Scope::Connections) {
        return refused;
    }
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
        tenant: caller.tenant().cloned().flatten(),
        end_user: None,
        quiet: false,
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
        ActionError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Runs an action: the body is its input.
#[utoipa::path(
    post,
    path = "/connections/{id}/actions/{action}",
    tag = "connections",
    summary = "Runs an action; the body is its input",
    params(
        ("id" = String, Path, description = "The connection's id"),
        ("action" = String, Path, description = "The action's id, such as `post.create`"),
    ),
    request_body = Object,
    responses(
        (status = 200, description = "The output", body = crate::openapi::ActionOutput),
        (status = "5XX", description = "The API failed or did not answer: `upstream` or `timeout`", body = crate::openapi::ApiError),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn invoke(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((id, action)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    if let Err(refused) = connection_for(&state, &caller, Scope::Actions, &id).await {
        return refused;
    }
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
        Err(e) => action_error(e),
    }
}

/// An action's typed error as the response, with `Retry-After` when a
/// later try may work.
fn action_error(e: ActionError) -> Response {
    let status = action_status(&e);
    let mut response = (status, Json(e)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    response
}

/// A subscription to create: a trigger of the connection, its
/// configuration, and where its events go.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSubscriptionRequest {
    trigger: String,
    #[serde(default)]
    configuration: Option<Value>,
    /// Where each event is POSTed, signed; without it, events are kept to
    /// be fetched (`GET …/events?after=`).
    #[serde(default)]
    target_url: Option<String>,
    /// Seconds between polls, at least `triggers::MIN_INTERVAL_SECS`.
    #[serde(default)]
    interval_secs: Option<u32>,
    /// `push` (the API pushes the events, when the trigger can be pushed
    /// and push is set up; otherwise it is polled), `poll`, or `auto`
    /// (the default: push when possible).
    #[serde(default)]
    delivery: Option<String>,
}

/// The refusal of an input, naming the field at fault.
pub(super) fn invalid(field: &str, message: impl Into<String>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid-input", "field": field, "message": message.into()}),
    )
}

/// When a later try may work.
pub(super) const RETRY_AFTER_SECS: &str = "5";

/// The store is down or busy: `503`, `unavailable`, and when to try again,
/// so a client tells it from a bug.
pub(super) fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "the store is unavailable");
    host_metrics::metrics().store_unavailable.inc();
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": "unavailable", "message": e.to_string(), "retry_after_secs": 5}),
    );
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

pub(super) fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NoSuchSubscription(_) | StoreError::NoSuchConnection(_) => error(
            StatusCode::NOT_FOUND,
            json!({"error": "not-found", "message": e.to_string()}),
        ),
        e if e.is_unavailable() => unavailable(&e),
        e => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal", "message": e.to_string()}),
        ),
    }
}

/// What may be shown of a subscription (never its signing key).
pub(super) fn subscription_summary(s: &credential_store::SubscriptionRecord) -> Value {
    let (destination, target_url) = match &s.destination {
        credential_store::Destination::Url(url) => ("url", Some(url.clone())),
        credential_store::Destination::Pull => ("pull", None),
        credential_store::Destination::Watch => ("watch", None),
    };
    json!({
        "id": s.id,
        "connection": s.connection_id,
        "trigger": s.trigger,
        "configuration": serde_json::from_str::<Value>(&s.configuration).unwrap_or(Value::Null),
        "destination": destination,
        "target_url": target_url,
        "interval_secs": s.interval_secs,
        "delivery": s.delivery.as_str(),
        "started": s.cursor.is_some(),
        "created_at": s.created_at,
    })
}

/// Subscribes a workflow to a trigger of the connection; answers with the
/// key that signs its deliveries, shown this once.
#[utoipa::path(
    post,
    path = "/connections/{id}/subscriptions",
    tag = "subscriptions",
    summary = "Subscribes to a trigger of the connection",
    params(
        ("id" = String, Path, description = "The connection's id"),
    ),
    request_body = NewSubscriptionRequest,
    responses(
        (status = 201, description = "The subscription and its signing key, shown once", body = crate::openapi::Subscription),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn create_subscription(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<NewSubscriptionRequest>, JsonRejection>,
) -> Response {
    if let Err(refused) = connection_for(&state, &caller, Scope::Subscriptions, &id).await {
        return refused;
    }
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_json(rejection),
    };
    let configuration = new.configuration.unwrap_or_else(|| json!({})).to_string();
    let wants_push = match new.delivery.as_deref().unwrap_or("auto") {
        "auto" | "push" => true,
        "poll" => false,
        other => {
            return invalid(
                "delivery",
                format!("`{other}` is not one of push, poll, auto"),
            );
        }
    };
    let created = triggers::subscribe_served(
        &state.manager,
        &id,
        triggers::SubscriptionRequest {
            trigger: &new.trigger,
            configuration: &configuration,
            target_url: new.target_url.as_deref(),
            interval_secs: new.interval_secs.unwrap_or(60),
        },
        &state.config.targets,
    )
    .await;
    match created {
        Ok((mut subscription, key)) => {
            let push_error = if wants_push {
                state
                    .start_push(&subscription.id, &subscription.trigger)
                    .await
            } else {
                None
            };
            if let Ok(now) = state.manager.store().subscription(&subscription.id).await {
                subscription = now;
            }
            let mut answer = subscription_summary(&subscription);
            answer["signing_secret"] = json!(secrecy::ExposeSecret::expose_secret(&key));
            if let Some(reason) = push_error {
                answer["push_error"] = json!(reason);
            }
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(triggers::SubscribeError::Invalid { field, reason }) => invalid(&field, reason),
        Err(e @ triggers::SubscribeError::MissingScopes { .. }) => match e.as_action_error() {
            Some(refusal) => (action_status(&refusal), Json(refusal)).into_response(),
            None => invalid("trigger", e.to_string()),
        },
        Err(triggers::SubscribeError::Store(e)) => store_error(e),
    }
}

#[utoipa::path(
    get,
    path = "/connections/{id}/subscriptions",
    tag = "subscriptions",
    summary = "The connection's subscriptions",
    params(
        ("id" = String, Path, description = "The connection's id"),
    ),
    responses(
        (status = 200, description = "The subscriptions", body = crate::openapi::SubscriptionList),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn list_subscriptions(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = connection_for(&state, &caller, Scope::Read, &id).await {
        return refused;
    }
    let store = state.manager.store();
    match store.subscriptions(Some(&id)).await {
        Ok(list) => Json(json!({
            "subscriptions": list
                .iter()
                .filter(|s| s.destination != credential_store::Destination::Watch)
                .map(subscription_summary)
                .collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(
    get,
    path = "/subscriptions/{id}",
    tag = "subscriptions",
    summary = "One subscription",
    params(
        ("id" = String, Path, description = "The subscription's id"),
    ),
    responses(
        (status = 200, description = "The subscription", body = crate::openapi::Subscription),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn show_subscription(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(sid): Path<String>,
) -> Response {
    match subscription_for(&state, &caller, Scope::Read, &sid).await {
        Ok(s) => Json(subscription_summary(&s)).into_response(),
        Err(refused) => refused,
    }
}

#[utoipa::path(
    delete,
    path = "/subscriptions/{id}",
    tag = "subscriptions",
    summary = "Ends a subscription",
    params(
        ("id" = String, Path, description = "The subscription's id"),
    ),
    responses(
        (status = 204, description = "Ended"),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn delete_subscription(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(sid): Path<String>,
) -> Response {
    if let Err(refused) = subscription_for(&state, &caller, Scope::Subscriptions, &sid).await {
        return refused;
    }
    match state.end_subscription(&sid).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => store_error(e),
    }
}

/// Which events to fetch.
#[derive(Debug, Deserialize)]
pub(super) struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<u32>,
}

fn delivery_json(d: &credential_store::DeliveryRecord) -> Value {
    json!({
        "sequence": d.sequence,
        "id": d.event_id,
        "data": serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null),
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "last_error": d.last_error,
        "created_at": d.created_at,
    })
}

/// A subscription's events after `after`, oldest first; `next_after`
/// continues from the last one.
#[utoipa::path(
    get,
    path = "/subscriptions/{id}/events",
    tag = "subscriptions",
    summary = "The subscription's events after a sequence",
    params(
        ("id" = String, Path, description = "The subscription's id"),
        ("after" = Option<u64>, Query, description = "The last sequence already read"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000)"),
    ),
    responses(
        (status = 200, description = "The events, oldest first", body = crate::openapi::EventPage),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn subscription_events(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(sid): Path<String>,
    axum::extract::Query(query): axum::extract::Query<EventsQuery>,
) -> Response {
    if let Err(refused) = subscription_for(&state, &caller, Scope::Read, &sid).await {
        return refused;
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let store = state.manager.store();
    let oldest = match store.oldest_sequence(&sid).await {
        Ok(oldest) => oldest,
        Err(e) => return store_error(e),
    };
    match store.deliveries(&sid, query.after, None, limit).await {
        Ok(list) => Json(json!({
            "next_after": list.last().map(|d| d.sequence).unwrap_or(query.after),
            "events": list.iter().map(delivery_json).collect::<Vec<_>>(),
            // Events after `after` and before this were removed after the
            // retention window: the engine missed them.
            "oldest_sequence": oldest,
            "missed": oldest.is_some_and(|o| o > query.after + 1),
        }))
        .into_response(),
        Err(e) => store_error(e),
    }
}

/// A subscription's dead letters: events its receiver kept refusing.
#[utoipa::path(
    get,
    path = "/subscriptions/{id}/dead-letters",
    tag = "subscriptions",
    summary = "The subscription's dead letters",
    params(
        ("id" = String, Path, description = "The subscription's id"),
    ),
    responses(
        (status = 200, description = "The dead letters", body = crate::openapi::DeadLetters),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn dead_letters(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(sid): Path<String>,
) -> Response {
    if let Err(refused) = subscription_for(&state, &caller, Scope::Read, &sid).await {
        return refused;
    }
    let store = state.manager.store();
    match store
        .deliveries(&sid, 0, Some(credential_store::DeliveryStatus::Dead), 1000)
        .await
    {
        Ok(list) => Json(json!({
            "dead_letters": list.iter().map(delivery_json).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => store_error(e),
    }
}

/// Sends a subscription's dead letters again.
#[utoipa::path(
    post,
    path = "/subscriptions/{id}/dead-letters/retry",
    tag = "subscriptions",
    summary = "Sends the dead letters again (send `Content-Type: application/json`)",
    params(
        ("id" = String, Path, description = "The subscription's id"),
    ),
    responses(
        (status = 200, description = "How many were queued again", body = crate::openapi::Requeued),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn retry_dead_letters(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(sid): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !is_json(&headers) {
        return needs_json();
    }
    if let Err(refused) = subscription_for(&state, &caller, Scope::Subscriptions, &sid).await {
        return refused;
    }
    let store = state.manager.store();
    match store.requeue_dead(&sid).await {
        Ok(n) => Json(json!({ "requeued": n })).into_response(),
        Err(e) => store_error(e),
    }
}
