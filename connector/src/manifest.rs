//! The connector's manifest, embedded from `manifests/x.json`.
//!
//! The same file is installed in the host, which trusts its own copy for
//! egress and auth; the component returns it from `describe` so a host can
//! check that the component and the manifest belong together. The connector
//! reads from it the API's base URL and each action's title, description,
//! scopes and contexts, so that none of these is written twice. The build
//! script turns those parts into statics: each action runs in a fresh
//! instance, and parsing the whole manifest there cost every action more
//! than its own work.

/// The manifest of `manifests/x.json`, without the whitespace between its
/// tokens (see build.rs).
pub const MANIFEST_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/manifest.min.json"));

/// The parts of the manifest the connector reads.
#[derive(Debug)]
pub struct Manifest {
    /// Where the API lives.
    pub api: Api,
    /// Metadata of every action, in display order.
    pub actions: &'static [ActionMeta],
    /// Metadata of every trigger, in display order.
    pub triggers: &'static [TriggerMeta],
    /// The API's billing units, which `usage` outputs count in.
    pub usage_units: &'static [UsageUnit],
    /// What each endpoint consumes, in those units.
    pub usage_endpoints: &'static [UsageEndpoint],
}

/// One billing unit of the API.
#[derive(Debug)]
pub struct UsageUnit {
    /// The unit's name in an output's `usage`.
    pub id: &'static str,
    /// The API's own name for it, from its pricing page.
    pub label: &'static str,
}

/// What one endpoint consumes; units are indices into `usage_units`.
#[derive(Debug)]
pub struct UsageEndpoint {
    /// The HTTP method.
    pub method: &'static str,
    /// The path, with `{name}` for a segment that varies.
    pub path: &'static str,
    /// Applies only to a request whose JSON body has this member.
    pub body_has: Option<&'static str>,
    /// The unit each resource of `data` counts in.
    pub data: Option<usize>,
    /// The unit `data` counts in when the first `{...}` is the account.
    pub owned: Option<usize>,
    /// The unit of each kind of resource in `includes`.
    pub includes: &'static [(&'static str, usize)],
    /// The unit a successful request counts one in.
    pub request: Option<usize>,
    /// The unit a successful request whose text holds a URL counts in.
    pub request_with_url: Option<usize>,
}

/// What an action cannot do on an access level the API sells.
#[derive(Debug)]
pub struct Restriction {
    /// The rule's stable name, as a `forbidden` error carries it.
    pub rule: &'static str,
    /// What is refused and what to do, for a workflow builder.
    pub detail: &'static str,
}

/// The API section of the manifest.
#[derive(Debug)]
pub struct Api {
    /// Origin of the API, such as `https://api.x.com`.
    pub base_url: &'static str,
}

/// One action's metadata.
#[derive(Debug)]
pub struct ActionMeta {
    /// Action identifier.
    pub id: &'static str,
    /// Human title.
    pub title: &'static str,
    /// What the action does.
    pub description: &'static str,
    /// OAuth scopes the action needs.
    pub scopes: &'static [&'static str],
    /// `user`, `app` or both: which kinds of connection can run it.
    pub contexts: &'static [&'static str],
    /// What the API refuses this action on some access levels.
    pub restrictions: &'static [Restriction],
}

/// One trigger's metadata.
#[derive(Debug)]
pub struct TriggerMeta {
    /// Trigger identifier.
    pub id: &'static str,
    /// Human title.
    pub title: &'static str,
    /// What starts the workflow.
    pub description: &'static str,
    /// OAuth scopes the trigger needs.
    pub scopes: &'static [&'static str],
    /// `user`, `app` or both: which kinds of connection can use it.
    pub contexts: &'static [&'static str],
    /// Whether X can push its events (the manifest's `delivery` has `push`).
    pub pushable: bool,
}

include!(concat!(env!("OUT_DIR"), "/manifest_meta.rs"));

/// The manifest's parts the connector reads.
pub fn manifest() -> &'static Manifest {
    &MANIFEST
}

impl Manifest {
    /// Metadata of the action `id`, if the manifest declares it.
    pub fn action(&self, id: &str) -> Option<&'static ActionMeta> {
        self.actions.iter().find(|a| a.id == id)
    }

    /// Metadata of the trigger `id`, if the manifest declares it.
    pub fn trigger(&self, id: &str) -> Option<&'static TriggerMeta> {
        self.triggers.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn statics_say_what_the_embedded_manifest_says() {
        let json: Value = serde_json::from_str(MANIFEST_JSON).unwrap();
        let m = manifest();
        assert!(m.api.base_url.starts_with("https://"));
        assert_eq!(json["api"]["base_url"], m.api.base_url);
        let actions = json["actions"].as_array().unwrap();
        assert_eq!(actions.len(), m.actions.len());
        for (a, meta) in actions.iter().zip(m.actions) {
            assert_eq!(a["id"], meta.id);
            assert_eq!(a["title"], meta.title);
            assert_eq!(a["description"], meta.description);
            assert_eq!(a["scopes"], serde_json::json!(meta.scopes));
            assert_eq!(a["contexts"], serde_json::json!(meta.contexts));
        }
    }
}
