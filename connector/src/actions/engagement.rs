//! Acting on a post or a user for the connected account, and undoing it:
//! like, repost, bookmark, follow, mute. Each is `POST /2/users/:me/<list>` with
//! the target in the body, and `DELETE /2/users/:me/<list>/:target`.

use super::Action;
use crate::api::RateLimit;
use crate::context::Context;
use crate::error::{ConnectorError, internal};
use crate::input::{Id, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The post to act on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostTarget {
    /// The post's id.
    pub post_id: Id,
}

impl Validate for PostTarget {}

/// The user to act on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserTarget {
    /// The user's id (see `users.me` or a post's `author.id`).
    pub user_id: Id,
}

impl Validate for UserTarget {}

/// The outcome, as X states it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Outcome {
    /// The post or user acted on.
    pub target_id: String,
    /// Whether the account now likes, reposts, bookmarks, follows or mutes
    /// the target, or hides the reply (X's `liked`, `retweeted`,
    /// `bookmarked`, `following`, `muting`, `hidden`).
    pub active: bool,
    /// For a follow of a protected account: the request awaits approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<bool>,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// Adds the account to `list` of the target, or removes it.
fn act(
    ctx: &Context,
    list: &str,
    member: &str,
    state: &str,
    target: &Id,
    on: bool,
) -> Result<Outcome, ConnectorError> {
    let me = ctx.account_id()?.to_string();
    let answer = if on {
        ctx.api.post_json(
            &format!("/2/users/{me}/{list}"),
            &json!({ member: target.as_str() }),
        )?
    } else {
        ctx.api
            .delete(&format!("/2/users/{me}/{list}/{}", target.as_str()))?
    };
    let data = answer
        .body
        .get("data")
        .ok_or_else(|| internal(format!("X's answer to {list} has no data")))?;
    let active = data
        .get(state)
        .and_then(Value::as_bool)
        .ok_or_else(|| internal(format!("X's answer to {list} has no `{state}`")))?;
    Ok(Outcome {
        target_id: target.as_str().to_string(),
        active,
        pending: data.get("pending_follow").and_then(Value::as_bool),
        rate_limit: answer.rate_limit,
    })
}

/// Declares an action that adds the account to a list of the target, or
/// removes it.
macro_rules! engagement {
    ($name:ident, $id:literal, $input:ty, $field:ident, $list:literal, $member:literal, $state:literal, $on:literal) => {
        #[doc = concat!("`", $id, "`.")]
        pub struct $name;

        impl Action for $name {
            const ID: &'static str = $id;
            type Input = $input;
            type Output = Outcome;

            fn run(ctx: &Context, input: $input) -> Result<Outcome, ConnectorError> {
                act(ctx, $list, $member, $state, &input.$field, $on)
            }
        }
    };
}

engagement!(
    Like,
    "post.like",
    PostTarget,
    post_id,
    "likes",
    "tweet_id",
    "liked",
    true
);
engagement!(
    Unlike,
    "post.unlike",
    PostTarget,
    post_id,
    "likes",
    "tweet_id",
    "liked",
    false
);
engagement!(
    Repost,
    "post.repost",
    PostTarget,
    post_id,
    "retweets",
    "tweet_id",
    "retweeted",
    true
);
engagement!(
    Unrepost,
    "post.unrepost",
    PostTarget,
    post_id,
    "retweets",
    "tweet_id",
    "retweeted",
    false
);
engagement!(
    Bookmark,
    "post.bookmark",
    PostTarget,
    post_id,
    "bookmarks",
    "tweet_id",
    "bookmarked",
    true
);
engagement!(
    Unbookmark,
    "post.unbookmark",
    PostTarget,
    post_id,
    "bookmarks",
    "tweet_id",
    "bookmarked",
    false
);
engagement!(
    Follow,
    "user.follow",
    UserTarget,
    user_id,
    "following",
    "target_user_id",
    "following",
    true
);
engagement!(
    Unfollow,
    "user.unfollow",
    UserTarget,
    user_id,
    "following",
    "target_user_id",
    "following",
    false
);
engagement!(
    Mute,
    "user.mute",
    UserTarget,
    user_id,
    "muting",
    "target_user_id",
    "muting",
    true
);
engagement!(
    Unmute,
    "user.unmute",
    UserTarget,
    user_id,
    "muting",
    "target_user_id",
    "muting",
    false
);

/// The reply to hide or show again.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HideReplyInput {
    /// A reply in a conversation the connected account started.
    pub post_id: Id,
    /// Hide it (the default), or show it again with `false`.
    #[serde(default = "hide")]
    pub hidden: bool,
}

fn hide() -> bool {
    true
}

impl Validate for HideReplyInput {}

/// `PUT /2/tweets/:id/hidden`: hides a reply to one of the account's
/// conversations, or shows it again.
pub struct HideReply;

impl Action for HideReply {
    const ID: &'static str = "post.hide_reply";
    type Input = HideReplyInput;
    type Output = Outcome;

    fn run(ctx: &Context, input: HideReplyInput) -> Result<Outcome, ConnectorError> {
        let answer = ctx.api.put_json(
            &format!("/2/tweets/{}/hidden", input.post_id.as_str()),
            &json!({ "hidden": input.hidden }),
        )?;
        let hidden = answer
            .body
            .get("data")
            .and_then(|d| d.get("hidden"))
            .and_then(Value::as_bool)
            .ok_or_else(|| internal("X's answer to hiding a reply has no `hidden`"))?;
        Ok(Outcome {
            target_id: input.post_id.as_str().to_string(),
            active: hidden,
            pending: None,
            rate_limit: answer.rate_limit,
        })
    }
}
