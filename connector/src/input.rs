//! Parsing an action's JSON input, with errors that name the field.
//!
//! Inputs are Rust types with `#[serde(deny_unknown_fields)]`; the same types
//! produce the published JSON Schemas. serde reports *what* is wrong and
//! `serde_path_to_error` *where*; this module turns both into an
//! `invalid-input` whose `field` is a path such as `reply.in_reply_to` or
//! `media_ids[2]`.

use crate::error::{ConnectorError, invalid_input};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;

/// Rules that a type cannot express, checked after parsing.
pub trait Validate {
    /// Checks the parsed input; the error names the field.
    fn validate(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Parses `text` as `T` and validates it. Empty text stands for `{}`, so an
/// action without required fields runs without input.
pub fn parse<T: DeserializeOwned + Validate>(text: &str) -> Result<T, ConnectorError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    // serde would accept an array for a struct, field by position.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde_json::Value>(text) {
            Ok(_) => invalid_input("", "the input must be a JSON object"),
            Err(e) => invalid_input(
                "",
                format!(
                    "input is not valid JSON: {}",
                    strip_position(&e.to_string())
                ),
            ),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        describe(&path, e.inner())
    })?;
    de.end().map_err(|e| {
        invalid_input(
            "",
            format!(
                "input is not valid JSON: {}",
                strip_position(&e.to_string())
            ),
        )
    })?;
    value.validate()?;
    Ok(value)
}

fn describe(path: &str, error: &serde_json::Error) -> ConnectorError {
    let message = error.to_string();
    let message = strip_position(&message);
    // serde_path_to_error renders the root as ".".
    let path = if path == "." { "" } else { path };
    if error.is_syntax() || error.is_eof() {
        return invalid_input("", format!("input is not valid JSON: {message}"));
    }
    if quoted_after(message, "unknown field ").is_some() {
        // The path already ends with the unknown field's name.
        let expected = message
            .split_once(", expected ")
            .map(|(_, rest)| format!("; expected {rest}"))
            .unwrap_or_default();
        return invalid_input(path, format!("unknown field{expected}"));
    }
    if let Some(name) = quoted_after(message, "missing field ") {
        return invalid_input(join(path, name), "is required");
    }
    invalid_input(path, message)
}

/// The name in backquotes right after `prefix`, as serde words it.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split('`').next()
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// The numeric id of a post or user, as X writes it: 1 to 19 digits, in a
/// string so that no JSON number rounds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if (1..=19).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Id(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{}` is not an X id: expected a string of 1 to 19 digits",
                text.chars().take(40).collect::<String>()
            )))
        }
    }
}

impl JsonSchema for Id {
    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{1,19}$",
            "description": "A post or user id: 1 to 19 digits, as a string."
        })
    }
}

/// Checks that an optional number lies in `min..=max`.
pub fn check_range(
    field: &str,
    value: Option<u32>,
    min: u32,
    max: u32,
) -> Result<(), ConnectorError> {
    match value {
        Some(v) if v < min || v > max => Err(invalid_input(
            field,
            format!("must be between {min} and {max}, got {v}"),
        )),
        _ => Ok(()),
    }
}

/// Checks that an optional string is not empty and at most `max` characters long.
pub fn check_length(field: &str, value: Option<&str>, max: usize) -> Result<(), ConnectorError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(invalid_input(field, "must not be empty")),
        Some(v) if v.chars().count() > max => Err(invalid_input(
            field,
            format!(
                "must be at most {max} characters, got {}",
                v.chars().count()
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidInput;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        id: Id,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        text: String,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        reply: Option<Inner>,
        #[serde(default)]
        ids: Vec<Id>,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), ConnectorError> {
            check_range("count", self.count, 5, 100)
        }
    }

    fn refused(input: &str) -> InvalidInput {
        match parse::<Sample>(input) {
            Err(ConnectorError::InvalidInput(i)) => i,
            other => panic!("expected invalid-input for {input}, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_of_each_mistake() {
        assert_eq!(refused(r#"{}"#).field, "text");
        assert_eq!(refused(r#"{"text": 5}"#).field, "text");
        assert_eq!(refused(r#"{"text": "a", "colour": 1}"#).field, "colour");
        assert_eq!(
            refused(r#"{"text": "a", "reply": {"id": "x1"}}"#).field,
            "reply.id"
        );
        assert_eq!(
            refused(r#"{"text": "a", "reply": {"id": "1", "extra": true}}"#).field,
            "reply.extra"
        );
        assert_eq!(
            refused(r#"{"text": "a", "ids": ["1", "2", "three"]}"#).field,
            "ids[2]"
        );
        assert_eq!(refused(r#"{"text": "a", "count": 1}"#).field, "count");
        assert_eq!(refused(r#"{"text": "a", "count": -1}"#).field, "count");
    }

    #[test]
    fn malformed_json_and_non_objects_are_refused_as_a_whole() {
        let i = refused(r#"{"text": "#);
        assert_eq!(i.field, "");
        assert!(i.reason.contains("not valid JSON"), "{}", i.reason);
        assert_eq!(refused(r#"[1, 2]"#).field, "");
        assert_eq!(refused(r#"{"text": "a"} trailing"#).field, "");
    }

    #[test]
    fn unknown_field_reason_lists_the_expected_ones() {
        let i = refused(r#"{"text": "a", "colour": 1}"#);
        assert!(i.reason.contains("expected one of"), "{}", i.reason);
    }

    #[test]
    fn accepts_a_valid_input() {
        let s = parse::<Sample>(r#"{"text": "a", "count": 10, "reply": {"id": "123"}}"#).unwrap();
        assert_eq!(s.reply.unwrap().id.as_str(), "123");
    }
}
