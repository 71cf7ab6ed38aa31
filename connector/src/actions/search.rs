//! `search.recent`.

use super::model::{POST_EXPANSIONS, POST_FIELDS, PostPage, USER_FIELDS, post_page};
use super::paging::{Bounds, check_limit, check_page, collect_posts};
use super::{Action, Context};
use crate::error::ConnectorError;
use crate::input::{Id, Validate, check_length};
use schemars::JsonSchema;
use serde::Deserialize;

/// Bounds of `max_results`, as X sets them for recent search.
const MIN_RESULTS: u32 = 10;
const MAX_RESULTS: u32 = 100;
const BOUNDS: Bounds = Bounds {
    min: MIN_RESULTS,
    max: MAX_RESULTS,
};
/// The longest query X accepts on any access level (self-serve levels accept 512).
const QUERY_MAX: usize = 4096;

/// What to search for.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecentInput {
    /// An X search query: keywords, "quoted phrases" and operators such as
    /// `from:username`, `-is:retweet` or `lang:en`.
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// Posts per page, 10 to 100; X's default is 10.
    #[serde(default)]
    #[schemars(range(min = 10, max = 100))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page, to get the page after it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub next_token: Option<String>,
    /// Only posts newer than this post id.
    #[serde(default)]
    pub since_id: Option<Id>,
    /// Collect this many posts (10 to 1000), page after page, instead of
    /// one page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 10, max = 1000))]
    pub limit: Option<u32>,
}

impl Validate for RecentInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_length("query", Some(&self.query), QUERY_MAX)?;
        check_limit(self.limit, BOUNDS)?;
        check_page(
            self.max_results,
            BOUNDS,
            "next_token",
            self.next_token.as_deref(),
        )
    }
}

/// `GET /2/tweets/search/recent`.
pub struct Recent;

impl Action for Recent {
    const ID: &'static str = "search.recent";
    type Input = RecentInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: RecentInput) -> Result<PostPage, ConnectorError> {
        let fetch = |max_results: Option<u32>, token: Option<String>| {
            let mut query = vec![
                ("query", input.query.clone()),
                ("tweet.fields", POST_FIELDS.to_string()),
                ("expansions", POST_EXPANSIONS.to_string()),
                ("user.fields", USER_FIELDS.to_string()),
            ];
            if let Some(n) = max_results {
                query.push(("max_results", n.to_string()));
            }
            if let Some(token) = token {
                query.push(("next_token", token));
            }
            if let Some(id) = &input.since_id {
                query.push(("since_id", id.as_str().to_string()));
            }
            post_page(ctx.api.get("/2/tweets/search/recent", &query)?)
        };
        match input.limit {
            None => fetch(input.max_results, input.next_token.clone()),
            Some(limit) => collect_posts(limit, BOUNDS, input.next_token.clone(), |n, t| {
                fetch(Some(n), t)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;

    #[test]
    fn query_is_required_and_bounded() {
        assert!(parse::<RecentInput>(r#"{}"#).is_err());
        assert!(parse::<RecentInput>(r#"{"query": ""}"#).is_err());
        let long = format!(r#"{{"query": "{}"}}"#, "a".repeat(4097));
        assert!(parse::<RecentInput>(&long).is_err());
        assert!(
            parse::<RecentInput>(r#"{"query": "from:alice -is:retweet", "max_results": 10}"#)
                .is_ok()
        );
        assert!(parse::<RecentInput>(r#"{"query": "a", "max_results": 9}"#).is_err());
    }
}
