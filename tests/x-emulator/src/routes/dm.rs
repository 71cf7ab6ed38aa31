//! Direct messages: `POST /2/dm_conversations/with/:participant_id/messages`
//! and `GET /2/dm_events` (the caller's recent events, newest first).

use super::answer;
use crate::Shared;
use crate::auth::authorize;
use crate::fields::timestamp;
use crate::ids::{base36, from_base36};
use crate::params::{Params, parse_id};
use crate::problem;
use crate::rate_limit::Endpoint;
use crate::world::DmEvent;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Longest direct message X accepts.
const MAX_DM_CHARS: usize = 10_000;

pub async fn send(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(participant): Path<String>,
    body: Bytes,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::DmSend).await?;
    let me = caller
        .user_id
        .ok_or_else(problem::unsupported_authentication)?;
    let other = parse_id("participant_id", &participant)?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| problem::invalid_body(&format!("Request body is not valid JSON: {e}")))?;
    let text = request
        .get("text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| problem::invalid_body("$.text: is missing but it is required"))?;
    if text.chars().count() > MAX_DM_CHARS {
        return Err(problem::invalid_body(&format!(
            "$.text: must be at most {MAX_DM_CHARS} characters"
        )));
    }
    if other == me {
        return Err(problem::invalid_parameter(
            "participant_id",
            &participant,
            "You cannot send a direct message to yourself.",
        ));
    }
    let now = shared.clock.now();
    let mut world = shared.world.lock().unwrap();
    if world.user(other).is_none() {
        return Err(problem::not_found("user", "participant_id", &participant));
    }
    let id = world.new_id(now);
    let (a, b) = (me.min(other), me.max(other));
    let conversation_id = format!("{a}-{b}");
    world.dm_events.push(DmEvent {
        id,
        conversation_id: conversation_id.clone(),
        sender_id: me,
        participants: [a, b],
        text: text.to_string(),
        created_at: now,
    });
    Ok(answer(
        &caller,
        StatusCode::CREATED,
        json!({ "data": { "dm_conversation_id": conversation_id, "dm_event_id": id.to_string() } }),
    ))
}

const EVENT_FIELDS: &[&str] = &[
    "attachments",
    "created_at",
    "dm_conversation_id",
    "entities",
    "event_type",
    "id",
    "participant_ids",
    "referenced_tweets",
    "sender_id",
    "text",
];

pub async fn events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::DmEvents).await?;
    let me = caller
        .user_id
        .ok_or_else(problem::unsupported_authentication)?;
    let params = Params::parse(
        query.as_deref(),
        &[
            "max_results",
            "pagination_token",
            "event_types",
            "dm_event.fields",
            "expansions",
            "media.fields",
            "user.fields",
            "tweet.fields",
        ],
    )?;
    let max = params.int("max_results", 1, 100, 100)? as usize;
    let mut fields = vec!["id", "event_type", "text"];
    if let Some(asked) = params.get("dm_event.fields") {
        for f in asked.split(',') {
            if !EVENT_FIELDS.contains(&f) {
                return Err(problem::invalid_parameter(
                    "dm_event.fields",
                    f,
                    &format!(
                        "The `dm_event.fields` query parameter value [{f}] is not one of [{}]",
                        EVENT_FIELDS.join(",")
                    ),
                ));
            }
            fields.push(f);
        }
    }
    if let Some(types) = params.get("event_types")
        && types != "MessageCreate"
    {
        // Only messages happen in the emulator; other types match nothing.
        let body = json!({ "meta": { "result_count": 0 } });
        return Ok(answer(&caller, StatusCode::OK, body));
    }
    let start = match params.get("pagination_token") {
        None => 0,
        Some(t) => from_base36(t).ok_or_else(|| {
            problem::invalid_parameter(
                "pagination_token",
                t,
                "The `pagination_token` query parameter value is not valid",
            )
        })? as usize,
    };
    let world = shared.world.lock().unwrap();
    let mine: Vec<&DmEvent> = world
        .dm_events
        .iter()
        .rev()
        .filter(|e| e.participants.contains(&me))
        .collect();
    let rest = mine.get(start..).unwrap_or_default();
    let on_page = &rest[..rest.len().min(max)];
    let data: Vec<Value> = on_page
        .iter()
        .map(|e| {
            let mut v = Map::new();
            for f in &fields {
                let value = match *f {
                    "id" => json!(e.id.to_string()),
                    "event_type" => json!("MessageCreate"),
                    "text" => json!(e.text),
                    "created_at" => json!(timestamp(e.created_at)),
                    "dm_conversation_id" => json!(e.conversation_id),
                    "sender_id" => json!(e.sender_id.to_string()),
                    _ => continue,
                };
                v.insert(f.to_string(), value);
            }
            Value::Object(v)
        })
        .collect();
    let mut meta = json!({ "result_count": data.len() });
    if rest.len() > max {
        meta["next_token"] = json!(format!("{:0>16}", base36((start + max) as u64)));
    }
    let mut body = json!({ "meta": meta });
    if !data.is_empty() {
        body["data"] = Value::Array(data);
    }
    Ok(answer(&caller, StatusCode::OK, body))
}
