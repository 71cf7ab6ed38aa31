//! Connect sessions: a tenant's backend asks for a short-lived, single-use
//! link for one of its end users (`POST /api/v1/connect-sessions`); the end
//! user opens it, sees only the connection form of that tenant's app (no
//! other connection, no API key), signs in, and is sent back to the
//! tenant's product with the new connection's id. The connection carries
//! the end user, their organisation and tags, so the tenant finds it again
//! by them.
//!
//! A link is used once: the first form sent with it that makes a
//! connection uses it, on whichever server sharing the store receives it.

use super::Shared;
use super::api::{self, invalid};
use super::pages::{self, Page};
use super::security::{self, CSRF_FIELD};
use super::tenancy::{Caller, Scope};
use super::views::{self, FormState, FormTarget};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use credential_store::{AppCredentialLevel, ConnectSessionRecord, EndUser, TenantRecord};
use host_auth::connections::ConnectRequest;
use host_core::manifest::AuthMethod;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// Where the links lead, under the server's origin.
pub(crate) const CONNECT_PATH: &str = "/connect";
/// A session's purpose, as the store keeps it.
const PURPOSE: &str = "connect";
/// How long a link stays open when the tenant does not say, and the bounds
/// it may ask for: long enough to reach a person, short enough that a
/// leaked link is soon worthless.
const DEFAULT_LIFETIME_SECS: u64 = 30 * 60;
const MIN_LIFETIME_SECS: u64 = 60;
const MAX_LIFETIME_SECS: u64 = 24 * 3600;
/// Tags a connection may carry, and how long a tag's name may be.
const MAX_TAGS: usize = 20;
const MAX_TAG_NAME: usize = 64;

/// What the operator set for a tenant, kept in the tenant's record.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TenantSettings {
    /// Where connect sessions may send an end user back to. A session's
    /// return URL must match one in scheme, host, port and path; its query
    /// is the tenant's.
    #[serde(default)]
    pub return_urls: Vec<String>,
    /// Whether the tenant's users may sign in with their account.
    #[serde(default)]
    pub sign_in: super::sign_in::SignInSettings,
}

impl TenantSettings {
    pub fn of(tenant: &TenantRecord) -> TenantSettings {
        serde_json::from_value(Value::Object(tenant.settings.clone())).unwrap_or_default()
    }

    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// Whether `url` is one of the allowed return URLs, its query aside.
    pub(crate) fn allows(&self, url: &url::Url) -> bool {
        self.return_urls.iter().any(|allowed| {
            url::Url::parse(allowed).is_ok_and(|a| {
                a.scheme() == url.scheme()
                    && a.host_str() == url.host_str()
                    && a.port_or_known_default() == url.port_or_known_default()
                    && a.path() == url.path()
            })
        })
    }
}

/// Checks a return URL the operator allows: an absolute `https` URL (or
/// `http` to loopback, for a desktop app or a demo), without credentials or
/// fragment, that the server's target guard lets through. Returns it as the
/// server will compare it.
pub(crate) fn check_return_url(
    targets: &host_core::target_guard::TargetGuard,
    raw: &str,
) -> Result<String, String> {
    let url = targets.check_url(raw).map_err(|e| e.to_string())?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if url.scheme() != "https" && !loopback {
        return Err("must be an https:// URL (http:// only to loopback)".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment (`#…`)".into());
    }
    Ok(url.to_string())
}

/// A connect session to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewConnectSession {
    /// The tenant's id for its end user.
    end_user: String,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// The auth methods the end user may choose from; all when left out.
    #[serde(default)]
    allowed_methods: Option<Vec<String>>,
    /// Where the end user is sent when done; one of the tenant's return URLs.
    #[serde(default)]
    return_url: Option<String>,
    /// Which of the tenant's apps (by brand) the connection uses.
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    expires_in_secs: Option<u64>,
}

fn label(field: &str, value: &str) -> Result<(), Box<Response>> {
    if value.trim().is_empty() {
        return Err(Box::new(invalid(field, "must not be empty")));
    }
    host_core::labels::check_label(value)
        .map_err(|reason| Box::new(invalid(field, format!("`{field}` {reason}"))))
}

/// The session's details as the store keeps them, checked.
fn details_of(
    state: &Shared,
    tenant: &TenantRecord,
    new: &NewConnectSession,
) -> Result<Map<String, Value>, Box<Response>> {
    label("end_user", &new.end_user)?;
    if let Some(organization) = &new.organization {
        label("organization", organization)?;
    }
    if new.tags.len() > MAX_TAGS {
        return Err(Box::new(invalid(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        )));
    }
    for (name, value) in &new.tags {
        let field = format!("tags.{name}");
        let well_named = !name.is_empty()
            && name.len() <= MAX_TAG_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !well_named {
            return Err(Box::new(invalid(
                &field,
                format!("a tag's name is 1 to {MAX_TAG_NAME} letters, digits, `_`, `-` or `.`"),
            )));
        }
        label(&field, value)?;
    }
    let manifest = state.manager.manifest();
    let methods: Vec<String> = match &new.allowed_methods {
        Some(list) if list.is_empty() => {
            return Err(Box::new(invalid(
                "allowed_methods",
                "must name at least one method, or be left out for all",
            )));
        }
        Some(list) => list.clone(),
        None => manifest.auth_methods.iter().map(|m| m.id.clone()).collect(),
    };
    for (i, method) in methods.iter().enumerate() {
        if manifest.auth_method(method).is_none() {
            let offered: Vec<&str> = manifest
                .auth_methods
                .iter()
                .map(|m| m.id.as_str())
                .collect();
            return Err(Box::new(invalid(
                &format!("allowed_methods[{i}]"),
                format!(
                    "the connector has no auth method `{method}`; it offers {}",
                    offered.join(", ")
                ),
            )));
        }
    }
    if let Some(brand) = &new.brand {
        label("brand", brand)?;
    }
    let return_url = match &new.return_url {
        None => None,
        Some(raw) => {
            let url = url::Url::parse(raw.trim())
                .map_err(|e| Box::new(invalid("return_url", format!("is not a URL: {e}"))))?;
            if !TenantSettings::of(tenant).allows(&url) {
                return Err(Box::new(invalid(
                    "return_url",
                    "is not one of the tenant's return URLs (the operator sets them: PATCH /api/v1/tenants/{id} with `return_urls`)",
                )));
            }
            Some(url.to_string())
        }
    };
    let mut details = Map::new();
    details.insert("end_user".into(), json!(new.end_user));
    details.insert("organization".into(), json!(new.organization));
    details.insert("tags".into(), json!(new.tags));
    details.insert("allowed_methods".into(), json!(methods));
    details.insert("return_url".into(), json!(return_url));
    details.insert("brand".into(), json!(new.brand));
    Ok(details)
}

/// Creates a connect session for one of the tenant's end users; answers
/// with the link to hand them.
#[utoipa::path(
    post,
    path = "/connect-sessions",
    tag = "end users",
    summary = "A single-use link for an end user to connect an account (tenant key)",
    request_body = NewConnectSession,
    responses(
        (status = 201, description = "The session and its `connect_url`", body = crate::openapi::ConnectSession),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn create_session(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewConnectSession>, JsonRejection>,
) -> Response {
    let tenant_id = match session_tenant(&caller, "connect sessions") {
        Ok(tenant) => tenant,
        Err(refused) => return *refused,
    };
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return api::bad_json(rejection),
    };
    let lifetime = match lifetime_of(
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
    let details = match details_of(&state, &tenant, &new) {
        Ok(details) => details,
        Err(refused) => return *refused,
    };
    match store
        .create_connect_session(&tenant_id, PURPOSE, &details, lifetime)
        .await
    {
        Ok((session, token)) => {
            let mut answer = session_json(&session);
            answer["connect_url"] = json!(format!(
                "{}{CONNECT_PATH}/{}",
                state.config.public_origin.trim_end_matches('/'),
                token.expose_secret()
            ));
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(e) => api::store_error(e),
    }
}

/// The tenant a session is made for: the caller's, whose key may manage
/// connections. The default tenant has none (it connects through the
/// pages).
pub(crate) fn session_tenant(caller: &Caller, what: &str) -> Result<String, Box<Response>> {
    if let Some(refused) = api::refusal(caller, Scope::Connections) {
        return Err(Box::new(refused));
    }
    match caller.tenant() {
        Some(Some(tenant)) => Ok(tenant.clone()),
        _ => Err(Box::new(api::error(
            StatusCode::FORBIDDEN,
            json!({"error": "forbidden", "reason": "no-tenant",
                   "message": format!("{what} are a tenant's: use a tenant's API key (the default tenant connects through the pages)")}),
        ))),
    }
}

/// How long a session stays open: `given` seconds, or `default`, within
/// `bounds`.
pub(crate) fn lifetime_of(
    given: Option<u64>,
    default: u64,
    bounds: std::ops::RangeInclusive<u64>,
) -> Result<Duration, Box<Response>> {
    let secs = given.unwrap_or(default);
    if bounds.contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(Box::new(invalid(
            "expires_in_secs",
            format!("must be {} to {} seconds", bounds.start(), bounds.end()),
        )))
    }
}

/// A page that ends an end user's visit (a link not valid, used or
/// expired, a step that failed), with nothing of the operator's on it.
pub(crate) fn end_user_page(
    state: &Shared,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    Page::ok(title, views::error_box(message))
        .for_end_user()
        .with_status(status)
        .render(state, None)
}

/// What may be shown of a session: never its token.
fn session_json(session: &ConnectSessionRecord) -> Value {
    let mut shown = json!({
        "id": session.id,
        "expires_at": session.expires_at,
        "used_at": session.used_at,
        "connection": session.connection_id,
    });
    for (name, value) in &session.details {
        shown[name] = value.clone();
    }
    shown
}

/// The session's end user, as its connection will carry them.
fn end_user_of(session: &ConnectSessionRecord) -> EndUser {
    let text = |name: &str| {
        session
            .details
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    EndUser {
        id: text("end_user").unwrap_or_default(),
        organization: text("organization"),
        tags: session
            .details
            .get("tags")
            .and_then(Value::as_object)
            .map(|tags| {
                tags.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn detail<'a>(session: &'a ConnectSessionRecord, name: &str) -> Option<&'a str> {
    session.details.get(name).and_then(Value::as_str)
}

/// The methods the session offers, as the manifest declares them.
fn offered<'a>(state: &'a Shared, session: &ConnectSessionRecord) -> Vec<&'a AuthMethod> {
    let allowed: Vec<&str> = session
        .details
        .get("allowed_methods")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    state
        .manager
        .manifest()
        .auth_methods
        .iter()
        .filter(|m| allowed.contains(&m.id.as_str()))
        .collect()
}

/// A page that ends the end user's visit: the link is not valid, used, or
/// expired.
fn refused_link(state: &Shared, status: StatusCode, title: &str, message: &str) -> Response {
    end_user_page(state, status, title, message)
}

/// The open session a link's token names, or the page that says why not.
async fn open_session(state: &Shared, token: &str) -> Result<ConnectSessionRecord, Box<Response>> {
    let found = match state.manager.store().connect_session(token).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "cannot read a connect session");
            return Err(Box::new(refused_link(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again later",
                "The server cannot check this link right now. Try again in a moment.",
            )));
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match found {
        Some(session) if session.purpose == PURPOSE && session.is_open(now) => Ok(session),
        Some(session) if session.purpose == PURPOSE && session.used_at.is_some() => {
            Err(Box::new(refused_link(
                state,
                StatusCode::GONE,
                "Link already used",
                "This link has already been used to connect an account, and works only once. Go back to the product that sent you here and ask for a new one.",
            )))
        }
        Some(session) if session.purpose == PURPOSE => Err(Box::new(refused_link(
            state,
            StatusCode::GONE,
            "Link expired",
            "This link has expired. Go back to the product that sent you here and ask for a new one.",
        ))),
        _ => Err(Box::new(refused_link(
            state,
            StatusCode::NOT_FOUND,
            "Link not valid",
            "This link is not valid. Check that it was copied whole, or ask the product that sent you here for a new one.",
        ))),
    }
}

/// Fields the tenant's app credentials fill for `method`: not the end
/// user's to see or to set.
async fn app_fields(
    state: &Shared,
    session: &ConnectSessionRecord,
    method: &str,
) -> BTreeSet<String> {
    let manifest = state.manager.manifest();
    let mut fields = BTreeSet::new();
    for level in AppCredentialLevel::layers_for(Some(&session.tenant_id), detail(session, "brand"))
    {
        if let Ok(set) = state
            .manager
            .store()
            .app_credentials(&manifest.id, method, &level)
            .await
        {
            fields.extend(set.into_keys());
        }
    }
    fields
}

async fn form_page(
    state: &Shared,
    session: &ConnectSessionRecord,
    token: &str,
    method_id: Option<&str>,
    csrf: &str,
    values: &BTreeMap<String, Vec<String>>,
    error: Option<&str>,
) -> Page {
    let methods = offered(state, session);
    let Some(method) = method_id
        .and_then(|id| methods.iter().find(|m| m.id == id))
        .or(methods.first())
        .copied()
    else {
        return Page::ok(
            "Cannot connect",
            views::error_box("This link offers no way to connect. Ask for a new one."),
        )
        .for_end_user()
        .with_status(StatusCode::BAD_REQUEST);
    };
    let defaults = app_fields(state, session, &method.id).await;
    let action = format!("{CONNECT_PATH}/{token}");
    let switch = format!("{CONNECT_PATH}/{token}?method=");
    let manifest = state.manager.manifest();
    let body = views::connection_form(
        manifest,
        method,
        &FormTarget {
            action: &action,
            methods,
            switch_link: &switch,
            callback_url: None,
            hide_app_fields: true,
        },
        csrf,
        &FormState {
            values,
            app_defaults: &defaults,
            error,
        },
    );
    Page::ok(
        format!("Connect your {} account", manifest.display_name),
        body,
    )
    .for_end_user()
}

/// The page a connect link opens: the tenant's connection form.
pub(super) async fn connect_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match open_session(&state, &token).await {
        Ok(session) => session,
        Err(page) => return *page,
    };
    let (csrf, new) = security::csrf_token(&headers);
    form_page(
        &state,
        &session,
        &token,
        query.get("method").map(String::as_str),
        &csrf,
        &BTreeMap::new(),
        None,
    )
    .await
    .render(&state, new)
}

/// The connect form, sent: makes the end user's connection, uses the link,
/// and starts the sign-in.
pub(super) async fn connect_submit(
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
            "This form was not sent from this server's page, or the page is too old. Go back, reload the page and send it again.",
        );
    }
    let session = match open_session(&state, &token).await {
        Ok(session) => session,
        Err(page) => return *page,
    };
    let method_id = pages::first(&form, "method")
        .unwrap_or_default()
        .to_string();
    let hidden = app_fields(&state, &session, &method_id).await;
    let method = offered(&state, &session)
        .into_iter()
        .find(|m| m.id == method_id)
        .cloned();
    // What the end user typed; the tenant's app and the manifest fix the rest.
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &form {
        let theirs = name == "connection_name"
            || method.as_ref().is_some_and(|m| {
                m.fields
                    .iter()
                    .any(|f| &f.name == name && f.fixed.is_none() && !hidden.contains(name))
            });
        if theirs {
            values.entry(name.clone()).or_default().push(value.clone());
        }
    }
    let retry = |message: String, values: BTreeMap<String, Vec<String>>| {
        let (state, session, token, method_id, headers) =
            (&state, &session, &token, &method_id, &headers);
        async move {
            let (csrf, new) = security::csrf_token(headers);
            form_page(
                state,
                session,
                token,
                Some(method_id),
                &csrf,
                &values,
                Some(&message),
            )
            .await
            .with_status(StatusCode::BAD_REQUEST)
            .render(state, new)
        }
    };
    let Some(method) = method else {
        return retry(
            format!("This link does not offer the auth method `{method_id}`."),
            BTreeMap::new(),
        )
        .await;
    };
    let request = ConnectRequest {
        method: method.id.clone(),
        name: values
            .get("connection_name")
            .and_then(|v| v.first().cloned()),
        brand: detail(&session, "brand").map(str::to_string),
        fields: values
            .iter()
            .filter(|(name, _)| *name != "connection_name")
            .map(|(name, given)| (name.clone(), given.join(" ")))
            .collect(),
        tenant: Some(session.tenant_id.clone()),
        end_user: Some(end_user_of(&session)),
        quiet: false,
    };
    let record = match state.manager.create(&request).await {
        Ok(record) => record,
        Err(e) => {
            // Typed values come back, secrets never do.
            let shown = values
                .into_iter()
                .filter(|(name, _)| !method.fields.iter().any(|f| &f.name == name && f.secret))
                .collect();
            return retry(e.to_string(), shown).await;
        }
    };
    match state
        .manager
        .store()
        .use_connect_session(&token, Some(&record.id))
        .await
    {
        Ok(true) => {}
        outcome => {
            // Another browser used the link first, or it expired meanwhile.
            let _ = state.manager.delete(&record.id).await;
            if let Err(e) = outcome {
                tracing::error!(error = %e, "cannot use a connect session");
            }
            return match open_session(&state, &token).await {
                Err(page) => *page,
                Ok(_) => refused_link(
                    &state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again later",
                    "The server cannot use this link right now. Try again in a moment.",
                ),
            };
        }
    }
    let session = ConnectSessionRecord {
        connection_id: Some(record.id.clone()),
        ..session
    };
    match state.begin_sign_in(&record.id).await {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) => {
            let outcome = state.manager.activate(&record.id).await.map(|_| ());
            finished(
                &state,
                &session,
                &record.id,
                outcome.map_err(|e| e.to_string()),
            )
        }
        Err(e) => finished(&state, &session, &record.id, Err(e.to_string())),
    }
}

/// Where a connect session's end user goes once the sign-in has ended:
/// back to the tenant's return URL with the connection's id and how it
/// went, or a page that says it, when the session named no return URL.
pub(crate) fn finished(
    state: &Shared,
    session: &ConnectSessionRecord,
    connection_id: &str,
    outcome: Result<(), String>,
) -> Response {
    if let Some(Ok(mut url)) = detail(session, "return_url").map(url::Url::parse) {
        url.query_pairs_mut()
            .append_pair("connection_id", connection_id)
            .append_pair("connect_session", &session.id)
            .append_pair(
                "status",
                if outcome.is_ok() {
                    "connected"
                } else {
                    "failed"
                },
            );
        return Redirect::to(url.as_str()).into_response();
    }
    match outcome {
        Ok(()) => Page::ok(
            "Connected",
            maud::html! { p #connected { "Connected. You can close this window." } },
        )
        .for_end_user()
        .render(state, None),
        Err(message) => Page::ok("Sign-in failed", views::error_box(&message))
            .for_end_user()
            .with_status(StatusCode::BAD_REQUEST)
            .render(state, None),
    }
}
