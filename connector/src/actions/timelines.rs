//! `timeline.user` and `timeline.home`.

use super::model::{POST_EXPANSIONS, POST_FIELDS, PostPage, USER_FIELDS, post_page};
use super::paging::{Bounds, check_limit, check_page, collect_posts};
use super::{Action, Context};
use crate::error::ConnectorError;
use crate::input::{Id, Validate};
use schemars::JsonSchema;
use serde::Deserialize;

/// Bounds of `max_results` for a user's posts, as X sets them.
const USER_MIN: u32 = 5;
const USER_MAX: u32 = 100;
/// Bounds of `max_results` for the home timeline, as X sets them.
const HOME_MIN: u32 = 1;
const HOME_MAX: u32 = 100;
const USER_BOUNDS: Bounds = Bounds {
    min: USER_MIN,
    max: USER_MAX,
};
const HOME_BOUNDS: Bounds = Bounds {
    min: HOME_MIN,
    max: HOME_MAX,
};

/// Whose posts, and which page.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// The user whose posts to list; by default the connected account.
    #[serde(default)]
    pub user_id: Option<Id>,
    /// Posts per page, 5 to 100; X's default is 10.
    #[serde(default)]
    #[schemars(range(min = 5, max = 100))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page, to get the page after it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub pagination_token: Option<String>,
    /// Collect this many posts (5 to 1000), page after page, instead of one
    /// page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 5, max = 1000))]
    pub limit: Option<u32>,
}

impl Validate for UserInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_limit(self.limit, USER_BOUNDS)?;
        check_page(
            self.max_results,
            USER_BOUNDS,
            "pagination_token",
            self.pagination_token.as_deref(),
        )
    }
}

/// `GET /2/users/:id/tweets`.
pub struct User;

impl Action for User {
    const ID: &'static str = "timeline.user";
    type Input = UserInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: UserInput) -> Result<PostPage, ConnectorError> {
        let user_id = match &input.user_id {
            Some(id) => id.as_str().to_string(),
            None => ctx.account_id()?.to_string(),
        };
        pages(
            ctx,
            &format!("/2/users/{user_id}/tweets"),
            &input,
            USER_BOUNDS,
        )
    }
}

/// Which page of the home timeline.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HomeInput {
    /// Posts per page, 1 to 100; X's default is 100.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page, to get the page after it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub pagination_token: Option<String>,
    /// Collect this many posts (1 to 1000), page after page, instead of one
    /// page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

impl Validate for HomeInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_limit(self.limit, HOME_BOUNDS)?;
        check_page(
            self.max_results,
            HOME_BOUNDS,
            "pagination_token",
            self.pagination_token.as_deref(),
        )
    }
}

/// `GET /2/users/:id/timelines/reverse_chronological`.
pub struct Home;

impl Action for Home {
    const ID: &'static str = "timeline.home";
    type Input = HomeInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: HomeInput) -> Result<PostPage, ConnectorError> {
        let user_id = ctx.account_id()?.to_string();
        let path = format!("/2/users/{user_id}/timelines/reverse_chronological");
        let fetch = |n: Option<u32>, token: Option<String>| {
            post_page(ctx.api.get(&path, &page_query(n, token))?)
        };
        match input.limit {
            None => fetch(input.max_results, input.pagination_token),
            Some(limit) => collect_posts(limit, HOME_BOUNDS, input.pagination_token, |n, t| {
                fetch(Some(n), t)
            }),
        }
    }
}

/// `GET /2/users/:id/mentions`: posts that mention a user.
pub struct Mentions;

impl Action for Mentions {
    const ID: &'static str = "timeline.mentions";
    type Input = UserInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: UserInput) -> Result<PostPage, ConnectorError> {
        let user_id = match &input.user_id {
            Some(id) => id.as_str().to_string(),
            None => ctx.account_id()?.to_string(),
        };
        let query = page_query(input.max_results, input.pagination_token);
        post_page(
            ctx.api
                .get(&format!("/2/users/{user_id}/mentions"), &query)?,
        )
    }
}

/// One page, or `limit` posts over several pages, of a user's list at `path`.
fn pages(
    ctx: &Context,
    path: &str,
    input: &UserInput,
    bounds: Bounds,
) -> Result<PostPage, ConnectorError> {
    let fetch = |n: Option<u32>, token: Option<String>| {
        post_page(ctx.api.get(path, &page_query(n, token))?)
    };
    match input.limit {
        None => fetch(input.max_results, input.pagination_token.clone()),
        Some(limit) => collect_posts(limit, bounds, input.pagination_token.clone(), |n, t| {
            fetch(Some(n), t)
        }),
    }
}

fn page_query(
    max_results: Option<u32>,
    pagination_token: Option<String>,
) -> Vec<(&'static str, String)> {
    let mut query = vec![
        ("tweet.fields", POST_FIELDS.to_string()),
        ("expansions", POST_EXPANSIONS.to_string()),
        ("user.fields", USER_FIELDS.to_string()),
    ];
    if let Some(n) = max_results {
        query.push(("max_results", n.to_string()));
    }
    if let Some(token) = pagination_token {
        query.push(("pagination_token", token));
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;

    #[test]
    fn max_results_follows_each_endpoints_bounds() {
        assert!(parse::<UserInput>(r#"{"max_results": 4}"#).is_err());
        assert!(parse::<UserInput>(r#"{"max_results": 5}"#).is_ok());
        assert!(parse::<HomeInput>(r#"{"max_results": 1}"#).is_ok());
        assert!(parse::<HomeInput>(r#"{"max_results": 101}"#).is_err());
    }
}
