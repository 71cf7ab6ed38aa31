//! `post.create` and `post.delete`.

use super::Action;
use super::model::{Post, data, post_page, single_post};
use crate::api::{Answer, RateLimit};
use crate::bindings::integration::connector::host;
use crate::context::Context;
use crate::error::{ConnectorError, invalid_input};
use crate::input::{Id, Timestamp, Validate, check_range};
use crate::retry;
use crate::text::{TextCheck, check, check_with_limit, same_published_text};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use x_text::config::PREMIUM_MAX_WEIGHTED_LENGTH;

/// What to publish.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    /// The text of the post: at most 280 weighted characters, where a URL
    /// counts 23 and most CJK characters and emoji count 2; up to 25,000
    /// for an account whose X subscription allows long posts.
    #[schemars(length(min = 1))]
    pub text: String,
    /// Publish the post as a reply to this post.
    #[serde(default)]
    pub reply_to_post_id: Option<Id>,
    /// With `reply_to_post_id`: users of the conversation not to mention in
    /// the reply.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub exclude_reply_user_ids: Option<Vec<Id>>,
    /// Quote this post (not with media or a poll).
    #[serde(default)]
    pub quote_post_id: Option<Id>,
    /// Who may reply; by default everyone.
    #[serde(default)]
    pub reply_settings: Option<ReplySettings>,
    /// Publish for the account's Super Followers only.
    #[serde(default)]
    pub for_super_followers_only: bool,
    /// Publish as a promoted-only post that appears in no timeline and is
    /// not served to followers; X allows it for accounts with an ads account.
    #[serde(default)]
    pub nullcast: bool,
    /// Media to attach, from `media.upload`: one to four images, or one GIF
    /// or video.
    #[serde(default)]
    #[schemars(length(min = 1, max = 4))]
    pub media_ids: Option<Vec<Id>>,
    /// A poll to attach (not with media).
    #[serde(default)]
    pub poll: Option<PollInput>,
}

/// Who may reply to a post.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub enum ReplySettings {
    /// Accounts the author follows.
    #[serde(rename = "following")]
    Following,
    /// Accounts the post mentions.
    #[serde(rename = "mentionedUsers")]
    MentionedUsers,
    /// The author's subscribers.
    #[serde(rename = "subscribers")]
    Subscribers,
    /// Verified accounts.
    #[serde(rename = "verified")]
    Verified,
}

impl ReplySettings {
    fn as_str(self) -> &'static str {
        match self {
            ReplySettings::Following => "following",
            ReplySettings::MentionedUsers => "mentionedUsers",
            ReplySettings::Subscribers => "subscribers",
            ReplySettings::Verified => "verified",
        }
    }
}

/// A poll: its choices and how long it stays open.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollInput {
    /// Two to four choices of 1 to 25 characters each.
    #[schemars(length(min = 2, max = 4))]
    pub options: Vec<String>,
    /// Minutes the poll stays open: 5 (five minutes) to 10080 (seven days).
    #[schemars(range(min = 5, max = 10080))]
    pub duration_minutes: u32,
}

impl CreateInput {
    /// A post of `text` alone.
    pub fn new(text: String) -> CreateInput {
        CreateInput {
            text,
            reply_to_post_id: None,
            exclude_reply_user_ids: None,
            quote_post_id: None,
            reply_settings: None,
            for_super_followers_only: false,
            nullcast: false,
            media_ids: None,
            poll: None,
        }
    }
}

impl Validate for CreateInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_text("text", &self.text)?;
        if self.exclude_reply_user_ids.is_some() && self.reply_to_post_id.is_none() {
            return Err(invalid_input(
                "exclude_reply_user_ids",
                "applies to a reply; give reply_to_post_id too",
            ));
        }
        if self.quote_post_id.is_some() {
            let other = if self.media_ids.is_some() {
                Some("media_ids")
            } else if self.poll.is_some() {
                Some("poll")
            } else {
                None
            };
            if let Some(other) = other {
                return Err(invalid_input(
                    "quote_post_id",
                    format!("X does not take a quote together with {other}"),
                ));
            }
        }
        if let Some(ids) = &self.media_ids {
            if ids.is_empty() || ids.len() > 4 {
                return Err(invalid_input(
                    "media_ids",
                    format!(
                        "takes one to four media ids (four images, or one GIF or video), got {}",
                        ids.len()
                    ),
                ));
            }
            if let Some(i) = (1..ids.len()).find(|&i| ids[..i].contains(&ids[i])) {
                return Err(invalid_input(
                    format!("media_ids[{i}]"),
                    "repeats a media id",
                ));
            }
        }
        if let Some(poll) = &self.poll {
            if self.media_ids.is_some() {
                return Err(invalid_input(
                    "poll",
                    "a post can carry a poll or media, not both",
                ));
            }
            if !(2..=4).contains(&poll.options.len()) {
                return Err(invalid_input(
                    "poll.options",
                    format!("takes two to four choices, got {}", poll.options.len()),
                ));
            }
            for (i, option) in poll.options.iter().enumerate() {
                let n = option.chars().count();
                if option.trim().is_empty() || n > 25 {
                    return Err(invalid_input(
                        format!("poll.options[{i}]"),
                        format!("must be 1 to 25 characters, got {n}"),
                    ));
                }
            }
            if !(5..=10080).contains(&poll.duration_minutes) {
                return Err(invalid_input(
                    "poll.duration_minutes",
                    format!(
                        "must be between 5 and 10080 (seven days), got {}",
                        poll.duration_minutes
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Refuses text X would refuse from any account, saying why; the
/// account's own limit is checked when the action runs ([`check_length`]).
pub(crate) fn check_text(field: &str, text: &str) -> Result<TextCheck, ConnectorError> {
    if text.trim().is_empty() {
        return Err(invalid_input(field, "must not be empty"));
    }
    let checked = check_with_limit(text, PREMIUM_MAX_WEIGHTED_LENGTH);
    if checked.weighted_length > PREMIUM_MAX_WEIGHTED_LENGTH {
        return Err(invalid_input(
            field,
            format!(
                "is {} weighted characters long; X allows at most {PREMIUM_MAX_WEIGHTED_LENGTH}, to accounts whose subscription allows long posts",
                checked.weighted_length
            ),
        ));
    }
    if !checked.valid {
        return Err(invalid_input(
            field,
            "contains characters X does not accept (such as U+FFFE or U+FFFF)",
        ));
    }
    Ok(checked)
}

/// Refuses, before any request, a long text the account may not post. A
/// text within 280 needs no look: every account may post it.
pub(crate) fn check_length(ctx: &Context, field: &str, text: &str) -> Result<(), ConnectorError> {
    let weight = check(text).weighted_length;
    if weight <= x_text::config::MAX_WEIGHTED_LENGTH {
        return Ok(());
    }
    let limit = ctx.post_limit()?;
    if weight > limit {
        return Err(invalid_input(
            field,
            format!(
                "is {weight} weighted characters long; this account may post at most {limit} (X allows up to {PREMIUM_MAX_WEIGHTED_LENGTH} to accounts whose subscription allows long posts)"
            ),
        ));
    }
    Ok(())
}

/// The text to check.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateInput {
    /// The text of a post, as it would be published.
    pub text: String,
    /// The most the post may weigh: 280 for a standard account, 25,000
    /// for an account whose X subscription allows long posts. By default,
    /// the connected account's limit when the host recorded its
    /// subscription at connect time, else 280.
    #[serde(default)]
    #[schemars(range(min = 1, max = 25000))]
    pub max_weighted_length: Option<u32>,
}

impl Validate for ValidateInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_range(
            "max_weighted_length",
            self.max_weighted_length,
            1,
            x_text::config::PREMIUM_MAX_WEIGHTED_LENGTH,
        )
    }
}

/// `post.validate`: X's verdict on a text, without asking X.
pub struct ValidateText;

impl Action for ValidateText {
    const ID: &'static str = "post.validate";
    type Input = ValidateInput;
    type Output = TextCheck;

    fn run(ctx: &Context, input: ValidateInput) -> Result<TextCheck, ConnectorError> {
        let limit = input.max_weighted_length.or(ctx.known_post_limit());
        Ok(match limit {
            Some(limit) => check_with_limit(&input.text, limit),
            None => check(&input.text),
        })
    }
}

/// The published post.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreateOutput {
    /// The new post.
    pub post: Post,
    /// True when X's answer was lost and the post was found published
    /// instead of being sent again.
    pub recovered: bool,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// `POST /2/tweets`.
pub struct Create;

impl Action for Create {
    const ID: &'static str = "post.create";
    type Input = CreateInput;
    type Output = CreateOutput;

    fn run(ctx: &Context, input: CreateInput) -> Result<CreateOutput, ConnectorError> {
        check_length(ctx, "text", &input.text)?;
        let body = create_body(&input);
        let sent_at = unix_now();
        let first = match ctx.api.post_json("/2/tweets", &body) {
            Ok(answer) => return created(&answer, &input.text),
            Err(e) if retry::transient(&e) => e,
            Err(e) => return Err(e),
        };
        // The post may have been published and only the answer lost: look
        // for it before sending it again, so that it is never posted twice.
        host::log(
            host::LogLevel::Warn,
            &format!(
                "publishing failed without an answer ({}); looking for the post before sending it again",
                crate::error::kind(&first)
            ),
        );
        if let Some(found) = find_published(ctx, &input.text, sent_at)? {
            return Ok(found);
        }
        match ctx.api.post_json("/2/tweets", &body) {
            Ok(answer) => created(&answer, &input.text),
            // X refuses a repeat: the first attempt did land after all.
            Err(ConnectorError::Conflict(detail)) => {
                find_published(ctx, &input.text, sent_at)?.ok_or(ConnectorError::Conflict(detail))
            }
            Err(e) => Err(e),
        }
    }
}

/// X's `TweetCreateRequest` for an input.
fn create_body(input: &CreateInput) -> Value {
    let mut body = json!({ "text": input.text });
    if let Some(id) = &input.reply_to_post_id {
        body["reply"] = json!({ "in_reply_to_tweet_id": id });
        if let Some(ids) = &input.exclude_reply_user_ids {
            body["reply"]["exclude_reply_user_ids"] = json!(ids);
        }
    }
    if let Some(id) = &input.quote_post_id {
        body["quote_tweet_id"] = json!(id);
    }
    if let Some(ids) = &input.media_ids {
        body["media"] = json!({ "media_ids": ids });
    }
    if let Some(poll) = &input.poll {
        body["poll"] = json!({
            "options": poll.options,
            "duration_minutes": poll.duration_minutes,
        });
    }
    if let Some(settings) = input.reply_settings {
        body["reply_settings"] = json!(settings.as_str());
    }
    if input.for_super_followers_only {
        body["for_super_followers_only"] = json!(true);
    }
    if input.nullcast {
        body["nullcast"] = json!(true);
    }
    body
}

/// The output for X's answer to publishing `sent`. X answers a long post
/// with its preview as `text`; the output gives the whole text published
/// and the preview apart, as reads do.
fn created(answer: &Answer, sent: &str) -> Result<CreateOutput, ConnectorError> {
    let mut post = single_post(answer)?;
    if post.preview_text.is_none() && post.text != sent && !same_published_text(sent, &post.text) {
        post.preview_text = Some(std::mem::replace(&mut post.text, sent.to_string()));
    }
    Ok(CreateOutput {
        post,
        recovered: false,
        rate_limit: answer.rate_limit.clone(),
    })
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How far before the attempt a found post may have been created, for
/// clocks that disagree.
const CLOCK_SKEW_SECS: i64 = 300;

/// The connected account's post with `text` published since `sent_at`, if
/// X has it.
fn find_published(
    ctx: &Context,
    text: &str,
    sent_at: i64,
) -> Result<Option<CreateOutput>, ConnectorError> {
    let me = ctx.account_id()?.to_string();
    let answer = ctx.api.get(
        &format!("/2/users/{me}/tweets"),
        &[
            ("max_results", "20".to_string()),
            // A long post's whole text is its note.
            ("tweet.fields", "created_at,note_tweet".to_string()),
        ],
    )?;
    let page = post_page(answer)?;
    let found = page.posts.into_iter().find(|post| {
        let recent = post
            .fields
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(|t| serde_json::from_value::<Timestamp>(json!(t)).ok())
            .is_some_and(|t| t.unix() >= sent_at - CLOCK_SKEW_SECS);
        recent && same_published_text(text, &post.text)
    });
    Ok(found.map(|post| CreateOutput {
        post,
        recovered: true,
        rate_limit: page.rate_limit,
    }))
}

/// Which post to delete.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// The id of a post the connected account wrote.
    pub id: Id,
}

impl Validate for DeleteInput {}

/// The outcome of a deletion.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteOutput {
    /// The post's id.
    pub id: String,
    /// Whether X deleted the post.
    pub deleted: bool,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

#[derive(Deserialize)]
struct Deleted {
    deleted: bool,
}

/// `DELETE /2/tweets/:id`.
pub struct Delete;

impl Action for Delete {
    const ID: &'static str = "post.delete";
    type Input = DeleteInput;
    type Output = DeleteOutput;

    fn run(ctx: &Context, input: DeleteInput) -> Result<DeleteOutput, ConnectorError> {
        let answer = ctx
            .api
            .delete(&format!("/2/tweets/{}", input.id.as_str()))?;
        let outcome: Deleted = data(&answer)?;
        Ok(DeleteOutput {
            id: input.id.as_str().to_string(),
            deleted: outcome.deleted,
            rate_limit: answer.rate_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;

    fn refused_field(input: &str) -> String {
        match parse::<CreateInput>(input) {
            Err(ConnectorError::InvalidInput(i)) => i.field,
            other => panic!("expected invalid-input for {input}, got {other:?}"),
        }
    }

    #[test]
    fn empty_and_over_long_text_are_refused() {
        assert_eq!(refused_field(r#"{"text": ""}"#), "text");
        assert_eq!(refused_field(r#"{"text": "   "}"#), "text");
        let long = format!(r#"{{"text": "{}"}}"#, "a".repeat(25_001));
        assert_eq!(refused_field(&long), "text");
        let fits = format!(r#"{{"text": "{}"}}"#, "a".repeat(25_000));
        assert!(parse::<CreateInput>(&fits).is_ok());
    }

    #[test]
    fn reply_and_quote_ids_must_be_numeric() {
        assert_eq!(
            refused_field(r#"{"text": "hi", "reply_to_post_id": "abc"}"#),
            "reply_to_post_id"
        );
        assert_eq!(
            refused_field(r#"{"text": "hi", "quote_post_id": 12}"#),
            "quote_post_id"
        );
    }

    #[test]
    fn media_and_polls_follow_x_rules() {
        assert_eq!(
            refused_field(r#"{"text": "hi", "media_ids": []}"#),
            "media_ids"
        );
        assert_eq!(
            refused_field(r#"{"text": "hi", "media_ids": ["1", "2", "3", "4", "5"]}"#),
            "media_ids"
        );
        assert_eq!(
            refused_field(r#"{"text": "hi", "media_ids": ["1", "1"]}"#),
            "media_ids[1]"
        );
        assert_eq!(
            refused_field(
                r#"{"text": "hi", "poll": {"options": ["yes"], "duration_minutes": 60}}"#
            ),
            "poll.options"
        );
        let long = format!(
            r#"{{"text": "hi", "poll": {{"options": ["yes", "{}"], "duration_minutes": 60}}}}"#,
            "n".repeat(26)
        );
        assert_eq!(refused_field(&long), "poll.options[1]");
        assert_eq!(
            refused_field(
                r#"{"text": "hi", "poll": {"options": ["a", "b"], "duration_minutes": 4}}"#
            ),
            "poll.duration_minutes"
        );
        assert_eq!(
            refused_field(
                r#"{"text": "hi", "media_ids": ["1"], "poll": {"options": ["a", "b"], "duration_minutes": 5}}"#
            ),
            "poll"
        );
        assert!(parse::<CreateInput>(r#"{"text": "hi", "media_ids": ["1", "2"]}"#).is_ok());
        assert!(
            parse::<CreateInput>(
                r#"{"text": "hi", "poll": {"options": ["a", "b"], "duration_minutes": 10080}}"#
            )
            .is_ok()
        );
    }
}
