//! `GET /2/users/:id/tweets`, `GET /2/users/:id/timelines/reverse_chronological`,
//! `GET /2/users/:id/mentions`, `GET /2/tweets/:id/quote_tweets`,
//! `GET /2/users/reposts_of_me` and `GET /2/users/:id/bookmarks`.

use super::{answer, page};
use crate::Shared;
use crate::auth::authorize;
use crate::fields::{POST_QUERY_PARAMS, Selection};
use crate::params::{Params, parse_id};
use crate::problem::{self, invalid_parameter};
use crate::rate_limit::Endpoint;
use crate::world::{Post, Reference};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

const TIMELINE_PARAMS: &[&str] = &[
    "since_id",
    "until_id",
    "max_results",
    "pagination_token",
    "exclude",
    "start_time",
    "end_time",
];

/// The filters both timelines share.
struct Window {
    since_id: Option<u64>,
    until_id: Option<u64>,
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
    exclude_replies: bool,
    exclude_retweets: bool,
}

impl Window {
    fn read(params: &Params) -> Result<Window, Response> {
        let mut window = Window {
            since_id: params.id("since_id")?,
            until_id: params.id("until_id")?,
            start: params.time("start_time")?,
            end: params.time("end_time")?,
            exclude_replies: false,
            exclude_retweets: false,
        };
        if let Some(exclude) = params.get("exclude") {
            for item in exclude.split(',') {
                match item {
                    "replies" => window.exclude_replies = true,
                    "retweets" => window.exclude_retweets = true,
                    other => {
                        return Err(invalid_parameter(
                            "exclude",
                            other,
                            &format!(
                                "The `exclude` query parameter value [{other}] is not one of [replies,retweets]"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(window)
    }

    fn admits(&self, post: &Post) -> bool {
        let is = |kind| post.references.iter().any(|(k, _)| *k == kind);
        self.since_id.is_none_or(|id| post.id > id)
            && self.until_id.is_none_or(|id| post.id < id)
            && self.start.is_none_or(|t| post.created_at >= t)
            && self.end.is_none_or(|t| post.created_at <= t)
            && !(self.exclude_replies && is(Reference::RepliedTo))
            && !(self.exclude_retweets && is(Reference::Retweeted))
    }
}

pub async fn user_posts(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::UserPosts).await?;
    let user_id = parse_id("id", &id)?;
    let list = ListQuery::read(query.as_deref(), TIMELINE_PARAMS, (5, 100, 10))?;
    let window = Window::read(&list.params)?;
    let world = shared.world.lock().unwrap();
    if world.user(user_id).is_none() {
        return Ok(answer(
            &caller,
            StatusCode::OK,
            json!({ "errors": [problem::not_found_error("user", "id", &id)] }),
        ));
    }
    if !world.can_see(caller.user_id, user_id) {
        return Ok(answer(
            &caller,
            StatusCode::OK,
            json!({ "errors": [problem::not_authorized_error("user", "id", &id)] }),
        ));
    }
    let posts: Vec<&Post> = world
        .posts_newest_first()
        .filter(|p| p.author_id == user_id && window.admits(p))
        .filter(|p| p.listed_for(caller.user_id))
        .collect();
    Ok(answer(&caller, StatusCode::OK, list.page(&world, &posts)))
}

pub async fn home(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::HomeTimeline).await?;
    let user_id = parse_id("id", &id)?;
    super::only_the_caller(
        &caller,
        user_id,
        "You can only request the reverse chronological timeline of the authenticated user.",
    )?;
    let list = ListQuery::read(query.as_deref(), TIMELINE_PARAMS, (1, 100, 100))?;
    let window = Window::read(&list.params)?;
    let world = shared.world.lock().unwrap();
    let posts: Vec<&Post> = world
        .posts_newest_first()
        .filter(|p| {
            (p.author_id == user_id || world.follows(user_id, p.author_id))
                && p.listed_for(caller.user_id)
                && window.admits(p)
        })
        .collect();
    Ok(answer(&caller, StatusCode::OK, list.page(&world, &posts)))
}

/// `GET /2/users/:id/mentions`: posts that mention the user's handle.
pub async fn mentions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::Mentions).await?;
    let user_id = parse_id("id", &id)?;
    let own: Vec<&str> = TIMELINE_PARAMS
        .iter()
        .filter(|p| **p != "exclude")
        .copied()
        .collect();
    let list = ListQuery::read(query.as_deref(), &own, (5, 100, 10))?;
    let window = Window::read(&list.params)?;
    let world = shared.world.lock().unwrap();
    let Some(user) = world.user(user_id) else {
        return Ok(answer(
            &caller,
            StatusCode::OK,
            json!({ "errors": [problem::not_found_error("user", "id", &id)] }),
        ));
    };
    let handle = format!("@{}", user.username.to_ascii_lowercase());
    let posts: Vec<&Post> = world
        .posts_newest_first()
        .filter(|p| p.text.to_ascii_lowercase().contains(&handle) && window.admits(p))
        .filter(|p| p.listed_for(caller.user_id) && world.can_see(caller.user_id, p.author_id))
        .collect();
    Ok(answer(&caller, StatusCode::OK, list.page(&world, &posts)))
}

/// What a list of posts is asked for with: its query (its own parameters
/// `own` and the fields), the fields selected, `max_results` within
/// `bounds` (min, max, default) and the page's token.
struct ListQuery {
    params: Params,
    selection: Selection,
    max_results: usize,
    token: Option<u64>,
}

impl ListQuery {
    fn read(query: Option<&str>, own: &[&str], bounds: (u32, u32, u32)) -> Result<Self, Response> {
        let allowed: Vec<&str> = own.iter().chain(POST_QUERY_PARAMS).copied().collect();
        let params = Params::parse(query, &allowed)?;
        let (min, max, default) = bounds;
        Ok(ListQuery {
            selection: Selection::for_posts(&params)?,
            max_results: params.int("max_results", min, max, default)? as usize,
            token: params.token("pagination_token")?,
            params,
        })
    }

    /// The page of `posts` asked for.
    fn page(&self, world: &crate::world::World, posts: &[&Post]) -> serde_json::Value {
        page(world, &self.selection, posts, self.max_results, self.token)
    }
}

/// `GET /2/tweets/:id/quote_tweets`: the posts that quote a post, newest
/// first.
pub async fn quotes(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::QuotePosts).await?;
    let post_id = parse_id("id", &id)?;
    let list = ListQuery::read(
        query.as_deref(),
        &["max_results", "pagination_token", "exclude"],
        (10, 100, 10),
    )?;
    let window = Window::read(&list.params)?;
    let world = shared.world.lock().unwrap();
    if world.post(post_id).is_none() {
        return Ok(answer(
            &caller,
            StatusCode::OK,
            json!({ "errors": [problem::not_found_error("tweet", "id", &id)] }),
        ));
    }
    let posts: Vec<&Post> = world
        .posts_newest_first()
        .filter(|p| {
            p.references
                .iter()
                .any(|(kind, target)| *kind == Reference::Quoted && *target == post_id)
                && window.admits(p)
        })
        .filter(|p| p.listed_for(caller.user_id) && world.can_see(caller.user_id, p.author_id))
        .collect();
    Ok(answer(&caller, StatusCode::OK, list.page(&world, &posts)))
}

/// `GET /2/users/reposts_of_me`: reposts of the authenticated user's
/// posts, newest first.
pub async fn reposts_of_me(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::RepostsOfMe).await?;
    let Some(me) = caller.user_id else {
        return Err(problem::generic(
            StatusCode::FORBIDDEN,
            "Unsupported Authentication",
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
        ));
    };
    let list = ListQuery::read(
        query.as_deref(),
        &["max_results", "pagination_token"],
        (1, 100, 100),
    )?;
    let world = shared.world.lock().unwrap();
    let posts: Vec<&Post> = world
        .posts_newest_first()
        .filter(|p| {
            p.references.iter().any(|(kind, target)| {
                *kind == Reference::Retweeted
                    && world
                        .post(*target)
                        .is_some_and(|original| original.author_id == me)
            })
        })
        .filter(|p| p.listed_for(caller.user_id) && world.can_see(caller.user_id, p.author_id))
        .collect();
    Ok(answer(&caller, StatusCode::OK, list.page(&world, &posts)))
}

/// `GET /2/users/:id/bookmarks`: the authenticated user's bookmarks, the
/// newest post first.
pub async fn bookmarks(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::BookmarksList).await?;
    let user_id = parse_id("id", &id)?;
    super::only_the_caller(
        &caller,
        user_id,
        "You can only request the bookmarks of the authenticated user.",
    )?;
    let list = ListQuery::read(
        query.as_deref(),
        &["max_results", "pagination_token"],
        (1, 100, 100),
    )?;
    let world = shared.world.lock().unwrap();
    let posts: Vec<&Post> = world
        .posts_newest_first()
        .filter(|p| world.engagements.contains(&("bookmark", user_id, p.id)))
        .filter(|p| world.can_see(caller.user_id, p.author_id))
        .collect();
    Ok(answer(&caller, StatusCode::OK, list.page(&world, &posts)))
}
