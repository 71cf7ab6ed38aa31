//! Who is calling: the bearer token, what it may do, and its rate limit.

use crate::Shared;
use crate::faults::Fault;
use crate::problem;
use crate::rate_limit::{Endpoint, RateStatus};
use crate::world::Grant;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An authenticated caller within its rate limit.
pub struct Caller {
    /// The user the token acts for; `None` for an app-only token.
    pub user_id: Option<u64>,
    pub rate: RateStatus,
    /// The status that replaces the answer after the request is carried
    /// out, when a test injected [`Fault::LoseAnswer`].
    pub lose_answer: Option<u16>,
}

/// Checks the `Authorization` header for `endpoint`: a known, unexpired token
/// (401), a user token where the endpoint needs one (403), the scopes the
/// endpoint needs (403), and the rate limit (429); then applies a fault a
/// test injected, if any.
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
    let grant = {
        let world = shared.world.lock().unwrap();
        let token = world
            .token(token.trim())
            .ok_or_else(problem::unauthorized)?;
        if token.expires_at.is_some_and(|at| at <= now) {
            return Err(problem::unauthorized());
        }
        token.grant.clone()
    };
    let (user_id, caller_key) = match &grant {
        Grant::App if endpoint.needs_user() => return Err(problem::unsupported_authentication()),
        Grant::App => (None, "app".to_string()),
        Grant::User { user_id, scopes } => {
            if endpoint.scopes().iter().any(|s| !scopes.contains(*s)) {
                return Err(problem::missing_scope());
            }
            (Some(*user_id), format!("user:{user_id}"))
        }
    };
    match shared
        .limits
        .take(&caller_key, endpoint, user_id.is_none(), now)
    {
        Ok(rate) => Ok(Caller {
            user_id,
            rate,
            lose_answer: None,
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
