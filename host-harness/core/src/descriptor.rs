//! What a connector says about itself, and the input checks the host derives
//! from it.
//!
//! The host validates every input against the action's published schema
//! before it starts the component, so a malformed input costs no instance and
//! every connector reports schema violations the same way: `invalid-input`
//! with the path of the offending field.

use crate::error::{ActionError, HostError};
use jsonschema::error::ValidationErrorKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A connector's description of itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectorDescriptor {
    /// The manifest the component embeds.
    pub manifest: Value,
    /// Its actions, in display order.
    pub actions: Vec<ActionDescriptor>,
    /// Its triggers, in display order.
    pub triggers: Vec<TriggerDescriptor>,
}

/// One trigger: what starts a workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriggerDescriptor {
    pub id: String,
    pub title: String,
    pub description: String,
    pub configuration_schema: Schema,
    pub event_schema: Schema,
    pub required_scopes: Vec<String>,
    /// Whether the API can push its events to the host.
    pub pushable: bool,
}

/// One action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionDescriptor {
    pub id: String,
    pub title: String,
    pub description: String,
    pub input_schema: Schema,
    pub output_schema: Schema,
    pub required_scopes: Vec<String>,
}

/// A JSON Schema a connector published, kept as its JSON text and parsed
/// on first use: a process that runs one action parses one schema, not the
/// hundreds of kilobytes of all of them. Reads as a [`Value`].
#[derive(Clone)]
pub struct Schema {
    text: Box<RawValue>,
    parsed: OnceLock<Value>,
}

impl Schema {
    /// The schema in `text`, which must be JSON.
    pub fn from_text(text: &str) -> Result<Schema, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The schema as a JSON value.
    pub fn value(&self) -> &Value {
        self.parsed.get_or_init(|| {
            serde_json::from_str(self.text.get())
                .expect("a RawValue holds valid JSON, which parses as a Value")
        })
    }
}

impl From<Value> for Schema {
    fn from(value: Value) -> Schema {
        Schema {
            text: serde_json::value::to_raw_value(&value).expect("a Value always serialises"),
            parsed: OnceLock::from(value),
        }
    }
}

impl std::ops::Deref for Schema {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.value(), f)
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Schema) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Schema {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl Serialize for Schema {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.parsed.get() {
            Some(value) => value.serialize(serializer),
            None => self.text.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Schema, D::Error> {
        Ok(Schema {
            text: Box::<RawValue>::deserialize(deserializer)?,
            parsed: OnceLock::new(),
        })
    }
}

impl ConnectorDescriptor {
    /// The action `id`, if the connector offers it.
    pub fn action(&self, id: &str) -> Option<&ActionDescriptor> {
        self.actions.iter().find(|a| a.id == id)
    }

    /// The trigger `id`, if the connector offers it.
    pub fn trigger(&self, id: &str) -> Option<&TriggerDescriptor> {
        self.triggers.iter().find(|t| t.id == id)
    }
}

/// The input checks of a connector: each action's input schema and each
/// trigger's configuration schema, compiled when first used, so that a
/// process that runs one action compiles one schema.
pub struct InputValidators {
    descriptor: Arc<ConnectorDescriptor>,
    actions: HashMap<String, (usize, OnceLock<jsonschema::Validator>)>,
    triggers: HashMap<String, (usize, OnceLock<jsonschema::Validator>)>,
}

fn compile(
    schema: &Value,
    id: &str,
    which: &'static str,
) -> Result<jsonschema::Validator, HostError> {
    jsonschema::validator_for(schema).map_err(|e| HostError::Schema {
        action: id.to_string(),
        which,
        reason: e.to_string(),
    })
}

impl ConnectorDescriptor {
    /// Checks that every schema the connector published compiles: each
    /// action's input and output, each trigger's configuration and event.
    /// Done when a description is first read from a component, so that a
    /// broken schema fails the load rather than an action later.
    pub fn verify_schemas(&self) -> Result<(), HostError> {
        for action in &self.actions {
            compile(&action.input_schema, &action.id, "input")?;
            compile(&action.output_schema, &action.id, "output")?;
        }
        for trigger in &self.triggers {
            compile(&trigger.configuration_schema, &trigger.id, "configuration")?;
            compile(&trigger.event_schema, &trigger.id, "event")?;
        }
        Ok(())
    }
}

impl InputValidators {
    /// The input checks of `descriptor`, none compiled yet.
    pub fn new(descriptor: Arc<ConnectorDescriptor>) -> InputValidators {
        let actions = descriptor
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), (i, OnceLock::new())))
            .collect();
        let triggers = descriptor
            .triggers
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), (i, OnceLock::new())))
            .collect();
        InputValidators {
            descriptor,
            actions,
            triggers,
        }
    }

    /// Compiles every schema now: the checks of a verified description.
    #[cfg(test)]
    fn compile(descriptor: &ConnectorDescriptor) -> Result<InputValidators, HostError> {
        descriptor.verify_schemas()?;
        Ok(InputValidators::new(Arc::new(descriptor.clone())))
    }

    /// Parses `input` (empty text stands for `{}`) and checks it against the
    /// schema of `action`.
    pub fn check(&self, action: &str, input: &str) -> Result<Value, ActionError> {
        let Some((index, compiled)) = self.actions.get(action) else {
            let ids: Vec<&str> = self
                .descriptor
                .actions
                .iter()
                .map(|a| a.id.as_str())
                .collect();
            return Err(ActionError::invalid(
                "action",
                format!(
                    "unknown action `{action}`; this connector offers {}",
                    ids.join(", ")
                ),
            ));
        };
        let validator = compiled_or_err(compiled, || {
            let a = &self.descriptor.actions[*index];
            compile(&a.input_schema, &a.id, "input")
        })?;
        validate(validator, input)
    }

    /// Parses a trigger's configuration (empty text stands for `{}`) and
    /// checks it against the trigger's configuration schema.
    pub fn check_configuration(
        &self,
        trigger: &str,
        configuration: &str,
    ) -> Result<Value, ActionError> {
        let Some((index, compiled)) = self.triggers.get(trigger) else {
            let ids: Vec<&str> = self
                .descriptor
                .triggers
                .iter()
                .map(|t| t.id.as_str())
                .collect();
            return Err(ActionError::invalid(
                "trigger",
                format!(
                    "unknown trigger `{trigger}`; this connector offers {}",
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                ),
            ));
        };
        let validator = compiled_or_err(compiled, || {
            let t = &self.descriptor.triggers[*index];
            compile(&t.configuration_schema, &t.id, "configuration")
        })?;
        validate(validator, configuration)
    }
}

/// The validator in `slot`, compiled by `compile` on first use. The
/// schemas were verified when the description was first read, so a failure
/// here means the description changed since: a host error, not the input's.
fn compiled_or_err(
    slot: &OnceLock<jsonschema::Validator>,
    compile: impl FnOnce() -> Result<jsonschema::Validator, HostError>,
) -> Result<&jsonschema::Validator, ActionError> {
    if let Some(validator) = slot.get() {
        return Ok(validator);
    }
    let validator = compile().map_err(|e| ActionError::Internal {
        detail: e.to_string(),
    })?;
    Ok(slot.get_or_init(|| validator))
}

fn validate(validator: &jsonschema::Validator, input: &str) -> Result<Value, ActionError> {
    let value: Value = if input.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(input)
            .map_err(|e| ActionError::invalid("", format!("input is not valid JSON: {e}")))?
    };
    let violation = validator
        .iter_errors(&value)
        .next()
        .map(|e| describe_violation(&e, &value));
    match violation {
        None => Ok(value),
        Some(error) => Err(error),
    }
}

/// Turns a schema violation into `invalid-input`, naming the field as the
/// connector would: `reply.in_reply_to`, `media_ids[2]`.
fn describe_violation(error: &jsonschema::ValidationError<'_>, input: &Value) -> ActionError {
    let pointer = error.instance_path().to_string();
    let mut field = field_path(&pointer);
    let reason = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            if let Some(name) = unexpected.first() {
                field = join(&field, name);
            }
            "unknown field".to_string()
        }
        // `additionalProperties: false` without `properties` reports the
        // first member of the object, without naming it.
        ValidationErrorKind::FalseSchema
            if error
                .schema_path()
                .to_string()
                .ends_with("/additionalProperties") =>
        {
            let first = input
                .pointer(&pointer)
                .and_then(Value::as_object)
                .and_then(|members| members.keys().next());
            if let Some(name) = first {
                field = join(&field, name);
            }
            "unknown field".to_string()
        }
        // An optional member derives `anyOf: [T, null]`: for a value that
        // is not null, the error inside `T` names the field and the rule.
        ValidationErrorKind::AnyOf { context } => {
            let inner = context
                .iter()
                .filter_map(|branch| branch.first())
                .find(|e| {
                    !matches!(e.kind(), ValidationErrorKind::Type { .. })
                        || e.instance_path().to_string() != pointer
                });
            if let Some(inner) = inner {
                return describe_violation(inner, input);
            }
            error.to_string()
        }
        ValidationErrorKind::Required { property } => {
            if let Some(name) = property.as_str() {
                field = join(&field, name);
            }
            "is required".to_string()
        }
        _ => error.to_string(),
    };
    if field.is_empty() && matches!(error.kind(), ValidationErrorKind::Type { .. }) {
        return ActionError::invalid("", "the input must be a JSON object");
    }
    ActionError::invalid(field, reason)
}

/// `/reply/in_reply_to` → `reply.in_reply_to`; `/media_ids/2` → `media_ids[2]`.
fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            out = join(&out, &segment);
        }
    }
    out
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validators() -> InputValidators {
        let descriptor = ConnectorDescriptor {
            manifest: json!({}),
            triggers: Vec::new(),
            actions: vec![ActionDescriptor {
                id: "post.create".into(),
                title: "t".into(),
                description: "d".into(),
                input_schema: Schema::from(json!({
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["text"],
                    "properties": {
                        "text": {"type": "string", "minLength": 1},
                        "reply": {"type": "object", "additionalProperties": false, "properties": {"id": {"type": "string"}}},
                        "ids": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+$"}}
                    }
                })),
                output_schema: json!({"type": "object"}).into(),
                required_scopes: vec![],
            }],
        };
        InputValidators::compile(&descriptor).unwrap()
    }

    fn field_of(input: &str) -> String {
        match validators().check("post.create", input).unwrap_err() {
            ActionError::InvalidInput { field, .. } => field,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    #[test]
    fn violations_name_the_field() {
        assert_eq!(field_of("{}"), "text");
        assert_eq!(field_of(r#"{"text": 1}"#), "text");
        assert_eq!(field_of(r#"{"text": "a", "colour": 1}"#), "colour");
        assert_eq!(field_of(r#"{"text": "a", "reply": {"x": 1}}"#), "reply.x");
        assert_eq!(field_of(r#"{"text": "a", "ids": ["1", "b"]}"#), "ids[1]");
        assert_eq!(field_of(r#"{"text": "#), "");
        assert_eq!(field_of(r#"[1]"#), "");
    }

    #[test]
    fn an_unknown_field_of_an_input_without_fields_is_named() {
        let descriptor = ConnectorDescriptor {
            manifest: json!({}),
            triggers: Vec::new(),
            actions: vec![ActionDescriptor {
                id: "users.me".into(),
                title: "t".into(),
                description: "d".into(),
                input_schema: json!({"type": "object", "additionalProperties": false}).into(),
                output_schema: json!({"type": "object"}).into(),
                required_scopes: vec![],
            }],
        };
        let validators = InputValidators::compile(&descriptor).unwrap();
        match validators
            .check("users.me", r#"{"verbose": true}"#)
            .unwrap_err()
        {
            ActionError::InvalidInput { field, reason } => {
                assert_eq!(field, "verbose");
                assert_eq!(reason, "unknown field");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_actions_are_named() {
        match validators().check("post.teleport", "{}").unwrap_err() {
            ActionError::InvalidInput { field, reason } => {
                assert_eq!(field, "action");
                assert!(
                    reason.contains("post.teleport") && reason.contains("post.create"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
