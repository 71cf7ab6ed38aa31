//! Looking up posts and users, and listing the users around an account or a
//! post: `post.lookup`, `users.lookup`, `user.followers`, `user.following`,
//! `post.liking_users`, `post.reposted_by`.

use super::Action;
use super::fields::{PostFields, UserFields};
use super::model::{Includes, Post, Refused, User, looked_up_posts, lookup_errors, partial_errors};
use super::paging::{Bounds, Page, check_paging, one_or_many};
use crate::api::{Answer, RateLimit};
use crate::context::Context;
use crate::error::{ConnectorError, internal, invalid_input};
use crate::input::{Id, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most ids or usernames one lookup takes, as X sets it.
const MAX_LOOKUP: usize = 100;

/// Which posts.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostLookupInput {
    /// The posts' ids, 1 to 100.
    #[schemars(length(min = 1, max = 100))]
    pub ids: Vec<Id>,
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: PostFields,
}

impl Validate for PostLookupInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_count("ids", self.ids.len())
    }
}

fn check_count(field: &str, n: usize) -> Result<(), ConnectorError> {
    if n == 0 || n > MAX_LOOKUP {
        return Err(invalid_input(
            field,
            format!("takes 1 to {MAX_LOOKUP} values, got {n}"),
        ));
    }
    Ok(())
}

/// The posts found, with their authors.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PostLookupOutput {
    /// The posts X found, in the order X gave them.
    pub posts: Vec<Post>,
    /// Ids X could not find (deleted, or never existed).
    pub not_found: Vec<String>,
    /// Ids X found but would not return, with X's reason (a protected
    /// account's posts, for one the connected account does not follow).
    pub refused: Vec<Refused>,
    /// X's other errors beside the answer, such as a post that a found
    /// post quotes and that was deleted since.
    pub partial_errors: Vec<Value>,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// `GET /2/tweets?ids=`.
pub struct PostLookup;

impl Action for PostLookup {
    const ID: &'static str = "post.lookup";
    const READS: bool = true;
    type Input = PostLookupInput;
    type Output = PostLookupOutput;

    fn run(ctx: &Context, input: PostLookupInput) -> Result<PostLookupOutput, ConnectorError> {
        let ids: Vec<&str> = input.ids.iter().map(Id::as_str).collect();
        let mut query = vec![("ids", ids.join(","))];
        query.extend(input.fields.query());
        let answer = ctx.api.get("/2/tweets", &query)?;
        let errors = lookup_errors(&answer.body, "ids", &ids);
        Ok(PostLookupOutput {
            posts: looked_up_posts(&answer.body)?,
            not_found: errors.not_found,
            refused: errors.refused,
            partial_errors: errors.partial_errors,
            rate_limit: answer.rate_limit,
        })
    }
}

/// Which users: by usernames or by ids.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsersLookupInput {
    /// Handles, without `@`, 1 to 100. Give `usernames` or `ids`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 100))]
    pub usernames: Option<Vec<String>>,
    /// User ids, 1 to 100. Give `usernames` or `ids`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 100))]
    pub ids: Option<Vec<Id>>,
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: UserFields,
}

impl Validate for UsersLookupInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        match (&self.usernames, &self.ids) {
            (Some(_), Some(_)) => Err(invalid_input("ids", "give `usernames` or `ids`, not both")),
            (None, None) => Err(invalid_input("usernames", "give `usernames` or `ids`")),
            (None, Some(ids)) => check_count("ids", ids.len()),
            (Some(names), None) => {
                check_count("usernames", names.len())?;
                for (i, name) in names.iter().enumerate() {
                    let name = name.strip_prefix('@').unwrap_or(name);
                    if name.is_empty()
                        || name.len() > 15
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        return Err(invalid_input(
                            format!("usernames[{i}]"),
                            "an X handle is 1 to 15 letters, digits or underscores",
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

/// The users found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UsersLookupOutput {
    /// The users X found.
    pub users: Vec<User>,
    /// Usernames or ids X could not find (or that are suspended).
    pub not_found: Vec<String>,
    /// Usernames or ids X would not return, with X's reason.
    pub refused: Vec<Refused>,
    /// X's other errors beside the answer, such as a pinned post deleted
    /// since.
    pub partial_errors: Vec<Value>,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// `GET /2/users/by?usernames=` or `GET /2/users?ids=`.
pub struct UsersLookup;

impl Action for UsersLookup {
    const ID: &'static str = "users.lookup";
    const READS: bool = true;
    type Input = UsersLookupInput;
    type Output = UsersLookupOutput;

    fn run(ctx: &Context, input: UsersLookupInput) -> Result<UsersLookupOutput, ConnectorError> {
        let (path, parameter, values): (_, _, Vec<&str>) = match (&input.usernames, &input.ids) {
            (Some(names), _) => (
                "/2/users/by",
                "usernames",
                names
                    .iter()
                    .map(|n| n.strip_prefix('@').unwrap_or(n))
                    .collect(),
            ),
            (None, Some(ids)) => ("/2/users", "ids", ids.iter().map(Id::as_str).collect()),
            (None, None) => return Err(invalid_input("usernames", "give `usernames` or `ids`")),
        };
        let mut query = vec![(parameter, values.join(","))];
        query.extend(input.fields.query());
        let answer = ctx.api.get(path, &query)?;
        let errors = lookup_errors(&answer.body, parameter, &values);
        Ok(UsersLookupOutput {
            users: users_of(&answer)?,
            not_found: errors.not_found,
            refused: errors.refused,
            partial_errors: errors.partial_errors,
            rate_limit: answer.rate_limit,
        })
    }
}

/// The users of an answer's `data`, each with its pinned post joined.
fn users_of(answer: &Answer) -> Result<Vec<User>, ConnectorError> {
    let includes = Includes::of(&answer.body);
    match answer.body.get("data") {
        Some(d) => Vec::<User>::deserialize(d)
            .map(|users| users.into_iter().map(|u| includes.join_user(u)).collect())
            .map_err(|e| internal(format!("unexpected `data` from X: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// A page of users.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<User>,
    /// How many users this page holds.
    pub result_count: u64,
    /// Pass back as `pagination_token` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Problems X reported beside the data; the users above are complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial_errors: Vec<Value>,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

impl Page for UserPage {
    fn items(&self) -> usize {
        self.users.len()
    }

    fn next_token(&self) -> Option<String> {
        self.next_token.clone()
    }

    fn append(&mut self, later: UserPage) {
        self.result_count += later.result_count;
        self.next_token = later.next_token;
        self.rate_limit = later.rate_limit;
        self.partial_errors.extend(later.partial_errors);
        self.users.extend(later.users);
    }

    fn note(&mut self, problem: Value) {
        self.partial_errors.push(problem);
    }
}

/// Which page of a user list.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountListInput {
    /// Whose list; by default the connected account.
    #[serde(default)]
    pub user_id: Option<Id>,
    /// Users per page, 1 to 1000; X's default is 100.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub pagination_token: Option<String>,
    /// Collect this many users (1 to 1000), page after page, instead of one
    /// page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: UserFields,
}

/// Bounds of `max_results` for followers and following, as X sets them.
const ACCOUNT_LIST_BOUNDS: Bounds = Bounds { min: 1, max: 1000 };
/// Bounds of `max_results` for a post's liking and reposting users.
const POST_USERS_BOUNDS: Bounds = Bounds { min: 1, max: 100 };

impl Validate for AccountListInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_paging(
            ACCOUNT_LIST_BOUNDS,
            self.limit,
            self.max_results,
            self.pagination_token.as_deref(),
        )
    }
}

/// Which page of the accounts the connected account mutes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MutedInput {
    /// Users per page, 1 to 1000; X's default is 100.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub pagination_token: Option<String>,
    /// Collect this many users (1 to 1000), page after page, instead of one
    /// page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: UserFields,
}

impl Validate for MutedInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_paging(
            ACCOUNT_LIST_BOUNDS,
            self.limit,
            self.max_results,
            self.pagination_token.as_deref(),
        )
    }
}

/// `GET /2/users/:id/muting`: the accounts the connected account mutes.
pub struct Muting;

impl Action for Muting {
    const ID: &'static str = "user.muting";
    const READS: bool = true;
    type Input = MutedInput;
    type Output = UserPage;

    fn run(ctx: &Context, input: MutedInput) -> Result<UserPage, ConnectorError> {
        let me = ctx.account_id()?.to_string();
        user_pages(
            ctx,
            &format!("/2/users/{me}/muting"),
            ACCOUNT_LIST_BOUNDS,
            &input.fields,
            input.max_results,
            input.pagination_token,
            input.limit,
        )
    }
}

/// Which page of a post's users.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostUsersInput {
    /// The post.
    pub post_id: Id,
    /// Users per page, 1 to 100; X's default is 100.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub max_results: Option<u32>,
    /// The `next_token` of a previous page.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub pagination_token: Option<String>,
    /// Collect this many users (1 to 1000), page after page, instead of one
    /// page; `next_token` then resumes after the last one.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: UserFields,
}

impl Validate for PostUsersInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_paging(
            POST_USERS_BOUNDS,
            self.limit,
            self.max_results,
            self.pagination_token.as_deref(),
        )
    }
}

/// A page of users at `path`, or `limit` users over several pages.
fn user_pages(
    ctx: &Context,
    path: &str,
    bounds: Bounds,
    fields: &UserFields,
    max_results: Option<u32>,
    token: Option<String>,
    limit: Option<u32>,
) -> Result<UserPage, ConnectorError> {
    let fetch = |n: Option<u32>, t: Option<String>| user_page(ctx, path, fields, n, t);
    one_or_many(limit, bounds, max_results, token, fetch)
}

/// Gets one page of users at `path`.
pub(crate) fn user_page(
    ctx: &Context,
    path: &str,
    fields: &UserFields,
    max_results: Option<u32>,
    token: Option<String>,
) -> Result<UserPage, ConnectorError> {
    let mut query = fields.query();
    if let Some(n) = max_results {
        query.push(("max_results", n.to_string()));
    }
    if let Some(t) = token {
        query.push(("pagination_token", t));
    }
    let answer = ctx.api.get(path, &query)?;
    if answer.body.get("data").is_none()
        && let Some(e) = crate::api::partial_error(&answer.body)
    {
        return Err(e);
    }
    let users = users_of(&answer)?;
    let meta = answer.body.get("meta").cloned().unwrap_or(Value::Null);
    Ok(UserPage {
        result_count: meta
            .get("result_count")
            .and_then(Value::as_u64)
            .unwrap_or(users.len() as u64),
        next_token: meta
            .get("next_token")
            .and_then(Value::as_str)
            .map(str::to_string),
        partial_errors: partial_errors(&answer.body),
        users,
        rate_limit: answer.rate_limit,
    })
}

/// Declares an action that lists a page of users around an account.
macro_rules! account_list {
    ($name:ident, $id:literal, $list:literal) => {
        #[doc = concat!("`GET /2/users/:id/", $list, "`.")]
        pub struct $name;

        impl Action for $name {
            const ID: &'static str = $id;
            const READS: bool = true;
            type Input = AccountListInput;
            type Output = UserPage;

            fn run(ctx: &Context, input: AccountListInput) -> Result<UserPage, ConnectorError> {
                let user = match &input.user_id {
                    Some(id) => id.as_str().to_string(),
                    None => ctx.account_id()?.to_string(),
                };
                user_pages(
                    ctx,
                    &format!("/2/users/{user}/{}", $list),
                    ACCOUNT_LIST_BOUNDS,
                    &input.fields,
                    input.max_results,
                    input.pagination_token,
                    input.limit,
                )
            }
        }
    };
}

/// Declares an action that lists a page of users around a post.
macro_rules! post_users {
    ($name:ident, $id:literal, $list:literal) => {
        #[doc = concat!("`GET /2/tweets/:id/", $list, "`.")]
        pub struct $name;

        impl Action for $name {
            const ID: &'static str = $id;
            const READS: bool = true;
            type Input = PostUsersInput;
            type Output = UserPage;

            fn run(ctx: &Context, input: PostUsersInput) -> Result<UserPage, ConnectorError> {
                user_pages(
                    ctx,
                    &format!("/2/tweets/{}/{}", input.post_id.as_str(), $list),
                    POST_USERS_BOUNDS,
                    &input.fields,
                    input.max_results,
                    input.pagination_token,
                    input.limit,
                )
            }
        }
    };
}

account_list!(Followers, "user.followers", "followers");
account_list!(Following, "user.following", "following");
post_users!(LikingUsers, "post.liking_users", "liking_users");
post_users!(RepostedBy, "post.reposted_by", "retweeted_by");
