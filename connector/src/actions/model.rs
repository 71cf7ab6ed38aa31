//! The shapes actions output, built from X's `data` / `includes` / `meta`.
//!
//! X returns a post's author as an id in `data` and the user in
//! `includes.users`; the outputs join them so a workflow reads `author.username`
//! directly. Every field X returned is kept.

use crate::api::{Answer, RateLimit};
use crate::error::{ConnectorError, internal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Post fields the list actions ask for, besides the default id and text.
pub const POST_FIELDS: &str = "author_id,conversation_id,created_at,in_reply_to_user_id,lang,public_metrics,referenced_tweets,reply_settings";

/// User fields asked for wherever a user is returned.
pub const USER_FIELDS: &str =
    "created_at,description,profile_image_url,protected,public_metrics,verified";

/// Expansions the list actions ask for: the authors of the posts.
pub const POST_EXPANSIONS: &str = "author_id";

/// An X account.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Handle, without the `@`.
    pub username: String,
    /// Every other field X returned (`created_at`, `public_metrics`, ...).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A post.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Post {
    /// The post's id.
    pub id: String,
    /// The post's text.
    pub text: String,
    /// Where the post can be seen on x.com.
    pub url: String,
    /// The author, when X included it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<User>,
    /// Every other field X returned (`created_at`, `author_id`, `public_metrics`, ...).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A post as X returns it in `data`.
#[derive(Debug, Deserialize)]
struct RawPost {
    id: String,
    text: String,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

impl Post {
    fn from_raw(raw: RawPost, users: &[User]) -> Post {
        let author = raw
            .fields
            .get("author_id")
            .and_then(Value::as_str)
            .and_then(|id| users.iter().find(|u| u.id == id))
            .cloned();
        let url = match &author {
            Some(a) => format!("https://x.com/{}/status/{}", a.username, raw.id),
            None => format!("https://x.com/i/web/status/{}", raw.id),
        };
        Post {
            id: raw.id,
            text: raw.text,
            url,
            author,
            fields: raw.fields,
        }
    }
}

/// A page of posts.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PostPage {
    /// The posts, newest first; empty when none matched.
    pub posts: Vec<Post>,
    /// How many posts this page holds.
    pub result_count: u64,
    /// Id of the newest post on this page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_id: Option<String>,
    /// Id of the oldest post on this page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_id: Option<String>,
    /// Pass back as the pagination input to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Objects X included for the expansions (users, referenced posts, ...).
    pub includes: Map<String, Value>,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// Parses `data` of an answer as `T`, or says what was wrong with it.
pub fn data<T: for<'de> Deserialize<'de>>(answer: &Answer) -> Result<T, ConnectorError> {
    if let Some(e) = crate::api::partial_error(&answer.body) {
        return Err(e);
    }
    let data = answer
        .body
        .get("data")
        .ok_or_else(|| internal("X answered without `data`"))?;
    T::deserialize(data).map_err(|e| internal(format!("unexpected `data` from X: {e}")))
}

fn included_users(body: &Value) -> Vec<User> {
    body.pointer("/includes/users")
        .and_then(|u| Vec::<User>::deserialize(u).ok())
        .unwrap_or_default()
}

/// Builds a page from a list answer (`data` may be absent when nothing matched).
pub fn post_page(answer: Answer) -> Result<PostPage, ConnectorError> {
    let body = answer.body;
    if body.get("data").is_none() {
        // No posts; an `errors` array here means the request itself failed.
        if let Some(e) = crate::api::partial_error(&body) {
            return Err(e);
        }
    }
    let users = included_users(&body);
    let raw: Vec<RawPost> = match body.get("data") {
        Some(d) => {
            Vec::deserialize(d).map_err(|e| internal(format!("unexpected `data` from X: {e}")))?
        }
        None => Vec::new(),
    };
    let posts: Vec<Post> = raw.into_iter().map(|r| Post::from_raw(r, &users)).collect();
    let meta = body.get("meta").cloned().unwrap_or(Value::Null);
    let text = |key: &str| meta.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(PostPage {
        result_count: meta
            .get("result_count")
            .and_then(Value::as_u64)
            .unwrap_or(posts.len() as u64),
        newest_id: text("newest_id"),
        oldest_id: text("oldest_id"),
        next_token: text("next_token"),
        includes: body
            .get("includes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        posts,
        rate_limit: answer.rate_limit,
    })
}

/// The posts of a lookup answer with their authors joined, and the ids X
/// could not find (its partial `errors`).
pub fn looked_up_posts(body: &Value) -> Result<(Vec<Post>, Vec<String>), ConnectorError> {
    let users = included_users(body);
    let raw: Vec<RawPost> = match body.get("data") {
        Some(d) => {
            Vec::deserialize(d).map_err(|e| internal(format!("unexpected `data` from X: {e}")))?
        }
        None => Vec::new(),
    };
    let posts = raw.into_iter().map(|r| Post::from_raw(r, &users)).collect();
    Ok((posts, not_found(body)))
}

/// The values X reports as not found in a lookup's partial `errors`.
pub fn not_found(body: &Value) -> Vec<String> {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter(|e| {
                    e.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.ends_with("resource-not-found"))
                })
                .filter_map(|e| e.get("value").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Builds one post from an answer whose `data` is a post.
pub fn single_post(answer: &Answer) -> Result<Post, ConnectorError> {
    let raw: RawPost = data(answer)?;
    Ok(Post::from_raw(raw, &included_users(&answer.body)))
}
