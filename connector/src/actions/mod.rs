//! The catalogue of actions and how one is run.
//!
//! Each action is a type implementing [`Action`]: an input type that parses
//! and validates the JSON input, an output type, and a `run` function. The
//! same input and output types produce the JSON Schemas that `describe`
//! publishes. Title, description, scopes and contexts come from the manifest.

pub(crate) mod dm;
mod edit;
mod engagement;
pub(crate) mod fields;
pub(crate) mod lookup;
mod media;
pub(crate) mod model;
mod paging;
mod posts;
mod read_options;
mod search;
mod thread;
pub(crate) mod timelines;
mod users;

use crate::bindings::integration::connector::types::{ActionDescriptor, ConnectorError};
use crate::context::Context;
use crate::context::context;
use crate::error::{Refusal, internal, invalid_input};
use crate::input::{self, Validate};
use crate::manifest::{ActionMeta, manifest};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One action of the catalogue.
pub trait Action {
    /// The action's id, as in the manifest.
    const ID: &'static str;
    /// The JSON input, parsed and validated before `run`.
    type Input: DeserializeOwned + JsonSchema + Validate;
    /// The JSON output.
    type Output: Serialize + JsonSchema;
    /// Whether the action only reads, so that its requests may be sent
    /// again after a transient failure; such an action takes
    /// `retry_budget_secs`.
    const READS: bool = false;
    /// Runs the action.
    fn run(ctx: &Context, input: Self::Input) -> Result<Self::Output, ConnectorError>;
}

/// An action with its types erased, for the catalogue table.
pub struct Entry {
    pub id: &'static str,
    #[cfg(not(prebuilt_schemas))]
    input_schema: fn() -> serde_json::Value,
    #[cfg(not(prebuilt_schemas))]
    output_schema: fn() -> serde_json::Value,
    run: fn(&Context, &str) -> Result<String, ConnectorError>,
}

#[cfg(not(prebuilt_schemas))]
impl Entry {
    /// JSON Schema of the input.
    pub fn input_schema(&self) -> serde_json::Value {
        (self.input_schema)()
    }

    /// JSON Schema of the output.
    pub fn output_schema(&self) -> serde_json::Value {
        (self.output_schema)()
    }

    /// Both schemas as JSON text, for `describe`.
    fn schema_texts(&self) -> (String, String) {
        (
            self.input_schema().to_string(),
            self.output_schema().to_string(),
        )
    }
}

#[cfg(prebuilt_schemas)]
impl Entry {
    /// Both schemas as JSON text, for `describe`: derived before the build.
    fn schema_texts(&self) -> (String, String) {
        crate::prebuilt::schemas(crate::prebuilt::ACTIONS, self.id)
    }
}

fn entry<A: Action>() -> Entry {
    Entry {
        id: A::ID,
        #[cfg(not(prebuilt_schemas))]
        input_schema: || {
            let mut schema = schemars::schema_for!(A::Input).to_value();
            if A::READS {
                read_options::add_to_schema(&mut schema);
            }
            schema
        },
        #[cfg(not(prebuilt_schemas))]
        output_schema: || {
            let mut schema = schemars::schema_for!(A::Output).to_value();
            // One definition, which the component's prebuilt schemas share.
            schema["properties"]["usage"] = serde_json::json!({"$ref": "#/$defs/Usage"});
            schema["$defs"]["Usage"] = crate::usage::schema();
            if let Some(required) = schema["required"].as_array_mut() {
                required.push("usage".into());
            }
            schema
        },
        run: |ctx, text| {
            let text = if A::READS {
                read_options::take(ctx, text)?
            } else {
                std::borrow::Cow::Borrowed(text)
            };
            let input = input::parse::<A::Input>(&text)?;
            let output = A::run(ctx, input)?;
            let mut output = serde_json::to_value(&output)
                .map_err(|e| internal(format!("cannot encode the output: {e}")))?;
            output["usage"] = ctx.api.usage.to_json();
            Ok(output.to_string())
        },
    }
}

/// Every action, in display order.
pub fn catalogue() -> Vec<Entry> {
    vec![
        entry::<users::Me>(),
        entry::<lookup::UsersLookup>(),
        entry::<lookup::Followers>(),
        entry::<lookup::Following>(),
        entry::<posts::ValidateText>(),
        entry::<posts::Create>(),
        entry::<thread::Thread>(),
        entry::<edit::Edit>(),
        entry::<posts::Delete>(),
        entry::<lookup::PostLookup>(),
        entry::<lookup::LikingUsers>(),
        entry::<lookup::RepostedBy>(),
        entry::<timelines::Quotes>(),
        entry::<media::Upload>(),
        entry::<engagement::Like>(),
        entry::<engagement::Unlike>(),
        entry::<engagement::Repost>(),
        entry::<engagement::Unrepost>(),
        entry::<engagement::Bookmark>(),
        entry::<engagement::Unbookmark>(),
        entry::<engagement::Follow>(),
        entry::<engagement::Unfollow>(),
        entry::<engagement::Mute>(),
        entry::<engagement::Unmute>(),
        entry::<lookup::Muting>(),
        entry::<engagement::HideReply>(),
        entry::<timelines::User>(),
        entry::<timelines::Home>(),
        entry::<timelines::Mentions>(),
        entry::<timelines::RepostsOfMe>(),
        entry::<timelines::Bookmarks>(),
        entry::<search::Recent>(),
        entry::<dm::Send>(),
        entry::<dm::Events>(),
    ]
}

/// The actions `describe` returns.
pub fn descriptors() -> Vec<ActionDescriptor> {
    let m = manifest();
    catalogue()
        .into_iter()
        .map(|entry| {
            let meta = m
                .action(entry.id)
                .expect("every catalogued action is in the manifest (checked by tests)");
            let (input_schema, output_schema) = entry.schema_texts();
            ActionDescriptor {
                id: entry.id.to_string(),
                title: meta.title.to_string(),
                description: meta.description.to_string(),
                input_schema,
                output_schema,
                required_scopes: meta.scopes.iter().map(|s| s.to_string()).collect(),
            }
        })
        .collect()
}

/// Runs `action_id` on `input` for the host's current connection.
pub fn invoke(action_id: &str, input: &str) -> Result<String, ConnectorError> {
    let catalogue = catalogue();
    let Some(entry) = catalogue.iter().find(|e| e.id == action_id) else {
        let known: Vec<&str> = catalogue.iter().map(|e| e.id).collect();
        return Err(invalid_input(
            "action",
            format!(
                "unknown action `{action_id}`; this connector offers {}",
                known.join(", ")
            ),
        ));
    };
    let meta = manifest()
        .action(action_id)
        .ok_or_else(|| internal(format!("action {action_id} is missing from the manifest")))?;
    let ctx = context(meta.id, meta.scopes, meta.contexts)?;
    (entry.run)(&ctx, input).map_err(|e| explain_restriction(meta, e))
}

/// Words an access-level or rule refusal with what the manifest says the
/// action's restrictions are, keeping X's own detail and problem type.
fn explain_restriction(meta: &ActionMeta, error: ConnectorError) -> ConnectorError {
    let ConnectorError::Forbidden(mut refusal) = error else {
        return error;
    };
    let wanted = match (&refusal.reason, refusal.rule.as_deref()) {
        (_, Some(rule)) => rule,
        (Refusal::AccessLevel, None) => "not-in-access-level",
        _ => return ConnectorError::Forbidden(refusal),
    };
    if let Some(r) = meta.restrictions.iter().find(|r| r.rule == wanted) {
        refusal.rule = Some(r.rule.to_string());
        refusal.detail = format!("{} X said: {}", r.detail, refusal.detail);
    }
    ConnectorError::Forbidden(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_and_manifest_list_the_same_actions_in_the_same_order() {
        let ours: Vec<&str> = catalogue().iter().map(|e| e.id).collect();
        let manifest: Vec<&str> = manifest().actions.iter().map(|a| a.id).collect();
        assert_eq!(ours, manifest);
    }

    #[test]
    fn every_schema_is_an_object_schema_that_refuses_unknown_input_fields() {
        for entry in catalogue() {
            let input = entry.input_schema();
            assert_eq!(input["type"], "object", "{} input", entry.id);
            assert_eq!(input["additionalProperties"], false, "{} input", entry.id);
            assert_eq!(
                entry.output_schema()["type"],
                "object",
                "{} output",
                entry.id
            );
        }
    }
}
