//! `post.create` and `post.delete`.

use super::model::{Post, data, single_post};
use super::{Action, Context};
use crate::api::RateLimit;
use crate::error::{ConnectorError, invalid_input};
use crate::input::{Id, Validate};
use crate::text::{MAX_WEIGHTED_LENGTH, TextCheck, check};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What to publish.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    /// The text of the post: at most 280 weighted characters, where a URL
    /// counts 23 and most CJK characters and emoji count 2.
    #[schemars(length(min = 1))]
    pub text: String,
    /// Publish the post as a reply to this post.
    #[serde(default)]
    pub reply_to_post_id: Option<Id>,
    /// Quote this post.
    #[serde(default)]
    pub quote_post_id: Option<Id>,
    /// Media to attach, from `media.upload`: one to four images, or one GIF
    /// or video.
    #[serde(default)]
    #[schemars(length(min = 1, max = 4))]
    pub media_ids: Option<Vec<Id>>,
    /// A poll to attach (not with media).
    #[serde(default)]
    pub poll: Option<PollInput>,
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

impl Validate for CreateInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_text(&self.text)?;
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

/// Refuses text X would refuse, saying why.
fn check_text(text: &str) -> Result<TextCheck, ConnectorError> {
    if text.trim().is_empty() {
        return Err(invalid_input("text", "must not be empty"));
    }
    let checked = check(text);
    if checked.weighted_length as usize > MAX_WEIGHTED_LENGTH {
        return Err(invalid_input(
            "text",
            format!(
                "is {} weighted characters long; X allows at most {MAX_WEIGHTED_LENGTH}",
                checked.weighted_length
            ),
        ));
    }
    if !checked.valid {
        return Err(invalid_input(
            "text",
            "contains characters X does not accept (such as U+FFFE or U+FFFF)",
        ));
    }
    Ok(checked)
}

/// The text to check.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateInput {
    /// The text of a post, as it would be published.
    pub text: String,
}

impl Validate for ValidateInput {}

/// `post.validate`: X's verdict on a text, without asking X.
pub struct ValidateText;

impl Action for ValidateText {
    const ID: &'static str = "post.validate";
    type Input = ValidateInput;
    type Output = TextCheck;

    fn run(_ctx: &Context, input: ValidateInput) -> Result<TextCheck, ConnectorError> {
        Ok(check(&input.text))
    }
}

/// The published post.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreateOutput {
    /// The new post.
    pub post: Post,
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
        let mut body = json!({ "text": input.text });
        if let Some(id) = &input.reply_to_post_id {
            body["reply"] = json!({ "in_reply_to_tweet_id": id });
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
        let answer = ctx.api.post_json("/2/tweets", &body)?;
        Ok(CreateOutput {
            post: single_post(&answer)?,
            rate_limit: answer.rate_limit,
        })
    }
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
        let long = format!(r#"{{"text": "{}"}}"#, "a".repeat(281));
        assert_eq!(refused_field(&long), "text");
        let fits = format!(r#"{{"text": "{}"}}"#, "a".repeat(280));
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
