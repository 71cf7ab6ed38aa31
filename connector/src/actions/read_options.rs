//! Options every reading action takes besides its own input:
//! `retry_budget_secs`, how long the action may keep sending a failed read
//! again. They are taken out of the input before it is parsed, so each
//! action's input type stays about the action.

use crate::context::Context;
use crate::error::{ConnectorError, invalid_input};
use crate::retry::{DEFAULT_BUDGET, MAX_BUDGET_SECS};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::time::Duration;

const BUDGET: &str = "retry_budget_secs";

/// Publishes the options in an action's input schema.
pub fn add_to_schema(schema: &mut Value) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert(
            BUDGET.into(),
            json!({
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_BUDGET_SECS,
                "default": DEFAULT_BUDGET.as_secs(),
                "description": "Seconds this action may spend sending a read again after a server error, a lost connection, or a rate limit that resets within the time left; 0 sends each request once."
            }),
        );
    }
}

/// Applies the options found in `text` to the action's requests and
/// returns the input without them. Text that is not a JSON object is
/// returned as it is, for the input parser to explain.
pub fn take<'t>(ctx: &Context, text: &'t str) -> Result<Cow<'t, str>, ConnectorError> {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(text) else {
        return Ok(Cow::Borrowed(text));
    };
    let Some(budget) = object.remove(BUDGET) else {
        return Ok(Cow::Borrowed(text));
    };
    let seconds = budget
        .as_u64()
        .filter(|s| *s <= MAX_BUDGET_SECS)
        .ok_or_else(|| {
            invalid_input(
                BUDGET,
                format!("must be a whole number of seconds from 0 to {MAX_BUDGET_SECS}"),
            )
        })?;
    ctx.api.set_read_budget(Duration::from_secs(seconds));
    Ok(Cow::Owned(Value::Object(object).to_string()))
}
