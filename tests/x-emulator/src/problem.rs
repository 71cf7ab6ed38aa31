//! X's error answers: RFC 7807 problem documents, as `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A problem answer with `status`, `title` and `detail`, of type `about:blank`.
pub fn generic(status: StatusCode, title: &str, detail: &str) -> Response {
    with_body(
        status,
        json!({ "title": title, "detail": detail, "type": "about:blank", "status": status.as_u16() }),
    )
}

/// 401, as X answers a missing, unknown or expired token.
pub fn unauthorized() -> Response {
    generic(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
}

/// 403 for an app-only token on an endpoint that needs a user.
pub fn unsupported_authentication() -> Response {
    with_body(
        StatusCode::FORBIDDEN,
        json!({
            "title": "Unsupported Authentication",
            "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
            "type": "https://api.twitter.com/2/problems/unsupported-authentication",
            "status": 403
        }),
    )
}

/// 403 for a way of authenticating the endpoint does not take, naming the
/// ways it does (an OAuth 2.0 user token where only the app's own
/// credentials may manage webhooks, say).
pub fn unsupported_authentication_of(used: &str, supported: &[&str]) -> Response {
    with_body(
        StatusCode::FORBIDDEN,
        json!({
            "title": "Unsupported Authentication",
            "detail": format!(
                "Authenticating with {used} is forbidden for this endpoint.  Supported authentication types are [{}].",
                supported.join(", ")
            ),
            "type": "https://api.twitter.com/2/problems/unsupported-authentication",
            "status": 403
        }),
    )
}

/// 403 for a token issued to no registered app: X's endpoints that belong to
/// an app (webhooks, activity subscriptions) need a token of an app in a
/// Project.
pub fn client_not_enrolled() -> Response {
    with_body(
        StatusCode::FORBIDDEN,
        json!({
            "title": "Client Forbidden",
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.",
            "reason": "client-not-enrolled",
            "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
            "status": 403
        }),
    )
}

/// 403 for an endpoint the app's access level does not include: X's
/// answer to a self-serve app asking for what only Enterprise access has.
pub fn not_in_access_level() -> Response {
    with_body(
        StatusCode::FORBIDDEN,
        json!({
            "title": "Client Forbidden",
            "detail": "You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints (e.g. media post, oauth) only. If you need access to this endpoint, you may need a different access level. You can learn more here: https://developer.x.com/en/portal/product",
            "reason": "client-not-enrolled",
            "registration_url": "https://developer.x.com/en/portal/product",
            "required_enrollment": "Appropriate Level of API Access",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
            "status": 403
        }),
    )
}

/// 403 for a reply that X's rule for self-serve apps refuses: the post
/// replied to neither mentions the replying account nor quotes it.
pub fn reply_not_summoned() -> Response {
    generic(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to.",
    )
}

/// 403 for a user token that lacks a scope the endpoint needs.
pub fn missing_scope() -> Response {
    generic(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "You are not permitted to perform this action.",
    )
}

/// 429 when the endpoint's window is spent.
pub fn too_many_requests() -> Response {
    generic(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "Too Many Requests",
    )
}

/// 400 for a parameter X refuses, naming it and its value.
pub fn invalid_parameter(name: &str, value: &str, message: &str) -> Response {
    with_body(
        StatusCode::BAD_REQUEST,
        json!({
            "errors": [{ "parameters": { name: [value] }, "message": message }],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"
        }),
    )
}

/// 400 for a request body X refuses.
pub fn invalid_body(message: &str) -> Response {
    with_body(
        StatusCode::BAD_REQUEST,
        json!({
            "errors": [{ "message": message }],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"
        }),
    )
}

/// The `errors` entry X gives for an id that names nothing.
pub fn not_found_error(resource_type: &str, parameter: &str, value: &str) -> Value {
    json!({
        "value": value,
        "detail": format!("Could not find {resource_type} with {parameter}: [{value}]."),
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": "https://api.twitter.com/2/problems/resource-not-found"
    })
}

/// A partial error for a resource the caller may not see, such as the
/// posts of a protected account it does not follow.
pub fn not_authorized_error(resource_type: &str, parameter: &str, value: &str) -> Value {
    json!({
        "value": value,
        "detail": format!("Sorry, you are not authorized to see the {resource_type} with {parameter}: [{value}]."),
        "title": "Authorization Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "section": "data",
        "type": "https://api.twitter.com/2/problems/not-authorized-for-resource"
    })
}

/// 404 with a resource-not-found problem, as for deleting a missing post.
pub fn not_found(resource_type: &str, parameter: &str, value: &str) -> Response {
    let mut body = not_found_error(resource_type, parameter, value);
    body["status"] = json!(404);
    with_body(StatusCode::NOT_FOUND, body)
}

/// 404 for a path the API does not have.
pub fn no_such_route() -> Response {
    generic(
        StatusCode::NOT_FOUND,
        "Not Found Error",
        "The requested resource could not be found.",
    )
}

fn with_body(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}
