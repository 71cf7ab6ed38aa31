//! JSON request bodies, checked as X checks them against its schemas: an
//! object, no member the schema does not define, the required members, and
//! strings of the right type, length and form. Each refusal is a 400 that
//! names the member (`filter.user_id`), in the words of X's validator.

use crate::problem::{invalid_body, invalid_parameter};
use axum::response::Response;
use serde_json::{Map, Value};

/// The members of a JSON object body, or the 400 that refuses it.
pub fn object(
    body: &[u8],
    allowed: &[&str],
    required: &[&str],
) -> Result<Map<String, Value>, Response> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid_body(&format!("Request body is not valid JSON: {e}")))?;
    members(&value, "", allowed, required).cloned()
}

/// The members of the object at `path` (`""` for the body itself, else a
/// member name such as `filter`), checked like a body.
pub fn members<'a>(
    value: &'a Value,
    path: &str,
    allowed: &[&str],
    required: &[&str],
) -> Result<&'a Map<String, Value>, Response> {
    let Some(map) = value.as_object() else {
        return Err(refuse(path, value, "must be an object"));
    };
    if let Some((name, v)) = map.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(refuse(
            &join(path, name),
            v,
            "is not defined in the schema and the schema does not allow additional properties",
        ));
    }
    if let Some(missing) = required.iter().find(|r| !map.contains_key(**r)) {
        let name = join(path, missing);
        return Err(invalid_body(&format!(
            "$.{name}: is missing but it is required"
        )));
    }
    Ok(map)
}

/// The string member `name` of the object at `path`, if present, of
/// `min..=max` characters.
pub fn string<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Option<&'a str>, Response> {
    let Some(value) = map.get(name) else {
        return Ok(None);
    };
    let full = join(path, name);
    let Some(text) = value.as_str() else {
        return Err(refuse(
            &full,
            value,
            &format!("{} found, string expected", kind(value)),
        ));
    };
    let length = text.chars().count();
    if length < min {
        return Err(refuse(
            &full,
            value,
            &format!("must be at least {min} characters long"),
        ));
    }
    if length > max {
        return Err(refuse(
            &full,
            value,
            &format!("must be at most {max} characters long"),
        ));
    }
    Ok(Some(text))
}

/// An id member: 1 to 19 digits, as X's `^[0-9]{1,19}$`.
pub fn id(map: &Map<String, Value>, path: &str, name: &str) -> Result<Option<u64>, Response> {
    let Some(text) = string(map, path, name, 1, 19)? else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(id) if text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(id)),
        _ => Err(refuse(
            &join(path, name),
            &map[name],
            "does not match the regex pattern ^[0-9]{1,19}$",
        )),
    }
}

/// A 400 for the member `name` (a dotted path) and its `value`.
pub fn refuse(name: &str, value: &Value, message: &str) -> Response {
    let shown = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let label = if name.is_empty() {
        "$".to_string()
    } else {
        format!("$.{name}")
    };
    invalid_parameter(
        if name.is_empty() { "body" } else { name },
        &shown,
        &format!("{label}: {message}"),
    )
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
