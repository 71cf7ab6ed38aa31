//! The catalogue of triggers: what on X can start a workflow, and how each
//! is polled.
//!
//! The component keeps nothing between polls: everything a trigger needs to
//! tell new from old is in its cursor, which the host stores and hands back.
//! Posts and direct messages carry ids that grow with time (compared as
//! integers), so their cursor is the newest id seen, and a poll asks X for
//! what came after it (`since_id`), page after page until nothing is left.
//! Followers and likes come as lists without a time, so their cursor is the
//! list last seen, and a poll reports who is new on it. A subscription's
//! first poll (no cursor) reports nothing and returns the cursor of "now",
//! so a workflow starts with what happens next.

mod dm;
mod followers;
mod likes;
mod posts;

use crate::bindings::integration::connector::types::{
    ConnectorError, PollResult, TriggerDescriptor, TriggerEvent, UsageCount,
};
use crate::context::Context;
use crate::error::{internal, invalid_input};
use crate::input::{self, Id, Validate};
use crate::manifest::manifest;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The most pages one poll reads, at X's largest page size: past them, the
/// poll reports what it read and says so in the host's log.
const MAX_PAGES: usize = 20;

/// An event and its stable id.
pub struct Keyed<E> {
    pub id: String,
    pub event: E,
}

/// What a poll found: events, oldest first, and the next cursor.
pub struct Found<E> {
    pub events: Vec<Keyed<E>>,
    pub cursor: String,
}

/// One trigger of the catalogue.
pub trait Trigger {
    /// The trigger's id, as in the manifest.
    const ID: &'static str;
    /// The configuration, parsed and validated before a poll.
    type Configuration: DeserializeOwned + JsonSchema + Validate;
    /// One event.
    type Event: Serialize + JsonSchema;

    /// What happened since `cursor`; with none, nothing, and the cursor of
    /// now.
    fn poll(
        ctx: &Context,
        configuration: &Self::Configuration,
        cursor: Option<&str>,
    ) -> Result<Found<Self::Event>, ConnectorError>;

    /// The most recent event, for a workflow builder to see one.
    fn sample(
        ctx: &Context,
        configuration: &Self::Configuration,
    ) -> Result<Option<Keyed<Self::Event>>, ConnectorError>;

    /// What to ask the X Activity API to push for this configuration, for
    /// triggers X can push.
    fn push_subscription(
        _ctx: &Context,
        _configuration: &Self::Configuration,
    ) -> Result<PushSubscription, ConnectorError> {
        Err(invalid_input(
            "trigger",
            format!("X does not push `{}`; poll it", Self::ID),
        ))
    }

    /// The events of a delivery X pushed (the body of a webhook request),
    /// for triggers X can push.
    fn deliver(
        _ctx: &Context,
        _configuration: &Self::Configuration,
        _payload: &Value,
    ) -> Result<Vec<Keyed<Self::Event>>, ConnectorError> {
        Err(invalid_input(
            "trigger",
            format!("X does not push `{}`; poll it", Self::ID),
        ))
    }
}

/// What a pushable trigger asks the X Activity API for: an event type for
/// one user.
pub struct PushSubscription {
    /// The Activity API's `event_type` (`follow.follow`).
    pub event_type: &'static str,
    /// Whose events (`filter.user_id`).
    pub user_id: String,
}

/// A trigger with its types erased, for the catalogue table.
pub struct Entry {
    pub id: &'static str,
    #[cfg(not(prebuilt_schemas))]
    configuration_schema: fn() -> Value,
    #[cfg(not(prebuilt_schemas))]
    event_schema: fn() -> Value,
    poll: fn(&Context, &str, Option<&str>) -> Result<PollResult, ConnectorError>,
    sample: fn(&Context, &str) -> Result<Option<TriggerEvent>, ConnectorError>,
    deliver: fn(&Context, &str, &str) -> Result<Vec<TriggerEvent>, ConnectorError>,
    push_subscription: fn(&Context, &str) -> Result<PushSubscription, ConnectorError>,
}

#[cfg(not(prebuilt_schemas))]
impl Entry {
    /// JSON Schema of the configuration.
    pub fn configuration_schema(&self) -> Value {
        (self.configuration_schema)()
    }

    /// JSON Schema of one event.
    pub fn event_schema(&self) -> Value {
        (self.event_schema)()
    }

    /// Both schemas as JSON text, for `describe`.
    fn schema_texts(&self) -> (String, String) {
        (
            self.configuration_schema().to_string(),
            self.event_schema().to_string(),
        )
    }
}

#[cfg(prebuilt_schemas)]
impl Entry {
    /// Both schemas as JSON text, for `describe`: derived before the build.
    fn schema_texts(&self) -> (String, String) {
        crate::prebuilt::schemas(crate::prebuilt::TRIGGERS, self.id)
    }
}

fn encode<E: Serialize>(keyed: Keyed<E>) -> Result<TriggerEvent, ConnectorError> {
    Ok(TriggerEvent {
        id: keyed.id,
        data: serde_json::to_string(&keyed.event)
            .map_err(|e| internal(format!("cannot encode an event: {e}")))?,
    })
}

fn entry<T: Trigger>() -> Entry {
    Entry {
        id: T::ID,
        #[cfg(not(prebuilt_schemas))]
        configuration_schema: || schemars::schema_for!(T::Configuration).to_value(),
        #[cfg(not(prebuilt_schemas))]
        event_schema: || schemars::schema_for!(T::Event).to_value(),
        poll: |ctx, configuration, cursor| {
            let configuration = input::parse::<T::Configuration>(configuration)?;
            let found = T::poll(ctx, &configuration, cursor)?;
            Ok(PollResult {
                events: found
                    .events
                    .into_iter()
                    .map(encode)
                    .collect::<Result<_, _>>()?,
                cursor: found.cursor,
                usage: ctx
                    .api
                    .usage
                    .counts()
                    .into_iter()
                    .map(|(unit, count)| UsageCount { unit, count })
                    .collect(),
            })
        },
        sample: |ctx, configuration| {
            let configuration = input::parse::<T::Configuration>(configuration)?;
            T::sample(ctx, &configuration)?.map(encode).transpose()
        },
        deliver: |ctx, configuration, payload| {
            let configuration = input::parse::<T::Configuration>(configuration)?;
            let payload: Value = serde_json::from_str(payload)
                .map_err(|e| invalid_input("payload", format!("is not JSON: {e}")))?;
            T::deliver(ctx, &configuration, &payload)?
                .into_iter()
                .map(encode)
                .collect()
        },
        push_subscription: |ctx, configuration| {
            let configuration = input::parse::<T::Configuration>(configuration)?;
            T::push_subscription(ctx, &configuration)
        },
    }
}

/// Every trigger, in display order.
pub fn catalogue() -> Vec<Entry> {
    vec![
        entry::<posts::NewMention>(),
        entry::<posts::NewPost>(),
        entry::<posts::MatchingPost>(),
        entry::<followers::NewFollower>(),
        entry::<dm::NewMessage>(),
        entry::<likes::NewLike>(),
    ]
}

/// The triggers `describe` returns.
pub fn descriptors() -> Vec<TriggerDescriptor> {
    let m = manifest();
    catalogue()
        .into_iter()
        .map(|entry| {
            let meta = m
                .trigger(entry.id)
                .expect("every catalogued trigger is in the manifest (checked by tests)");
            let (configuration_schema, event_schema) = entry.schema_texts();
            TriggerDescriptor {
                id: entry.id.to_string(),
                title: meta.title.to_string(),
                description: meta.description.to_string(),
                configuration_schema,
                event_schema,
                required_scopes: meta.scopes.iter().map(|s| s.to_string()).collect(),
                pushable: meta.pushable,
            }
        })
        .collect()
}

fn find(trigger_id: &str) -> Result<(Entry, Context), ConnectorError> {
    let catalogue = catalogue();
    let known: Vec<&str> = catalogue.iter().map(|e| e.id).collect();
    let Some(entry) = catalogue.into_iter().find(|e| e.id == trigger_id) else {
        return Err(invalid_input(
            "trigger",
            format!(
                "unknown trigger `{trigger_id}`; this connector offers {}",
                known.join(", ")
            ),
        ));
    };
    let meta = manifest()
        .trigger(trigger_id)
        .ok_or_else(|| internal(format!("trigger {trigger_id} is missing from the manifest")))?;
    let ctx = crate::context::context(meta.id, meta.scopes, meta.contexts)?;
    Ok((entry, ctx))
}

/// Polls `trigger_id` for the host's current connection.
pub fn poll(
    trigger_id: &str,
    configuration: &str,
    cursor: Option<&str>,
) -> Result<PollResult, ConnectorError> {
    let (entry, ctx) = find(trigger_id)?;
    (entry.poll)(&ctx, configuration, cursor)
}

/// The most recent event of `trigger_id`.
pub fn sample(
    trigger_id: &str,
    configuration: &str,
) -> Result<Option<TriggerEvent>, ConnectorError> {
    let (entry, ctx) = find(trigger_id)?;
    (entry.sample)(&ctx, configuration)
}

/// The events of a delivery X pushed for `trigger_id`.
pub fn deliver(
    trigger_id: &str,
    configuration: &str,
    payload: &str,
) -> Result<Vec<TriggerEvent>, ConnectorError> {
    let (entry, ctx) = find(trigger_id)?;
    (entry.deliver)(&ctx, configuration, payload)
}

/// What to ask X to push for `trigger_id` with this configuration, on the
/// host's current connection.
pub fn push_subscription(
    trigger_id: &str,
    configuration: &str,
) -> Result<PushSubscription, ConnectorError> {
    let (entry, ctx) = find(trigger_id)?;
    (entry.push_subscription)(&ctx, configuration)
}

// ---- What several families share --------------------------------------

/// The id of a post, user or message as the number X compares.
fn number(id: &str) -> u64 {
    id.parse().unwrap_or(0)
}

fn user_or_account(ctx: &Context, user_id: &Option<Id>) -> Result<String, ConnectorError> {
    Ok(match user_id {
        Some(id) => id.as_str().to_string(),
        None => ctx.account_id()?.to_string(),
    })
}

// ---- Lists without time: followers, likes -------------------------------

/// The ids last seen on a list, as a cursor.
fn list_cursor(ids: &[String]) -> String {
    serde_json::to_string(ids).expect("a list of strings encodes")
}

fn parse_list_cursor(cursor: &str) -> Result<Vec<String>, ConnectorError> {
    serde_json::from_str(cursor)
        .map_err(|_| invalid_input("cursor", "is not a cursor of this trigger"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_and_manifest_list_the_same_triggers_in_the_same_order() {
        let ours: Vec<&str> = catalogue().iter().map(|e| e.id).collect();
        let manifest: Vec<&str> = manifest().triggers.iter().map(|t| t.id).collect();
        assert_eq!(ours, manifest);
    }

    #[test]
    fn every_configuration_refuses_unknown_fields_and_every_event_is_an_object() {
        for entry in catalogue() {
            let configuration = entry.configuration_schema();
            assert_eq!(configuration["type"], "object", "{}", entry.id);
            assert_eq!(configuration["additionalProperties"], false, "{}", entry.id);
            assert_eq!(entry.event_schema()["type"], "object", "{}", entry.id);
        }
    }

    #[test]
    fn list_cursors_read_back_what_they_wrote() {
        assert!(parse_list_cursor("[\"1\",\"2\"]").is_ok());
        assert!(parse_list_cursor("1,2").is_err());
    }

    #[test]
    fn ids_compare_as_numbers_not_text() {
        assert!(number("10000000000000000000") > number("9"));
        assert!(number("1850000000000000001") > number("1850000000000000000"));
    }
}
