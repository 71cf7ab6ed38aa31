//! What an action consumed at the API, in the API's billing units.
//!
//! The units and what each endpoint consumes are one table in the manifest
//! (`usage`), turned into statics at build time; this module only counts.
//! Every request sent counts in the first unit (`requests`); a successful
//! answer adds its resources (`data`, and each kind in `includes`) or one
//! write to the endpoint's unit. Reads of the connected account's own data
//! count in the endpoint's `owned` unit instead.

use crate::http::Verb;
use crate::manifest::{UsageEndpoint, manifest};
use serde_json::{Map, Value};
use std::cell::RefCell;

/// The counts of one action, one per unit of the manifest.
#[derive(Debug, Default)]
pub struct Meter {
    counts: RefCell<Vec<u64>>,
    /// The connected account's id, once known: its own reads are priced apart.
    account_id: RefCell<Option<String>>,
}

impl Meter {
    /// A meter for an action on `account_id`'s connection, when known.
    pub fn new(account_id: Option<String>) -> Self {
        Meter {
            counts: RefCell::new(vec![0; manifest().usage_units.len()]),
            account_id: RefCell::new(account_id),
        }
    }

    /// Learns the account once the action has asked X for it.
    pub fn set_account_id(&self, id: &str) {
        *self.account_id.borrow_mut() = Some(id.to_string());
    }

    /// One request went out, answered or not.
    pub fn sent(&self) {
        self.add(Some(0), 1);
    }

    /// A request to `path_and_query` with JSON body `request`, if any,
    /// succeeded with `body`.
    pub fn answered(
        &self,
        verb: Verb,
        path_and_query: &str,
        body: &Value,
        request: Option<&Value>,
    ) {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let Some((endpoint, first_param)) = endpoint(verb, path, request) else {
            return;
        };
        let text = request.and_then(|r| r.get("text")).and_then(Value::as_str);
        // Only an endpoint that prices a URL apart needs the text searched.
        let with_url = || text.is_some_and(|t| !x_text::extract_urls(t).is_empty());
        match (endpoint.request_with_url, endpoint.request) {
            (Some(unit), _) if with_url() => self.add(Some(unit), 1),
            (_, Some(unit)) => self.add(Some(unit), 1),
            _ => {}
        }
        let owned = endpoint.owned.filter(|_| {
            first_param.is_some() && self.account_id.borrow().as_deref() == first_param
        });
        self.add(owned.or(endpoint.data), resources(body.get("data")));
        if let Some(includes) = body.get("includes") {
            for (kind, unit) in endpoint.includes {
                self.add(Some(*unit), resources(includes.get(*kind)));
            }
        }
    }

    /// The counts by unit name, every unit present, for an output's `usage`.
    pub fn to_json(&self) -> Value {
        let counts = self.counts.borrow();
        let map: Map<String, Value> = manifest()
            .usage_units
            .iter()
            .zip(counts.iter())
            .map(|(unit, n)| (unit.id.to_string(), Value::from(*n)))
            .collect();
        Value::Object(map)
    }

    /// The counts by unit name, every unit present, for a poll's usage.
    pub fn counts(&self) -> Vec<(String, u64)> {
        let counts = self.counts.borrow();
        manifest()
            .usage_units
            .iter()
            .zip(counts.iter())
            .map(|(unit, n)| (unit.id.to_string(), *n))
            .collect()
    }

    fn add(&self, unit: Option<usize>, n: u64) {
        if let Some(unit) = unit
            && let Some(count) = self.counts.borrow_mut().get_mut(unit)
        {
            *count += n;
        }
    }
}

/// The manifest's endpoint for `verb path` with body `request`, and the
/// value of its first `{...}` segment.
fn endpoint<'p>(
    verb: Verb,
    path: &'p str,
    request: Option<&Value>,
) -> Option<(&'static UsageEndpoint, Option<&'p str>)> {
    let method = verb.as_str();
    let has = |member: &str| request.is_some_and(|r| r.get(member).is_some());
    manifest()
        .usage_endpoints
        .iter()
        .filter(|e| e.method == method && e.body_has.is_none_or(has))
        .find_map(|e| matches(e.path, path).map(|first| (e, first)))
}

/// Whether `path` fits `template`, and the first `{...}` segment's value.
fn matches<'p>(template: &str, path: &'p str) -> Option<Option<&'p str>> {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut first = None;
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(first),
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {
                first = first.or(Some(g));
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// How many resources a `data` or `includes` member holds.
fn resources(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::Array(items)) => items.len() as u64,
        Some(Value::Object(_)) => 1,
        _ => 0,
    }
}

/// The JSON Schema of an output's `usage`: one integer per unit.
#[cfg(not(prebuilt_schemas))]
pub fn schema() -> Value {
    let properties: Map<String, Value> = manifest()
        .usage_units
        .iter()
        .map(|u| {
            (
                u.id.to_string(),
                serde_json::json!({"type": "integer", "minimum": 0, "description": u.label}),
            )
        })
        .collect();
    let required: Vec<&str> = manifest().usage_units.iter().map(|u| u.id).collect();
    serde_json::json!({
        "type": "object",
        "description": "What the action consumed at X, in the units of X's pricing page (see the manifest's usage table).",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn count(meter: &Meter, unit: &str) -> u64 {
        meter.to_json()[unit].as_u64().unwrap()
    }

    #[test]
    fn templates_match_whole_paths_and_name_the_first_parameter() {
        assert_eq!(
            matches("/2/users/{id}/tweets", "/2/users/42/tweets"),
            Some(Some("42"))
        );
        assert_eq!(
            matches("/2/users/{id}/tweets", "/2/users/42/mentions"),
            None
        );
        assert_eq!(matches("/2/users/{id}/tweets", "/2/users//tweets"), None);
        assert_eq!(matches("/2/users/me", "/2/users/me"), Some(None));
        assert_eq!(matches("/2/tweets", "/2/tweets/1"), None);
    }

    #[test]
    fn reads_count_resources_and_the_accounts_own_reads_apart() {
        let meter = Meter::new(Some("42".into()));
        let page =
            json!({"data": [{"id": "1"}, {"id": "2"}], "includes": {"users": [{"id": "7"}]}});
        meter.answered(Verb::Get, "/2/users/42/tweets?max_results=5", &page, None);
        meter.answered(Verb::Get, "/2/users/9/tweets", &page, None);
        assert_eq!(count(&meter, "owned_reads"), 2);
        assert_eq!(count(&meter, "posts_read"), 2);
        assert_eq!(count(&meter, "users_read"), 2);
    }

    #[test]
    fn a_post_with_a_url_is_counted_apart() {
        let meter = Meter::new(None);
        let created = json!({"data": {"id": "1", "text": "x"}});
        let sent = |text: &str| json!({ "text": text });
        meter.answered(
            Verb::Post,
            "/2/tweets",
            &created,
            Some(&sent("plain words")),
        );
        meter.answered(
            Verb::Post,
            "/2/tweets",
            &created,
            Some(&sent("see example.com")),
        );
        let edit = json!({"text": "x", "edit_options": {"previous_post_id": "1"}});
        meter.answered(Verb::Post, "/2/tweets", &created, Some(&edit));
        assert_eq!(count(&meter, "posts_created"), 1);
        assert_eq!(count(&meter, "posts_created_with_url"), 1);
        // An edit is priced as managing content.
        assert_eq!(count(&meter, "content_managed"), 1);
        // Writes do not count what their answer echoes as reads.
        assert_eq!(count(&meter, "posts_read"), 0);
    }

    #[test]
    fn every_unit_is_in_the_output_even_at_zero() {
        let usage = Meter::new(None).to_json();
        assert_eq!(
            usage.as_object().unwrap().len(),
            manifest().usage_units.len()
        );
        assert_eq!(manifest().usage_units[0].id, "requests");
    }
}
