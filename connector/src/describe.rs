//! What `describe` returns: the manifest, every action and every trigger.
//! It stands above both catalogues, which know nothing of each other.

use crate::bindings::integration::connector::types::Descriptor;
use crate::manifest::MANIFEST_JSON;

/// The descriptor `describe` returns.
pub fn describe() -> Descriptor {
    Descriptor {
        manifest: MANIFEST_JSON.to_string(),
        actions: crate::actions::descriptors(),
        triggers: crate::triggers::descriptors(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::catalogue;

    #[test]
    fn describe_returns_the_manifest_verbatim() {
        let d = describe();
        assert_eq!(d.manifest, MANIFEST_JSON);
        assert_eq!(d.actions.len(), catalogue().len());
        for a in &d.actions {
            // Every action that calls X names the scopes it needs.
            assert!(
                !a.required_scopes.is_empty() || a.id == "post.validate",
                "{}",
                a.id
            );
            serde_json::from_str::<serde_json::Value>(&a.input_schema).unwrap();
        }
    }
}
