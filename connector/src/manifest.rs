//! The connector's manifest, embedded from `manifests/x.json`.
//!
//! The same file is installed in the host, which trusts its own copy for
//! egress and auth; the component returns it from `describe` so a host can
//! check that the component and the manifest belong together. The connector
//! reads from it the API's base URL and each action's title, description,
//! scopes and contexts, so that none of these is written twice.

use serde::Deserialize;
use std::sync::OnceLock;

/// The manifest, byte for byte as in `manifests/x.json`.
pub const MANIFEST_JSON: &str = include_str!("../../manifests/x.json");

/// The parts of the manifest the connector reads.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    /// Where the API lives.
    pub api: Api,
    /// Metadata of every action, in display order.
    pub actions: Vec<ActionMeta>,
}

/// The API section of the manifest.
#[derive(Debug, Deserialize)]
pub struct Api {
    /// Origin of the API, such as `https://api.x.com`.
    pub base_url: String,
}

/// One action's metadata.
#[derive(Debug, Deserialize)]
pub struct ActionMeta {
    /// Action identifier.
    pub id: String,
    /// Human title.
    pub title: String,
    /// What the action does.
    pub description: String,
    /// OAuth scopes the action needs.
    pub scopes: Vec<String>,
    /// `user`, `app` or both: which kinds of connection can run it.
    pub contexts: Vec<String>,
}

/// The parsed manifest. The file is part of the build, so a parse failure is
/// a build defect that the unit tests catch.
pub fn manifest() -> &'static Manifest {
    static MANIFEST: OnceLock<Manifest> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        serde_json::from_str(MANIFEST_JSON).expect("manifests/x.json is valid (checked by tests)")
    })
}

impl Manifest {
    /// Metadata of the action `id`, if the manifest declares it.
    pub fn action(&self, id: &str) -> Option<&ActionMeta> {
        self.actions.iter().find(|a| a.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_parses_and_names_an_https_origin() {
        let m = manifest();
        assert!(m.api.base_url.starts_with("https://"));
        assert!(!m.actions.is_empty());
    }
}
