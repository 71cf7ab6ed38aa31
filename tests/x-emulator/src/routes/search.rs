//! `GET /2/tweets/search/recent`: the last seven days of posts.

use super::{answer, page};
use crate::Shared;
use crate::auth::authorize;
use crate::fields::{POST_QUERY_PARAMS, Selection, timestamp};
use crate::params::Params;
use crate::problem::invalid_parameter;
use crate::rate_limit::Endpoint;
use crate::search_query;
use crate::world::Post;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Duration;
use std::sync::Arc;

const SEARCH_PARAMS: &[&str] = &[
    "query",
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "max_results",
    "next_token",
    "pagination_token",
    "sort_order",
];

/// Query length X allows on self-serve access levels.
const MAX_QUERY: usize = 512;

pub async fn recent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::SearchRecent).await?;
    let allowed: Vec<&str> = SEARCH_PARAMS
        .iter()
        .chain(POST_QUERY_PARAMS)
        .copied()
        .collect();
    let params = Params::parse(query.as_deref(), &allowed)?;
    let selection = Selection::for_posts(&params)?;
    let text = params.get("query").unwrap_or("");
    if text.trim().is_empty() {
        return Err(invalid_parameter(
            "query",
            text,
            "The `query` query parameter can not be empty",
        ));
    }
    if text.chars().count() > MAX_QUERY {
        return Err(invalid_parameter(
            "query",
            text,
            &format!(
                "There were errors processing your request: Rule length exceeds {MAX_QUERY} characters"
            ),
        ));
    }
    let parsed = search_query::parse(text).map_err(|reason| {
        invalid_parameter(
            "query",
            text,
            &format!("There were errors processing your request: {reason}"),
        )
    })?;
    let max_results = params.int("max_results", 10, 100, 10)? as usize;
    let token = match params.token("next_token")? {
        Some(t) => Some(t),
        None => params.token("pagination_token")?,
    };
    let since_id = params.id("since_id")?;
    let until_id = params.id("until_id")?;
    let now = shared.clock.now();
    let earliest = now - Duration::days(7);
    let start = params.time("start_time")?;
    if let Some(start) = start.filter(|s| *s < earliest) {
        let value = timestamp(start);
        return Err(invalid_parameter(
            "start_time",
            &value,
            &format!(
                "Invalid 'start_time':'{value}'. 'start_time' must be on or after {}",
                timestamp(earliest)
            ),
        ));
    }
    let end = params.time("end_time")?;
    if let Some(end) = end.filter(|e| *e > now - Duration::seconds(10)) {
        let value = timestamp(end);
        return Err(invalid_parameter(
            "end_time",
            &value,
            &format!(
                "Invalid 'end_time':'{value}'. 'end_time' must be a minimum of 10 seconds prior to the request time."
            ),
        ));
    }
    let start = start.unwrap_or(earliest);
    let world = shared.world.lock().unwrap();
    let posts: Vec<&Post> = world
        .posts_newest_first()
        .filter(|p| p.created_at >= start && end.is_none_or(|e| p.created_at < e))
        .filter(|p| since_id.is_none_or(|id| p.id > id) && until_id.is_none_or(|id| p.id < id))
        .filter(|p| p.listed_for(caller.user_id) && world.can_see(caller.user_id, p.author_id))
        .filter(|p| parsed.matches(&world, p))
        .collect();
    Ok(answer(
        &caller,
        StatusCode::OK,
        page(&world, &selection, &posts, max_results, token),
    ))
}
