//! OAuth 1.0a as X runs it: three-legged sign-in (`/oauth/request_token`,
//! `/oauth/authorize`, `/oauth/access_token`) and signed API requests.
//! Signatures are verified against the consumer secret and the token secret;
//! a nonce is accepted once.

use super::oauth2::{escape, page};
use crate::Shared;
use crate::oauth1_signature::{base_string, parse_header, sign};
use crate::problem;
use crate::world::{OAuth1Token, random_token};
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A verified signed request.
struct Signed {
    consumer_key: String,
    token: Option<String>,
    params: BTreeMap<String, String>,
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "errors": [{ "code": 32, "message": message }] }).to_string(),
    )
        .into_response()
}

/// Verifies the signature of a request. `token_secret` finds the secret of
/// the request's `oauth_token`.
fn verify(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    token_secret: impl Fn(&str) -> Option<String>,
) -> Result<Signed, Response> {
    let oauth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_header)
        .ok_or_else(|| unauthorized("Could not authenticate you."))?;
    let consumer_key = oauth.get("oauth_consumer_key").cloned().unwrap_or_default();
    let consumer_secret = {
        let world = shared.world.lock().unwrap();
        world
            .app_by_consumer_key(&consumer_key)
            .map(|a| a.consumer_secret.clone())
            .ok_or_else(|| unauthorized("Could not authenticate you."))?
    };
    if oauth.get("oauth_signature_method").map(String::as_str) != Some("HMAC-SHA1") {
        return Err(unauthorized("Only HMAC-SHA1 signatures are supported."));
    }
    let token = oauth.get("oauth_token").cloned().filter(|t| !t.is_empty());
    let secret = match &token {
        Some(t) => token_secret(t).ok_or_else(|| unauthorized("Invalid or expired token."))?,
        None => String::new(),
    };
    let mut params: Vec<(String, String)> =
        oauth.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(q) = query {
        params.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    let form_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form_body {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    // The client signs the URL it addressed: through a proxy, the Host
    // header names it; directly, this server's address does. Either scheme.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let given = oauth.get("oauth_signature").cloned().unwrap_or_default();
    let matches = ["https", "http"].iter().any(|scheme| {
        let base = base_string(
            method.as_str(),
            &format!("{scheme}://{}{path}", host.to_ascii_lowercase()),
            &params,
        );
        sign(&base, &consumer_secret, &secret) == given
    });
    if !matches {
        return Err(unauthorized("Could not authenticate you."));
    }
    let nonce = oauth.get("oauth_nonce").cloned().unwrap_or_default();
    if !shared
        .world
        .lock()
        .unwrap()
        .nonces
        .insert((consumer_key.clone(), nonce))
    {
        return Err(unauthorized("Nonce already used."));
    }
    let mut all: BTreeMap<String, String> = params.into_iter().collect();
    all.extend(oauth);
    Ok(Signed {
        consumer_key,
        token,
        params: all,
    })
}

fn form_answer(pairs: &[(&str, &str)]) -> Response {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        form.finish(),
    )
        .into_response()
}

/// `POST /oauth/request_token`.
pub async fn request_token(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let signed = match verify(
        &shared,
        &method,
        &headers,
        "/oauth/request_token",
        query.as_deref(),
        &body,
        |_| None,
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let callback = signed
        .params
        .get("oauth_callback")
        .cloned()
        .unwrap_or_default();
    let mut world = shared.world.lock().unwrap();
    let registered = world
        .app_by_consumer_key(&signed.consumer_key)
        .is_some_and(|a| a.callback_urls.contains(&callback));
    if !registered {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "errors": [{ "code": 415, "message": "Callback URL not approved for this client application. Approved callback URLs can be adjusted in your application settings" }] }).to_string(),
        )
            .into_response();
    }
    let token = random_token();
    let secret = random_token();
    world.secrets.push(secret.clone());
    world.oauth1_tokens.insert(
        token.clone(),
        OAuth1Token {
            consumer_key: signed.consumer_key,
            secret: secret.clone(),
            callback: Some(callback),
            verifier: None,
            user_id: None,
            access: false,
            bearer: None,
        },
    );
    form_answer(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("oauth_callback_confirmed", "true"),
    ])
}

/// `GET /oauth/authorize?oauth_token=...`: the consent form.
pub async fn authorize_page(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let token = query
        .iter()
        .find(|(n, _)| n == "oauth_token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let world = shared.world.lock().unwrap();
    let Some(request) = world.oauth1_tokens.get(&token).filter(|t| !t.access) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Something went wrong",
            "<h1>Something went wrong</h1><p id=\"error\">This request token is invalid or expired.</p>",
        );
    };
    let app_name = world
        .app_by_consumer_key(&request.consumer_key)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let accounts: String = world
        .users()
        .iter()
        .map(|u| format!("<option value=\"{0}\">@{0}</option>", escape(&u.username)))
        .collect();
    page(
        StatusCode::OK,
        "Authorize app",
        &format!(
            "<h1>Authorize {name} to use your account?</h1>
<form method=\"post\" action=\"/oauth/authorize\">
<input type=\"hidden\" name=\"oauth_token\" value=\"{token}\">
<label for=\"account\">Sign in as</label>
<select id=\"account\" name=\"account\">{accounts}</select>
<button type=\"submit\" name=\"decision\" value=\"allow\">Authorize app</button>
<button type=\"submit\" name=\"decision\" value=\"deny\">Cancel</button>
</form>",
            name = escape(&app_name),
            token = escape(&token)
        ),
    )
}

/// `POST /oauth/authorize`: the consent decision; redirects to the callback.
pub async fn authorize_decision(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let token = form.get("oauth_token").cloned().unwrap_or_default();
    let mut world = shared.world.lock().unwrap();
    let user_id = form
        .get("account")
        .and_then(|a| world.user_by_username(a))
        .map(|u| u.id);
    let Some(request) = world.oauth1_tokens.get_mut(&token).filter(|t| !t.access) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Something went wrong",
            "<h1>Something went wrong</h1><p id=\"error\">This request token is invalid or expired.</p>",
        );
    };
    let callback = request.callback.clone().unwrap_or_default();
    let separator = if callback.contains('?') { '&' } else { '?' };
    let query = if form.get("decision").map(String::as_str) == Some("allow") && user_id.is_some() {
        let verifier = random_token();
        request.verifier = Some(verifier.clone());
        request.user_id = user_id;
        form_urlencoded::Serializer::new(String::new())
            .append_pair("oauth_token", &token)
            .append_pair("oauth_verifier", &verifier)
            .finish()
    } else {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("denied", &token)
            .finish()
    };
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{callback}{separator}{query}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `POST /oauth/access_token`: exchanges an authorized request token.
pub async fn access_token(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let secret_of = |t: &str| {
        let world = shared.world.lock().unwrap();
        world
            .oauth1_tokens
            .get(t)
            .filter(|t| !t.access)
            .map(|t| t.secret.clone())
    };
    let signed = match verify(
        &shared,
        &method,
        &headers,
        "/oauth/access_token",
        query.as_deref(),
        &body,
        secret_of,
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let request_token = signed.token.clone().unwrap_or_default();
    let mut world = shared.world.lock().unwrap();
    let Some(request) = world.oauth1_tokens.get(&request_token).cloned() else {
        return unauthorized("Invalid or expired token.");
    };
    let verifier_ok = request.verifier.is_some()
        && signed.params.get("oauth_verifier") == request.verifier.as_ref();
    if request.consumer_key != signed.consumer_key || !verifier_ok {
        return unauthorized("Invalid request token or verifier.");
    }
    let Some(user_id) = request.user_id else {
        return unauthorized("The request token was not authorized.");
    };
    world.oauth1_tokens.remove(&request_token);
    let everything: BTreeSet<String> = super::oauth2::SCOPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let bearer = world.issue_access_token(
        user_id,
        everything,
        Some(signed.consumer_key.clone()),
        None,
        None,
    );
    let token = format!("{user_id}-{}", random_token());
    let secret = random_token();
    world.secrets.push(token.clone());
    world.secrets.push(secret.clone());
    world.oauth1_tokens.insert(
        token.clone(),
        OAuth1Token {
            consumer_key: signed.consumer_key,
            secret: secret.clone(),
            callback: None,
            verifier: None,
            user_id: Some(user_id),
            access: true,
            bearer: Some(bearer),
        },
    );
    let screen_name = world
        .user(user_id)
        .map(|u| u.username.clone())
        .unwrap_or_default();
    form_answer(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("user_id", &user_id.to_string()),
        ("screen_name", &screen_name),
    ])
}

/// Middleware for the API: a request signed with an OAuth 1.0a access token
/// is verified and then handled as its user's bearer token would be.
pub async fn api_signatures(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let signed_with_oauth1 = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("OAuth "));
    if !signed_with_oauth1
        || !request.uri().path().starts_with("/2/")
        || request.uri().path().starts_with("/2/oauth2/")
    {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 16 * 1024 * 1024).await else {
        return problem::unauthorized();
    };
    let secret_of = |t: &str| {
        let world = shared.world.lock().unwrap();
        world
            .oauth1_tokens
            .get(t)
            .filter(|t| t.access)
            .map(|t| t.secret.clone())
    };
    let signed = match verify(
        &shared,
        &parts.method,
        &parts.headers,
        parts.uri.path(),
        parts.uri.query(),
        &body,
        secret_of,
    ) {
        Ok(s) => s,
        Err(_) => return problem::unauthorized(),
    };
    let bearer = {
        let world = shared.world.lock().unwrap();
        signed
            .token
            .as_ref()
            .and_then(|t| world.oauth1_tokens.get(t))
            .and_then(|t| t.bearer.clone())
    };
    let Some(bearer) = bearer else {
        return problem::unauthorized();
    };
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {bearer}")) {
        parts.headers.insert(header::AUTHORIZATION, value);
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}
