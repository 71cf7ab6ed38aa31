//! The pages' handlers: the connection form, the sign-in callback, the
//! connections and the action runner.

use super::Shared;
use super::schema_form;
use super::security::{self, CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE};
use super::views::{self, FormState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use credential_store::{AppCredentialLevel, ConnectionStatus, StoreError};
use host_auth::connections::{ConnectError, ConnectRequest, TestReport};
use maud::Markup;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A page, with the CSRF cookie when the browser has none yet.
pub(crate) struct Page {
    status: StatusCode,
    title: String,
    body: Markup,
    /// Shown to a tenant's end user: none of the operator's links or notice.
    end_user: bool,
}

impl Page {
    pub(crate) fn ok(title: impl Into<String>, body: Markup) -> Page {
        Page {
            status: StatusCode::OK,
            title: title.into(),
            body,
            end_user: false,
        }
    }

    /// The page as a tenant's end user sees it: nothing of the operator's.
    pub(crate) fn for_end_user(mut self) -> Page {
        self.end_user = true;
        self
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Page {
        self.status = status;
        self
    }

    pub(crate) fn render(self, state: &Shared, new_csrf: Option<String>) -> Response {
        let notice = state.config.notice.as_deref().filter(|_| !self.end_user);
        let html = views::page(&self.title, notice, !self.end_user, self.body);
        let html = host_core::labels::printable_html(html.into_string());
        let mut response = (self.status, Html(html)).into_response();
        if let Some(token) = new_csrf {
            response.headers_mut().append(
                header::SET_COOKIE,
                security::set_cookie(CSRF_COOKIE, &token, secure(state)),
            );
        }
        response
    }
}

fn secure(state: &Shared) -> bool {
    state.config.public_origin.starts_with("https://")
}

/// With an API key, pages need a session opened with it.
async fn signed_in(state: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    session_for(state, headers, None).await
}

/// The same, sending a browser without a session to sign in and then on
/// to `back_to` (a path on this server).
pub(crate) async fn session_for(
    state: &Shared,
    headers: &HeaderMap,
    back_to: Option<&str>,
) -> Result<(), Box<Response>> {
    // Open only on a server with no key at all (a loopback demo); a
    // session opens with the default tenant's key alone.
    if state.config.api_key.is_none() && state.config.admin_key.is_none() {
        return Ok(());
    }
    let open = match security::cookie(headers, SESSION_COOKIE) {
        Some(token) => match state.manager.store().session_is_open(token).await {
            Ok(open) => open,
            Err(e) => {
                tracing::error!(error = %e, "cannot check a page session");
                return Err(Box::new(
                    Page::ok("Store unavailable", views::error_box(&e.to_string()))
                        .with_status(StatusCode::SERVICE_UNAVAILABLE)
                        .render(state, None),
                ));
            }
        },
        None => false,
    };
    if open {
        Ok(())
    } else {
        let login = match back_to {
            Some(path) => format!(
                "/login?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", path)
                    .finish()
            ),
            None => "/login".to_string(),
        };
        Err(Box::new(Redirect::to(&login).into_response()))
    }
}

/// `path` if it is a path on this server (never another site's URL), for
/// where a sign-in goes on to.
fn local_path(path: &str) -> Option<&str> {
    (path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')).then_some(path)
}

/// A posted form's fields, in order, repeated names kept.
pub(crate) fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn first<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Checks the session and the CSRF token of a posted form.
pub(crate) async fn posted(
    state: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Vec<(String, String)>, Box<Response>> {
    signed_in(state, headers).await?;
    let form = form_pairs(body);
    if !security::csrf_ok(headers, first(&form, CSRF_FIELD)) {
        return Err(Box::new(Page::ok(
            "Form expired",
            views::error_box(
                "This form was not sent from this server's page, or the page is too old. Go back, reload the page and send it again.",
            ),
        )
        .with_status(StatusCode::FORBIDDEN)
        .render(state, None)));
    }
    Ok(form)
}

fn not_found(state: &Shared, id: &str) -> Response {
    not_found_page(id).render(state, None)
}

fn not_found_page(id: &str) -> Page {
    Page::ok(
        "No such connection",
        views::error_box(&format!("There is no connection `{id}`.")),
    )
    .with_status(StatusCode::NOT_FOUND)
}

/// A page saying what failed on connection `id`: not found, or why.
fn failed(state: &Shared, id: &str, what: &str, e: ConnectError, status: StatusCode) -> Response {
    if let ConnectError::Store(StoreError::NoSuchConnection(_)) = e {
        return not_found(state, id);
    }
    if let ConnectError::Store(store) = &e
        && store.is_unavailable()
    {
        let mut page = Page::ok(
            "Try again shortly",
            views::error_box(
                "The server cannot reach its store right now. Try again in a few seconds.",
            ),
        )
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .render(state, None);
        page.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(super::api::RETRY_AFTER_SECS),
        );
        return page;
    }
    Page::ok(format!("{what} failed"), views::error_box(&e.to_string()))
        .with_status(status)
        .render(state, None)
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        views::CSS,
    )
        .into_response()
}

pub async fn home() -> Redirect {
    Redirect::to("/connections")
}

pub async fn login_form(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let next = query.get("next").and_then(|n| local_path(n));
    Page::ok("Sign in", views::login(false, next)).render(&state, None)
}

pub async fn login(State(state): State<Shared>, body: Bytes) -> Response {
    let form = form_pairs(&body);
    let given = first(&form, "api_key").unwrap_or_default();
    let ok = state
        .config
        .api_key
        .as_ref()
        .is_some_and(|key| security::same(given, secrecy::ExposeSecret::expose_secret(key)));
    let next = first(&form, "next").and_then(local_path);
    if !ok {
        return Page::ok("Sign in", views::login(true, next))
            .with_status(StatusCode::UNAUTHORIZED)
            .render(&state, None);
    }
    let session = match state
        .manager
        .store()
        .open_session(security::SESSION_LIFETIME)
        .await
    {
        Ok(token) => token,
        Err(e) => {
            return Page::ok("Sign in failed", views::error_box(&e.to_string()))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .render(&state, None);
        }
    };
    let mut response = Redirect::to(next.unwrap_or("/connections")).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        security::set_cookie(SESSION_COOKIE, &session, secure(&state)),
    );
    response
}

pub async fn connections(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = signed_in(&state, &headers).await {
        return *r;
    }
    let (token, new) = security::csrf_token(&headers);
    let manifest = state.manager.manifest();
    let page = match state.manager.list_of(None).await {
        Ok(mut records) => {
            records.retain(|r| r.tenant_id.is_none());
            Page::ok(
                "Connections",
                views::connections(manifest, &records, &token),
            )
        }
        Err(e) => Page::ok("Connections", views::error_box(&e.to_string()))
            .with_status(StatusCode::INTERNAL_SERVER_ERROR),
    };
    page.render(&state, new)
}

/// Fields of `method` that app credentials fill when left blank.
async fn app_defaults(state: &Shared, method: &str) -> BTreeSet<String> {
    let manifest = state.manager.manifest();
    state
        .manager
        .store()
        .app_credentials(&manifest.id, method, &AppCredentialLevel::Default)
        .await
        .map(|fields| fields.into_keys().collect())
        .unwrap_or_default()
}

async fn form_page(
    state: &Shared,
    method_id: Option<&str>,
    token: &str,
    values: &BTreeMap<String, Vec<String>>,
    error: Option<&str>,
) -> Page {
    let manifest = state.manager.manifest();
    let unknown = method_id
        .filter(|id| manifest.auth_method(id).is_none())
        .map(|id| {
            let offered: Vec<&str> = manifest
                .auth_methods
                .iter()
                .map(|m| m.id.as_str())
                .collect();
            format!(
                "The connector has no auth method `{id}`; it offers {}.",
                offered.join(", ")
            )
        });
    let error = error.or(unknown.as_deref());
    let method = method_id
        .and_then(|id| manifest.auth_method(id))
        .or(manifest.auth_methods.first());
    let Some(method) = method else {
        return Page::ok(
            "New connection",
            views::error_box("The connector's manifest declares no auth method."),
        );
    };
    let defaults = app_defaults(state, &method.id).await;
    let callback_url = state.config.callback_url();
    let body = views::connection_form(
        manifest,
        method,
        &views::FormTarget::pages(manifest, &callback_url),
        token,
        &FormState {
            values,
            app_defaults: &defaults,
            error,
        },
    );
    Page::ok(format!("New {} connection", manifest.display_name), body)
}

pub async fn new_connection(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = signed_in(&state, &headers).await {
        return *r;
    }
    let (token, new) = security::csrf_token(&headers);
    form_page(
        &state,
        query.get("method").map(String::as_str),
        &token,
        &BTreeMap::new(),
        None,
    )
    .await
    .render(&state, new)
}

pub async fn create_connection(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match posted(&state, &headers, &body).await {
        Ok(form) => form,
        Err(r) => return *r,
    };
    let manifest = state.manager.manifest();
    let method_id = first(&form, "method").unwrap_or_default().to_string();
    let method = manifest.auth_method(&method_id).cloned();
    // Every value by field name; scopes come as one box per scope.
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &form {
        if k != CSRF_FIELD && k != "method" {
            values.entry(k.clone()).or_default().push(v.clone());
        }
    }
    let mut request = ConnectRequest {
        method: method_id.clone(),
        ..ConnectRequest::default()
    };
    for (name, given) in &values {
        if name == "connection_name" {
            request.name = given.first().cloned();
        } else if manifest.connection_fields.iter().any(|f| &f.name == name) {
            // Other connection-level fields are fixed by the manifest.
        } else {
            request.fields.insert(name.clone(), given.join(" "));
        }
    }
    let created = state.manager.create(&request).await;
    let record = match created {
        Ok(record) => record,
        Err(e) => {
            // Typed values come back, secrets never do.
            let shown: BTreeMap<String, Vec<String>> = values
                .into_iter()
                .filter(|(name, _)| {
                    !method
                        .as_ref()
                        .is_some_and(|m| m.fields.iter().any(|f| &f.name == name && f.secret))
                })
                .collect();
            let (token, new) = security::csrf_token(&headers);
            return form_page(
                &state,
                Some(&method_id),
                &token,
                &shown,
                Some(&e.to_string()),
            )
            .await
            .with_status(StatusCode::BAD_REQUEST)
            .render(&state, new);
        }
    };
    sign_in(&state, &headers, &record.id).await
}

/// Starts the connection's sign-in: off to the provider for OAuth, or a
/// check of pasted or app credentials.
async fn sign_in(state: &Shared, headers: &HeaderMap, id: &str) -> Response {
    let started = match state.begin_sign_in(id).await {
        Ok(Some(url)) => return Redirect::to(&url).into_response(),
        Ok(None) => state.manager.activate(id).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match started {
        Ok(()) => Redirect::to(&format!("/connections/{id}?connected=1")).into_response(),
        Err(e) => failed_sign_in(state, headers, id, e).await,
    }
}

/// Connection `id`'s page, with a test report, a message or an error above it.
async fn connection_page(
    state: &Shared,
    headers: &HeaderMap,
    id: &str,
    above: Above<'_>,
    status: StatusCode,
) -> Response {
    let Ok(record) = state.manager.store().connection(id).await else {
        return not_found(state, id);
    };
    let (token, new) = security::csrf_token(headers);
    let manifest = state.manager.manifest();
    let details = match above {
        Above::Nothing => views::connection(manifest, &record, None, None, &token),
        Above::Message(m) => views::connection(manifest, &record, None, Some(m), &token),
        Above::Report(r) => views::connection(manifest, &record, Some(r), None, &token),
        Above::Failure(error, report) => maud::html! {
            (views::error_box(error))
            (views::connection(manifest, &record, report, None, &token))
        },
    };
    let subscriptions: Vec<_> = state
        .manager
        .store()
        .subscriptions(Some(id))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.destination != credential_store::Destination::Watch)
        .collect();
    let body = maud::html! {
        (details)
        (views::subscriptions(id, &state.manager.connector().descriptor().triggers, &subscriptions, &token))
    };
    Page::ok(record.name.clone(), body)
        .with_status(status)
        .render(state, new)
}

/// What a connection's page shows above its details.
enum Above<'a> {
    Nothing,
    Message(&'a str),
    Report(&'a TestReport),
    Failure(&'a str, Option<&'a TestReport>),
}

/// The connection's page, explaining why signing in failed.
async fn failed_sign_in(
    state: &Shared,
    headers: &HeaderMap,
    id: &str,
    error: ConnectError,
) -> Response {
    let manager = &state.manager;
    if matches!(error, ConnectError::Auth(_)) {
        let _ = manager
            .store()
            .set_status(
                id,
                ConnectionStatus::NeedsReconnect,
                Some(&error.to_string()),
            )
            .await;
    }
    let report = manager.test(id).await.ok();
    let message = format!("Signing in failed: {error}");
    connection_page(
        state,
        headers,
        id,
        Above::Failure(&message, report.as_ref()),
        StatusCode::BAD_REQUEST,
    )
    .await
}

/// Where the provider sends the browser back after consent.
pub async fn callback(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let finished = match state.finish_sign_in(&query).await {
        Ok(finished) => finished,
        Err(e) => {
            return Page::ok("Sign-in failed", views::error_box(&e.to_string()))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .render(&state, None);
        }
    };
    let Some((id, finished)) = finished else {
        return Page::ok(
            "Sign-in not recognised",
            views::error_box(
                "This sign-in was not started here, was already completed, or is too old (its state does not match any sign-in in progress). Start it again from the connection form.",
            ),
        )
        .with_status(StatusCode::BAD_REQUEST)
        .render(&state, None);
    };
    // A tenant's connection has no page here (the pages are the default
    // tenant's): its user learns the outcome and nothing more.
    let tenants = matches!(
        state.manager.store().connection(&id).await,
        Ok(record) if record.tenant_id.is_some()
    );
    if tenants && let Ok(Some(session)) = state.manager.store().connect_session_of(&id).await {
        let outcome = finished.map(|_| ()).map_err(|e| e.to_string());
        return if session.purpose == super::sign_in::PURPOSE {
            super::sign_in::finished(&state, &session, &id, outcome).await
        } else {
            super::connect::finished(&state, &session, &id, outcome)
        };
    }
    match finished {
        Ok(_) if tenants => Page::ok(
            "Connected",
            maud::html! { p { "Connected. You can close this window." } },
        )
        .for_end_user()
        .render(&state, None),
        Ok(_) => super::mcp_oauth::resume_after_connecting(&headers, &id).unwrap_or_else(|| {
            Redirect::to(&format!("/connections/{id}?connected=1")).into_response()
        }),
        Err(e) if tenants => Page::ok("Sign-in failed", views::error_box(&e.to_string()))
            .for_end_user()
            .with_status(StatusCode::BAD_REQUEST)
            .render(&state, None),
        Err(e) => failed_sign_in(&state, &headers, &id, e).await,
    }
}

/// The pages are the default tenant's: a page of another tenant's
/// connection answers exactly as one of a connection that does not exist.
pub async fn default_tenant_only(
    State(state): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request
        .uri()
        .path()
        .strip_prefix("/connections/")
        .and_then(|rest| rest.split('/').next())
        .filter(|id| !id.is_empty() && *id != "new")
        .map(str::to_string);
    if let Some(id) = id
        && let Ok(record) = state.manager.store().connection(&id).await
        && record.tenant_id.is_some()
    {
        return not_found(&state, &id);
    }
    next.run(request).await
}

pub async fn connection(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = signed_in(&state, &headers).await {
        return *r;
    }
    let above = if query.contains_key("connected") {
        Above::Message("Connected.")
    } else {
        Above::Nothing
    };
    connection_page(&state, &headers, &id, above, StatusCode::OK).await
}

pub async fn test_connection(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = posted(&state, &headers, &body).await {
        return *r;
    }
    let report = match state.manager.test(&id).await {
        Ok(report) => report,
        Err(e) => return failed(&state, &id, "Test", e, StatusCode::INTERNAL_SERVER_ERROR),
    };
    connection_page(
        &state,
        &headers,
        &id,
        Above::Report(&report),
        StatusCode::OK,
    )
    .await
}

pub async fn reconnect(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = posted(&state, &headers, &body).await {
        return *r;
    }
    if state.manager.store().connection(&id).await.is_err() {
        return not_found(&state, &id);
    }
    sign_in(&state, &headers, &id).await
}

pub async fn revoke(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = posted(&state, &headers, &body).await {
        return *r;
    }
    match state.manager.revoke(&id).await {
        Ok(()) => Redirect::to(&format!("/connections/{id}")).into_response(),
        Err(e) => failed(&state, &id, "Revoke", e, StatusCode::BAD_GATEWAY),
    }
}

/// Subscribes a workflow to a trigger from the connection's page; the
/// signing key is shown this once.
pub async fn subscribe(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match posted(&state, &headers, &body).await {
        Ok(form) => form,
        Err(r) => return *r,
    };
    let interval = match first(&form, "interval_secs")
        .unwrap_or("60")
        .trim()
        .parse::<u32>()
    {
        Ok(n) => n,
        Err(_) => {
            let message = "`interval_secs`: must be a whole number of seconds";
            return connection_page(
                &state,
                &headers,
                &id,
                Above::Failure(message, None),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let created = host_triggers::subscribe_served(
        &state.manager,
        &id,
        host_triggers::SubscriptionRequest {
            trigger: first(&form, "trigger").unwrap_or_default(),
            configuration: first(&form, "configuration").unwrap_or("{}"),
            target_url: first(&form, "target_url"),
            interval_secs: interval,
        },
        &state.config.targets,
    )
    .await;
    match created {
        Ok((subscription, key)) => {
            let how = match state
                .start_push(&subscription.id, &subscription.trigger)
                .await
            {
                Some(reason) => format!(" Polled: {reason}."),
                None if state
                    .manager
                    .store()
                    .push_id(&subscription.id)
                    .await
                    .ok()
                    .flatten()
                    .is_some() =>
                {
                    " Pushed by the API.".to_string()
                }
                None => String::new(),
            };
            let message = format!(
                "Subscribed ({}).{how} Deliveries are signed with this key, shown only now: {}",
                subscription.id,
                secrecy::ExposeSecret::expose_secret(&key)
            );
            connection_page(
                &state,
                &headers,
                &id,
                Above::Message(&message),
                StatusCode::CREATED,
            )
            .await
        }
        Err(e) => {
            let message = e.to_string();
            let status = match e {
                host_triggers::SubscribeError::MissingScopes { .. } => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            connection_page(
                &state,
                &headers,
                &id,
                Above::Failure(&message, None),
                status,
            )
            .await
        }
    }
}

/// Ends a subscription from the connection's page.
pub async fn unsubscribe(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((id, subscription)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(r) = posted(&state, &headers, &body).await {
        return *r;
    }
    // Only a subscription of this page's connection: the path's connection
    // is the one the pages' tenant check looked at.
    match state.manager.store().subscription(&subscription).await {
        Ok(found) if found.connection_id == id => {
            let _ = state.end_subscription(&subscription).await;
        }
        _ => return not_found(&state, &id),
    }
    Redirect::to(&format!("/connections/{id}")).into_response()
}

pub async fn delete(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = posted(&state, &headers, &body).await {
        return *r;
    }
    match state.manager.delete(&id).await {
        Ok(()) => Redirect::to("/connections").into_response(),
        Err(e) => failed(&state, &id, "Delete", e, StatusCode::INTERNAL_SERVER_ERROR),
    }
}

async fn runner_page(
    state: &Shared,
    id: &str,
    action: Option<&str>,
    token: &str,
    result: Option<Markup>,
) -> Page {
    let Ok(record) = state.manager.store().connection(id).await else {
        return not_found_page(id);
    };
    let actions = &state.manager.connector().descriptor().actions;
    let chosen = action.and_then(|a| actions.iter().find(|d| d.id == a));
    let controls = chosen.map(|a| schema_form::controls(&a.input_schema));
    let body = maud::html! {
        (views::runner(&record, actions, chosen.zip(controls.as_deref()), token))
        @if let Some(result) = result { h2 { "Result" } (result) }
    };
    Page::ok("Run an action", body)
}

pub async fn runner(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = signed_in(&state, &headers).await {
        return *r;
    }
    let (token, new) = security::csrf_token(&headers);
    runner_page(
        &state,
        &id,
        query.get("action").map(String::as_str),
        &token,
        None,
    )
    .await
    .render(&state, new)
}

pub async fn run_action(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match posted(&state, &headers, &body).await {
        Ok(form) => form,
        Err(r) => return *r,
    };
    let action = first(&form, "action").unwrap_or_default().to_string();
    let outcome = run(&state, &id, &action, &form).await;
    let (token, new) = security::csrf_token(&headers);
    let result = views::run_result(&action, &outcome);
    runner_page(&state, &id, Some(&action), &token, Some(result))
        .await
        .render(&state, new)
}

async fn run(
    state: &Shared,
    id: &str,
    action: &str,
    form: &[(String, String)],
) -> Result<serde_json::Value, host_core::ActionError> {
    let descriptor = state.manager.connector().descriptor();
    let Some(described) = descriptor.action(action) else {
        return Err(host_core::ActionError::InvalidInput {
            field: "action".into(),
            reason: format!("the connector has no action `{action}`"),
        });
    };
    let input = match first(form, "__input")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(raw) => raw.to_string(),
        None => {
            schema_form::input(&schema_form::controls(&described.input_schema), form)?.to_string()
        }
    };
    let connection =
        state
            .manager
            .connection(id)
            .await
            .map_err(|e| host_core::ActionError::Unauthorized {
                reason: e.to_string(),
            })?;
    state
        .manager
        .connector()
        .invoke(&connection, action, &input)
        .await
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn a_sign_in_goes_on_only_to_a_path_of_this_server() {
        assert_eq!(
            local_path("/oauth/authorize?client_id=x"),
            Some("/oauth/authorize?client_id=x")
        );
        for elsewhere in [
            "https://attacker.example/",
            "//attacker.example/path",
            "/\\attacker.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(local_path(elsewhere), None, "{elsewhere}");
        }
    }
}
