//! Looking things up: users by ids or usernames, posts by ids, and the
//! user lists of an account (followers, following) or of a post (liking
//! users, reposting users), a page at a time.

use super::answer;
use crate::Shared;
use crate::auth::authorize;
use crate::fields::{POST_QUERY_PARAMS, Selection, USER_QUERY_PARAMS};
use crate::ids::{base36, from_base36};
use crate::params::{Params, parse_id};
use crate::problem;
use crate::rate_limit::Endpoint;
use crate::world::{User, World};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Query parameters of the user lists.
fn list_params() -> Vec<&'static str> {
    let mut names = vec!["max_results", "pagination_token"];
    names.extend_from_slice(USER_QUERY_PARAMS);
    names
}

/// A pagination token for an offset: X's tokens are at least 16 characters.
fn token(offset: usize) -> String {
    format!("{:0>16}", base36(offset as u64))
}

/// One page of `users`, in X's list shape; the token is the offset.
fn user_page(
    world: &World,
    selection: &Selection,
    users: &[&User],
    params: &Params,
) -> Result<Value, Response> {
    let max = params.int("max_results", 1, 1000, 100)? as usize;
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
    let rest = users.get(start..).unwrap_or_default();
    let on_page = &rest[..rest.len().min(max)];
    let mut meta = Map::new();
    meta.insert("result_count".into(), json!(on_page.len()));
    if rest.len() > max {
        meta.insert("next_token".into(), json!(token(start + max)));
    }
    if start > 0 {
        meta.insert(
            "previous_token".into(),
            json!(token(start.saturating_sub(max))),
        );
    }
    let mut body = Map::new();
    if !on_page.is_empty() {
        body.insert(
            "data".into(),
            Value::Array(on_page.iter().map(|u| selection.user(world, u)).collect()),
        );
    }
    body.insert("meta".into(), Value::Object(meta));
    Ok(Value::Object(body))
}

async fn user_list(
    shared: Arc<Shared>,
    headers: HeaderMap,
    id: String,
    query: Option<String>,
    endpoint: Endpoint,
    list: impl Fn(&World, u64) -> Option<Vec<&User>>,
    resource: &str,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, endpoint).await?;
    let id_value = parse_id("id", &id)?;
    let params = Params::parse(query.as_deref(), &list_params())?;
    let selection = Selection::for_users(&params)?;
    let world = shared.world.lock().unwrap();
    let Some(users) = list(&world, id_value) else {
        return Ok(answer(
            &caller,
            StatusCode::OK,
            json!({ "errors": [problem::not_found_error(resource, "id", &id)] }),
        ));
    };
    let body = user_page(&world, &selection, &users, &params)?;
    Ok(answer(&caller, StatusCode::OK, body))
}

pub async fn followers(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    user_list(
        s,
        h,
        id,
        q,
        Endpoint::FollowLists,
        |w, id| w.user(id).map(|_| w.follow_list(id, false)),
        "user",
    )
    .await
}

pub async fn following(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    user_list(
        s,
        h,
        id,
        q,
        Endpoint::FollowLists,
        |w, id| w.user(id).map(|_| w.follow_list(id, true)),
        "user",
    )
    .await
}

pub async fn liking_users(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    user_list(
        s,
        h,
        id,
        q,
        Endpoint::LikingUsers,
        |w, id| w.post(id).map(|_| w.engaged_users("like", id)),
        "tweet",
    )
    .await
}

pub async fn reposted_by(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    user_list(
        s,
        h,
        id,
        q,
        Endpoint::RepostedBy,
        |w, id| w.post(id).map(|_| w.engaged_users("repost", id)),
        "tweet",
    )
    .await
}

/// The comma-separated values of `name`: 1 to 100 of them.
fn list_of<'a>(params: &'a Params, name: &str) -> Result<Vec<&'a str>, Response> {
    let raw = params.get(name).ok_or_else(|| {
        problem::invalid_parameter(
            name,
            "",
            &format!("The `{name}` query parameter can not be empty"),
        )
    })?;
    let values: Vec<&str> = raw.split(',').filter(|v| !v.is_empty()).collect();
    if values.is_empty() || values.len() > 100 {
        return Err(problem::invalid_parameter(
            name,
            raw,
            &format!("The `{name}` query parameter takes 1 to 100 values"),
        ));
    }
    Ok(values)
}

/// Found users in `data`, the others as partial `errors`.
fn lookup_answer(found: Vec<Value>, errors: Vec<Value>) -> Value {
    let mut body = Map::new();
    if !found.is_empty() {
        body.insert("data".into(), Value::Array(found));
    }
    if !errors.is_empty() {
        body.insert("errors".into(), Value::Array(errors));
    }
    Value::Object(body)
}

/// Users by the values of `parameter`; the ones `find` does not find are
/// named in partial `errors`.
async fn lookup_users(
    shared: Arc<Shared>,
    headers: HeaderMap,
    query: Option<String>,
    parameter: &str,
    find: impl for<'w> Fn(&'w World, &str) -> Result<Option<&'w User>, Response>,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::UsersLookup).await?;
    let mut names = vec![parameter];
    names.extend_from_slice(USER_QUERY_PARAMS);
    let params = Params::parse(query.as_deref(), &names)?;
    let selection = Selection::for_users(&params)?;
    let values = list_of(&params, parameter)?;
    let world = shared.world.lock().unwrap();
    let (mut found, mut errors) = (Vec::new(), Vec::new());
    for value in values {
        match find(&world, value)? {
            Some(u) => found.push(selection.user(&world, u)),
            None => errors.push(problem::not_found_error("user", parameter, value)),
        }
    }
    Ok(answer(
        &caller,
        StatusCode::OK,
        lookup_answer(found, errors),
    ))
}

pub async fn users_by_ids(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    lookup_users(s, h, q, "ids", |world, raw| {
        Ok(world.user(parse_id("ids", raw)?))
    })
    .await
}

pub async fn users_by_usernames(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    lookup_users(s, h, q, "usernames", |world, name| {
        Ok(world.user_by_username(name))
    })
    .await
}

pub async fn posts_by_ids(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::PostsLookup).await?;
    let mut names = vec!["ids"];
    names.extend_from_slice(POST_QUERY_PARAMS);
    let params = Params::parse(q.as_deref(), &names)?;
    let selection = Selection::for_posts(&params)?;
    let ids = list_of(&params, "ids")?;
    let world = shared.world.lock().unwrap();
    let (mut posts, mut errors) = (Vec::new(), Vec::new());
    for raw in ids {
        let id = parse_id("ids", raw)?;
        match world.post(id) {
            Some(p) if world.can_see(caller.user_id, p.author_id) => posts.push(p),
            Some(_) => errors.push(problem::not_authorized_error("tweet", "ids", raw)),
            None => errors.push(problem::not_found_error("tweet", "ids", raw)),
        }
    }
    // A post found may quote or answer one deleted since: X names it among
    // the errors, by the parameter that led to it.
    if selection.expands("referenced_tweets.id") {
        for post in &posts {
            for (_, id) in &post.references {
                if world.post(*id).is_none() {
                    let id = id.to_string();
                    errors.push(problem::not_found_error(
                        "tweet",
                        "referenced_tweets.id",
                        &id,
                    ));
                }
            }
        }
    }
    let mut body = lookup_answer(posts.iter().map(|p| selection.post(p)).collect(), errors);
    if let Some(includes) = selection.includes(&world, &posts) {
        body["includes"] = includes;
    }
    Ok(answer(&caller, StatusCode::OK, body))
}

/// `GET /2/users/:id/muting`: the accounts the authenticated user mutes.
pub async fn muting(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::MuteList).await?;
    let user_id = parse_id("id", &id)?;
    super::only_the_caller(
        &caller,
        user_id,
        "You can only request the muted accounts of the authenticated user.",
    )?;
    let params = Params::parse(query.as_deref(), &list_params())?;
    let selection = Selection::for_users(&params)?;
    let world = shared.world.lock().unwrap();
    let muted: Vec<&User> = world
        .engagements
        .iter()
        .filter(|(kind, user, _)| *kind == "mute" && *user == user_id)
        .filter_map(|(_, _, target)| world.user(*target))
        .collect();
    let body = user_page(&world, &selection, &muted, &params)?;
    Ok(answer(&caller, StatusCode::OK, body))
}
