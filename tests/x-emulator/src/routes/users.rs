//! `GET /2/users/me`.

use super::answer;
use crate::Shared;
use crate::auth::authorize;
use crate::fields::{Selection, USER_QUERY_PARAMS};
use crate::params::Params;
use crate::problem;
use crate::rate_limit::Endpoint;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

pub async fn me(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::UsersMe).await?;
    let params = Params::parse(query.as_deref(), USER_QUERY_PARAMS)?;
    let selection = Selection::for_users(&params)?;
    let world = shared.world.lock().unwrap();
    let user = caller
        .user_id
        .and_then(|id| world.user(id))
        .ok_or_else(problem::unauthorized)?;
    let mut data = selection.user(&world, user);
    // X gives the confirmed email only to a token granted users.email.
    if selection.wants_user_field("confirmed_email") && caller.scopes.contains("users.email") {
        data["confirmed_email"] = json!(format!("{}@example.com", user.username));
    }
    Ok(answer(&caller, StatusCode::OK, json!({ "data": data })))
}
