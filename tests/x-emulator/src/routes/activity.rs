//! X Activity API subscriptions: `POST /2/activity/subscriptions` subscribes
//! the caller's app to an event type for a user (or a keyword), delivered
//! to one of its webhooks; `GET` lists the app's subscriptions, a page at a
//! time; `DELETE /2/activity/subscriptions/:subscription_id` ends one.
//!
//! Private events (follows, chats) need the filtered user's consent: a user
//! token may subscribe only its own user, and an app-only token only a user
//! who has authorized the app.

use super::answer;
use super::webhooks::caller_app;
use crate::activity::{EVENT_TYPES, Filter, Subscription, filters_by_keyword, is_private};
use crate::auth::authorize;
use crate::params::{Params, parse_id};
use crate::rate_limit::Endpoint;
use crate::{Shared, body, problem};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Members of X's `ActivitySubscriptionCreateRequest`.
const CREATE_MEMBERS: &[&str] = &["event_type", "filter", "tag", "webhook_id"];

/// Members of X's `ActivitySubscriptionFilter`.
const FILTER_MEMBERS: &[&str] = &["keyword", "user_id"];

/// `POST /2/activity/subscriptions`.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Bytes,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::CreateActivitySubscription).await?;
    let app = caller_app(&shared, &caller)?;
    let members = body::object(&request, CREATE_MEMBERS, &["event_type", "filter"])?;
    let event_type = body::string(&members, "", "event_type", 0, usize::MAX)?
        .unwrap_or_default()
        .to_string();
    if !EVENT_TYPES.contains(&event_type.as_str()) {
        return Err(body::refuse(
            "event_type",
            &members["event_type"],
            &format!(
                "does not have a value in the enumeration [{}]",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    let filter = body::members(&members["filter"], "filter", FILTER_MEMBERS, &[])?;
    let filter = Filter {
        user_id: body::id(filter, "filter", "user_id")?,
        keyword: body::string(filter, "filter", "keyword", 1, 150)?.map(str::to_string),
    };
    // News is filtered by keyword; every other event by user.
    let needed = if filters_by_keyword(&event_type) {
        filter.keyword.is_none().then_some("keyword")
    } else {
        filter.user_id.is_none().then_some("user_id")
    };
    if let Some(member) = needed {
        return Err(problem::invalid_body(&format!(
            "$.filter.{member}: is missing but it is required for the event type {event_type}"
        )));
    }
    let tag = body::string(&members, "", "tag", 1, 200)?.map(str::to_string);
    let webhook_id = body::id(&members, "", "webhook_id")?;

    let now = shared.clock.now();
    let mut world = shared.world.lock().unwrap();
    if let Some(user) = filter.user_id
        && world.user(user).is_none()
    {
        return Err(body::refuse(
            "filter.user_id",
            &members["filter"]["user_id"],
            "names no user",
        ));
    }
    if let Some(id) = webhook_id
        && world.activity.webhook_of(&app.key, id).is_none()
    {
        return Err(body::refuse(
            "webhook_id",
            &members["webhook_id"],
            "WebhookIdInvalid: The webhook_id was not found or is not associated with your app",
        ));
    }
    if is_private(&event_type) {
        let user = filter.user_id.unwrap_or_default();
        let allowed = match caller.user_id {
            Some(me) => me == user,
            None => world.has_authorized(user, &app.key),
        };
        if !allowed {
            let detail = match caller.user_id {
                Some(_) => format!(
                    "Subscriptions to private events such as {event_type} can only be created for the user the OAuth access token belongs to."
                ),
                None => format!(
                    "Subscriptions to private events such as {event_type} can only be created for users who have authorized your application."
                ),
            };
            return Err(problem::generic(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &detail,
            ));
        }
    }
    let duplicate = world
        .activity
        .subscriptions_of(&app.key)
        .any(|s| s.event_type == event_type && s.filter == filter && s.webhook_id == webhook_id);
    if duplicate {
        return Err(problem::invalid_body(
            "DuplicateSubscription: A subscription for this event type, filter and webhook already exists.",
        ));
    }
    let subscription = Subscription {
        id: world.new_id(now),
        app: app.key.clone(),
        event_type,
        filter,
        tag,
        webhook_id,
        created_at: now,
        updated_at: now,
    };
    world.activity.subscriptions.push(subscription.clone());
    let total = world.activity.subscriptions_of(&app.key).count();
    let for_instance = world
        .activity
        .subscriptions_of(&app.key)
        .filter(|s| s.webhook_id == webhook_id)
        .count();
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({
            "data": {
                "subscription": subscription.to_json(),
                "total_subscriptions_for_instance_id": for_instance,
            },
            "meta": { "total_subscriptions": total },
        }),
    ))
}

/// `GET /2/activity/subscriptions`: the app's subscriptions, oldest first,
/// `max_results` (1 to 100, 100 unless asked) at a time.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::ListActivitySubscriptions).await?;
    let params = Params::parse(query.as_deref(), &["max_results", "pagination_token"])?;
    let max_results = params.int("max_results", 1, 100, 100)? as usize;
    let start = params
        .get("pagination_token")
        .map(|token| {
            parse_token(token).ok_or_else(|| {
                problem::invalid_parameter(
                    "pagination_token",
                    token,
                    &format!("The `pagination_token` query parameter value [{token}] is not a valid pagination token"),
                )
            })
        })
        .transpose()?;
    let app = caller_app(&shared, &caller)?;
    let world = shared.world.lock().unwrap();
    let mut subscriptions: Vec<&Subscription> = world.activity.subscriptions_of(&app.key).collect();
    subscriptions.sort_by_key(|s| s.id);
    let rest: Vec<&Subscription> = subscriptions
        .into_iter()
        .filter(|s| start.is_none_or(|first| s.id >= first))
        .collect();
    let on_page = &rest[..rest.len().min(max_results)];
    let mut meta = Map::new();
    meta.insert("result_count".into(), json!(on_page.len()));
    if let Some(next) = rest.get(max_results) {
        meta.insert("next_token".into(), json!(token(next.id)));
    }
    let mut out = Map::new();
    if !on_page.is_empty() {
        out.insert(
            "data".into(),
            Value::Array(on_page.iter().map(|s| s.to_json()).collect()),
        );
    }
    out.insert("meta".into(), Value::Object(meta));
    Ok(answer(&caller, StatusCode::OK, Value::Object(out)))
}

/// `DELETE /2/activity/subscriptions/:subscription_id`.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::DeleteActivitySubscription).await?;
    let app = caller_app(&shared, &caller)?;
    let subscription = parse_id("subscription_id", &id)?;
    let mut world = shared.world.lock().unwrap();
    let before = world.activity.subscriptions.len();
    world
        .activity
        .subscriptions
        .retain(|s| !(s.id == subscription && s.app == app.key));
    if world.activity.subscriptions.len() == before {
        return Err(problem::not_found("subscription", "subscription_id", &id));
    }
    let remaining = world.activity.subscriptions_of(&app.key).count();
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": { "deleted": true }, "meta": { "total_subscriptions": remaining } }),
    ))
}

/// The pagination token of the page that starts at subscription `id`: its
/// id in 19 digits, as X's tokens are at least 16 characters long.
fn token(id: u64) -> String {
    format!("{id:019}")
}

fn parse_token(token: &str) -> Option<u64> {
    (token.len() == 19 && token.bytes().all(|b| b.is_ascii_digit()))
        .then(|| token.parse().ok())
        .flatten()
}
