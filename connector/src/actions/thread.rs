//! `post.thread`: posts published as a chain of replies.
//!
//! Every post is checked before the first is sent. Each is published as
//! `post.create` publishes (a lost answer is looked for before sending
//! again), as a reply to the one before. A failure part way ends the action
//! with what was published and the first failure's typed error; running the
//! same input again finds the posts already published among the account's
//! recent posts and continues after them.

use super::Action;
use super::model::{Post, post_page};
use super::posts::{Create, CreateInput, PollInput, check_length};
use crate::api::RateLimit;
use crate::context::{Context, report_progress};
use crate::error::{ConnectorError, invalid_input};
use crate::input::{Id, Validate};
use crate::text::same_published_text;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most posts one thread takes.
const MAX_POSTS: usize = 25;

/// What a split post may weigh before its number: 280 less ` 25/25`.
const SPLIT_BUDGET: u32 = 280;
const NUMBER_ROOM: u32 = 6;

/// The thread to publish.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadInput {
    /// The posts, in order, each replying to the one before (1 to 25).
    /// Give `posts` or `text`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 25))]
    pub posts: Option<Vec<ThreadPost>>,
    /// A long text to split into posts of at most 280 weighted characters
    /// at word boundaries (1 to 25 posts). Give `posts` or `text`.
    #[serde(default)]
    pub text: Option<String>,
    /// With `text`: end each post with its place in the thread, such as
    /// ` 2/5`.
    #[serde(default)]
    pub numbered: bool,
    /// Start the thread as a reply to this post.
    #[serde(default)]
    pub reply_to_post_id: Option<Id>,
    /// Continue an earlier run of the same thread: find the posts it
    /// published among the account's recent posts (one read) and publish
    /// only the rest. Default true.
    #[serde(default = "yes")]
    pub resume: bool,
}

fn yes() -> bool {
    true
}

/// One post of a thread.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadPost {
    /// The post's text, counted as for `post.create`.
    pub text: String,
    /// Media to attach, from `media.upload`: one to four images, or one GIF
    /// or video.
    #[serde(default)]
    #[schemars(length(min = 1, max = 4))]
    pub media_ids: Option<Vec<Id>>,
    /// A poll to attach (not with media).
    #[serde(default)]
    pub poll: Option<PollInput>,
}

impl ThreadPost {
    fn into_create(self) -> CreateInput {
        CreateInput {
            text: self.text,
            media_ids: self.media_ids,
            poll: self.poll,
            ..CreateInput::new(String::new())
        }
    }
}

impl Validate for ThreadInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        match (&self.posts, &self.text) {
            (Some(_), Some(_)) => Err(invalid_input("text", "give `posts` or `text`, not both")),
            (None, None) => Err(invalid_input("posts", "give `posts` or `text`")),
            (Some(posts), None) => {
                if posts.is_empty() || posts.len() > MAX_POSTS {
                    return Err(invalid_input(
                        "posts",
                        format!("takes 1 to {MAX_POSTS} posts, got {}", posts.len()),
                    ));
                }
                if self.numbered {
                    return Err(invalid_input(
                        "numbered",
                        "applies to `text`, which is split",
                    ));
                }
                Ok(())
            }
            (None, Some(text)) => {
                if text.trim().is_empty() {
                    return Err(invalid_input("text", "must not be empty"));
                }
                let n = split(text, self.numbered).len();
                if n > MAX_POSTS {
                    return Err(invalid_input(
                        "text",
                        format!("splits into {n} posts; a thread takes at most {MAX_POSTS}"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The thread as published.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ThreadOutput {
    /// The thread's posts that are published, in order, an earlier run's
    /// included.
    pub posts: Vec<Post>,
    /// Whether every post of the thread is published.
    pub complete: bool,
    /// How many of `posts` an earlier run had published.
    pub resumed: u32,
    /// The first post that could not be published, and why; run the same
    /// input again to continue from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<ThreadFailure>,
    /// The create endpoint's rate limit after the last post.
    pub rate_limit: RateLimit,
}

/// Why a post of the thread was not published: its typed error.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ThreadFailure {
    /// The post's place in the thread, from 0.
    pub index: u32,
    /// The error's kind, as the action's errors name it (`rate-limited`,
    /// `forbidden`, ...).
    pub error: String,
    /// What went wrong.
    pub detail: String,
    /// The input field at fault, for `invalid-input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The rule that refused it, for `forbidden`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// When the rate limit resets, for `rate-limited` (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<u64>,
}

impl ThreadFailure {
    fn of(index: usize, error: &ConnectorError) -> ThreadFailure {
        let mut failure = ThreadFailure {
            index: index as u32,
            error: crate::error::kind(error).to_string(),
            detail: String::new(),
            field: None,
            rule: None,
            reset_at: None,
        };
        failure.detail = match error {
            ConnectorError::InvalidInput(i) => {
                failure.field = Some(i.field.clone());
                i.reason.clone()
            }
            ConnectorError::Forbidden(f) => {
                failure.rule = f.rule.clone();
                f.detail.clone()
            }
            ConnectorError::RateLimited(r) => {
                failure.reset_at = r.reset_at;
                r.detail.clone()
            }
            ConnectorError::Upstream(u) => format!("{} {}: {}", u.status, u.title, u.detail),
            ConnectorError::Unauthorized(d)
            | ConnectorError::NotFound(d)
            | ConnectorError::Conflict(d)
            | ConnectorError::Timeout(d)
            | ConnectorError::Internal(d) => d.clone(),
        };
        failure
    }
}

/// `POST /2/tweets`, once per post, each replying to the one before.
pub struct Thread;

impl Action for Thread {
    const ID: &'static str = "post.thread";
    type Input = ThreadInput;
    type Output = ThreadOutput;

    fn run(ctx: &Context, input: ThreadInput) -> Result<ThreadOutput, ConnectorError> {
        let planned = plan(input.posts, input.text.as_deref(), input.numbered);
        // Every post is checked before the first is sent.
        for (i, post) in planned.iter().enumerate() {
            post.validate().map_err(|e| at_post(i, e))?;
            check_length(ctx, &format!("posts[{i}].text"), &post.text)?;
        }
        let start = input
            .reply_to_post_id
            .as_ref()
            .map(|id| id.as_str().to_string());
        let mut published = if input.resume {
            earlier_run(ctx, &planned, start.as_deref())?
        } else {
            Vec::new()
        };
        let resumed = published.len() as u32;
        let total = Some(planned.len() as u64);
        let mut rate_limit = RateLimit::default();
        let mut failure = None;
        for (i, mut post) in planned.into_iter().enumerate().skip(published.len()) {
            let parent = published
                .last()
                .map(|p: &Post| p.id.clone())
                .or(start.clone());
            post.reply_to_post_id = parent
                .map(|id| Id::parse("reply_to_post_id", &id))
                .transpose()?;
            match Create::run(ctx, post) {
                Ok(created) => {
                    rate_limit = created.rate_limit;
                    published.push(created.post);
                    report_progress("posting", published.len() as u64, total);
                }
                // Nothing is published: the action simply failed.
                Err(e) if published.is_empty() => return Err(e),
                Err(e) => {
                    failure = Some(ThreadFailure::of(i, &e));
                    break;
                }
            }
        }
        Ok(ThreadOutput {
            complete: failure.is_none(),
            posts: published,
            resumed,
            failure,
            rate_limit,
        })
    }
}

/// The posts to publish, from the list given or the text split.
fn plan(posts: Option<Vec<ThreadPost>>, text: Option<&str>, numbered: bool) -> Vec<CreateInput> {
    match posts {
        Some(posts) => posts.into_iter().map(ThreadPost::into_create).collect(),
        None => split(text.unwrap_or_default(), numbered)
            .into_iter()
            .map(CreateInput::new)
            .collect(),
    }
}

/// An input error of post `i`, named by its place in `posts`.
fn at_post(i: usize, error: ConnectorError) -> ConnectorError {
    match error {
        ConnectorError::InvalidInput(e) => {
            invalid_input(format!("posts[{i}].{}", e.field), e.reason)
        }
        other => other,
    }
}

/// The posts of an earlier run of this thread, in order: the first among
/// the account's recent posts with the first text (replying to `start`),
/// then each reply to the one before with the next text.
fn earlier_run(
    ctx: &Context,
    planned: &[CreateInput],
    start: Option<&str>,
) -> Result<Vec<Post>, ConnectorError> {
    let me = ctx.account_id()?.to_string();
    let wanted = (planned.len() * 2 + 5).clamp(5, 100);
    let answer = ctx.api.get(
        &format!("/2/users/{me}/tweets"),
        &[
            ("max_results", wanted.to_string()),
            (
                "tweet.fields",
                "created_at,referenced_tweets,note_tweet".to_string(),
            ),
        ],
    )?;
    let recent = post_page(answer)?.posts;
    let replied_to = |post: &Post| -> Option<String> {
        post.fields
            .get("referenced_tweets")?
            .as_array()?
            .iter()
            .find(|r| r.get("type").and_then(Value::as_str) == Some("replied_to"))?
            .get("id")?
            .as_str()
            .map(str::to_string)
    };
    let mut chain: Vec<Post> = Vec::new();
    for post in planned {
        let parent = chain
            .last()
            .map(|p| p.id.clone())
            .or(start.map(str::to_string));
        let found = recent
            .iter()
            .find(|p| same_published_text(&post.text, &p.text) && replied_to(p) == parent);
        match found {
            Some(p) => chain.push(p.clone()),
            None => break,
        }
    }
    Ok(chain)
}

/// Splits `text` into posts of at most 280 weighted characters at word
/// boundaries (a word longer than a post is cut), numbered ` i/n` if
/// asked.
pub fn split(text: &str, numbered: bool) -> Vec<String> {
    let budget = if numbered {
        SPLIT_BUDGET - NUMBER_ROOM
    } else {
        SPLIT_BUDGET
    };
    let weight = |s: &str| x_text::count(s).weighted_length;
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for token in text.split_inclusive(char::is_whitespace) {
        let candidate = format!("{current}{token}");
        if weight(candidate.trim()) <= budget {
            current = candidate;
            continue;
        }
        if !current.trim().is_empty() {
            chunks.push(current.trim().to_string());
        }
        current = String::new();
        if weight(token.trim()) <= budget {
            current.push_str(token);
            continue;
        }
        // A word longer than a post: cut it where it no longer fits.
        for c in token.chars() {
            current.push(c);
            if weight(current.trim()) > budget {
                current.pop();
                chunks.push(current.trim().to_string());
                current = c.to_string();
            }
        }
    }
    if !current.trim().is_empty() {
        chunks.push(current.trim().to_string());
    }
    if numbered {
        let n = chunks.len();
        for (i, chunk) in chunks.iter_mut().enumerate() {
            chunk.push_str(&format!(" {}/{n}", i + 1));
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;

    #[test]
    fn a_long_text_splits_at_words_within_the_limit_and_keeps_every_word() {
        let text: String = (0..200).map(|i| format!("word{i} ")).collect();
        let chunks = split(&text, true);
        let n = chunks.len();
        assert!(n > 1);
        for (i, chunk) in chunks.iter().enumerate() {
            assert!(x_text::count(chunk).weighted_length <= 280, "{chunk}");
            assert!(chunk.ends_with(&format!(" {}/{n}", i + 1)), "{chunk}");
        }
        let words: Vec<&str> = chunks
            .iter()
            .flat_map(|c| c.rsplit_once(' ').unwrap().0.split_whitespace())
            .collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn a_word_longer_than_a_post_is_cut() {
        let chunks = split(&"a".repeat(600), false);
        assert_eq!(
            chunks.iter().map(String::len).collect::<Vec<_>>(),
            vec![280, 280, 40]
        );
    }

    #[test]
    fn every_post_is_checked_and_named_by_its_place() {
        let refused = |input: &str| match parse::<ThreadInput>(input) {
            Err(ConnectorError::InvalidInput(i)) => i.field,
            other => panic!("expected invalid-input, got {other:?}"),
        };
        assert_eq!(refused(r#"{}"#), "posts");
        assert_eq!(refused(r#"{"posts": []}"#), "posts");
        assert_eq!(
            refused(r#"{"posts": [{"text": "a"}], "text": "b"}"#),
            "text"
        );
        assert_eq!(
            refused(r#"{"posts": [{"text": "a", "colour": 1}]}"#),
            "posts[0].colour"
        );
        let too_many = format!(r#"{{"text": "{}"}}"#, "word ".repeat(2000));
        assert_eq!(refused(&too_many), "text");
    }
}
