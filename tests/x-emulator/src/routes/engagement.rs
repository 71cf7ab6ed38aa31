//! Acting on posts and users for the caller: like, repost, bookmark and
//! follow, and undoing each (`/2/users/:id/likes`, `…/retweets`,
//! `…/bookmarks`, `…/following`). The path's user must be the caller; the
//! target must exist; undoing what was not done succeeds and says so.

use super::answer;
use crate::Shared;
use crate::auth::{Caller, authorize};
use crate::params::parse_id;
use crate::problem;
use crate::rate_limit::Endpoint;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

/// One kind of engagement: its endpoint, its body member, its answer member.
struct Kind {
    endpoint: Endpoint,
    name: &'static str,
    member: &'static str,
    answer: &'static str,
}

const LIKE: Kind = Kind {
    endpoint: Endpoint::Likes,
    name: "like",
    member: "tweet_id",
    answer: "liked",
};
const REPOST: Kind = Kind {
    endpoint: Endpoint::Reposts,
    name: "repost",
    member: "tweet_id",
    answer: "retweeted",
};
const BOOKMARK: Kind = Kind {
    endpoint: Endpoint::Bookmarks,
    name: "bookmark",
    member: "tweet_id",
    answer: "bookmarked",
};
const MUTE: Kind = Kind {
    endpoint: Endpoint::Mutes,
    name: "mute",
    member: "target_user_id",
    answer: "muting",
};
const FOLLOW: Kind = Kind {
    endpoint: Endpoint::Follows,
    name: "follow",
    member: "target_user_id",
    answer: "following",
};

/// Checks the caller and the path's user id; returns the caller's id.
async fn acting_user(
    shared: &Shared,
    headers: &HeaderMap,
    kind: &Kind,
    path_id: &str,
) -> Result<(Caller, u64), Response> {
    let caller = authorize(shared, headers, kind.endpoint).await?;
    let user = caller
        .user_id
        .ok_or_else(problem::unsupported_authentication)?;
    let id = parse_id("id", path_id)?;
    if id != user {
        return Err(problem::generic(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You are not allowed to act on behalf of another user.",
        ));
    }
    Ok((caller, user))
}

/// Sets (or clears) the engagement after checking its target exists.
/// True when it waits for the target's approval: following a protected
/// account makes a follow request, as on X (`pending_follow: true`).
fn apply(shared: &Shared, kind: &Kind, user: u64, target: u64, on: bool) -> Result<bool, Response> {
    let mut world = shared.world.lock().unwrap();
    if kind.name == "follow" {
        let Some(followed) = world.user(target) else {
            return Err(problem::not_found("user", kind.member, &target.to_string()));
        };
        let asks = on && followed.protected && user != target && !world.follows(user, target);
        if asks {
            world.follow_requests.insert((user, target));
            return Ok(true);
        }
        // Unfollowing withdraws a request too.
        world.follow_requests.remove(&(user, target));
        // Follow subscriptions hear of it, in the order follows happen.
        crate::activity::follow(shared, &mut world, user, target, on);
        return Ok(false);
    }
    if kind.name == "mute" {
        if on && world.user(target).is_none() {
            return Err(problem::not_found("user", kind.member, &target.to_string()));
        }
    } else if on && world.post(target).is_none() {
        return Err(problem::not_found(
            "tweet",
            kind.member,
            &target.to_string(),
        ));
    }
    if on {
        let new = world.engagements.insert((kind.name, user, target));
        // A repost is a post of its own on X, in the reposter's timeline
        // and in `GET /2/users/reposts_of_me`.
        if new && kind.name == "repost" {
            world.add_repost(user, target, shared.clock.now());
        }
    } else {
        world.engagements.remove(&(kind.name, user, target));
        if kind.name == "repost" {
            world.remove_repost(user, target);
        }
    }
    Ok(false)
}

async fn create(
    shared: Arc<Shared>,
    headers: HeaderMap,
    id: String,
    body: Bytes,
    kind: Kind,
) -> Result<Response, Response> {
    let (caller, user) = acting_user(&shared, &headers, &kind, &id).await?;
    if matches!(kind.name, "like" | "follow")
        && *shared.access.lock().unwrap() == crate::AccessLevel::PayPerUse
    {
        return Err(problem::not_in_access_level());
    }
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| problem::invalid_body(&format!("Request body is not valid JSON: {e}")))?;
    let target = request
        .get(kind.member)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            problem::invalid_body(&format!("$.{}: is missing but it is required", kind.member))
        })?;
    let target = parse_id(kind.member, target)?;
    let pending = apply(&shared, &kind, user, target, true)?;
    let mut data = json!({ kind.answer: !pending });
    if kind.name == "follow" {
        data["pending_follow"] = json!(pending);
    }
    Ok(answer(&caller, StatusCode::OK, json!({ "data": data })))
}

async fn remove(
    shared: Arc<Shared>,
    headers: HeaderMap,
    id: String,
    target: String,
    kind: Kind,
) -> Result<Response, Response> {
    let (caller, user) = acting_user(&shared, &headers, &kind, &id).await?;
    let target = parse_id(kind.member, &target)?;
    apply(&shared, &kind, user, target, false)?;
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": { kind.answer: false } }),
    ))
}

pub async fn like(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> Result<Response, Response> {
    create(s, h, id, b, LIKE).await
}

pub async fn unlike(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path((id, t)): Path<(String, String)>,
) -> Result<Response, Response> {
    remove(s, h, id, t, LIKE).await
}

pub async fn repost(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> Result<Response, Response> {
    create(s, h, id, b, REPOST).await
}

pub async fn unrepost(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path((id, t)): Path<(String, String)>,
) -> Result<Response, Response> {
    remove(s, h, id, t, REPOST).await
}

pub async fn bookmark(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> Result<Response, Response> {
    create(s, h, id, b, BOOKMARK).await
}

pub async fn unbookmark(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path((id, t)): Path<(String, String)>,
) -> Result<Response, Response> {
    remove(s, h, id, t, BOOKMARK).await
}

pub async fn follow(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> Result<Response, Response> {
    create(s, h, id, b, FOLLOW).await
}

pub async fn unfollow(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path((id, t)): Path<(String, String)>,
) -> Result<Response, Response> {
    remove(s, h, id, t, FOLLOW).await
}

pub async fn mute(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    b: Bytes,
) -> Result<Response, Response> {
    create(s, h, id, b, MUTE).await
}

pub async fn unmute(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path((id, t)): Path<(String, String)>,
) -> Result<Response, Response> {
    remove(s, h, id, t, MUTE).await
}
