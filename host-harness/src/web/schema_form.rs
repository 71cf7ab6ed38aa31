//! An action's input form, generated from its input JSON Schema, and the
//! JSON input made back from the submitted form.
//!
//! Each top-level property becomes one control, chosen by its resolved
//! schema: a choice list for an enumeration, a number box, a yes/no choice,
//! a multiple choice for a list of enumerated values, one line per item for
//! other lists, and JSON text for anything else (objects). Values are passed
//! on as typed where they parse; a value that does not is passed on as text,
//! so the host's schema check names the field.

use crate::error::ActionError;
use serde_json::{Map, Value, json};

/// One control of the form.
#[derive(Debug, Clone)]
pub struct Control {
    /// The property's name: the form field's name and the input's key.
    pub name: String,
    pub required: bool,
    pub description: Option<String>,
    pub widget: Widget,
}

/// How a property is entered.
#[derive(Debug, Clone, PartialEq)]
pub enum Widget {
    Text {
        max_length: Option<u64>,
    },
    Number {
        integer: bool,
        min: Option<f64>,
        max: Option<f64>,
    },
    YesNo,
    Choice(Vec<String>),
    MultiChoice(Vec<String>),
    Lines,
    Json,
}

/// The controls for `schema`'s top-level properties, in the schema's order.
pub fn controls(schema: &Value) -> Vec<Control> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let resolved = resolve(property, schema);
            let description = property["description"]
                .as_str()
                .or(resolved["description"].as_str())
                .map(|d| d.replace('\n', " "));
            Control {
                name: name.clone(),
                required: required.contains(&name.as_str()),
                description,
                widget: widget(&resolved, schema),
            }
        })
        .collect()
}

/// Follows `$ref` and drops the `null` branch of an optional value.
fn resolve(schema: &Value, root: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .cloned()
            .unwrap_or(Value::Null);
        return resolve(&target, root);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema[key].as_array() {
            let not_null: Vec<&Value> = branches.iter().filter(|b| b["type"] != "null").collect();
            if not_null.len() == 1 && branches.len() == 2 {
                let mut merged = resolve(not_null[0], root);
                if let (Some(m), Some(d)) = (merged.as_object_mut(), schema["description"].as_str())
                {
                    m.entry("description").or_insert(json!(d));
                }
                return merged;
            }
        }
    }
    schema.clone()
}

/// The type named by `schema`, ignoring `null`.
fn type_name(schema: &Value) -> Option<&str> {
    match &schema["type"] {
        Value::String(t) => Some(t),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

/// The values of an enumeration: `enum`, or `oneOf` constants.
fn choices(schema: &Value) -> Option<Vec<String>> {
    if let Some(values) = schema["enum"].as_array() {
        return Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
        );
    }
    let branches = schema["oneOf"].as_array()?;
    branches
        .iter()
        .map(|b| b["const"].as_str().map(String::from))
        .collect()
}

fn widget(schema: &Value, root: &Value) -> Widget {
    if let Some(values) = choices(schema) {
        return Widget::Choice(values);
    }
    match type_name(schema) {
        Some("string") => Widget::Text {
            max_length: schema["maxLength"].as_u64(),
        },
        Some(t @ ("integer" | "number")) => Widget::Number {
            integer: t == "integer",
            min: schema["minimum"].as_f64(),
            max: schema["maximum"].as_f64(),
        },
        Some("boolean") => Widget::YesNo,
        Some("array") => {
            let items = resolve(&schema["items"], root);
            match choices(&items) {
                Some(values) => Widget::MultiChoice(values),
                None if type_name(&items) == Some("string") => Widget::Lines,
                None => Widget::Json,
            }
        }
        _ => Widget::Json,
    }
}

/// The action's input from the submitted form: every non-blank control,
/// typed as its widget says.
pub fn input(controls: &[Control], form: &[(String, String)]) -> Result<Value, ActionError> {
    let values = |name: &str| -> Vec<&str> {
        form.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let mut input = Map::new();
    for control in controls {
        let given = values(&control.name);
        let first = given.first().map(|v| v.trim()).unwrap_or_default();
        let value = match &control.widget {
            Widget::MultiChoice(_) => {
                if given.is_empty() {
                    continue;
                }
                json!(given)
            }
            _ if first.is_empty() => continue,
            Widget::Text { .. } | Widget::Choice(_) => json!(given[0]),
            Widget::Number { .. } => first
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| first.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| json!(first)),
            Widget::YesNo => json!(first == "true"),
            Widget::Lines => json!(
                first
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
            ),
            Widget::Json => serde_json::from_str(first).map_err(|e| ActionError::InvalidInput {
                field: control.name.clone(),
                reason: format!("is not JSON: {e}"),
            })?,
        };
        input.insert(control.name.clone(), value);
    }
    Ok(Value::Object(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({
            "$defs": {
                "Id": {"type": "string", "pattern": "^[0-9]+$"},
                "Reply": {"oneOf": [{"const": "following"}, {"const": "verified"}]},
                "Field": {"enum": ["a", "b"], "type": "string"}
            },
            "type": "object",
            "required": ["text"],
            "properties": {
                "text": {"type": "string", "maxLength": 280, "description": "What to say."},
                "reply_to": {"anyOf": [{"$ref": "#/$defs/Id"}, {"type": "null"}]},
                "reply_settings": {"anyOf": [{"$ref": "#/$defs/Reply"}, {"type": "null"}]},
                "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
                "nullcast": {"type": "boolean"},
                "media_ids": {"type": ["array", "null"], "items": {"$ref": "#/$defs/Id"}},
                "fields": {"type": ["array", "null"], "items": {"$ref": "#/$defs/Field"}},
                "poll": {"anyOf": [{"type": "object"}, {"type": "null"}]}
            }
        })
    }

    #[test]
    fn each_property_gets_the_control_its_schema_calls_for() {
        let controls = controls(&schema());
        let widget = |name: &str| {
            controls
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.widget.clone())
                .unwrap()
        };
        assert_eq!(
            widget("text"),
            Widget::Text {
                max_length: Some(280)
            }
        );
        assert_eq!(widget("reply_to"), Widget::Text { max_length: None });
        assert_eq!(
            widget("reply_settings"),
            Widget::Choice(vec!["following".into(), "verified".into()])
        );
        assert_eq!(
            widget("limit"),
            Widget::Number {
                integer: true,
                min: Some(1.0),
                max: Some(100.0)
            }
        );
        assert_eq!(widget("nullcast"), Widget::YesNo);
        assert_eq!(widget("media_ids"), Widget::Lines);
        assert_eq!(
            widget("fields"),
            Widget::MultiChoice(vec!["a".into(), "b".into()])
        );
        assert_eq!(widget("poll"), Widget::Json);
        assert!(controls.iter().find(|c| c.name == "text").unwrap().required);
    }

    #[test]
    fn a_submitted_form_becomes_typed_input_without_its_blanks() {
        let form: Vec<(String, String)> = [
            ("text", "Hello"),
            ("reply_to", ""),
            ("limit", "5"),
            ("nullcast", "false"),
            ("media_ids", "1\n 2 \n\n"),
            ("fields", "a"),
            ("fields", "b"),
            ("poll", r#"{"options": ["x", "y"], "duration_minutes": 5}"#),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let input = input(&controls(&schema()), &form).unwrap();
        assert_eq!(
            input,
            json!({
                "text": "Hello",
                "limit": 5,
                "nullcast": false,
                "media_ids": ["1", "2"],
                "fields": ["a", "b"],
                "poll": {"options": ["x", "y"], "duration_minutes": 5}
            })
        );
    }

    #[test]
    fn a_value_that_does_not_parse_is_named() {
        let form = vec![("poll".to_string(), "{not json".to_string())];
        let Err(ActionError::InvalidInput { field, .. }) = input(&controls(&schema()), &form)
        else {
            panic!("expected an input error");
        };
        assert_eq!(field, "poll");
        // A number that is not one goes on as text, for the schema check to name.
        let form = vec![("limit".to_string(), "many".to_string())];
        assert_eq!(
            input(&controls(&schema()), &form).unwrap(),
            json!({"limit": "many"})
        );
    }
}
