//! An action's input form, generated from its input JSON Schema, and the
//! JSON input made back from the submitted form.
//!
//! Each property becomes one control, chosen by its resolved schema: a
//! choice list for an enumeration, a number box, a yes/no choice, a multiple
//! choice for a list of enumerated values, one line per item for other
//! lists, a group of controls for an object with named properties (a poll,
//! the fields to return), and JSON text for anything else. Values are passed
//! on as typed where they parse; a value that does not is passed on as text,
//! so the host's schema check names the field.

use host_core::error::ActionError;
use serde_json::{Map, Value, json};

/// One control of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// The form field's name: the property's path from the input, as the
    /// host's schema check names it (`poll.options`).
    pub name: String,
    /// The property's name in its object.
    pub key: String,
    /// Whether its object requires it.
    pub required: bool,
    /// Whether the form cannot be sent without it: required, in objects
    /// that are all required themselves.
    pub mandatory: bool,
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
    /// An object's own controls; left blank, the object is left out.
    Group(Vec<Control>),
    Json,
}

/// Objects nested deeper than this are entered as JSON.
const MAX_DEPTH: usize = 3;

/// The controls for `schema`'s properties, in the schema's order.
pub fn controls(schema: &Value) -> Vec<Control> {
    controls_of(schema, schema, None, true)
}

/// The controls of `object`'s properties; `path` is the object's own path
/// (none for the input) and `mandatory` whether the form needs it.
fn controls_of(object: &Value, root: &Value, path: Option<&str>, mandatory: bool) -> Vec<Control> {
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = object["properties"].as_object() else {
        return Vec::new();
    };
    let depth = path.map_or(0, |p| p.split('.').count());
    properties
        .iter()
        .map(|(key, property)| {
            let resolved = resolve(property, root);
            let description = property["description"]
                .as_str()
                .or(resolved["description"].as_str())
                .map(|d| d.replace('\n', " "));
            let name = path.map_or_else(|| key.clone(), |p| format!("{p}.{key}"));
            let required = required.contains(&key.as_str());
            let mandatory = mandatory && required;
            let widget = match widget(&resolved, root) {
                Widget::Json if depth < MAX_DEPTH && resolved["properties"].is_object() => {
                    Widget::Group(controls_of(&resolved, root, Some(&name), mandatory))
                }
                other => other,
            };
            Control {
                name,
                key: key.clone(),
                required,
                mandatory,
                description,
                widget,
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
    object(controls, form).map(Value::Object)
}

/// The object made of `controls`' non-blank values.
fn object(
    controls: &[Control],
    form: &[(String, String)],
) -> Result<Map<String, Value>, ActionError> {
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
            Widget::Group(members) => {
                let members = object(members, form)?;
                if members.is_empty() {
                    continue;
                }
                Value::Object(members)
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
        input.insert(control.key.clone(), value);
    }
    Ok(input)
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

    fn nested() -> Value {
        json!({
            "$defs": {
                "Poll": {
                    "type": "object",
                    "required": ["options", "duration_minutes"],
                    "properties": {
                        "options": {"type": "array", "items": {"type": "string"}},
                        "duration_minutes": {"type": "integer", "minimum": 5}
                    }
                },
                "Fields": {
                    "type": "object",
                    "properties": {
                        "tweet": {"type": ["array", "null"], "items": {"enum": ["created_at", "lang"]}}
                    }
                }
            },
            "type": "object",
            "required": ["fields"],
            "properties": {
                "poll": {"anyOf": [{"$ref": "#/$defs/Poll"}, {"type": "null"}]},
                "fields": {"$ref": "#/$defs/Fields"}
            }
        })
    }

    #[test]
    fn an_object_with_named_properties_is_a_group_of_their_controls() {
        let controls = controls(&nested());
        let Widget::Group(poll) = &controls[0].widget else {
            panic!("poll is a group: {:?}", controls[0].widget);
        };
        let names: Vec<(&str, &str)> = poll
            .iter()
            .map(|c| (c.name.as_str(), c.key.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("poll.options", "options"),
                ("poll.duration_minutes", "duration_minutes")
            ]
        );
        // A poll needs its options, but the form does not need a poll.
        assert!(poll[0].required && !poll[0].mandatory);
        let Widget::Group(fields) = &controls[1].widget else {
            panic!("fields is a group");
        };
        assert_eq!(
            fields[0].widget,
            Widget::MultiChoice(vec!["created_at".into(), "lang".into()])
        );
    }

    #[test]
    fn a_group_left_blank_is_left_out_and_a_filled_one_is_an_object() {
        let form = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let controls = controls(&nested());
        assert_eq!(
            input(
                &controls,
                &form(&[("poll.options", " "), ("poll.duration_minutes", "")])
            )
            .unwrap(),
            json!({})
        );
        assert_eq!(
            input(
                &controls,
                &form(&[
                    ("poll.options", "Yes\nNo"),
                    ("poll.duration_minutes", "60"),
                    ("fields.tweet", "lang"),
                ])
            )
            .unwrap(),
            json!({
                "poll": {"options": ["Yes", "No"], "duration_minutes": 60},
                "fields": {"tweet": ["lang"]}
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
