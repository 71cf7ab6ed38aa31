//! `/mcp`: the connector's actions as MCP tools over Streamable HTTP.
//!
//! A request comes with an access token of the server's own authorization
//! server (see `mcp_oauth`), which names its connection and tools, or is
//! authenticated as an API request is (a tenant's key with the `actions`
//! scope) and names the connection its tools act on (`?connection=ID`, or
//! the `MCP-Connection` header for clients that set headers but not URLs).
//! Either may narrow the tools (`?tools=read-only`, or tool names separated
//! by commas), which the MCP server narrows further to the connection's
//! stored limit (`PUT /api/v1/connections/{id}/mcp-tools`). That becomes
//! the request's [`Grant`]; another tenant's connection, or another
//! connection than a token's, is answered as one that does not exist.
//!
//! The server keeps no session: each request carries all it needs, so a
//! client's requests may go to any node sharing the store, and a node that
//! restarts loses nothing a client holds.

use super::Shared;
use super::api::{error, refusal, unavailable};
use super::tenancy::{self, Scope};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use credential_store::StoreError;
use host_mcp::authorization::ACCESS_TOKEN_PREFIX;
use host_mcp::rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use host_mcp::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
};
use host_mcp::{Grant, McpServer, ToolSet};
use serde_json::json;
use std::sync::Arc;

/// The header naming the connection, for clients configured by headers.
const CONNECTION_HEADER: &str = "mcp-connection";

/// The MCP endpoint, behind the grant check.
pub(super) fn router(state: Shared) -> Router<Shared> {
    let server = McpServer::new(state.manager.clone());
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // The server's own guard checks the Host and Origin of every
        // request against the names it is reached at.
        .disable_allowed_hosts();
    let per_request = server.clone();
    let service = StreamableHttpService::new(
        move || Ok(per_request.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let checks = Checks { state, server };
    Router::new()
        .route_service("/mcp", service)
        .route_layer(axum::middleware::from_fn_with_state(checks, grant))
}

/// What the grant check reads: the server's state and the tools.
#[derive(Clone)]
struct Checks {
    state: Shared,
    server: McpServer,
}

/// Turns the request's key or token, connection and tool set into its
/// grant.
async fn grant(State(checks): State<Checks>, mut request: Request, next: Next) -> Response {
    let state = &checks.state;
    let token = tenancy::given_key(request.headers())
        .filter(|given| given.starts_with(ACCESS_TOKEN_PREFIX))
        .map(str::to_string);
    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let named = param("connection")
        .or_else(|| {
            request
                .headers()
                .get(CONNECTION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .filter(|c| !c.is_empty());
    let granted = match token {
        Some(token) => token_grant(&checks, &token, named.as_deref()).await,
        None => key_grant(state, request.headers(), named).await,
    };
    let mut grant = match granted {
        Ok(grant) => grant,
        Err(refused) => return *refused,
    };
    if let Some(tools) = param("tools") {
        match ToolSet::parse(&tools, checks.server.tools()) {
            Ok(set) => grant = grant.narrowed(set),
            Err(e) => return invalid("tools", &e.to_string()),
        }
    }
    request.extensions_mut().insert(grant);
    next.run(request).await
}

/// The grant of one of the authorization server's access tokens: its
/// connection, while it exists, and the tools the user granted. A request
/// naming another connection is answered as for one that does not exist.
async fn token_grant(
    checks: &Checks,
    token: &str,
    named: Option<&str>,
) -> Result<Grant, Box<Response>> {
    let state = &checks.state;
    let Some(claims) = state.authorizer.access(token) else {
        return Err(Box::new(super::mcp_oauth::unauthorized(
            state,
            true,
            "the access token is not valid here: expired, altered, or another server's; refresh it or authorize again",
        )));
    };
    if named.is_some_and(|n| n != claims.connection) {
        return Err(Box::new(no_such_connection(named.unwrap_or_default())));
    }
    match state.manager.store().connection(&claims.connection).await {
        Ok(record) if record.tenant_id == claims.tenant => {
            Ok(claims.to_grant(checks.server.tools()))
        }
        Ok(_) | Err(StoreError::NoSuchConnection(_)) => {
            Err(Box::new(super::mcp_oauth::unauthorized(
                state,
                true,
                "the connection this token was granted for no longer exists; authorize again",
            )))
        }
        Err(e) if e.is_unavailable() => Err(Box::new(unavailable(&e))),
        Err(e) => Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal", "message": e.to_string()}),
        ))),
    }
}

fn no_such_connection(connection: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        json!({"error": "not-found", "message": format!("there is no connection `{connection}`")}),
    )
}

/// The grant of a tenant's key: the connection the request names, if it
/// is the tenant's.
async fn key_grant(
    state: &Shared,
    headers: &axum::http::HeaderMap,
    named: Option<String>,
) -> Result<Grant, Box<Response>> {
    let caller = match tenancy::identify(headers, &state.keys(), state.manager.store()).await {
        Ok(caller) => caller,
        Err(e @ tenancy::Refused::NoKey) => {
            return Err(Box::new(super::mcp_oauth::unauthorized(
                state,
                false,
                &e.to_string(),
            )));
        }
        Err(tenancy::Refused::Store(e)) => return Err(Box::new(unavailable(&e))),
    };
    if let Some(refused) = refusal(&caller, Scope::Actions) {
        return Err(Box::new(refused));
    }
    let Some(connection) = named else {
        return Err(Box::new(invalid(
            "connection",
            "name the connection the tools act on: /mcp?connection=ID, or the MCP-Connection header",
        )));
    };
    match state.manager.store().connection(&connection).await {
        Ok(record) if caller.owns(&record.tenant_id) => {
            Ok(Grant::connection(record.tenant_id, record.id))
        }
        Ok(_) | Err(StoreError::NoSuchConnection(_)) => {
            Err(Box::new(no_such_connection(&connection)))
        }
        Err(e) if e.is_unavailable() => Err(Box::new(unavailable(&e))),
        Err(e) => Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal", "message": e.to_string()}),
        ))),
    }
}

fn invalid(field: &str, message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid-input", "field": field, "message": message}),
    )
}

/// The tools an MCP client of a connection may see and call.
#[derive(Debug, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct McpTools {
    /// `read-only` (the actions that change nothing), action ids separated
    /// by commas, or `all` (or null) for every tool.
    tools: Option<String>,
}

/// The limit on a connection's MCP tools; `tools` is null when there is
/// none.
#[utoipa::path(
    get,
    path = "/connections/{id}/mcp-tools",
    tag = "connections",
    summary = "Which tools an MCP client of the connection may use",
    params(("id" = String, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "The limit, or null for every tool", body = McpTools),
        (status = "4XX", description = "Refused: the error says why", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn show_tools(
    State(state): State<Shared>,
    axum::extract::Extension(caller): axum::extract::Extension<tenancy::Caller>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Err(refused) = super::api::connection_for(&state, &caller, Scope::Read, &id).await {
        return refused;
    }
    match state.manager.store().mcp_tools(&id).await {
        Ok(tools) => axum::Json(McpTools { tools }).into_response(),
        Err(e) => super::api::store_error(e),
    }
}

/// Limits the tools an MCP client of the connection sees and may call,
/// whatever key or token it comes with; `all` or null lifts the limit.
#[utoipa::path(
    put,
    path = "/connections/{id}/mcp-tools",
    tag = "connections",
    summary = "Limits the tools an MCP client of the connection may use",
    params(("id" = String, Path, description = "The connection's id")),
    request_body = McpTools,
    responses(
        (status = 200, description = "The limit now, or null for every tool", body = McpTools),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn set_tools(
    State(state): State<Shared>,
    axum::extract::Extension(caller): axum::extract::Extension<tenancy::Caller>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Result<axum::Json<McpTools>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(refused) = super::api::connection_for(&state, &caller, Scope::Connections, &id).await
    {
        return refused;
    }
    let axum::Json(McpTools { tools }) = match body {
        Ok(body) => body,
        Err(rejection) => return super::api::bad_json(rejection),
    };
    let known = host_mcp::tools(state.manager.connector());
    let limit = match tools.as_deref().map(|t| ToolSet::parse(t, &known)) {
        None | Some(Ok(ToolSet::All)) => None,
        Some(Ok(set)) => Some(set.to_string()),
        Some(Err(e)) => return invalid("tools", &e.to_string()),
    };
    match state
        .manager
        .store()
        .set_mcp_tools(&id, limit.as_deref())
        .await
    {
        Ok(()) => axum::Json(McpTools { tools: limit }).into_response(),
        Err(e) => super::api::store_error(e),
    }
}
