//! Sign in with X: a tenant's product lets its users log in with their X
//! account. Its backend asks for a sign-in session
//! (`POST /api/v1/sign-in-sessions`), sends the user to the link, and gets
//! them back at its return URL with a one-time `code`, which its backend
//! exchanges, with its key, for the verified identity
//! (`POST /api/v1/sign-in-sessions/exchange`): the account's id, username,
//! name, profile image, and confirmed email when the session asked for it
//! and the app has it.
//!
//! The sign-in asks only for the scopes the manifest's `identity.sign_in`
//! names. Its tokens are revoked and forgotten once the identity is read,
//! unless the session asked to keep the connection; its connection makes
//! no platform event. A tenant enables sign-in (for all its brands or some)
//! through the operator (`PATCH /api/v1/tenants/{id}` with `sign_in`).

use super::Shared;
use super::api::{self, invalid};
use super::connect::TenantSettings;
use super::pages::{self, Page};
use super::security::{self, CSRF_FIELD};
use super::tenancy::{Caller, Scope};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use credential_store::{ConnectSessionRecord, EndUser};
use host_auth::connections::ConnectRequest;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Where the links lead, under the server's origin.
pub(crate) const SIGN_IN_PATH: &str = "/sign-in";
/// A session's purpose, as the store keeps it.
pub(crate) const PURPOSE: &str = "identity";
/// How long a sign-in link is open by default, and the bounds asked.
const DEFAULT_LIFETIME_SECS: u64 = 10 * 60;
const MIN_LIFETIME_SECS: u64 = 60;
const MAX_LIFETIME_SECS: u64 = 3600;
/// How long the product's backend has to exchange the code.
const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Whether, and for which brands, a tenant's users may sign in with X.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInSettings {
    #[serde(default)]
    pub enabled: bool,
    /// The brands (apps) a sign-in may use; empty: the tenant's app and
    /// every brand's.
    #[serde(default)]
    pub brands: Vec<String>,
}

impl SignInSettings {
    fn allows(&self, brand: Option<&str>) -> bool {
        self.enabled
            && (self.brands.is_empty() || brand.is_some_and(|b| self.brands.iter().any(|x| x == b)))
    }
}

/// A sign-in session to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSignInSession {
    /// Where the user comes back with the code; one of the tenant's return
    /// URLs.
    return_url: String,
    /// Which of the tenant's apps (by brand) the sign-in uses.
    #[serde(default)]
    brand: Option<String>,
    /// Ask for the account's confirmed email too.
    #[serde(default)]
    email: bool,
    /// Keep the connection (and its tokens) for actions, rather than
    /// forget it once the identity is read.
    #[serde(default)]
    keep_connection: bool,
    #[serde(default)]
    expires_in_secs: Option<u64>,
}

/// Creates a sign-in session; answers with the link to send the user to.
#[utoipa::path(
    post,
    path = "/sign-in-sessions",
    tag = "end users",
    summary = "A single-use link for a user to sign in with their account (tenant key)",
    request_body = NewSignInSession,
    responses(
        (status = 201, description = "The session and its `sign_in_url`", body = crate::openapi::SignInSession),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn create_session(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewSignInSession>, JsonRejection>,
) -> Response {
    let tenant_id = match super::connect::session_tenant(&caller, "sign-in sessions") {
        Ok(tenant) => tenant,
        Err(refused) => return *refused,
    };
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return api::bad_json(rejection),
    };
    let Some(sign_in) = state
        .manager
        .manifest()
        .identity
        .as_ref()
        .and_then(|i| i.sign_in.clone())
    else {
        return api::error(
            StatusCode::NOT_IMPLEMENTED,
            json!({"error": "unsupported", "message": "this connector's manifest offers no sign-in (identity.sign_in)"}),
        );
    };
    let lifetime = match super::connect::lifetime_of(
        new.expires_in_secs,
        DEFAULT_LIFETIME_SECS,
        MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS,
    ) {
        Ok(lifetime) => lifetime,
        Err(refused) => return *refused,
    };
    let store = state.manager.store();
    let tenant = match store.tenant(&tenant_id).await {
        Ok(tenant) => tenant,
        Err(e) => return api::store_error(e),
    };
    let settings = TenantSettings::of(&tenant);
    if !settings.sign_in.allows(new.brand.as_deref()) {
        return api::error(
            StatusCode::FORBIDDEN,
            json!({"error": "forbidden", "reason": "sign-in-disabled",
                   "message": "sign-in with this app is not enabled for the tenant (the operator enables it: PATCH /api/v1/tenants/{id} with `sign_in`)"}),
        );
    }
    let return_url = match url::Url::parse(new.return_url.trim()) {
        Ok(url) if settings.allows(&url) => url.to_string(),
        Ok(_) => {
            return invalid(
                "return_url",
                "is not one of the tenant's return URLs (the operator sets them: PATCH /api/v1/tenants/{id} with `return_urls`)",
            );
        }
        Err(e) => return invalid("return_url", format!("is not a URL: {e}")),
    };
    let mut scopes = sign_in.scopes.clone();
    if new.email {
        scopes.extend(sign_in.email_scope.clone());
    }
    if new.keep_connection {
        scopes.extend(sign_in.keep_scope.clone());
    }
    let mut details = Map::new();
    details.insert("return_url".into(), json!(return_url));
    details.insert("brand".into(), json!(new.brand));
    details.insert("email".into(), json!(new.email));
    details.insert("keep_connection".into(), json!(new.keep_connection));
    details.insert("scopes".into(), json!(scopes));
    match store
        .create_connect_session(&tenant_id, PURPOSE, &details, lifetime)
        .await
    {
        Ok((session, token)) => (
            StatusCode::CREATED,
            Json(json!({
                "id": session.id,
                "sign_in_url": format!(
                    "{}{SIGN_IN_PATH}/{}",
                    state.config.public_origin.trim_end_matches('/'),
                    token.expose_secret()
                ),
                "expires_at": session.expires_at,
                "scopes": scopes,
            })),
        )
            .into_response(),
        Err(e) => api::store_error(e),
    }
}

/// A code to exchange.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Exchange {
    code: String,
}

/// Exchanges a sign-in's one-time code for the identity it verified: once,
/// by the tenant whose session it was.
#[utoipa::path(
    post,
    path = "/sign-in-sessions/exchange",
    tag = "end users",
    summary = "Exchanges a sign-in's one-time code for the identity, once (tenant key)",
    request_body = Exchange,
    responses(
        (status = 200, description = "The verified identity", body = crate::openapi::Identity),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn exchange(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Exchange>, JsonRejection>,
) -> Response {
    if let Some(refused) = api::refusal(&caller, Scope::Read) {
        return refused;
    }
    let Json(exchange) = match body {
        Ok(body) => body,
        Err(rejection) => return api::bad_json(rejection),
    };
    let not_found = || {
        api::error(
            StatusCode::NOT_FOUND,
            json!({"error": "not-found", "message": "no such code: it was exchanged already, it expired, or it is not this tenant's"}),
        )
    };
    let Some(Some(tenant_id)) = caller.tenant().cloned() else {
        return not_found();
    };
    match state
        .manager
        .store()
        .take_identity_code(&tenant_id, exchange.code.trim())
        .await
    {
        Ok(Some(identity)) => match serde_json::from_str::<Value>(identity.expose_secret()) {
            Ok(identity) => Json(identity).into_response(),
            Err(_) => not_found(),
        },
        Ok(None) => not_found(),
        Err(e) => api::store_error(e),
    }
}

fn refused_link(state: &Shared, status: StatusCode, title: &str, message: &str) -> Response {
    super::connect::end_user_page(state, status, title, message)
}

/// The open sign-in session a link's token names, or the page that says
/// why not.
async fn open_session(state: &Shared, token: &str) -> Result<ConnectSessionRecord, Box<Response>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match state.manager.store().connect_session(token).await {
        Ok(Some(session)) if session.purpose == PURPOSE && session.is_open(now) => Ok(session),
        Ok(Some(session)) if session.purpose == PURPOSE => Err(Box::new(refused_link(
            state,
            StatusCode::GONE,
            "Link no longer valid",
            "This sign-in link was used already or has expired. Go back and sign in again.",
        ))),
        Ok(_) => Err(Box::new(refused_link(
            state,
            StatusCode::NOT_FOUND,
            "Link not valid",
            "This sign-in link is not valid. Go back and sign in again.",
        ))),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a sign-in session");
            Err(Box::new(refused_link(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again later",
                "The server cannot check this link right now. Try again in a moment.",
            )))
        }
    }
}

/// The page a sign-in link opens: one button, so that a link preview or a
/// prefetch does not use the link.
pub(super) async fn sign_in_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if let Err(page) = open_session(&state, &token).await {
        return *page;
    }
    let (csrf, new) = security::csrf_token(&headers);
    let name = &state.manager.manifest().display_name;
    let body = maud::html! {
        form method="post" action={(SIGN_IN_PATH) "/" (token)} {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            button type="submit" { "Sign in with " (name) }
        }
    };
    Page::ok(format!("Sign in with {name}"), body)
        .for_end_user()
        .render(&state, new)
}

/// The button, pressed: makes the sign-in's connection, uses the link, and
/// sends the browser to the provider.
pub(super) async fn sign_in_submit(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let form = pages::form_pairs(&body);
    if !security::csrf_ok(&headers, pages::first(&form, CSRF_FIELD)) {
        return refused_link(
            &state,
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form was not sent from this server's page, or the page is too old. Go back and sign in again.",
        );
    }
    let session = match open_session(&state, &token).await {
        Ok(session) => session,
        Err(page) => return *page,
    };
    let Some(sign_in) = state
        .manager
        .manifest()
        .identity
        .as_ref()
        .and_then(|i| i.sign_in.clone())
    else {
        return refused_link(
            &state,
            StatusCode::NOT_IMPLEMENTED,
            "Cannot sign in",
            "This server offers no sign-in.",
        );
    };
    // The method's scopes field (the manifest was checked to have one).
    let scopes_field = state
        .manager
        .manifest()
        .auth_method(&sign_in.method)
        .and_then(|m| {
            m.fields
                .iter()
                .find(|f| f.kind == host_core::manifest::FieldKind::Scopes)
        })
        .map(|f| f.name.clone())
        .unwrap_or_else(|| "scopes".into());
    let scopes: Vec<String> = session
        .details
        .get("scopes")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let request = ConnectRequest {
        method: sign_in.method.clone(),
        name: Some(format!(
            "Sign in with {}",
            state.manager.manifest().display_name
        )),
        brand: session
            .details
            .get("brand")
            .and_then(Value::as_str)
            .map(str::to_string),
        fields: [(scopes_field, scopes.join(" "))].into(),
        tenant: Some(session.tenant_id.clone()),
        end_user: None::<EndUser>,
        quiet: !keeps(&session),
    };
    let record = match state.manager.create(&request).await {
        Ok(record) => record,
        Err(e) => {
            return refused_link(
                &state,
                StatusCode::BAD_REQUEST,
                "Cannot sign in",
                &e.to_string(),
            );
        }
    };
    match state
        .manager
        .store()
        .use_connect_session(&token, Some(&record.id))
        .await
    {
        Ok(true) => {}
        _ => {
            let _ = state.manager.delete(&record.id).await;
            return match open_session(&state, &token).await {
                Err(page) => *page,
                Ok(_) => refused_link(
                    &state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again later",
                    "The server cannot use this link right now.",
                ),
            };
        }
    }
    match state.begin_sign_in(&record.id).await {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) | Err(_) => {
            let _ = state.manager.delete(&record.id).await;
            refused_link(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot sign in",
                "The sign-in could not start. Go back and try again.",
            )
        }
    }
}

fn keeps(session: &ConnectSessionRecord) -> bool {
    session
        .details
        .get("keep_connection")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The identity a signed-in connection verified, read from the identity
/// action as the manifest's `identity.sign_in.profile` names it.
async fn identity_of(
    state: &Shared,
    connection_id: &str,
    email: bool,
) -> Result<Map<String, Value>, String> {
    let manifest = state.manager.manifest();
    let identity = manifest
        .identity
        .as_ref()
        .ok_or("the manifest names no identity action")?;
    let profile = identity
        .sign_in
        .as_ref()
        .map(|s| s.profile.clone())
        .unwrap_or_default();
    let connection = state
        .manager
        .connection(connection_id)
        .await
        .map_err(|e| e.to_string())?;
    let output = state
        .manager
        .connector()
        .invoke(&connection, &identity.action, "{}")
        .await
        .map_err(|e| e.to_string())?;
    let mut found = Map::new();
    for (name, pointer) in &profile {
        if name == "confirmed_email" && !email {
            continue;
        }
        if let Some(value) = output.pointer(pointer) {
            found.insert(name.clone(), value.clone());
        }
    }
    Ok(found)
}

/// Where a sign-in's user goes once the provider sent them back: to the
/// tenant's return URL with a one-time code for the identity (or how it
/// failed). Unless the session keeps it, the connection is revoked and
/// deleted here.
pub(crate) async fn finished(
    state: &Shared,
    session: &ConnectSessionRecord,
    connection_id: &str,
    outcome: Result<(), String>,
) -> Response {
    let email = session
        .details
        .get("email")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let keep = keeps(session);
    let identity = match outcome {
        Ok(()) => identity_of(state, connection_id, email).await,
        Err(e) => Err(e),
    };
    let code = match identity {
        Ok(mut identity) => {
            if keep {
                identity.insert("connection_id".into(), json!(connection_id));
            }
            let text = SecretString::from(Value::Object(identity).to_string());
            state
                .manager
                .store()
                .create_identity_code(&session.tenant_id, &text, CODE_LIFETIME)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e),
    };
    if !keep || code.is_err() {
        // Nothing of the account is kept but the identity, for its code.
        if let Err(e) = state.manager.revoke(connection_id).await {
            tracing::warn!(connection = %connection_id, error = %e, "cannot revoke a sign-in's tokens at the API; they are forgotten here");
        }
        let _ = state.manager.delete(connection_id).await;
    }
    let Some(Ok(mut url)) = session
        .details
        .get("return_url")
        .and_then(Value::as_str)
        .map(url::Url::parse)
    else {
        return refused_link(
            state,
            StatusCode::BAD_REQUEST,
            "Cannot sign in",
            "This sign-in has nowhere to return to.",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("sign_in_session", &session.id);
        match &code {
            Ok(code) => {
                query.append_pair("status", "signed_in");
                query.append_pair("code", code.expose_secret());
            }
            Err(e) => {
                tracing::info!(session = %session.id, error = %e, "a sign-in failed");
                query.append_pair("status", "failed");
            }
        }
    }
    Redirect::to(url.as_str()).into_response()
}
