//! Push: X's webhooks and the X Activity API, as the host asks for them.
//!
//! The host serves the webhook and answers X's challenge (CRC) and checks
//! X's signature itself, from the manifest's `push` section; here are only
//! the requests that set push up, made on whichever connection the host
//! runs them on: the webhook's registration (`POST /2/webhooks`), a
//! trigger's subscription (`POST /2/activity/subscriptions`), its end
//! (`DELETE /2/activity/subscriptions/{id}`), and a replay of what X pushed
//! while the host was away (`POST /2/webhooks/replay`).

use crate::bindings::integration::connector::types::ConnectorError;
use crate::context::Context;
use crate::error::{internal, invalid_input};
use crate::input::{Id, format_rfc3339};
use crate::triggers;
use serde_json::{Value, json};

/// The context of a push request: any connection may make one; X decides
/// which kinds it accepts (an app-only token for webhooks and deletions).
fn context() -> Result<Context, ConnectorError> {
    crate::context::context("push", &[], &["app", "user"])
}

/// Registers `url` as the app's webhook; X checks it with a CRC before it
/// answers. Returns the webhook's id.
pub fn register_webhook(url: &str) -> Result<String, ConnectorError> {
    if url.is_empty() || url.len() > 200 {
        return Err(invalid_input(
            "url",
            "must be 1 to 200 characters, as X allows",
        ));
    }
    let ctx = context()?;
    let answer = ctx.api.post_json("/2/webhooks", &json!({ "url": url }))?;
    id_in(&answer.body, "id").ok_or_else(|| {
        internal(format!(
            "X registered the webhook but its answer has no id: {}",
            answer.body
        ))
    })
}

/// Subscribes `webhook_id` to the events X pushes for `trigger_id` with
/// this configuration. Returns the subscription's id.
pub fn subscribe(
    trigger_id: &str,
    configuration: &str,
    webhook_id: &str,
) -> Result<String, ConnectorError> {
    let webhook_id = Id::parse("webhook_id", webhook_id)?;
    let wanted = triggers::push_subscription(trigger_id, configuration)?;
    let ctx = context()?;
    let answer = ctx.api.post_json(
        "/2/activity/subscriptions",
        &json!({
            "event_type": wanted.event_type,
            "filter": { "user_id": wanted.user_id },
            "webhook_id": webhook_id.as_str(),
            "tag": trigger_id,
        }),
    )?;
    let subscription = &answer.body["data"]["subscription"];
    id_in(subscription, "subscription_id").ok_or_else(|| {
        internal(format!(
            "X made the subscription but its answer has no subscription_id: {}",
            answer.body
        ))
    })
}

/// Ends the Activity API subscription `push_id`.
pub fn unsubscribe(push_id: &str) -> Result<(), ConnectorError> {
    let push_id = Id::parse("push_id", push_id)?;
    let ctx = context()?;
    ctx.api
        .delete(&format!("/2/activity/subscriptions/{}", push_id.as_str()))?;
    Ok(())
}

/// Asks X to push again what it pushed to `webhook_id` from `since` to
/// `until` (Unix seconds), by the minute, as X's replay counts time; X
/// keeps 24 hours.
pub fn replay(webhook_id: &str, since: u64, until: u64) -> Result<(), ConnectorError> {
    let webhook_id = Id::parse("webhook_id", webhook_id)?;
    if since > until {
        return Err(invalid_input("since", "is after `until`"));
    }
    let ctx = context()?;
    ctx.api.post_json(
        "/2/webhooks/replay",
        &json!({
            "webhook_id": webhook_id.as_str(),
            "from_date": minute(since),
            "to_date": minute(until),
        }),
    )?;
    Ok(())
}

/// `yyyymmddhhmm` in UTC, the form of X's replay window.
fn minute(unix: u64) -> String {
    let time = format_rfc3339(unix.min(i64::MAX as u64) as i64);
    time.chars().filter(char::is_ascii_digit).take(12).collect()
}

/// The id at `member` of `value` or of its `data` (X wraps some answers).
fn id_in(value: &Value, member: &str) -> Option<String> {
    let inner = value.get("data").unwrap_or(value);
    inner
        .get(member)
        .or_else(|| value.get(member))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_window_is_written_by_the_minute_in_utc() {
        // 2025-04-24T20:57:15Z
        assert_eq!(minute(1_745_528_235), "202504242057");
        assert_eq!(minute(0), "197001010000");
    }

    #[test]
    fn an_id_is_found_inside_data_or_at_the_top() {
        assert_eq!(
            id_in(&json!({"data": {"id": "17"}}), "id").as_deref(),
            Some("17")
        );
        assert_eq!(id_in(&json!({"id": "18"}), "id").as_deref(), Some("18"));
        assert_eq!(id_in(&json!({"data": {}}), "id"), None);
    }
}
