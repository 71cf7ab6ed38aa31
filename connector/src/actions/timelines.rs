//! `timeline.user`, `timeline.home`, `timeline.mentions`, `post.quotes`,
//! `timeline.reposts_of_me` and `timeline.bookmarks`: pages of posts,
//! newest first.

use super::Action;
use super::fields::PostFields;
use super::model::{PostPage, post_page};
use super::paging::{Bounds, check_paging, one_or_many};
use crate::context::Context;
use crate::error::ConnectorError;
use crate::input::{Id, Timestamp, Validate, check_id_order, check_order};
use schemars::JsonSchema;
use serde::Deserialize;

/// Bounds of `max_results` for a user's posts and mentions, as X sets them.
const USER_BOUNDS: Bounds = Bounds { min: 5, max: 100 };
/// Bounds of `max_results` for the home timeline, as X sets them.
const HOME_BOUNDS: Bounds = Bounds { min: 1, max: 100 };
/// Bounds of `max_results` for a post's quotes, as X sets them.
const QUOTE_BOUNDS: Bounds = Bounds { min: 10, max: 100 };
/// Bounds of `max_results` for reposts of the account's posts and for its
/// bookmarks, as X sets them (the home timeline's).
const ACCOUNT_POSTS_BOUNDS: Bounds = HOME_BOUNDS;

/// Kinds of posts a timeline can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Exclude {
    /// Replies to other posts.
    Replies,
    /// Reposts (X's API still calls them retweets).
    Retweets,
}

/// Whose posts, which of them, and which page.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// The user whose posts to list; by default the connected account.
    #[serde(default)]
    pub user_id: Option<Id>,
    /// Leave out replies, reposts, or both.
    #[serde(default)]
    pub exclude: Vec<Exclude>,
    /// Only posts newer than this post.
    #[serde(default)]
    pub since_id: Option<Id>,
    /// Only posts older than this post.
    #[serde(default)]
    pub until_id: Option<Id>,
    /// Only posts created at or after this time.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// Only posts created before this time.
    #[serde(default)]
    pub end_time: Option<Timestamp>,
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
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: PostFields,
}

/// Posts mentioning a user, and which page.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MentionsInput {
    /// The user mentioned; by default the connected account.
    #[serde(default)]
    pub user_id: Option<Id>,
    /// Only posts newer than this post.
    #[serde(default)]
    pub since_id: Option<Id>,
    /// Only posts older than this post.
    #[serde(default)]
    pub until_id: Option<Id>,
    /// Only posts created at or after this time.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// Only posts created before this time.
    #[serde(default)]
    pub end_time: Option<Timestamp>,
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
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: PostFields,
}

/// Which posts of the home timeline, and which page.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HomeInput {
    /// Leave out replies, reposts, or both.
    #[serde(default)]
    pub exclude: Vec<Exclude>,
    /// Only posts newer than this post.
    #[serde(default)]
    pub since_id: Option<Id>,
    /// Only posts older than this post.
    #[serde(default)]
    pub until_id: Option<Id>,
    /// Only posts created at or after this time.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// Only posts created before this time.
    #[serde(default)]
    pub end_time: Option<Timestamp>,
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
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: PostFields,
}

/// The post whose quotes to list, which of them, and which page.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotesInput {
    /// The post quoted.
    pub post_id: Id,
    /// Leave out replies, reposts, or both.
    #[serde(default)]
    pub exclude: Vec<Exclude>,
    /// Posts per page, 10 to 100; X's default is 10.
    #[serde(default)]
    #[schemars(range(min = 10, max = 100))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page, to get the page after it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub pagination_token: Option<String>,
    /// Collect this many posts (10 to 1000), page after page, instead of
    /// one page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 10, max = 1000))]
    pub limit: Option<u32>,
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: PostFields,
}

/// Which page of the reposts of the account's posts, or of its bookmarks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPostsInput {
    /// Posts per page, 1 to 100; X's default is 100.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page, to get the page after it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub pagination_token: Option<String>,
    /// Collect this many posts (1 to 1000), page after page, instead of
    /// one page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: PostFields,
}

/// The page asked for: the endpoint's bounds of `max_results`, the
/// caller's `max_results`, token and `limit`.
#[derive(Clone, Copy)]
struct Paging<'a> {
    bounds: Bounds,
    max_results: Option<u32>,
    token: Option<&'a str>,
    limit: Option<u32>,
}

impl<'a> Paging<'a> {
    fn new(
        bounds: Bounds,
        max_results: Option<u32>,
        token: &'a Option<String>,
        limit: Option<u32>,
    ) -> Self {
        Paging {
            bounds,
            max_results,
            token: token.as_deref(),
            limit,
        }
    }
}

/// What every timeline request carries: the filters, the fields and the
/// page.
struct Request<'a> {
    path: String,
    exclude: &'a [Exclude],
    since_id: Option<&'a Id>,
    until_id: Option<&'a Id>,
    start_time: Option<&'a Timestamp>,
    end_time: Option<&'a Timestamp>,
    fields: &'a PostFields,
    page: Paging<'a>,
}

impl<'a> Request<'a> {
    /// A request of `path` with no filter but the fields.
    fn unfiltered(path: String, fields: &'a PostFields, page: Paging<'a>) -> Self {
        Request {
            path,
            exclude: &[],
            since_id: None,
            until_id: None,
            start_time: None,
            end_time: None,
            fields,
            page,
        }
    }

    /// Checks the page and what the filters cannot say in a schema.
    fn check(&self) -> Result<(), ConnectorError> {
        let page = self.page;
        check_paging(page.bounds, page.limit, page.max_results, page.token)?;
        check_id_order(self.since_id, self.until_id)?;
        check_order(self.start_time, self.end_time)
    }

    fn query(
        &self,
        max_results: Option<u32>,
        token: Option<String>,
    ) -> Vec<(&'static str, String)> {
        let mut query = self.fields.query();
        if !self.exclude.is_empty() {
            let mut names: Vec<&str> = Vec::new();
            for kind in self.exclude {
                let name = match kind {
                    Exclude::Replies => "replies",
                    Exclude::Retweets => "retweets",
                };
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            query.push(("exclude", names.join(",")));
        }
        let mut add = |name, value: Option<String>| {
            if let Some(v) = value {
                query.push((name, v));
            }
        };
        add("since_id", self.since_id.map(|i| i.as_str().to_string()));
        add("until_id", self.until_id.map(|i| i.as_str().to_string()));
        add(
            "start_time",
            self.start_time.map(|t| t.as_str().to_string()),
        );
        add("end_time", self.end_time.map(|t| t.as_str().to_string()));
        add("max_results", max_results.map(|n| n.to_string()));
        add("pagination_token", token);
        query
    }

    /// One page, or `limit` posts over several pages.
    fn run(&self, ctx: &Context) -> Result<PostPage, ConnectorError> {
        let fetch = |n: Option<u32>, token: Option<String>| {
            post_page(ctx.api.get(&self.path, &self.query(n, token))?)
        };
        let page = self.page;
        one_or_many(
            page.limit,
            page.bounds,
            page.max_results,
            page.token.map(str::to_string),
            fetch,
        )
    }
}

impl UserInput {
    fn request(&self, user_id: String) -> Request<'_> {
        Request {
            path: format!("/2/users/{user_id}/tweets"),
            exclude: &self.exclude,
            since_id: self.since_id.as_ref(),
            until_id: self.until_id.as_ref(),
            start_time: self.start_time.as_ref(),
            end_time: self.end_time.as_ref(),
            fields: &self.fields,
            page: Paging::new(
                USER_BOUNDS,
                self.max_results,
                &self.pagination_token,
                self.limit,
            ),
        }
    }
}

impl MentionsInput {
    fn request(&self, user_id: String) -> Request<'_> {
        Request {
            path: format!("/2/users/{user_id}/mentions"),
            exclude: &[],
            since_id: self.since_id.as_ref(),
            until_id: self.until_id.as_ref(),
            start_time: self.start_time.as_ref(),
            end_time: self.end_time.as_ref(),
            fields: &self.fields,
            page: Paging::new(
                USER_BOUNDS,
                self.max_results,
                &self.pagination_token,
                self.limit,
            ),
        }
    }
}

impl HomeInput {
    fn request(&self, user_id: String) -> Request<'_> {
        Request {
            path: format!("/2/users/{user_id}/timelines/reverse_chronological"),
            exclude: &self.exclude,
            since_id: self.since_id.as_ref(),
            until_id: self.until_id.as_ref(),
            start_time: self.start_time.as_ref(),
            end_time: self.end_time.as_ref(),
            fields: &self.fields,
            page: Paging::new(
                HOME_BOUNDS,
                self.max_results,
                &self.pagination_token,
                self.limit,
            ),
        }
    }
}

impl QuotesInput {
    fn request(&self) -> Request<'_> {
        let page = Paging::new(
            QUOTE_BOUNDS,
            self.max_results,
            &self.pagination_token,
            self.limit,
        );
        Request {
            exclude: &self.exclude,
            ..Request::unfiltered(
                format!("/2/tweets/{}/quote_tweets", self.post_id.as_str()),
                &self.fields,
                page,
            )
        }
    }
}

impl AccountPostsInput {
    fn request(&self) -> Request<'_> {
        self.request_at("/2/users/reposts_of_me".to_string())
    }

    fn request_at(&self, path: String) -> Request<'_> {
        let page = Paging::new(
            ACCOUNT_POSTS_BOUNDS,
            self.max_results,
            &self.pagination_token,
            self.limit,
        );
        Request::unfiltered(path, &self.fields, page)
    }
}

impl Validate for QuotesInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        self.request().check()
    }
}

impl Validate for AccountPostsInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        self.request().check()
    }
}

impl Validate for UserInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        self.request(String::new()).check()
    }
}

impl Validate for MentionsInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        self.request(String::new()).check()
    }
}

impl Validate for HomeInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        self.request(String::new()).check()
    }
}

/// The given user, or the connected account.
fn user_or_me(ctx: &Context, user_id: &Option<Id>) -> Result<String, ConnectorError> {
    Ok(match user_id {
        Some(id) => id.as_str().to_string(),
        None => ctx.account_id()?.to_string(),
    })
}

/// `GET /2/users/:id/tweets`.
pub struct User;

impl Action for User {
    const ID: &'static str = "timeline.user";
    const READS: bool = true;
    type Input = UserInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: UserInput) -> Result<PostPage, ConnectorError> {
        let user_id = user_or_me(ctx, &input.user_id)?;
        input.request(user_id).run(ctx)
    }
}

/// `GET /2/users/:id/timelines/reverse_chronological`.
pub struct Home;

impl Action for Home {
    const ID: &'static str = "timeline.home";
    const READS: bool = true;
    type Input = HomeInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: HomeInput) -> Result<PostPage, ConnectorError> {
        let user_id = ctx.account_id()?.to_string();
        input.request(user_id).run(ctx)
    }
}

/// `GET /2/users/:id/mentions`: posts that mention a user.
pub struct Mentions;

impl Action for Mentions {
    const ID: &'static str = "timeline.mentions";
    const READS: bool = true;
    type Input = MentionsInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: MentionsInput) -> Result<PostPage, ConnectorError> {
        let user_id = user_or_me(ctx, &input.user_id)?;
        input.request(user_id).run(ctx)
    }
}

/// `GET /2/tweets/:id/quote_tweets`: the posts that quote a post.
pub struct Quotes;

impl Action for Quotes {
    const ID: &'static str = "post.quotes";
    const READS: bool = true;
    type Input = QuotesInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: QuotesInput) -> Result<PostPage, ConnectorError> {
        input.request().run(ctx)
    }
}

/// `GET /2/users/reposts_of_me`: reposts of the connected account's posts.
pub struct RepostsOfMe;

impl Action for RepostsOfMe {
    const ID: &'static str = "timeline.reposts_of_me";
    const READS: bool = true;
    type Input = AccountPostsInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: AccountPostsInput) -> Result<PostPage, ConnectorError> {
        input.request().run(ctx)
    }
}

/// `GET /2/users/:id/bookmarks`: the posts the connected account
/// bookmarked.
pub struct Bookmarks;

impl Action for Bookmarks {
    const ID: &'static str = "timeline.bookmarks";
    const READS: bool = true;
    type Input = AccountPostsInput;
    type Output = PostPage;

    fn run(ctx: &Context, input: AccountPostsInput) -> Result<PostPage, ConnectorError> {
        let user_id = ctx.account_id()?.to_string();
        input
            .request_at(format!("/2/users/{user_id}/bookmarks"))
            .run(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConnectorError;
    use crate::input::parse;

    fn field_refused<T: for<'de> Deserialize<'de> + Validate + std::fmt::Debug>(
        json: &str,
    ) -> String {
        match parse::<T>(json) {
            Err(ConnectorError::InvalidInput(i)) => i.field,
            other => panic!("expected invalid-input for {json}, got {other:?}"),
        }
    }

    #[test]
    fn max_results_follows_each_endpoints_bounds() {
        assert!(parse::<QuotesInput>(r#"{"post_id": "1", "max_results": 9}"#).is_err());
        assert!(parse::<QuotesInput>(r#"{"post_id": "1", "max_results": 10}"#).is_ok());
        assert!(parse::<AccountPostsInput>(r#"{"max_results": 1}"#).is_ok());
        assert!(parse::<AccountPostsInput>(r#"{"limit": 1001}"#).is_err());
        assert!(parse::<UserInput>(r#"{"max_results": 4}"#).is_err());
        assert!(parse::<UserInput>(r#"{"max_results": 5}"#).is_ok());
        assert!(parse::<HomeInput>(r#"{"max_results": 1}"#).is_ok());
        assert!(parse::<HomeInput>(r#"{"max_results": 101}"#).is_err());
    }

    #[test]
    fn filters_are_checked_before_any_request() {
        assert_eq!(
            field_refused::<UserInput>(r#"{"exclude": ["quotes"]}"#),
            "exclude[0]"
        );
        assert_eq!(
            field_refused::<UserInput>(r#"{"since_id": "20", "until_id": "10"}"#),
            "until_id"
        );
        assert_eq!(
            field_refused::<HomeInput>(
                r#"{"start_time": "2026-11-20T10:00:00Z", "end_time": "2026-11-20T09:00:00Z"}"#
            ),
            "end_time"
        );
        assert_eq!(
            field_refused::<MentionsInput>(r#"{"start_time": "last week"}"#),
            "start_time"
        );
        assert_eq!(
            field_refused::<MentionsInput>(r#"{"exclude": ["replies"]}"#),
            "exclude"
        );
    }

    #[test]
    fn the_query_carries_each_filter_once() {
        let input = parse::<UserInput>(
            r#"{"exclude": ["replies", "retweets", "replies"], "since_id": "5", "end_time": "2026-11-20T09:00:00Z"}"#,
        )
        .unwrap();
        let query = input.request("1".into()).query(Some(5), None);
        let get = |n: &str| query.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("exclude"), Some("replies,retweets"));
        assert_eq!(get("since_id"), Some("5"));
        assert_eq!(get("end_time"), Some("2026-11-20T09:00:00Z"));
        assert_eq!(get("max_results"), Some("5"));
        assert_eq!(get("pagination_token"), None);
    }
}
