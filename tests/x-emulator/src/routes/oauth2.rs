//! OAuth 2.0 as X runs it: the authorization page at `/i/oauth2/authorize`
//! (a consent form a test or a browser can submit), the token endpoint at
//! `/2/oauth2/token` (authorization code with PKCE, rotating single-use
//! refresh tokens, HTTP Basic authentication for confidential clients), the
//! revocation endpoint, and app-only tokens at `/oauth2/token`.

use crate::Shared;
use crate::faults::Fault;
use crate::rate_limit::Endpoint;
use crate::world::{PendingCode, random_token};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Duration;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// How long an authorization code may wait for its exchange at X.
const CODE_LIFETIME: Duration = Duration::seconds(30);

/// Every OAuth 2.0 scope X defines.
pub const SCOPES: &[&str] = &[
    "block.read",
    "bookmark.read",
    "bookmark.write",
    "dm.read",
    "dm.write",
    "follows.read",
    "follows.write",
    "like.read",
    "like.write",
    "list.read",
    "list.write",
    "media.write",
    "mute.read",
    "mute.write",
    "offline.access",
    "space.read",
    "timeline.read",
    "tweet.moderate.write",
    "tweet.read",
    "tweet.write",
    "users.email",
    "users.read",
];

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An HTML page, as X's web flow shows.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body><main>\n{body}\n</main></body></html>\n"
    );
    (status, Html(html)).into_response()
}

/// X's page when an authorization request cannot go on. It never redirects
/// to a callback URL it does not know.
fn refused(detail: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Something went wrong",
        &format!(
            "<h1>Something went wrong</h1>\n<p>You weren't able to give access to the App. Go back and try logging in again.</p>\n<p id=\"error\">{}</p>",
            escape(detail)
        ),
    )
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /i/oauth2/authorize`: checks the request, then shows the consent form.
pub async fn authorize_page(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let mut world = shared.world.lock().unwrap();
    let Some(client_id) = get(&query, "client_id") else {
        return refused("The request has no client_id.");
    };
    let Some(app) = world.app_by_client_id(client_id).cloned() else {
        return refused("No app has this Client ID.");
    };
    let redirect_uri = get(&query, "redirect_uri").unwrap_or_default();
    if !app.callback_urls.iter().any(|u| u == redirect_uri) {
        return refused(&format!(
            "The callback URL {redirect_uri} is not registered for the app {}; register it exactly in the app's settings.",
            app.name
        ));
    }
    if get(&query, "response_type") != Some("code") {
        return refused("response_type must be code.");
    }
    if get(&query, "state").is_none_or(str::is_empty) {
        return refused("The request has no state.");
    }
    let method = get(&query, "code_challenge_method").unwrap_or("plain");
    if get(&query, "code_challenge").is_none_or(str::is_empty)
        || !matches!(method, "S256" | "plain")
    {
        return refused("The request has no valid PKCE code_challenge.");
    }
    let scopes: Vec<&str> = get(&query, "scope")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| !SCOPES.contains(s)) {
        return refused("The requested scopes are missing or not valid.");
    }
    let request_id = random_token();
    world.consents.insert(request_id.clone(), query.clone());
    let accounts: String = world
        .users()
        .iter()
        .map(|u| {
            format!(
                "<option value=\"{0}\">@{0} ({1})</option>",
                escape(&u.username),
                escape(&u.name)
            )
        })
        .collect();
    let scope_items: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    page(
        StatusCode::OK,
        "Authorize app",
        &format!(
            "<h1>{name} wants to access your X account</h1>
<p>It will be able to:</p>
<ul>{scope_items}</ul>
<form method=\"post\" action=\"/i/oauth2/authorize\">
<input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">
<label for=\"account\">Sign in as</label>
<select id=\"account\" name=\"account\">{accounts}</select>
<button type=\"submit\" name=\"decision\" value=\"allow\">Authorize app</button>
<button type=\"submit\" name=\"decision\" value=\"deny\">Cancel</button>
</form>",
            name = escape(&app.name)
        ),
    )
}

/// `POST /i/oauth2/authorize`: the consent decision; redirects to the callback.
pub async fn authorize_decision(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = pairs(&body);
    let now = shared.clock.now();
    let mut world = shared.world.lock().unwrap();
    let Some(query) = get(&form, "request_id").and_then(|id| world.consents.remove(id)) else {
        return refused("This authorization request expired or was already answered.");
    };
    let redirect_uri = get(&query, "redirect_uri").unwrap_or_default().to_string();
    let state = get(&query, "state").unwrap_or_default();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    if get(&form, "decision") != Some("allow") {
        let location = format!(
            "{redirect_uri}{separator}{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("error", "access_denied")
                .append_pair("state", state)
                .finish()
        );
        return redirect(&location);
    }
    let Some(user_id) = get(&form, "account")
        .and_then(|name| world.user_by_username(name))
        .map(|u| u.id)
    else {
        return refused("Unknown account.");
    };
    let code = random_token();
    world.secrets.push(code.clone());
    world.codes.insert(
        code.clone(),
        PendingCode {
            client_id: get(&query, "client_id").unwrap_or_default().to_string(),
            user_id,
            redirect_uri: redirect_uri.clone(),
            code_challenge: get(&query, "code_challenge")
                .unwrap_or_default()
                .to_string(),
            challenge_method: get(&query, "code_challenge_method")
                .unwrap_or("plain")
                .to_string(),
            scopes: get(&query, "scope")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            expires_at: now + CODE_LIFETIME,
            used: false,
            authorization: random_token(),
        },
    );
    let location = format!(
        "{redirect_uri}{separator}{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("state", state)
            .append_pair("code", &code)
            .finish()
    );
    redirect(&location)
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// An OAuth error answer (RFC 6749, section 5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": error, "error_description": description }).to_string(),
    )
        .into_response()
}

/// `client_id:client_secret` from `Authorization: Basic`, each part
/// form-decoded as RFC 6749 section 2.3.1 says.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unform = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unform(id)?, unform(secret)?))
}

/// Authenticates the client of a token or revocation request: confidential
/// clients with HTTP Basic, public clients by `client_id` alone.
fn client(
    shared: &Shared,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<String, Response> {
    let world = shared.world.lock().unwrap();
    let invalid = |why: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why);
    match basic_credentials(headers) {
        Some((id, secret)) => {
            let app = world
                .app_by_client_id(&id)
                .ok_or_else(|| invalid("Unknown client."))?;
            match &app.client_secret {
                Some(expected) if *expected == secret => Ok(id),
                Some(_) => Err(invalid("Client authentication failed.")),
                None => Err(invalid(
                    "A public client does not authenticate with a secret.",
                )),
            }
        }
        None => {
            let id = get(form, "client_id")
                .ok_or_else(|| invalid("Missing valid authorization header."))?;
            let app = world
                .app_by_client_id(id)
                .ok_or_else(|| invalid("Unknown client."))?;
            if app.client_secret.is_some() {
                return Err(invalid("Missing valid authorization header."));
            }
            Ok(id.to_string())
        }
    }
}

/// `POST /2/oauth2/token`.
pub async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    // An injected delay comes before anything is consumed: a client that
    // gives up meanwhile leaves its code or refresh token unused.
    let mut lose_answer = None;
    match shared.faults.take(Endpoint::OAuth2Token) {
        Some(Fault::Delay(by)) => tokio::time::sleep(by).await,
        Some(Fault::LoseAnswer(status)) => lose_answer = Some(status),
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return oauth_error(status, "temporarily_unavailable", "Injected failure");
        }
        Some(Fault::Raw { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        None => {}
    }
    let form = pairs(&body);
    let client_id = match client(&shared, &headers, &form) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let now = shared.clock.now();
    let mut world = shared.world.lock().unwrap();
    let invalid_grant = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
    let (user_id, scopes, authorization) = match get(&form, "grant_type") {
        Some("authorization_code") => {
            let code = get(&form, "code").unwrap_or_default();
            let Some(pending) = world.codes.get_mut(code) else {
                return invalid_grant("Value passed for the authorization code was invalid.");
            };
            if pending.used && pending.client_id == client_id {
                // A code used twice: whatever it gave is revoked.
                let authorization = pending.authorization.clone();
                world.revoke_authorization(&authorization);
                return invalid_grant("Value passed for the authorization code was invalid.");
            }
            if pending.used || pending.expires_at <= now || pending.client_id != client_id {
                pending.used = true;
                return invalid_grant("Value passed for the authorization code was invalid.");
            }
            if get(&form, "redirect_uri") != Some(pending.redirect_uri.as_str()) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Value passed for the redirect uri did not match the uri of the authorization code.",
                );
            }
            let verifier = get(&form, "code_verifier").unwrap_or_default();
            let computed = if pending.challenge_method == "S256" {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
            } else {
                verifier.to_string()
            };
            if computed != pending.code_challenge {
                return invalid_grant(
                    "Value passed for the code verifier did not match the code challenge.",
                );
            }
            pending.used = true;
            (
                pending.user_id,
                pending.scopes.clone(),
                pending.authorization.clone(),
            )
        }
        Some("refresh_token") => {
            let token = get(&form, "refresh_token").unwrap_or_default();
            let Some(grant) = world.refresh_tokens.get_mut(token) else {
                return invalid_grant("Value passed for the token was invalid.");
            };
            if grant.client_id != client_id {
                return invalid_grant("Value passed for the token was invalid.");
            }
            if grant.used {
                // A rotated refresh token came back: two parties hold the
                // authorization, so nobody keeps it.
                let authorization = grant.authorization.clone();
                world.revoke_authorization(&authorization);
                return invalid_grant("Value passed for the token was invalid.");
            }
            grant.used = true;
            (
                grant.user_id,
                grant.scopes.clone(),
                grant.authorization.clone(),
            )
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token.",
            );
        }
    };
    let lifetime = world.access_token_lifetime;
    let access = world.issue_access_token(
        user_id,
        scopes.clone(),
        Some(client_id.clone()),
        Some(now + lifetime),
        Some(authorization.clone()),
    );
    let mut answer = json!({
        "token_type": "bearer",
        "expires_in": lifetime.num_seconds(),
        "access_token": access,
        "scope": scopes.iter().cloned().collect::<Vec<_>>().join(" "),
    });
    if scopes.contains("offline.access") {
        answer["refresh_token"] =
            json!(world.issue_refresh_token(&client_id, user_id, scopes, &authorization));
    }
    if let Some(status) = lose_answer {
        // The tokens were issued (and the refresh token rotated), but the
        // client never hears of them.
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return oauth_error(status, "temporarily_unavailable", "Injected failure");
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

/// `POST /2/oauth2/revoke`: revokes an access or refresh token of the client.
pub async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    let client_id = match client(&shared, &headers, &form) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let token = get(&form, "token").unwrap_or_default();
    let mut world = shared.world.lock().unwrap();
    if world
        .refresh_tokens
        .get(token)
        .is_some_and(|r| r.client_id == client_id)
    {
        world.refresh_tokens.remove(token);
    } else if world
        .token(token)
        .is_some_and(|t| t.client_id.as_deref() == Some(&client_id))
    {
        world.revoke_token(token);
    }
    // As RFC 7009 says, an unknown token is not an error.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "revoked": true }).to_string(),
    )
        .into_response()
}

/// `POST /oauth2/token` with `grant_type=client_credentials`: an app-only
/// bearer token for the app whose API Key and Secret authenticate.
pub async fn app_only_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    let denied = || {
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "errors": [{ "code": 99, "label": "authenticity_token_error", "message": "Unable to verify your credentials" }] })
                .to_string(),
        )
            .into_response()
    };
    if get(&form, "grant_type") != Some("client_credentials") {
        return denied();
    }
    let Some((key, secret)) = basic_credentials(&headers) else {
        return denied();
    };
    let mut world = shared.world.lock().unwrap();
    if world
        .app_by_consumer_key(&key)
        .is_none_or(|a| a.consumer_secret != secret)
    {
        return denied();
    }
    let token = world.issue_app_token_for(Some(key));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "token_type": "bearer", "access_token": token }).to_string(),
    )
        .into_response()
}
