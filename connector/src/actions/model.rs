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
    /// The post's whole text, a long post's included.
    pub text: String,
    /// A long post's preview, as X shows it in `text` (about 280 weighted
    /// characters); absent for a post within the standard length. `entities`
    /// are those of the whole text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_text: Option<String>,
    /// Where the post can be seen on x.com.
    pub url: String,
    /// The author, when X included it (expansion `author_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<User>,
    /// The attached media, in order (expansion `attachments.media_keys`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Map<String, Value>>,
    /// The attached poll (expansion `attachments.poll_ids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<Map<String, Value>>,
    /// The tagged place (expansion `geo.place_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<Map<String, Value>>,
    /// The posts this one replies to, quotes or reposts (expansion
    /// `referenced_tweets.id`), with their authors when X included them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referenced_posts: Vec<ReferencedPost>,
    /// Every other field X returned (`created_at`, `author_id`, `public_metrics`, ...).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A post that another refers to, and how.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReferencedPost {
    /// `replied_to`, `quoted` or `retweeted`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The referenced post as X included it.
    pub post: Post,
}

/// A post as X returns it in `data`.
#[derive(Debug, Deserialize)]
struct RawPost {
    id: String,
    text: String,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// The objects of an answer's `includes`, for joining into posts and users.
#[derive(Debug, Default)]
pub struct Includes {
    users: Vec<User>,
    tweets: Vec<Map<String, Value>>,
    media: Vec<Map<String, Value>>,
    polls: Vec<Map<String, Value>>,
    places: Vec<Map<String, Value>>,
}

impl Includes {
    /// Reads `includes` of an answer body; what is missing or malformed is empty.
    pub fn of(body: &Value) -> Includes {
        let objects = |kind: &str| -> Vec<Map<String, Value>> {
            body.pointer(&format!("/includes/{kind}"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|o| o.as_object().cloned()).collect())
                .unwrap_or_default()
        };
        Includes {
            users: body
                .pointer("/includes/users")
                .and_then(|u| Vec::<User>::deserialize(u).ok())
                .unwrap_or_default(),
            tweets: objects("tweets"),
            media: objects("media"),
            polls: objects("polls"),
            places: objects("places"),
        }
    }

    fn find<'a>(
        list: &'a [Map<String, Value>],
        key: &str,
        value: &str,
    ) -> Option<&'a Map<String, Value>> {
        list.iter()
            .find(|o| o.get(key).and_then(Value::as_str) == Some(value))
    }

    /// The included post `id`, as a post joined one level deep.
    fn post(&self, id: &str) -> Option<Post> {
        let object = Self::find(&self.tweets, "id", id)?;
        let raw = RawPost::deserialize(Value::Object(object.clone())).ok()?;
        Some(Post::from_raw(raw, self, false))
    }

    /// The included pinned post of a user, if any.
    pub fn join_user(&self, mut user: User) -> User {
        let pinned = user
            .fields
            .get("pinned_tweet_id")
            .and_then(Value::as_str)
            .and_then(|id| Self::find(&self.tweets, "id", id))
            .cloned();
        if let Some(post) = pinned {
            user.fields
                .insert("pinned_post".into(), Value::Object(post));
        }
        user
    }
}

impl Post {
    /// Joins `includes` into a post from `data`; `nested` follows its
    /// references one level.
    fn from_raw(mut raw: RawPost, includes: &Includes, nested: bool) -> Post {
        // A long post: its whole text and entities are X's `note_tweet`.
        let mut preview_text = None;
        if let Some(Value::Object(mut note)) = raw.fields.remove("note_tweet")
            && let Some(Value::String(full)) = note.remove("text")
        {
            preview_text = Some(std::mem::replace(&mut raw.text, full));
            match note.remove("entities") {
                Some(entities) => raw.fields.insert("entities".into(), entities),
                None => raw.fields.remove("entities"),
            };
        }
        // `outer.inner` of the post's fields, without copying them.
        let member = |outer: &str, inner: &str| raw.fields.get(outer).and_then(|o| o.get(inner));
        let author = raw
            .fields
            .get("author_id")
            .and_then(Value::as_str)
            .and_then(|id| includes.users.iter().find(|u| u.id == id))
            .cloned();
        let ids_at = |outer: &str, inner: &str| -> Vec<String> {
            member(outer, inner)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let media = ids_at("attachments", "media_keys")
            .iter()
            .filter_map(|key| Includes::find(&includes.media, "media_key", key).cloned())
            .collect();
        let poll = ids_at("attachments", "poll_ids")
            .first()
            .and_then(|id| Includes::find(&includes.polls, "id", id).cloned());
        let place = member("geo", "place_id")
            .and_then(Value::as_str)
            .and_then(|id| Includes::find(&includes.places, "id", id).cloned());
        let referenced_posts = if nested {
            raw.fields
                .get("referenced_tweets")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter_map(|r| {
                            let kind = r.get("type")?.as_str()?.to_string();
                            let post = includes.post(r.get("id")?.as_str()?)?;
                            Some(ReferencedPost { kind, post })
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let url = match &author {
            Some(a) => format!("https://x.com/{}/status/{}", a.username, raw.id),
            None => format!("https://x.com/i/web/status/{}", raw.id),
        };
        Post {
            id: raw.id,
            text: raw.text,
            preview_text,
            url,
            author,
            media,
            poll,
            place,
            referenced_posts,
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
    /// Problems X reported beside the data, such as an expanded post that
    /// was deleted or is protected; the posts above are still complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial_errors: Vec<Value>,
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

/// Builds a page from a list answer (`data` may be absent when nothing matched).
pub fn post_page(answer: Answer) -> Result<PostPage, ConnectorError> {
    let body = answer.body;
    if body.get("data").is_none() {
        // No posts; an `errors` array here means the request itself failed.
        if let Some(e) = crate::api::partial_error(&body) {
            return Err(e);
        }
    }
    let includes = Includes::of(&body);
    let raw: Vec<RawPost> = match body.get("data") {
        Some(d) => {
            Vec::deserialize(d).map_err(|e| internal(format!("unexpected `data` from X: {e}")))?
        }
        None => Vec::new(),
    };
    let posts: Vec<Post> = raw
        .into_iter()
        .map(|r| Post::from_raw(r, &includes, true))
        .collect();
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
        partial_errors: partial_errors(&body),
        posts,
        rate_limit: answer.rate_limit,
    })
}

/// The `errors` X sent beside `data`, kept for the caller.
pub fn partial_errors(body: &Value) -> Vec<Value> {
    match (body.get("data"), body.get("errors")) {
        (Some(_), Some(Value::Array(errors))) => errors.clone(),
        _ => Vec::new(),
    }
}

/// The posts of a lookup answer, with their authors joined.
pub fn looked_up_posts(body: &Value) -> Result<Vec<Post>, ConnectorError> {
    let includes = Includes::of(body);
    let raw: Vec<RawPost> = match body.get("data") {
        Some(d) => {
            Vec::deserialize(d).map_err(|e| internal(format!("unexpected `data` from X: {e}")))?
        }
        None => Vec::new(),
    };
    Ok(raw
        .into_iter()
        .map(|r| Post::from_raw(r, &includes, true))
        .collect())
}

/// A value asked for that X would not return, with X's reason.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Refused {
    /// The id or username asked for.
    pub value: String,
    /// X's problem type, such as
    /// `https://api.twitter.com/2/problems/not-authorized-for-resource`
    /// (a protected account's post or profile the connected account may
    /// not see).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// X's title of the problem.
    pub title: String,
    /// X's explanation.
    pub detail: String,
}

/// What a lookup's partial `errors` say about the values asked for.
#[derive(Debug, Default, PartialEq)]
pub struct LookupErrors {
    /// Values X could not find.
    pub not_found: Vec<String>,
    /// Values X found but would not return, and why.
    pub refused: Vec<Refused>,
    /// Errors about anything else, such as a post that a found post quotes
    /// and that was deleted since.
    pub partial_errors: Vec<Value>,
}

/// Sorts a lookup answer's partial `errors`: one about a value asked for
/// as `parameter` (compared without case, as X compares usernames) says
/// that value was not found or was refused; any other is passed on as it
/// is.
pub fn lookup_errors(body: &Value, parameter: &str, requested: &[&str]) -> LookupErrors {
    let mut sorted = LookupErrors::default();
    let errors = body.get("errors").and_then(Value::as_array);
    for error in errors.into_iter().flatten() {
        let text = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or_default();
        let value = text("value");
        let asked = text("parameter") == parameter
            && requested.iter().any(|r| r.eq_ignore_ascii_case(value));
        if !asked {
            sorted.partial_errors.push(error.clone());
        } else if text("type").ends_with("resource-not-found") {
            sorted.not_found.push(value.to_string());
        } else {
            sorted.refused.push(Refused {
                value: value.to_string(),
                problem_type: text("type").to_string(),
                title: text("title").to_string(),
                detail: text("detail").to_string(),
            });
        }
    }
    sorted
}

/// Builds one post from an answer whose `data` is a post.
pub fn single_post(answer: &Answer) -> Result<Post, ConnectorError> {
    let raw: RawPost = data(answer)?;
    Ok(Post::from_raw(raw, &Includes::of(&answer.body), true))
}
