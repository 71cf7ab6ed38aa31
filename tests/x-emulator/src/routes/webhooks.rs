//! X's webhooks: `POST /2/webhooks` registers a callback URL once it passes
//! a CRC, `GET /2/webhooks` lists the app's, `PUT /2/webhooks/:webhook_id`
//! runs the CRC again, `DELETE /2/webhooks/:webhook_id` removes one with its
//! subscriptions, and `POST /2/webhooks/replay` sends again what was pushed
//! to a webhook in a window of the last day. A webhook belongs to the app
//! whose token registered it; another app's is not found.

use super::answer;
use crate::activity::{REPLAY_WINDOW, Webhook};
use crate::auth::{Caller, authorize};
use crate::fields::timestamp;
use crate::params::{Params, parse_id};
use crate::rate_limit::Endpoint;
use crate::webhook_client::{Job, check_url, crc};
use crate::{Shared, body, problem};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The fields `webhook_config.fields` may name; X's `WebhookConfig`
/// requires all four, so every answer carries them whatever is asked.
const WEBHOOK_FIELDS: &[&str] = &["created_at", "id", "url", "valid"];

/// The app a caller's token belongs to: its API Key and API Key Secret.
pub(super) struct CallerApp {
    pub key: String,
    pub secret: String,
}

/// The app of the caller's token, or X's 403 for a token of no app.
pub(super) fn caller_app(shared: &Shared, caller: &Caller) -> Result<CallerApp, Response> {
    let world = shared.world.lock().unwrap();
    caller
        .client_id
        .as_deref()
        .and_then(|id| world.app_of(id))
        .map(|app| CallerApp {
            key: app.consumer_key.clone(),
            secret: app.consumer_secret.clone(),
        })
        .ok_or_else(problem::client_not_enrolled)
}

/// The webhook `path_id` of the caller's app, or a 404 naming it.
fn own_webhook(shared: &Shared, app: &CallerApp, path_id: &str) -> Result<Webhook, Response> {
    let id = parse_id("webhook_id", path_id)?;
    let world = shared.world.lock().unwrap();
    world
        .activity
        .webhook_of(&app.key, id)
        .cloned()
        .ok_or_else(|| problem::not_found("webhook", "webhook_id", path_id))
}

/// `POST /2/webhooks`.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Bytes,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::CreateWebhook).await?;
    let app = caller_app(&shared, &caller)?;
    let members = body::object(&request, &["url"], &["url"])?;
    let url = body::string(&members, "", "url", 1, 200)?
        .unwrap_or_default()
        .to_string();
    if let Err(why) = check_url(&url) {
        return Err(problem::invalid_parameter(
            "url",
            &url,
            &format!("UrlValidationFailed: {why}."),
        ));
    }
    let registered = {
        let world = shared.world.lock().unwrap();
        world
            .activity
            .webhooks
            .iter()
            .any(|w| w.app == app.key && w.url == url)
    };
    if registered {
        return Err(problem::invalid_parameter(
            "url",
            &url,
            "DuplicateUrlFailed: A webhook is already registered by your application for this URL.",
        ));
    }
    // X answers only after its CRC: a URL that does not pass is not
    // registered at all.
    if !crc(&url, &app.secret).await {
        return Err(problem::invalid_parameter(
            "url",
            &url,
            "CrcValidationFailed: The callback URL did not answer the CRC check with a valid response_token.",
        ));
    }
    let now = shared.clock.now();
    let webhook = {
        let mut world = shared.world.lock().unwrap();
        let webhook = Webhook {
            id: world.new_id(now),
            url,
            valid: true,
            created_at: now,
            app: app.key,
        };
        world.activity.webhooks.push(webhook.clone());
        webhook
    };
    // X's specification answers the `WebhookConfig` itself; X's guides show
    // it inside `data`. Both are given, so that clients of either find it.
    let config = webhook.to_json();
    let mut answer_body = config.clone();
    answer_body["data"] = config;
    Ok(answer(&caller, StatusCode::OK, answer_body))
}

/// `GET /2/webhooks`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::ListWebhooks).await?;
    let params = Params::parse(query.as_deref(), &["webhook_config.fields"])?;
    if let Some(fields) = params.get("webhook_config.fields") {
        for field in fields.split(',') {
            if !WEBHOOK_FIELDS.contains(&field) {
                return Err(problem::invalid_parameter(
                    "webhook_config.fields",
                    field,
                    &format!(
                        "The `webhook_config.fields` query parameter value [{field}] is not one of [{}]",
                        WEBHOOK_FIELDS.join(",")
                    ),
                ));
            }
        }
    }
    let app = caller_app(&shared, &caller)?;
    let world = shared.world.lock().unwrap();
    let webhooks: Vec<Value> = world
        .activity
        .webhooks
        .iter()
        .filter(|w| w.app == app.key)
        .map(Webhook::to_json)
        .collect();
    let mut out = Map::new();
    out.insert("meta".into(), json!({ "result_count": webhooks.len() }));
    // `data` has at least one item when present.
    if !webhooks.is_empty() {
        out.insert("data".into(), Value::Array(webhooks));
    }
    Ok(answer(&caller, StatusCode::OK, Value::Object(out)))
}

/// `PUT /2/webhooks/:webhook_id`: a CRC now; the webhook is valid or not by
/// its outcome, which `GET /2/webhooks` shows.
pub async fn validate(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::ValidateWebhook).await?;
    let app = caller_app(&shared, &caller)?;
    let webhook = own_webhook(&shared, &app, &id)?;
    let valid = crc(&webhook.url, &app.secret).await;
    {
        let mut world = shared.world.lock().unwrap();
        if let Some(w) = world
            .activity
            .webhooks
            .iter_mut()
            .find(|w| w.id == webhook.id)
        {
            w.valid = valid;
        }
    }
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": { "attempted": true } }),
    ))
}

/// `DELETE /2/webhooks/:webhook_id`: the webhook and the activity
/// subscriptions that push to it.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::DeleteWebhook).await?;
    let app = caller_app(&shared, &caller)?;
    let webhook = own_webhook(&shared, &app, &id)?;
    shared
        .world
        .lock()
        .unwrap()
        .activity
        .remove_webhook(webhook.id);
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": { "deleted": true } }),
    ))
}

/// `POST /2/webhooks/replay`: every event pushed (or tried) to the webhook
/// from the start of `from_date`'s minute to the end of `to_date`'s, sent
/// again in order, signed afresh, with the same bytes.
pub async fn replay(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Bytes,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::ReplayWebhook).await?;
    let app = caller_app(&shared, &caller)?;
    const MEMBERS: &[&str] = &["webhook_id", "from_date", "to_date"];
    let members = body::object(&request, MEMBERS, MEMBERS)?;
    let webhook_id = body::id(&members, "", "webhook_id")?.unwrap_or_default();
    let from = minute(&members, "from_date")?;
    let to = minute(&members, "to_date")?;
    if from > to {
        return Err(body::refuse(
            "from_date",
            &members["from_date"],
            "must not be later than to_date",
        ));
    }
    let now = shared.clock.now();
    let oldest = (now - REPLAY_WINDOW)
        .duration_trunc(Duration::minutes(1))
        .unwrap_or(now - REPLAY_WINDOW);
    if from < oldest {
        return Err(body::refuse(
            "from_date",
            &members["from_date"],
            "must be within the last 24 hours",
        ));
    }
    let mut world = shared.world.lock().unwrap();
    if world.activity.webhook_of(&app.key, webhook_id).is_none() {
        return Err(body::refuse(
            "webhook_id",
            &members["webhook_id"],
            "WebhookIdInvalid: The webhook_id was not found or is not associated with your app",
        ));
    }
    let end = to + Duration::minutes(1);
    for push in world
        .activity
        .pushes
        .iter()
        .filter(|p| p.webhook_id == webhook_id && p.at >= from && p.at < end)
    {
        // Queued behind every live event before it, in the original order.
        let _ = shared.pusher.send(Job {
            webhook_id,
            event_uuid: push.event_uuid,
        });
    }
    let job_id = world.new_id(now);
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "job_id": job_id.to_string(), "created_at": timestamp(now) }),
    ))
}

/// A `yyyymmddhhmm` UTC member, as the start of its minute.
fn minute(members: &Map<String, Value>, name: &str) -> Result<DateTime<Utc>, Response> {
    let text = body::string(members, "", name, 12, 12)?.unwrap_or_default();
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(body::refuse(
            name,
            &members[name],
            "does not match the regex pattern ^[0-9]{12}$",
        ));
    }
    NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M")
        .map(|t| t.and_utc())
        .map_err(|_| {
            body::refuse(
                name,
                &members[name],
                "is not a valid UTC time in yyyymmddhhmm format",
            )
        })
}
