//! The HTTP routes of the emulated API.

mod activity;
mod dm;
mod engagement;
mod lookup;
mod media;
mod oauth1;
mod oauth2;
mod posts;
mod search;
mod timelines;
mod users;
mod webhooks;

use crate::auth::{Caller, add_rate_headers};
use crate::fields::Selection;
use crate::ids::base36;
use crate::world::{Post, World};
use crate::{Shared, problem, traffic};
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// X's refusal of a request for another account's own list (its home
/// timeline, bookmarks, muted accounts): `refusal` is X's wording.
fn only_the_caller(caller: &Caller, user_id: u64, refusal: &str) -> Result<(), Response> {
    if caller.user_id == Some(user_id) {
        Ok(())
    } else {
        Err(problem::generic(
            StatusCode::FORBIDDEN,
            "Forbidden",
            refusal,
        ))
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2/users/me", get(users::me))
        .route("/2/tweets", post(posts::create).get(lookup::posts_by_ids))
        .route("/2/tweets/{id}", delete(posts::delete).get(posts::lookup))
        .route("/2/tweets/search/recent", get(search::recent))
        .route("/2/users/{id}/tweets", get(timelines::user_posts))
        .route(
            "/2/users/{id}/timelines/reverse_chronological",
            get(timelines::home),
        )
        .route("/2/users/{id}/mentions", get(timelines::mentions))
        .route("/2/tweets/{id}/quote_tweets", get(timelines::quotes))
        .route("/2/tweets/{tweet_id}/hidden", put(posts::hide_reply))
        .route(
            "/2/users/{id}/muting",
            get(lookup::muting).post(engagement::mute),
        )
        .route(
            "/2/users/{source_user_id}/muting/{target_user_id}",
            delete(engagement::unmute),
        )
        .route("/2/users/reposts_of_me", get(timelines::reposts_of_me))
        .route(
            "/2/dm_conversations/with/{participant_id}/messages",
            post(dm::send),
        )
        .route("/2/dm_events", get(dm::events))
        .route("/2/users/{id}/followers", get(lookup::followers))
        .route(
            "/2/users/{id}/following",
            get(lookup::following).post(engagement::follow),
        )
        .route("/2/tweets/{id}/liking_users", get(lookup::liking_users))
        .route("/2/tweets/{id}/retweeted_by", get(lookup::reposted_by))
        .route("/2/users", get(lookup::users_by_ids))
        .route("/2/users/by", get(lookup::users_by_usernames))
        .route("/2/users/{id}/likes", post(engagement::like))
        .route("/2/users/{id}/likes/{target}", delete(engagement::unlike))
        .route("/2/users/{id}/retweets", post(engagement::repost))
        .route(
            "/2/users/{id}/retweets/{target}",
            delete(engagement::unrepost),
        )
        .route(
            "/2/users/{id}/bookmarks",
            post(engagement::bookmark).get(timelines::bookmarks),
        )
        .route(
            "/2/users/{id}/bookmarks/{target}",
            delete(engagement::unbookmark),
        )
        .route(
            "/2/users/{id}/following/{target}",
            delete(engagement::unfollow),
        )
        .route("/2/media/upload/initialize", post(media::initialize))
        .route("/2/media/upload/{id}/append", post(media::append))
        .route("/2/media/upload/{id}/finalize", post(media::finalize))
        .route("/2/media/upload", get(media::status))
        .route("/2/media/metadata", post(media::metadata))
        .route("/2/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/2/webhooks/replay", post(webhooks::replay))
        .route(
            "/2/webhooks/{webhook_id}",
            put(webhooks::validate).delete(webhooks::delete),
        )
        .route(
            "/2/activity/subscriptions",
            post(activity::create).get(activity::list),
        )
        .route(
            "/2/activity/subscriptions/{subscription_id}",
            delete(activity::delete),
        )
        .route(
            "/i/oauth2/authorize",
            get(oauth2::authorize_page).post(oauth2::authorize_decision),
        )
        .route("/2/oauth2/token", post(oauth2::token))
        .route("/2/oauth2/revoke", post(oauth2::revoke))
        .route("/oauth2/token", post(oauth2::app_only_token))
        .route("/oauth/request_token", post(oauth1::request_token))
        .route(
            "/oauth/authorize",
            get(oauth1::authorize_page).post(oauth1::authorize_decision),
        )
        .route("/oauth/access_token", post(oauth1::access_token))
        .fallback(|| async { problem::no_such_route() })
        // The recording layer caps bodies; a media segment may be 5 MB.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            oauth1::api_signatures,
        ))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            traffic::record,
        ))
        .with_state(shared)
}

/// A JSON answer with the caller's rate-limit headers, or the error that
/// replaces it when a test made the answer get lost.
fn answer(caller: &Caller, status: StatusCode, body: Value) -> Response {
    if let Some(lost) = caller.lose_answer {
        let status = StatusCode::from_u16(lost).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = problem::generic(
            status,
            status.canonical_reason().unwrap_or("Error"),
            "Injected failure after the request was carried out",
        );
        add_rate_headers(&mut response, caller.rate);
        return response;
    }
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    add_rate_headers(&mut response, caller.rate);
    response
}

/// One page of `posts` (newest first), starting at the post whose id the
/// pagination `token` encodes, in X's list shape.
fn page(
    world: &World,
    selection: &Selection,
    posts: &[&Post],
    max_results: usize,
    token: Option<u64>,
) -> Value {
    let start = match token {
        Some(t) => posts.iter().position(|p| p.id <= t).unwrap_or(posts.len()),
        None => 0,
    };
    let rest = &posts[start..];
    let on_page = &rest[..rest.len().min(max_results)];
    let mut meta = Map::new();
    meta.insert("result_count".into(), json!(on_page.len()));
    if let (Some(first), Some(last)) = (on_page.first(), on_page.last()) {
        meta.insert("newest_id".into(), json!(first.id.to_string()));
        meta.insert("oldest_id".into(), json!(last.id.to_string()));
    }
    if let Some(next) = rest.get(max_results) {
        meta.insert("next_token".into(), json!(base36(next.id)));
    }
    let mut body = Map::new();
    if !on_page.is_empty() {
        body.insert(
            "data".into(),
            Value::Array(on_page.iter().map(|p| selection.post(p)).collect()),
        );
        if let Some(includes) = selection.includes(world, on_page) {
            body.insert("includes".into(), includes);
        }
    }
    body.insert("meta".into(), Value::Object(meta));
    Value::Object(body)
}
