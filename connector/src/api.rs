//! The X API v2 as the connector speaks it: requests to the manifest's base
//! URL, and answers turned into data or into a typed error.
//!
//! X answers in one of three shapes: `{data, includes, meta}` on success,
//! the same with a partial `errors` array, or an RFC 7807 problem document
//! with a non-2xx status. Every answer carries the endpoint's rate limit in
//! `x-rate-limit-*` headers, which each action output passes on.

use crate::bindings::integration::connector::host;
use crate::error::{
    ConnectorError, RateLimited, Refusal, UpstreamError, internal, invalid_input, refused,
};
use crate::http::{self, BodySource, Request, Response, Verb};
use crate::manifest::manifest;
use crate::retry::{self, Budget};
use crate::usage::Meter;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::cell::Cell;
use std::time::Duration;

/// The endpoint's rate limit as of the last answer.
#[derive(Debug, Clone, Default, Serialize, JsonSchema, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Requests left in the current window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    /// When the window resets, in seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<u64>,
}

/// A successful answer: its JSON body and the rate limit it reported.
#[derive(Debug)]
pub struct Answer {
    pub body: Value,
    pub rate_limit: RateLimit,
}

/// A client for the API origin named in the manifest.
pub struct XApi {
    https: bool,
    authority: String,
    /// How long GETs may keep retrying, for the running action.
    read_budget: Cell<Budget>,
    /// What the running action has consumed at X.
    pub usage: Meter,
}

impl XApi {
    /// The client for the manifest's `api.base_url`, acting for
    /// `account_id` when known (for metering the account's own reads).
    pub fn from_manifest(account_id: Option<String>) -> Result<Self, ConnectorError> {
        let base = manifest().api.base_url;
        let (https, authority) = if let Some(rest) = base.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = base.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(internal(format!(
                "manifest api.base_url {base} is not an http(s) origin"
            )));
        };
        Ok(Self {
            https,
            authority: authority.trim_end_matches('/').to_string(),
            read_budget: Cell::new(Budget::new(retry::DEFAULT_BUDGET)),
            usage: Meter::new(account_id),
        })
    }

    /// Lets GETs retry for `length` from now.
    pub fn set_read_budget(&self, length: Duration) {
        self.read_budget.set(Budget::new(length));
    }

    /// `GET path?query`.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, ConnectorError> {
        let mut path_and_query = path.to_string();
        if !query.is_empty() {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, value) in query {
                form.append_pair(name, value);
            }
            path_and_query.push('?');
            path_and_query.push_str(&form.finish());
        }
        let mut attempt = 1;
        loop {
            match self.send(Verb::Get, path_and_query.clone(), None) {
                Err(e) => match self.read_budget.get().wait_after(&e, attempt) {
                    Some(wait) => {
                        host::log(
                            host::LogLevel::Warn,
                            &format!(
                                "GET {path} failed ({}); sending it again in {} ms",
                                crate::error::kind(&e),
                                wait.as_millis()
                            ),
                        );
                        std::thread::sleep(wait);
                        attempt += 1;
                    }
                    None => return Err(e),
                },
                ok => return ok,
            }
        }
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Answer, ConnectorError> {
        let mut bytes = serde_json::to_vec(body).map_err(|e| internal(e.to_string()))?;
        self.send_metered(
            Verb::Post,
            path.to_string(),
            Some(("application/json", &mut bytes)),
            Some(body),
        )
    }

    /// `PUT path` with a JSON body.
    pub fn put_json(&self, path: &str, body: &Value) -> Result<Answer, ConnectorError> {
        let mut bytes = serde_json::to_vec(body).map_err(|e| internal(e.to_string()))?;
        self.send_metered(
            Verb::Put,
            path.to_string(),
            Some(("application/json", &mut bytes)),
            Some(body),
        )
    }

    /// `POST path` with a body of `content_type` that writes itself.
    pub fn post_body(
        &self,
        path: &str,
        content_type: &str,
        body: &mut dyn BodySource,
    ) -> Result<Answer, ConnectorError> {
        self.send(Verb::Post, path.to_string(), Some((content_type, body)))
    }

    /// `POST path` without a body.
    pub fn post_empty(&self, path: &str) -> Result<Answer, ConnectorError> {
        self.send(Verb::Post, path.to_string(), None)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Answer, ConnectorError> {
        self.send(Verb::Delete, path.to_string(), None)
    }

    fn send(
        &self,
        verb: Verb,
        path_and_query: String,
        body: Option<(&str, &mut dyn BodySource)>,
    ) -> Result<Answer, ConnectorError> {
        self.send_metered(verb, path_and_query, body, None)
    }

    /// Sends a request and counts what it consumed; `request` is its JSON
    /// body, which decides the unit of some writes (a post with a URL, an
    /// edit).
    fn send_metered(
        &self,
        verb: Verb,
        path_and_query: String,
        body: Option<(&str, &mut dyn BodySource)>,
        request: Option<&Value>,
    ) -> Result<Answer, ConnectorError> {
        let mut headers = vec![
            ("accept", "application/json".to_string()),
            (
                "user-agent",
                concat!("x-connector/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ];
        let body = body.map(|(content_type, source)| {
            headers.push(("content-type", content_type.to_string()));
            source
        });
        let sent = http::send(Request {
            verb,
            https: self.https,
            authority: &self.authority,
            path_and_query: path_and_query.clone(),
            headers,
            body,
        });
        // A request the host refused never reached X.
        if !matches!(sent, Err(ConnectorError::Forbidden(_))) {
            self.usage.sent();
        }
        let answer = classify(&sent?)?;
        self.usage
            .answered(verb, &path_and_query, &answer.body, request);
        Ok(answer)
    }
}

/// Reads the `x-rate-limit-*` headers.
fn rate_limit(response: &Response) -> RateLimit {
    let number = |name| response.header(name).and_then(|v| v.trim().parse().ok());
    RateLimit {
        limit: number("x-rate-limit-limit"),
        remaining: number("x-rate-limit-remaining"),
        reset_at: response
            .header("x-rate-limit-reset")
            .and_then(|v| v.trim().parse().ok()),
    }
}

/// Turns an answer into data or a typed error.
pub fn classify(response: &Response) -> Result<Answer, ConnectorError> {
    let rate_limit = rate_limit(response);
    let body: Value = if response.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&response.body) {
            Ok(v) => v,
            Err(_) if response.status >= 400 => Value::Null,
            Err(e) => {
                return Err(ConnectorError::Upstream(UpstreamError {
                    status: response.status,
                    title: "Unreadable answer".into(),
                    detail: format!(
                        "X answered {} with a body that is not JSON: {e}",
                        response.status
                    ),
                    problem_type: None,
                }));
            }
        }
    };
    if (200..300).contains(&response.status) {
        return Ok(Answer { body, rate_limit });
    }
    Err(problem_error(response.status, &body, &rate_limit))
}

/// The problem's `title`, `detail` and `type`, with fallbacks for answers
/// that are not problem documents.
struct Problem<'a> {
    title: String,
    detail: String,
    kind: Option<&'a str>,
}

fn problem(status: u16, body: &Value) -> Problem<'_> {
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    // Older endpoints answer `{"errors":[{"message": ..., "code": ...}]}`.
    let first_error_message = body
        .get("errors")
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("message").or_else(|| e.get("detail")))
        .and_then(Value::as_str);
    let title = text("title").map_or_else(|| reason_phrase(status), str::to_string);
    // The specification's `Error` shape is `{"code": ..., "message": ...}`.
    let detail = text("detail")
        .or(text("message"))
        .or(first_error_message)
        .unwrap_or(&title)
        .to_string();
    Problem {
        title,
        detail,
        kind: text("type"),
    }
}

/// Maps a non-2xx answer to the variant a workflow can act on.
fn problem_error(status: u16, body: &Value, rate_limit: &RateLimit) -> ConnectorError {
    let p = problem(status, body);
    let detail = p.detail.clone();
    match status {
        400 => {
            // `errors[0].parameters` names the parameter X refused.
            let field = body
                .get("errors")
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("parameters"))
                .and_then(Value::as_object)
                .and_then(|params| params.keys().next().cloned())
                .unwrap_or_default();
            let reason = body
                .get("errors")
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or(&detail)
                .to_string();
            invalid_input(field, format!("X refused the request: {reason}"))
        }
        401 => ConnectorError::Unauthorized(format!(
            "X refused the connection's credentials ({detail}); reconnect the account"
        )),
        402 => refused(
            Refusal::AccessLevel,
            Some("credits-depleted"),
            p.kind,
            format!(
                "X refused the request for payment ({detail}): the app's prepaid credits are used up or its spending limit is reached; add credits or raise the limit in the X Developer Console"
            ),
        ),
        403 if is_duplicate(&detail) => ConnectorError::Conflict(detail),
        403 => refusal(body, p.kind, detail),
        404 => ConnectorError::NotFound(detail),
        409 => ConnectorError::Conflict(detail),
        429 => ConnectorError::RateLimited(RateLimited {
            reset_at: rate_limit.reset_at,
            limit: rate_limit.limit,
            remaining: rate_limit.remaining.or(Some(0)),
            detail,
        }),
        504 => ConnectorError::Timeout(format!("X did not answer in time: {detail}")),
        _ => ConnectorError::Upstream(UpstreamError {
            status,
            title: p.title,
            detail,
            problem_type: p.kind.map(str::to_string),
        }),
    }
}

/// Tells apart X's 403s: the app's access level, a rule of X's such as
/// who may reply, a protected resource, or the app's permission setting.
fn refusal(body: &Value, kind: Option<&str>, detail: String) -> ConnectorError {
    let short_kind = kind.and_then(|k| k.rsplit('/').next()).unwrap_or("");
    let lower = detail.to_ascii_lowercase();
    match short_kind {
        // `reason: client-not-enrolled`: the app's access does not include
        // the endpoint; the action's wording comes from the manifest.
        "client-forbidden" => {
            let mut words = format!("X refused this for the app's access level: {detail}");
            if let Some(url) = body.get("registration_url").and_then(Value::as_str) {
                words.push_str(&format!(" (access: {url})"));
            }
            refused(Refusal::AccessLevel, None, kind, words)
        }
        "oauth1-permissions" => refused(
            Refusal::AccessLevel,
            Some("app-permissions"),
            kind,
            format!(
                "X refused this for the app's permissions: {detail}; in the X Developer Console set the app to Read and write (and Direct messages when needed), then reconnect"
            ),
        ),
        "not-authorized-for-resource" | "resource-unavailable" => {
            refused(Refusal::Resource, None, kind, detail)
        }
        _ if lower.contains("mentioned or otherwise engaged")
            || lower.contains("reply to this conversation is not allowed") =>
        {
            refused(Refusal::Rule, Some("summoned-replies-only"), kind, detail)
        }
        _ => refused(Refusal::Other, None, kind, detail),
    }
}

/// X refuses a post whose text repeats a recent one with a 403 and this wording.
fn is_duplicate(detail: &str) -> bool {
    detail.to_ascii_lowercase().contains("duplicate content")
}

/// Maps the partial `errors` of a 2xx answer without `data`, such as a lookup
/// of a post that does not exist, to a typed error.
pub fn partial_error(body: &Value) -> Option<ConnectorError> {
    if body.get("data").is_some() {
        return None;
    }
    let first = body.get("errors")?.get(0)?;
    let detail = first
        .get("detail")
        .or_else(|| first.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("X answered with an error and no data")
        .to_string();
    let kind = first.get("type").and_then(Value::as_str).unwrap_or("");
    Some(match kind.rsplit('/').next().unwrap_or("") {
        "resource-not-found" => ConnectorError::NotFound(detail),
        "not-authorized-for-resource" | "not-authorized-for-field" => {
            refused(Refusal::Resource, None, Some(kind), detail)
        }
        "client-forbidden" => refused(Refusal::AccessLevel, None, Some(kind), detail),
        _ => ConnectorError::Upstream(UpstreamError {
            status: 200,
            title: first
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("Partial error")
                .to_string(),
            detail,
            problem_type: Some(kind.to_string()).filter(|k| !k.is_empty()),
        }),
    })
}

/// The standard reason phrase of `status` (RFC 9110), for an answer that
/// carries no title of its own.
fn reason_phrase(status: u16) -> String {
    let phrase = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        425 => "Too Early",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return format!("HTTP {status}"),
    };
    phrase.to_string()
}

/// Writes a warning to the host's log.
pub fn log_warning(message: &str) {
    host::log(host::LogLevel::Warn, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind;
    use serde_json::json;

    fn response(status: u16, headers: &[(&str, &str)], body: Value) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    #[test]
    fn success_keeps_body_and_rate_limit() {
        let r = response(
            200,
            &[
                ("x-rate-limit-limit", "75"),
                ("x-rate-limit-remaining", "74"),
                ("x-rate-limit-reset", "1700000000"),
            ],
            json!({"data": {"id": "1"}}),
        );
        let answer = classify(&r).unwrap();
        assert_eq!(answer.body["data"]["id"], "1");
        assert_eq!(
            answer.rate_limit,
            RateLimit {
                limit: Some(75),
                remaining: Some(74),
                reset_at: Some(1_700_000_000)
            }
        );
    }

    #[test]
    fn duplicate_post_is_a_conflict() {
        let r = response(
            403,
            &[],
            json!({
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank", "title": "Forbidden", "status": 403
            }),
        );
        let e = classify(&r).unwrap_err();
        assert_eq!(kind(&e), "conflict");
    }

    #[test]
    fn rate_limit_answer_carries_reset_time() {
        let r = response(
            429,
            &[
                ("x-rate-limit-limit", "1"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", "1700000900"),
            ],
            json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}),
        );
        match classify(&r).unwrap_err() {
            ConnectorError::RateLimited(r) => {
                assert_eq!(r.reset_at, Some(1_700_000_900));
                assert_eq!(r.limit, Some(1));
                assert_eq!(r.remaining, Some(0));
            }
            other => panic!("expected rate-limited, got {other:?}"),
        }
    }

    #[test]
    fn invalid_request_names_the_parameter() {
        let r = response(
            400,
            &[],
            json!({
                "errors": [{"parameters": {"max_results": ["1"]}, "message": "The `max_results` query parameter value [1] is not between 10 and 100"}],
                "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request"
            }),
        );
        match classify(&r).unwrap_err() {
            ConnectorError::InvalidInput(i) => {
                assert_eq!(i.field, "max_results");
                assert!(i.reason.contains("not between 10 and 100"), "{}", i.reason);
            }
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    #[test]
    fn an_answer_in_the_specifications_error_shape_keeps_its_message() {
        // X's specification: `Error` is `{"code": ..., "message": ...}`.
        let r = response(
            403,
            &[],
            json!({"code": 453, "message": "You currently have access to a subset of X API v2 endpoints."}),
        );
        match classify(&r).unwrap_err() {
            ConnectorError::Forbidden(f) => {
                assert!(f.detail.contains("subset of X API v2"), "{}", f.detail)
            }
            other => panic!("expected forbidden, got {other:?}"),
        }
        let r = response(422, &[], json!({"code": 422, "message": "No."}));
        match classify(&r).unwrap_err() {
            ConnectorError::Upstream(u) => {
                assert_eq!(
                    (u.title.as_str(), u.detail.as_str()),
                    ("Unprocessable Content", "No.")
                );
            }
            other => panic!("expected upstream, got {other:?}"),
        }
        let r = response(418, &[], json!({}));
        match classify(&r).unwrap_err() {
            ConnectorError::Upstream(u) => assert_eq!(u.title, "HTTP 418"),
            other => panic!("expected upstream, got {other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_variants() {
        let cases = [
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not-found"),
            (409, "conflict"),
            (500, "upstream"),
            (503, "upstream"),
            (504, "timeout"),
        ];
        for (status, expected) in cases {
            let r = response(
                status,
                &[],
                json!({"title": "T", "detail": "D", "type": "about:blank", "status": status}),
            );
            assert_eq!(
                kind(&classify(&r).unwrap_err()),
                expected,
                "status {status}"
            );
        }
    }

    #[test]
    fn upstream_keeps_problem_type_and_detail() {
        let r = response(
            503,
            &[],
            json!({"title": "Service Unavailable", "detail": "Over capacity", "type": "https://api.twitter.com/2/problems/operational-disconnect", "status": 503}),
        );
        match classify(&r).unwrap_err() {
            ConnectorError::Upstream(u) => {
                assert_eq!(u.status, 503);
                assert_eq!(u.detail, "Over capacity");
                assert_eq!(
                    u.problem_type.as_deref(),
                    Some("https://api.twitter.com/2/problems/operational-disconnect")
                );
            }
            other => panic!("expected upstream, got {other:?}"),
        }
    }

    #[test]
    fn partial_not_found_without_data_is_not_found() {
        let body = json!({"errors": [{
            "value": "123", "detail": "Could not find tweet with id: [123].", "title": "Not Found Error",
            "resource_type": "tweet", "parameter": "id", "resource_id": "123",
            "type": "https://api.twitter.com/2/problems/resource-not-found"
        }]});
        assert_eq!(kind(&partial_error(&body).unwrap()), "not-found");
        assert!(partial_error(&json!({"data": [], "errors": [{"title": "x"}]})).is_none());
    }
}
