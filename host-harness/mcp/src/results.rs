//! An action's answer as a tool's result: the output as structured content
//! (and, for clients that read only text, the same JSON as text), the
//! typed error as a result marked `isError` carrying the same JSON, and the
//! usage in `_meta`.
//!
//! An error's JSON is its text and `_meta.error`, not structured content:
//! structured content must fit the tool's output schema, and clients check
//! that it does even on an error (the TypeScript SDK does).

use host_auth::ConnectError;
use host_core::ActionError;
use rmcp::model::{CallToolResult, ContentBlock, MetaObject};
use serde_json::{Value, json};

/// The result of an action that ran.
pub fn output(output: Value) -> CallToolResult {
    let usage = output.get("usage").cloned();
    let result = CallToolResult::structured(output);
    match usage {
        Some(usage) => result.with_meta(Some(meta("usage", usage))),
        None => result,
    }
}

/// The result of an action that failed: the agent reads what to change
/// (the field, the missing scopes, when to retry) in the same JSON a
/// workflow engine gets from the API, with a `message` to show; the text
/// content is that JSON too.
pub fn action_error(error: &ActionError) -> CallToolResult {
    let value = serde_json::to_value(error).unwrap_or_else(|_| json!({"error": error.kind()}));
    refusal(with_message(value, error.to_string()))
}

/// The result when the connection itself cannot be used: gone, or the
/// store out of reach.
pub fn connection_error(error: &ConnectError) -> CallToolResult {
    use credential_store::StoreError;
    let kind = match error {
        ConnectError::Store(StoreError::NoSuchConnection(_)) => "not-found",
        ConnectError::Store(e) if e.is_unavailable() => "unavailable",
        ConnectError::Auth(_) | ConnectError::Identity(_) => "unauthorized",
        _ => "internal",
    };
    refusal(json!({"error": kind, "message": error.to_string()}))
}

/// A result marked `isError` whose text is `error`'s JSON, also in
/// `_meta.error`.
fn refusal(error: Value) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(error.to_string())])
        .with_meta(Some(meta("error", error)))
}

/// `value` with a `message` for a reader, unless it has one.
fn with_message(mut value: Value, message: String) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.entry("message").or_insert(Value::String(message));
    }
    value
}

fn meta(key: &str, value: Value) -> MetaObject {
    let mut object = serde_json::Map::new();
    object.insert(key.to_string(), value);
    MetaObject(object)
}
