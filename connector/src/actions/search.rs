//! `search.recent`: posts of the last seven days matching a query.

use super::Action;
use super::fields::PostFields;
use super::model::{PostPage, post_page};
use super::paging::{Bounds, check_limit, check_page, one_or_many};
use crate::context::Context;
use crate::error::{ConnectorError, invalid_input};
use crate::input::{Id, Timestamp, Validate, check_id_order, check_length, check_order};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// Bounds of `max_results`, as X sets them for recent search.
const BOUNDS: Bounds = Bounds { min: 10, max: 100 };
/// The longest query X accepts on any access level (self-serve levels accept 512).
const QUERY_MAX: usize = 4096;
/// How far back recent search reaches.
const WINDOW_SECS: i64 = 7 * 24 * 3600;
/// How close to now `end_time` may be.
const END_MARGIN_SECS: i64 = 10;

/// Which order results come in.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Newest first (X's default).
    Recency,
    /// Most relevant first.
    Relevancy,
}

/// What to search for.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecentInput {
    /// An X search query, passed to X as it is: keywords, "quoted phrases"
    /// and operators such as `from:username`, `-is:retweet`, `has:media`,
    /// `lang:en` or `(a OR b)`. X allows 512 characters on self-serve access
    /// levels and 4096 on Pro and Enterprise.
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// Only posts created at or after this time: within the last seven days.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// Only posts created before this time: at least ten seconds ago.
    #[serde(default)]
    pub end_time: Option<Timestamp>,
    /// Only posts newer than this post.
    #[serde(default)]
    pub since_id: Option<Id>,
    /// Only posts older than this post.
    #[serde(default)]
    pub until_id: Option<Id>,
    /// `recency` (newest first, the default) or `relevancy`.
    #[serde(default)]
    pub sort_order: Option<SortOrder>,
    /// Posts per page, 10 to 100; X's default is 10.
    #[serde(default)]
    #[schemars(range(min = 10, max = 100))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page, to get the page after it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub next_token: Option<String>,
    /// Collect this many posts (10 to 1000), page after page, instead of
    /// one page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 10, max = 1000))]
    pub limit: Option<u32>,
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: PostFields,
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
        )?;
        check_id_order(self.since_id.as_ref(), self.until_id.as_ref())?;
        check_order(self.start_time.as_ref(), self.end_time.as_ref())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        check_window(now, self.start_time.as_ref(), self.end_time.as_ref())
    }
}

/// Refuses times outside recent search's seven days, as X would.
fn check_window(
    now: i64,
    start: Option<&Timestamp>,
    end: Option<&Timestamp>,
) -> Result<(), ConnectorError> {
    if let Some(start) = start
        && start.unix() < now - WINDOW_SECS
    {
        return Err(invalid_input(
            "start_time",
            "recent search reaches back seven days; give a time within them",
        ));
    }
    if let Some(end) = end
        && end.unix() > now - END_MARGIN_SECS
    {
        return Err(invalid_input(
            "end_time",
            "must be at least ten seconds before now",
        ));
    }
    if let Some(end) = end
        && end.unix() < now - WINDOW_SECS
    {
        return Err(invalid_input(
            "end_time",
            "recent search reaches back seven days; give a time within them",
        ));
    }
    Ok(())
}

/// `GET /2/tweets/search/recent`.
pub struct Recent;

impl Action for Recent {
    const ID: &'static str = "search.recent";
    const READS: bool = true;
    type Input = RecentInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: RecentInput) -> Result<PostPage, ConnectorError> {
        let fetch = |max_results: Option<u32>, token: Option<String>| {
            let mut query = vec![("query", input.query.clone())];
            query.extend(input.fields.query());
            let mut add = |name, value: Option<String>| {
                if let Some(v) = value {
                    query.push((name, v));
                }
            };
            add(
                "start_time",
                input.start_time.as_ref().map(|t| t.as_str().to_string()),
            );
            add(
                "end_time",
                input.end_time.as_ref().map(|t| t.as_str().to_string()),
            );
            add(
                "since_id",
                input.since_id.as_ref().map(|i| i.as_str().to_string()),
            );
            add(
                "until_id",
                input.until_id.as_ref().map(|i| i.as_str().to_string()),
            );
            add(
                "sort_order",
                input.sort_order.map(|o| {
                    match o {
                        SortOrder::Recency => "recency",
                        SortOrder::Relevancy => "relevancy",
                    }
                    .to_string()
                }),
            );
            add("max_results", max_results.map(|n| n.to_string()));
            add("next_token", token);
            post_page(ctx.api.get("/2/tweets/search/recent", &query)?)
        };
        one_or_many(
            input.limit,
            BOUNDS,
            input.max_results,
            input.next_token.clone(),
            fetch,
        )
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

    #[test]
    fn times_must_fall_in_the_last_seven_days() {
        let at = |s: &str| serde_json::from_value::<Timestamp>(serde_json::json!(s)).unwrap();
        let now = at("2026-11-25T12:00:00Z").unix();
        let field = |r: Result<(), ConnectorError>| match r {
            Err(ConnectorError::InvalidInput(i)) => i.field,
            other => panic!("expected invalid-input, got {other:?}"),
        };
        let six_days = at("2026-11-19T12:00:00Z");
        let eight_days = at("2026-11-17T12:00:00Z");
        let five_secs_ago = at("2026-11-25T11:59:55Z");
        assert!(check_window(now, Some(&six_days), None).is_ok());
        assert_eq!(
            field(check_window(now, Some(&eight_days), None)),
            "start_time"
        );
        assert_eq!(
            field(check_window(now, None, Some(&five_secs_ago))),
            "end_time"
        );
        assert_eq!(
            field(check_window(now, None, Some(&eight_days))),
            "end_time"
        );
    }
}
