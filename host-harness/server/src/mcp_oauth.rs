//! `/mcp` as an OAuth 2.1 protected resource with its own authorization
//! server, as the MCP specification asks of a remote server: a client
//! that gets a 401 finds the resource's metadata (RFC 9728), then the
//! authorization server's (RFC 8414), registers itself (RFC 7591), and
//! sends the user here with PKCE. The user, signed in to the pages as for
//! every page, chooses one of their connections (or connects another
//! account first) and the tools; the client gets this server's tokens for
//! that connection and those tools, never the account's.
//!
//! The pages are the default tenant's, and so are the connections a user
//! grants here; other tenants' agents come with a tenant key and a
//! connection id.

use super::Shared;
use super::pages::{self, Page};
use super::security;
use super::views;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use credential_store::ConnectionStatus;
use host_mcp::ToolSet;
use host_mcp::authorization::{
    self, AuthorizationRequest, ClientRegistration, OAuthError, TokenError,
};
use serde_json::json;

/// Where the MCP endpoint is, under the server's origin.
pub(super) const MCP_PATH: &str = "/mcp";
/// The resource's metadata, at the well-known place RFC 9728 §3.1 derives
/// from the endpoint's URL.
const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// The cookie keeping an authorization request while the user connects
/// another account, so the sign-in's callback comes back to it.
const RESUME_COOKIE: &str = "hh_mcp_authorize";
/// How long that cookie lives: a sign-in's time, no more.
const RESUME_LIFETIME_SECS: u64 = 15 * 60;

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(RESOURCE_METADATA_PATH, get(resource_metadata))
        .route(
            "/.well-known/oauth-authorization-server",
            get(server_metadata),
        )
        .route("/oauth/register", post(register))
        .route(AUTHORIZE_PATH, get(consent_page).post(decide))
        .route("/oauth/authorize/connect", get(connect_another))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
}

/// The client that fetches MCP clients' metadata documents: URLs the
/// clients choose, so held to the addresses users' URLs may reach (as
/// delivery targets are), no redirect followed, a short wait.
pub(super) fn document_client(
    targets: &host_core::target_guard::TargetGuard,
) -> host_auth::http::HostHttp {
    let wait = std::time::Duration::from_secs(5);
    host_auth::http::HostHttp::new(
        host_core::Routes::default(),
        host_core::outgoing::HttpTimeouts {
            connect: wait,
            first_byte: wait,
            between_bytes: wait,
        },
    )
    .with_transport(std::sync::Arc::new(
        host_core::transport::Transport::for_user_urls(targets.clone()),
    ))
}

/// The 401 of `/mcp`: how to get a token (RFC 6750 §3, RFC 9728 §5.1),
/// with `error="invalid_token"` when the one sent is not good.
pub(super) fn unauthorized(state: &Shared, invalid: bool, message: &str) -> Response {
    let mut response = super::api::error(
        StatusCode::UNAUTHORIZED,
        json!({"error": "unauthorized", "message": message}),
    );
    let origin = state.authorizer.issuer();
    let mut challenge = format!(
        "Bearer realm=\"mcp\", resource_metadata=\"{origin}{RESOURCE_METADATA_PATH}\", scope=\"{}\"",
        authorization::SCOPE
    );
    if invalid {
        challenge.push_str(", error=\"invalid_token\"");
    }
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// RFC 9728 §2: what the MCP endpoint is and who grants its tokens.
async fn resource_metadata(State(state): State<Shared>) -> Response {
    let authorizer = &state.authorizer;
    metadata(json!({
        "resource": authorizer.resource(),
        "authorization_servers": [authorizer.issuer()],
        "scopes_supported": [authorization::SCOPE, authorization::READ_ONLY_SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": format!("{} tools", state.manager.manifest().display_name),
    }))
}

/// RFC 8414 §2: the authorization server's endpoints and what it offers.
async fn server_metadata(State(state): State<Shared>) -> Response {
    let issuer = state.authorizer.issuer();
    metadata(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "registration_endpoint": format!("{issuer}/oauth/register"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "scopes_supported": [authorization::SCOPE, authorization::READ_ONLY_SCOPE],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": state.authorizer.takes_metadata_documents(),
    }))
}

fn metadata(document: serde_json::Value) -> Response {
    let mut response = Json(document).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    response
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &OAuthError) -> Response {
    no_store((status, Json(error.to_json())).into_response())
}

/// Token answers are never cached (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The store could not answer: the client tries again.
fn store_down(e: &credential_store::StoreError) -> Response {
    tracing::error!(error = %e, "the MCP authorization server cannot reach the store");
    let mut response = oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &OAuthError {
            code: "temporarily_unavailable",
            description: "the server cannot reach its store; try again shortly".into(),
        },
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(super::api::RETRY_AFTER_SECS),
    );
    response
}

/// RFC 7591: a client registers itself and gets its id (no secret: the
/// clients are public, PKCE proves them).
async fn register(State(state): State<Shared>, body: Bytes) -> Response {
    let request: ClientRegistration = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                &OAuthError {
                    code: "invalid_client_metadata",
                    description: format!("the body is not client metadata as JSON: {e}"),
                },
            );
        }
    };
    match state.authorizer.register(request) {
        Ok((client_id, client)) => no_store(
            (
                StatusCode::CREATED,
                Json(json!({
                    "client_id": client_id,
                    "client_id_issued_at": client.issued_at,
                    "client_name": client.name,
                    "redirect_uris": client.redirect_uris,
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                })),
            )
                .into_response(),
        ),
        Err(e) => oauth_error(StatusCode::BAD_REQUEST, &e),
    }
}

/// RFC 6749 §4.1.3 and §6: a code or a refresh token for tokens.
async fn token(State(state): State<Shared>, body: Bytes) -> Response {
    let form = pages::form_pairs(&body);
    match state.authorizer.token(&form).await {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(TokenError::OAuth(e)) => oauth_error(StatusCode::BAD_REQUEST, &e),
        Err(TokenError::Store(e)) if e.is_unavailable() => store_down(&e),
        Err(TokenError::Store(e)) => {
            tracing::error!(error = %e, "a token request failed in the store");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &OAuthError {
                    code: "server_error",
                    description: "the server failed to issue the tokens".into(),
                },
            )
        }
    }
}

/// RFC 7009: a client gives back its refresh token.
async fn revoke(State(state): State<Shared>, body: Bytes) -> Response {
    let form = pages::form_pairs(&body);
    let Some(token) = pages::first(&form, "token").filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            &OAuthError {
                code: "invalid_request",
                description: "token: required".into(),
            },
        );
    };
    match state.authorizer.revoke(token).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => store_down(&e),
    }
}

/// A refusal shown to the user, because the redirect URI cannot be
/// trusted with it.
fn refused_page(state: &Shared, e: &OAuthError) -> Response {
    Page::ok(
        "Authorization refused",
        views::error_box(&format!(
            "The application's request cannot be answered: {}.",
            e.description
        )),
    )
    .with_status(StatusCode::BAD_REQUEST)
    .render(state, None)
}

/// Back to the client with an error (RFC 6749 §4.1.2.1).
fn redirect_error(request: &AuthorizationRequest, issuer: &str, e: &OAuthError) -> Response {
    back_to_client(
        request,
        issuer,
        &[("error", e.code), ("error_description", &e.description)],
    )
}

/// The client's redirect URI with `pairs`, its `state` and our `iss`
/// (RFC 9207).
fn back_to_client(
    request: &AuthorizationRequest,
    issuer: &str,
    pairs: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = url::Url::parse(&request.redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "the redirect URI is not a URL").into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = request.state.as_deref().filter(|s| !s.is_empty()) {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    Redirect::to(url.as_str()).into_response()
}

/// The request's parameters, for the consent form's hidden fields and the
/// links that keep the request.
fn request_fields(request: &AuthorizationRequest) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("client_id", request.client_id.clone()),
        ("redirect_uri", request.redirect_uri.clone()),
        ("response_type", request.response_type.clone()),
        ("code_challenge", request.code_challenge.clone()),
        (
            "code_challenge_method",
            request.code_challenge_method.clone(),
        ),
    ];
    for (name, value) in [
        ("state", &request.state),
        ("scope", &request.scope),
        ("resource", &request.resource),
    ] {
        if let Some(value) = value {
            fields.push((name, value.clone()));
        }
    }
    fields
}

fn request_query(request: &AuthorizationRequest) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in request_fields(request) {
        query.append_pair(name, &value);
    }
    query.finish()
}

/// The consent page: the client, the user's connections, the tools.
async fn consent_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let chosen = query
        .iter()
        .find(|(k, _)| k == "connection")
        .map(|(_, v)| v.clone());
    let request = request_from(&query);
    consent(&state, &headers, &request, chosen.as_deref(), None).await
}

/// An authorization request from its parameters (query or form); what it
/// lacks is empty, and the checks name it.
fn request_from(pairs: &[(String, String)]) -> AuthorizationRequest {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    AuthorizationRequest {
        client_id: get("client_id").unwrap_or_default(),
        redirect_uri: get("redirect_uri").unwrap_or_default(),
        response_type: get("response_type").unwrap_or_default(),
        code_challenge: get("code_challenge").unwrap_or_default(),
        code_challenge_method: get("code_challenge_method").unwrap_or_default(),
        state: get("state"),
        scope: get("scope"),
        resource: get("resource"),
    }
}

async fn consent(
    state: &Shared,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    chosen: Option<&str>,
    error: Option<&str>,
) -> Response {
    let authorizer = &state.authorizer;
    let client = match authorizer
        .check_client(&request.client_id, &request.redirect_uri)
        .await
    {
        Ok(client) => client,
        Err(e) => return refused_page(state, &e),
    };
    let cap = match authorizer.check_request(request) {
        Ok(cap) => cap,
        Err(e) => return redirect_error(request, authorizer.issuer(), &e),
    };
    let here = format!("{AUTHORIZE_PATH}?{}", request_query(request));
    if let Err(to_login) = pages::session_for(state, headers, Some(&here)).await {
        return *to_login;
    }
    let connections = match state.manager.list_of(None).await {
        Ok(mut records) => {
            records.retain(|r| r.tenant_id.is_none() && r.status == ConnectionStatus::Connected);
            records
        }
        Err(e) => {
            return Page::ok("Store unavailable", views::error_box(&e.to_string()))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .render(state, None);
        }
    };
    let returns_to = url::Url::parse(&request.redirect_uri)
        .ok()
        .map(|u| match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => u.scheme().to_string(),
        })
        .unwrap_or_default();
    let (token, new) = security::csrf_token(headers);
    let fields = request_fields(request);
    let connect_link = format!("/oauth/authorize/connect?{}", request_query(request));
    let body = views::mcp_consent(
        &views::Consent {
            client_name: &client.name,
            returns_to: &returns_to,
            connections: &connections,
            chosen,
            read_only_only: cap == ToolSet::ReadOnly,
            request: &fields,
            connect_link: &connect_link,
            error,
        },
        &token,
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Page::ok("Authorize an MCP client", body)
        .with_status(status)
        .render(state, new)
}

/// The user's answer: a code for the connection and tools chosen, or a
/// refusal, sent back to the client.
async fn decide(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match pages::posted(&state, &headers, &body).await {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let request = request_from(&form);
    let authorizer = &state.authorizer;
    if let Err(e) = authorizer
        .check_client(&request.client_id, &request.redirect_uri)
        .await
    {
        return refused_page(&state, &e);
    }
    let cap = match authorizer.check_request(&request) {
        Ok(cap) => cap,
        Err(e) => return redirect_error(&request, authorizer.issuer(), &e),
    };
    if pages::first(&form, "decision") != Some("allow") {
        return redirect_error(
            &request,
            authorizer.issuer(),
            &OAuthError {
                code: "access_denied",
                description: "the user refused".into(),
            },
        );
    }
    let connection = pages::first(&form, "connection").unwrap_or_default();
    let tools = match (pages::first(&form, "tools"), &cap) {
        (Some("read-only"), _) | (_, ToolSet::ReadOnly) => ToolSet::ReadOnly,
        (Some("all"), _) => ToolSet::All,
        _ => {
            return consent(
                &state,
                &headers,
                &request,
                Some(connection),
                Some("Choose which tools the application may use."),
            )
            .await;
        }
    };
    let usable = matches!(
        state.manager.store().connection(connection).await,
        Ok(record) if record.tenant_id.is_none() && record.status == ConnectionStatus::Connected
    );
    if !usable {
        return consent(
            &state,
            &headers,
            &request,
            None,
            Some("Choose one of your connected accounts, or connect another."),
        )
        .await;
    }
    match authorizer
        .grant_code(&request, None, connection, &tools)
        .await
    {
        Ok(code) => back_to_client(&request, authorizer.issuer(), &[("code", &code)]),
        Err(e) => {
            tracing::error!(error = %e, "cannot keep an authorization code");
            Page::ok("Try again shortly", views::error_box(&e.to_string()))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .render(&state, None)
        }
    }
}

/// "Connect another account": the request is kept in a cookie while the
/// user fills the connection form and signs in; the sign-in's callback
/// comes back to the consent page with the new connection chosen.
async fn connect_another(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let request = request_from(&query);
    if let Err(e) = state
        .authorizer
        .check_client(&request.client_id, &request.redirect_uri)
        .await
    {
        return refused_page(&state, &e);
    }
    let resume = format!("{AUTHORIZE_PATH}?{}", request_query(&request));
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(resume);
    let secure = if state.config.public_origin.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let mut response = Redirect::to("/connections/new").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{RESUME_COOKIE}={value}; Path=/; Max-Age={RESUME_LIFETIME_SECS}; HttpOnly; SameSite=Lax{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// After a sign-in of the default tenant's connection `id`: back to the
/// authorization request the user left to connect it, if there is one.
pub(super) fn resume_after_connecting(headers: &HeaderMap, id: &str) -> Option<Response> {
    let value = security::cookie(headers, RESUME_COOKIE)?;
    let path = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())?;
    let rest = path.strip_prefix(AUTHORIZE_PATH)?.strip_prefix('?')?;
    let to = format!(
        "{AUTHORIZE_PATH}?{rest}&{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("connection", id)
            .finish()
    );
    let mut response = Redirect::to(&to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("hh_mcp_authorize=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
    Some(response)
}
