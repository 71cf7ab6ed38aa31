//! `post.edit`: a new version of a post, under X's rules for edits.
//!
//! X lets an author edit a post up to five times within 30 minutes of
//! publishing it (docs.x.com, "Edit Posts"), never a post with a poll, and only with a subscription
//! that includes editing. The action reads the post's `edit_controls`
//! first, so that a refusal names the rule from X's own data rather than
//! from the wording of a 403; X's refusal is still mapped when the look
//! could not tell (the account's subscription, when the host did not
//! record it).

use super::Action;
use super::model::{Post, single_post};
use super::posts::{check_length, check_text, unix_now};
use crate::api::RateLimit;
use crate::context::Context;
use crate::error::{ConnectorError, Refusal, refused};
use crate::input::{Id, Timestamp, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What to change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditInput {
    /// The post to edit: one of the connected account's, published less
    /// less than 30 minutes ago and edited fewer than five times.
    pub post_id: Id,
    /// The post's new text, counted as for `post.create`.
    #[schemars(length(min = 1))]
    pub text: String,
}

impl Validate for EditInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        check_text("text", &self.text).map(|_| ())
    }
}

/// The new version.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EditOutput {
    /// The post as edited: X gives each version a new id.
    pub post: Post,
    /// The id of the version that was edited.
    pub previous_post_id: String,
    /// Every version's id, oldest first, the new one last.
    pub edit_history_post_ids: Vec<String>,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// `POST /2/tweets` with `edit_options.previous_post_id`.
pub struct Edit;

impl Action for Edit {
    const ID: &'static str = "post.edit";
    type Input = EditInput;
    type Output = EditOutput;

    fn run(ctx: &Context, input: EditInput) -> Result<EditOutput, ConnectorError> {
        check_length(ctx, "text", &input.text)?;
        let id = input.post_id.as_str();
        let answer = ctx.api.get(
            &format!("/2/tweets/{id}"),
            &[(
                "tweet.fields",
                "author_id,attachments,edit_controls".to_string(),
            )],
        )?;
        let current: Value = super::model::data(&answer)?;
        check_editable(ctx, &current)?;
        let body = json!({ "text": input.text, "edit_options": { "previous_post_id": id } });
        let answer = ctx
            .api
            .post_json("/2/tweets", &body)
            .map_err(explain_refusal)?;
        let post = single_post(&answer)?;
        let edit_history_post_ids = answer
            .body
            .pointer("/data/edit_history_tweet_ids")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| vec![id.to_string(), post.id.clone()]);
        Ok(EditOutput {
            post,
            previous_post_id: id.to_string(),
            edit_history_post_ids,
            rate_limit: answer.rate_limit,
        })
    }
}

/// Refuses, with the rule's name, an edit X's own data says it will refuse.
fn check_editable(ctx: &Context, post: &Value) -> Result<(), ConnectorError> {
    let rule = |reason, rule: &str, detail: String| Err(refused(reason, Some(rule), None, detail));
    if post.get("author_id").and_then(Value::as_str) != Some(ctx.account_id()?) {
        return rule(
            Refusal::Resource,
            "edit-own-posts-only",
            "X lets an account edit only its own posts; this one is another account's".into(),
        );
    }
    let has_poll = post
        .pointer("/attachments/poll_ids")
        .and_then(Value::as_array)
        .is_some_and(|ids| !ids.is_empty());
    if has_poll {
        return rule(
            Refusal::Rule,
            "edit-poll",
            "X does not let a post with a poll be edited; delete it and publish it again".into(),
        );
    }
    if let Some(controls) = post.get("edit_controls") {
        if controls.get("edits_remaining").and_then(Value::as_u64) == Some(0) {
            return rule(
                Refusal::Rule,
                "edit-limit-reached",
                "X allows five edits of a post, and this one has had them all".into(),
            );
        }
        let until = controls
            .get("editable_until")
            .and_then(|t| serde_json::from_value::<Timestamp>(t.clone()).ok());
        if let Some(until) = until
            && until.unix() < unix_now()
        {
            return rule(
                Refusal::Rule,
                "edit-window-passed",
                format!(
                    "X allows edits for 30 minutes after a post is published; this one could be edited until {}",
                    until.as_str()
                ),
            );
        }
        if controls.get("is_edit_eligible").and_then(Value::as_bool) == Some(false) {
            return rule(
                Refusal::Rule,
                "edit-not-eligible",
                "X says this post cannot be edited (a promoted-only post, say)".into(),
            );
        }
    }
    if ctx.known_post_limit() == Some(x_text::config::MAX_WEIGHTED_LENGTH) {
        return rule(
            Refusal::AccountPlan,
            "edit-needs-subscription",
            "editing a post takes an X subscription (Premium), which the connected account does not have".into(),
        );
    }
    Ok(())
}

/// Names the rule of a refusal X gave to the edit itself.
fn explain_refusal(error: ConnectorError) -> ConnectorError {
    let ConnectorError::Forbidden(mut f) = error else {
        return error;
    };
    if f.rule.is_none() {
        let detail = f.detail.to_ascii_lowercase();
        let named = if detail.contains("premium") || detail.contains("subscription") {
            Some((Refusal::AccountPlan, "edit-needs-subscription"))
        } else if detail.contains("maximum number") {
            Some((Refusal::Rule, "edit-limit-reached"))
        } else if detail.contains("no longer be edited") {
            Some((Refusal::Rule, "edit-window-passed"))
        } else if detail.contains("not eligible") {
            Some((Refusal::Rule, "edit-not-eligible"))
        } else {
            None
        };
        if let Some((reason, rule)) = named {
            f.reason = reason;
            f.rule = Some(rule.to_string());
        }
    }
    ConnectorError::Forbidden(f)
}
