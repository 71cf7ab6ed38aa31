//! Direct messages: `dm.send` to one user, `dm.events` for the account's
//! recent messages across its conversations.

use super::Action;
use super::paging::{Bounds, Page, check_paging, one_or_many};
use crate::api::RateLimit;
use crate::context::Context;
use crate::error::{ConnectorError, internal, invalid_input};
use crate::input::{Id, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Longest direct message X accepts.
const MAX_DM_CHARS: usize = 10_000;

/// A message to one user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    /// The recipient's user id.
    pub user_id: Id,
    /// The message, 1 to 10,000 characters.
    #[schemars(length(min = 1, max = 10000))]
    pub text: String,
}

impl Validate for SendInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        if self.text.trim().is_empty() {
            return Err(invalid_input("text", "must not be empty"));
        }
        let n = self.text.chars().count();
        if n > MAX_DM_CHARS {
            return Err(invalid_input(
                "text",
                format!("is {n} characters long; X allows at most {MAX_DM_CHARS}"),
            ));
        }
        Ok(())
    }
}

/// The sent message.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SendOutput {
    /// The message's event id.
    pub dm_event_id: String,
    /// The one-to-one conversation it belongs to.
    pub dm_conversation_id: String,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// `POST /2/dm_conversations/with/:participant_id/messages`.
pub struct Send;

impl Action for Send {
    const ID: &'static str = "dm.send";
    type Input = SendInput;
    type Output = SendOutput;

    fn run(ctx: &Context, input: SendInput) -> Result<SendOutput, ConnectorError> {
        let answer = ctx.api.post_json(
            &format!(
                "/2/dm_conversations/with/{}/messages",
                input.user_id.as_str()
            ),
            &json!({ "text": input.text }),
        )?;
        let text = |key: &str| {
            answer
                .body
                .pointer(&format!("/data/{key}"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| internal(format!("X's answer has no `{key}`")))
        };
        Ok(SendOutput {
            dm_event_id: text("dm_event_id")?,
            dm_conversation_id: text("dm_conversation_id")?,
            rate_limit: answer.rate_limit.clone(),
        })
    }
}

/// Which page of recent direct messages.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsInput {
    /// Events per page, 1 to 100; X's default is 100.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub pagination_token: Option<String>,
    /// Collect this many messages (1 to 1000), page after page, instead of
    /// one page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Bounds of `max_results` for direct message events, as X sets them.
const EVENT_BOUNDS: Bounds = Bounds { min: 1, max: 100 };

impl Validate for EventsInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_paging(
            EVENT_BOUNDS,
            self.limit,
            self.max_results,
            self.pagination_token.as_deref(),
        )
    }
}

/// One direct message.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct DmEvent {
    /// The event's id.
    pub id: String,
    /// `MessageCreate` for a message.
    pub event_type: String,
    /// The message's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Who sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    /// The conversation it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_conversation_id: Option<String>,
    /// When it was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Every other field X returned.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A page of direct messages, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventsOutput {
    /// The messages.
    pub events: Vec<DmEvent>,
    /// How many this page holds.
    pub result_count: u64,
    /// Pass back as `pagination_token` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Problems met while reading, such as paging that X did not advance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial_errors: Vec<Value>,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// `GET /2/dm_events`.
pub struct Events;

impl Action for Events {
    const ID: &'static str = "dm.events";
    const READS: bool = true;
    type Input = EventsInput;
    type Output = EventsOutput;

    fn run(ctx: &Context, input: EventsInput) -> Result<EventsOutput, ConnectorError> {
        let fetch = |n: Option<u32>, token: Option<String>| events_page(ctx, n, token);
        one_or_many(
            input.limit,
            EVENT_BOUNDS,
            input.max_results,
            input.pagination_token,
            fetch,
        )
    }
}

impl Page for EventsOutput {
    fn items(&self) -> usize {
        self.events.len()
    }

    fn next_token(&self) -> Option<String> {
        self.next_token.clone()
    }

    fn append(&mut self, later: EventsOutput) {
        self.result_count += later.result_count;
        self.next_token = later.next_token;
        self.rate_limit = later.rate_limit;
        self.partial_errors.extend(later.partial_errors);
        self.events.extend(later.events);
    }

    fn note(&mut self, problem: Value) {
        self.partial_errors.push(problem);
    }
}

/// One page of the account's direct message events.
pub(crate) fn events_page(
    ctx: &Context,
    max_results: Option<u32>,
    pagination_token: Option<String>,
) -> Result<EventsOutput, ConnectorError> {
    let mut query = vec![
        ("event_types", "MessageCreate".to_string()),
        (
            "dm_event.fields",
            "created_at,dm_conversation_id,sender_id".to_string(),
        ),
    ];
    if let Some(n) = max_results {
        query.push(("max_results", n.to_string()));
    }
    if let Some(t) = pagination_token {
        query.push(("pagination_token", t));
    }
    let answer = ctx.api.get("/2/dm_events", &query)?;
    let events: Vec<DmEvent> = match answer.body.get("data") {
        Some(d) => {
            Vec::deserialize(d).map_err(|e| internal(format!("unexpected `data` from X: {e}")))?
        }
        None => Vec::new(),
    };
    let meta = answer.body.get("meta").cloned().unwrap_or(Value::Null);
    Ok(EventsOutput {
        result_count: meta
            .get("result_count")
            .and_then(Value::as_u64)
            .unwrap_or(events.len() as u64),
        next_token: meta
            .get("next_token")
            .and_then(Value::as_str)
            .map(str::to_string),
        events,
        partial_errors: Vec::new(),
        rate_limit: answer.rate_limit,
    })
}
