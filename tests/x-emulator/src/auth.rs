//! Who is calling: the bearer token, what it may do, and its rate limit.

use crate::Shared;
use crate::faults::Fault;
use crate::problem;
use crate::rate_limit::{Endpoint, RateStatus, Scheme};
use crate::world::Grant;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An authenticated caller within its rate limit.
pub struct Caller {
    /// The user the token acts for; `None` for an app-only token.
    pub user_id: Option<u64>,
    /// The app the token was issued to (its Client ID or API Key), if any.
    pub client_id: Option<String>,
    pub rate: RateStatus,
    /// The status that replaces the answer after the request is carried
    /// out, when a test injected [`Fault::LoseAnswer`].
    pub lose_answer: Option<u16>,
    /// The scopes a user token was granted; none for an app-only one.
    pub scopes: std::collections::BTreeSet<String>,
}

/// Checks the `Authorization` header for `endpoint`: a known, unexpired token
/// (401), a user token where the endpoint needs one and an app-only token
/// where it takes only that (403), the scopes the endpoint needs (403), and
/// the rate limit (429); then applies a fault a test injected, if any.
pub async fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    endpoint: Endpoint,
) -> Result<Caller, Response> {
    let mut caller = check(shared, headers, endpoint)?;
    match shared.faults.take(endpoint) {
        None => Ok(caller),
        Some(Fault::LoseAnswer(status)) => {
            caller.lose_answer = Some(status);
            Ok(caller)
        }
        Some(Fault::Delay(by)) => {
            tokio::time::sleep(by).await;
            Ok(caller)
        }
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = problem::generic(
                status,
                status.canonical_reason().unwrap_or("Error"),
                "Injected failure",
            );
            add_rate_headers(&mut response, caller.rate);
            Err(response)
        }
        Some(Fault::Raw { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response =
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
            add_rate_headers(&mut response, caller.rate);
            Err(response)
        }
    }
}

fn check(shared: &Shared, headers: &HeaderMap, endpoint: Endpoint) -> Result<Caller, Response> {
    let now = shared.clock.now();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(problem::unauthorized)?;
    let token = token.trim();
    let (grant, client_id, oauth1) = {
        let world = shared.world.lock().unwrap();
        let issued = world.token(token).ok_or_else(problem::unauthorized)?;
        if issued.expires_at.is_some_and(|at| at <= now) {
            return Err(problem::unauthorized());
        }
        // A request signed with OAuth 1.0a arrives here as the bearer token
        // that its access token stands for.
        let oauth1 = world
            .oauth1_tokens
            .values()
            .any(|t| t.access && t.bearer.as_deref() == Some(token));
        (issued.grant.clone(), issued.client_id.clone(), oauth1)
    };
    let scheme = match (&grant, oauth1) {
        (Grant::App, _) => Scheme::App,
        (Grant::User { .. }, true) => Scheme::OAuth1User,
        (Grant::User { .. }, false) => Scheme::OAuth2User,
    };
    if !endpoint.accepts(scheme) {
        if scheme == Scheme::App {
            return Err(problem::unsupported_authentication());
        }
        let supported: Vec<&str> = [Scheme::OAuth1User, Scheme::App, Scheme::OAuth2User]
            .into_iter()
            .filter(|s| endpoint.accepts(*s))
            .map(Scheme::label)
            .collect();
        return Err(problem::unsupported_authentication_of(
            scheme.label(),
            &supported,
        ));
    }
    let (user_id, caller_key, granted) = match &grant {
        Grant::App => (None, "app".to_string(), Default::default()),
        Grant::User { user_id, scopes } => {
            if endpoint.scopes().iter().any(|s| !scopes.contains(*s)) {
                return Err(problem::missing_scope());
            }
            (Some(*user_id), format!("user:{user_id}"), scopes.clone())
        }
    };
    match shared
        .limits
        .take(&caller_key, endpoint, user_id.is_none(), now)
    {
        Ok(rate) => Ok(Caller {
            user_id,
            client_id,
            rate,
            lose_answer: None,
            scopes: granted,
        }),
        Err(rate) => {
            let mut response = problem::too_many_requests();
            add_rate_headers(&mut response, rate);
            Err(response)
        }
    }
}

/// Adds the `x-rate-limit-*` headers.
pub fn add_rate_headers(response: &mut Response, rate: RateStatus) {
    let headers = response.headers_mut();
    headers.insert("x-rate-limit-limit", HeaderValue::from(rate.limit));
    headers.insert("x-rate-limit-remaining", HeaderValue::from(rate.remaining));
    headers.insert("x-rate-limit-reset", HeaderValue::from(rate.reset));
}
