//! `POST /2/tweets`, `DELETE /2/tweets/:id` and `GET /2/tweets/:id`.

use super::answer;
use crate::Shared;
use crate::auth::authorize;
use crate::fields::{POST_QUERY_PARAMS, Selection};
use crate::params::{Params, parse_id};
use crate::problem;
use crate::rate_limit::Endpoint;
use crate::world::{AttachedMedia, CreateRefusal, DeleteRefusal, EditRefusal, Poll, PostExtras};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

/// Members of X's `TweetCreateRequest`.
const CREATE_FIELDS: &[&str] = &[
    "card_uri",
    "community_id",
    "direct_message_deep_link",
    "edit_options",
    "for_super_followers_only",
    "geo",
    "made_with_ai",
    "media",
    "nullcast",
    "paid_partnership",
    "poll",
    "quote_tweet_id",
    "reply",
    "reply_settings",
    "share_with_followers",
    "text",
];

pub async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::CreatePost).await?;
    let author = caller
        .user_id
        .ok_or_else(problem::unsupported_authentication)?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| problem::invalid_body(&format!("Request body is not valid JSON: {e}")))?;
    let Some(fields) = request.as_object() else {
        return Err(problem::invalid_body("$: must be an object"));
    };
    if let Some(unknown) = fields.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
        return Err(problem::invalid_body(&format!(
            "$.{unknown}: is not defined in the schema and the schema does not allow additional properties"
        )));
    }
    let text = match fields.get("text") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => {
            return Err(problem::invalid_body(
                "$.text: string found, but expected string",
            ));
        }
        None => {
            return Err(problem::invalid_body(
                "$.text: is missing but it is required",
            ));
        }
    };
    if text.trim().is_empty() {
        return Err(problem::invalid_body("$.text: Post text must not be empty"));
    }
    let most = shared
        .world
        .lock()
        .unwrap()
        .user(author)
        .map_or(280, |u| u.max_post_weight());
    if weighted_length(&text) > most {
        return Err(problem::invalid_body("$.text: Your Post text is too long."));
    }
    if let Some(options) = fields.get("edit_options") {
        let previous = match options.get("previous_post_id") {
            Some(v) => id_member("edit_options.previous_post_id", v)?,
            None => {
                return Err(problem::invalid_body(
                    "$.edit_options.previous_post_id: is missing but it is required",
                ));
            }
        };
        return publish_edit(&shared, &caller, author, previous, &text);
    }
    let reply_to = match request.pointer("/reply/in_reply_to_tweet_id") {
        None => None,
        Some(v) => Some(id_member("reply.in_reply_to_tweet_id", v)?),
    };
    let quote = match fields.get("quote_tweet_id") {
        None => None,
        Some(v) => Some(id_member("quote_tweet_id", v)?),
    };
    if let Some(reply) = fields.get("reply") {
        reply_members(reply)?;
    }
    let media = attached_media(&shared, author, fields.get("media"))?;
    let now = shared.clock.now();
    let poll = attached_poll(fields.get("poll"), now)?;
    if !media.is_empty() && poll.is_some() {
        return Err(problem::invalid_body(
            "$: A post may have media or a poll attached, not both.",
        ));
    }
    if quote.is_some() && (!media.is_empty() || poll.is_some()) {
        return Err(problem::invalid_body(
            "$.quote_tweet_id: Quote Tweet Id is mutually exclusive from Poll and Media.",
        ));
    }
    let reply_settings = match fields.get("reply_settings") {
        None => None,
        Some(Value::String(s)) if REPLY_SETTINGS.contains(&s.as_str()) => Some(s.clone()),
        Some(_) => {
            return Err(problem::invalid_body(&format!(
                "$.reply_settings: does not have a value in the enumeration [{}]",
                REPLY_SETTINGS.join(", ")
            )));
        }
    };
    let flag = |name: &str| match fields.get(name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(problem::invalid_body(&format!(
            "$.{name}: string found, but expected boolean"
        ))),
    };
    let extras = PostExtras {
        media,
        poll,
        reply_settings,
        for_super_followers_only: flag("for_super_followers_only")?,
        nullcast: flag("nullcast")?,
    };
    let mut world = shared.world.lock().unwrap();
    if *shared.access.lock().unwrap() == crate::AccessLevel::PayPerUse {
        if quote.is_some() {
            return Err(problem::not_in_access_level());
        }
        if let Some(target) = reply_to
            && !world.summons(target, author)
        {
            return Err(problem::reply_not_summoned());
        }
    }
    match world.create_post(author, &text, reply_to, quote, now) {
        Ok(id) => Ok({
            let mut extras = extras;
            if let Some(poll) = &mut extras.poll {
                // One poll per post: the poll takes the post's id.
                poll.id = id;
            }
            world.attach(id, extras);
            answer(
                &caller,
                StatusCode::CREATED,
                json!({ "data": { "id": id.to_string(), "text": crate::fields::preview(&text), "edit_history_tweet_ids": [id.to_string()] } }),
            )
        }),
        Err(CreateRefusal::Duplicate) => Err(problem::generic(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You are not allowed to create a Tweet with duplicate content.",
        )),
        Err(CreateRefusal::ReplyTargetMissing) => Err(problem::generic(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You attempted to reply to a Tweet that is deleted or not visible to you.",
        )),
        Err(CreateRefusal::QuoteTargetMissing) => Err(problem::generic(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You attempted to quote a Tweet that is deleted or not visible to you.",
        )),
    }
}

fn id_member(name: &str, value: &Value) -> Result<u64, Response> {
    value
        .as_str()
        .and_then(|s| parse_id(name, s).ok())
        .ok_or_else(|| {
            problem::invalid_body(&format!(
                "$.{name}: does not match the regex pattern ^[0-9]{{1,19}}$"
            ))
        })
}

/// The weighted length X counts (twitter-text, configuration v3).
/// `POST /2/tweets` with `edit_options`: a new version of a post.
fn publish_edit(
    shared: &Shared,
    caller: &crate::auth::Caller,
    author: u64,
    previous: u64,
    text: &str,
) -> Result<Response, Response> {
    let now = shared.clock.now();
    let mut world = shared.world.lock().unwrap();
    let refused = |detail: &str| problem::generic(StatusCode::FORBIDDEN, "Forbidden", detail);
    match world.edit_post(author, previous, text, now) {
        Ok(id) => {
            let post = world.post(id).expect("the new version exists");
            let history: Vec<String> = post.edit_history.iter().map(u64::to_string).collect();
            Ok(answer(
                caller,
                StatusCode::CREATED,
                json!({ "data": { "id": id.to_string(), "text": crate::fields::preview(text), "edit_history_tweet_ids": history } }),
            ))
        }
        Err(EditRefusal::NotFound) => Err(refused(
            "You attempted to edit a Post that is deleted or not visible to you.",
        )),
        Err(EditRefusal::NotAuthor) => Err(refused(
            "You are not allowed to edit a Post of another account.",
        )),
        Err(EditRefusal::NotEligible) => Err(refused(
            "This Post is not eligible for editing: a Post with a poll or a promoted-only Post cannot be edited.",
        )),
        Err(EditRefusal::NoEditsLeft) => Err(refused(
            "This Post has already been edited the maximum number of times.",
        )),
        Err(EditRefusal::WindowPassed) => Err(refused(
            "This Post can no longer be edited: the time allowed for edits has passed.",
        )),
        Err(EditRefusal::NeedsSubscription) => Err(refused(
            "Editing a Post requires an X Premium subscription.",
        )),
    }
}

fn weighted_length(text: &str) -> usize {
    x_text::count(text).weighted_length as usize
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::DeletePost).await?;
    let user = caller
        .user_id
        .ok_or_else(problem::unsupported_authentication)?;
    let post = parse_id("id", &id)?;
    let mut world = shared.world.lock().unwrap();
    match world.delete_post(user, post) {
        Ok(()) => Ok(answer(
            &caller,
            StatusCode::OK,
            json!({ "data": { "deleted": true } }),
        )),
        Err(DeleteRefusal::NotFound) => Err(problem::not_found("tweet", "id", &id)),
        Err(DeleteRefusal::NotAuthor) => Err(problem::generic(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You are not allowed to delete a Tweet you did not create.",
        )),
    }
}

pub async fn lookup(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::GetPost).await?;
    let post_id = parse_id("id", &id)?;
    let params = Params::parse(query.as_deref(), POST_QUERY_PARAMS)?;
    let selection = Selection::for_posts(&params)?;
    let world = shared.world.lock().unwrap();
    let Some(post) = world.post(post_id) else {
        return Ok(answer(
            &caller,
            StatusCode::OK,
            json!({ "errors": [problem::not_found_error("tweet", "id", &id)] }),
        ));
    };
    let mut body = json!({ "data": selection.post(post) });
    if let Some(includes) = selection.includes(&world, &[post]) {
        body["includes"] = includes;
    }
    Ok(answer(&caller, StatusCode::OK, body))
}

/// Who may reply, as `reply_settings` takes it.
const REPLY_SETTINGS: &[&str] = &["following", "mentionedUsers", "subscribers", "verified"];

/// Checks the members of `reply` besides the post replied to.
fn reply_members(reply: &Value) -> Result<(), Response> {
    let Some(members) = reply.as_object() else {
        return Err(problem::invalid_body("$.reply: must be an object"));
    };
    for (name, value) in members {
        match name.as_str() {
            "in_reply_to_tweet_id" => {}
            "auto_populate_reply_metadata" if value.is_boolean() => {}
            "exclude_reply_user_ids" => {
                let ids = value.as_array().ok_or_else(|| {
                    problem::invalid_body("$.reply.exclude_reply_user_ids: must be an array")
                })?;
                for (i, id) in ids.iter().enumerate() {
                    id_member(&format!("reply.exclude_reply_user_ids[{i}]"), id)?;
                }
            }
            other => {
                return Err(problem::invalid_body(&format!(
                    "$.reply.{other}: is not defined in the schema and the schema does not allow additional properties"
                )));
            }
        }
    }
    Ok(())
}

/// The media of `media.media_ids`, as X checks them: 1 to 4 ids of the
/// caller's uploads that finished processing; one GIF or video alone, or up
/// to four images.
fn attached_media(
    shared: &Shared,
    author: u64,
    media: Option<&Value>,
) -> Result<Vec<AttachedMedia>, Response> {
    let Some(media) = media else {
        return Ok(Vec::new());
    };
    let ids = media
        .get("media_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| problem::invalid_body("$.media.media_ids: is missing but it is required"))?;
    if ids.is_empty() || ids.len() > 4 {
        return Err(problem::invalid_body(&format!(
            "$.media.media_ids: expected between 1 and 4 items, got {}",
            ids.len()
        )));
    }
    let uploads = shared.media.lock().unwrap();
    let mut keys = Vec::new();
    let mut kinds = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let name = format!("media.media_ids[{i}]");
        let id = id_member(&name, id)?;
        let upload = uploads
            .get(id)
            .filter(|u| u.owner == author && u.usable())
            .ok_or_else(|| {
                problem::invalid_body("$.media.media_ids: Your media IDs are invalid.")
            })?;
        keys.push(AttachedMedia {
            media_key: upload.media_key(),
            kind: upload.kind.media_type(),
            alt_text: upload.alt_text.clone(),
        });
        kinds.push(upload.kind);
    }
    if kinds.len() > 1 && kinds.iter().any(|k| *k != crate::media::Kind::Image) {
        return Err(problem::invalid_body(
            "$.media.media_ids: A post may have one GIF or video, or up to four images.",
        ));
    }
    Ok(keys)
}

/// The poll of `poll`, as X checks it: 2 to 4 options of 1 to 25
/// characters, and a duration of 5 to 10080 minutes. Its id is set when
/// the post is.
fn attached_poll(poll: Option<&Value>, now: DateTime<Utc>) -> Result<Option<Poll>, Response> {
    let Some(poll) = poll else {
        return Ok(None);
    };
    let options = poll
        .get("options")
        .and_then(Value::as_array)
        .ok_or_else(|| problem::invalid_body("$.poll.options: is missing but it is required"))?;
    if !(2..=4).contains(&options.len()) {
        return Err(problem::invalid_body(&format!(
            "$.poll.options: expected between 2 and 4 items, got {}",
            options.len()
        )));
    }
    let mut texts = Vec::new();
    for (i, option) in options.iter().enumerate() {
        let text = option
            .as_str()
            .filter(|t| (1..=25).contains(&t.chars().count()))
            .ok_or_else(|| {
                problem::invalid_body(&format!(
                    "$.poll.options[{i}]: must be a string of 1 to 25 characters"
                ))
            })?;
        texts.push(text.to_string());
    }
    match poll.get("duration_minutes").and_then(Value::as_u64) {
        Some(m) if (5..=10080).contains(&m) => Ok(Some(Poll {
            id: 0,
            options: texts,
            duration_minutes: m as u32,
            ends_at: now + chrono::Duration::minutes(m as i64),
        })),
        _ => Err(problem::invalid_body(
            "$.poll.duration_minutes: must be an integer between 5 and 10080",
        )),
    }
}

/// `PUT /2/tweets/:id/hidden`: the author of a conversation hides one of
/// its replies, or shows it again.
pub async fn hide_reply(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::HideReplies).await?;
    let user = caller
        .user_id
        .ok_or_else(problem::unsupported_authentication)?;
    let post_id = parse_id("tweet_id", &id)?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| problem::invalid_body(&format!("Request body is not valid JSON: {e}")))?;
    let hidden = request
        .get("hidden")
        .and_then(Value::as_bool)
        .ok_or_else(|| problem::invalid_body("$.hidden: is missing but it is required"))?;
    let mut world = shared.world.lock().unwrap();
    let Some(reply) = world.post(post_id) else {
        return Err(problem::not_found("tweet", "tweet_id", &id));
    };
    let conversation_author = world.post(reply.conversation_id).map(|root| root.author_id);
    if reply.conversation_id == reply.id || conversation_author != Some(user) {
        return Err(problem::generic(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You can only hide or unhide replies to conversations you authored.",
        ));
    }
    if hidden {
        world.hidden_replies.insert(post_id);
    } else {
        world.hidden_replies.remove(&post_id);
    }
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": { "hidden": hidden } }),
    ))
}
