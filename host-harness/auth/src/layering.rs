//! The values of a connection's auth fields, from the most specific level
//! that sets them: a fixed value from the manifest, then the connection's
//! own field, then app credentials set for its brand, then app credentials
//! set for everyone (a tenant's own for a tenant's connection, the
//! operator's otherwise), then the manifest's default. Blank values fall
//! through.

use super::AuthError;
use credential_store::{AppCredentialLevel, ConnectionRecord, FieldValue, Store};
use host_core::manifest::{AuthMethod, Manifest};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

/// A connection's auth method with every field's value resolved.
#[derive(Clone)]
pub struct ResolvedAuth {
    pub method: AuthMethod,
    values: BTreeMap<String, FieldValue>,
}

impl std::fmt::Debug for ResolvedAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedAuth")
            .field("method", &self.method.id)
            .field("fields", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ResolvedAuth {
    /// The field's value, if set and not blank.
    pub fn get(&self, field: &str) -> Option<&FieldValue> {
        self.values.get(field).filter(|v| !v.is_blank())
    }

    /// The field's value as text (a secret is exposed: callers pass it
    /// straight to a protocol library, never to a log).
    pub fn text(&self, field: &str) -> Option<String> {
        self.get(field).map(|v| match v {
            FieldValue::Plain(p) => p.trim().to_string(),
            FieldValue::Secret(s) => s.expose_secret().trim().to_string(),
        })
    }

    /// The field's value as a secret.
    pub fn secret(&self, field: &str) -> Option<SecretString> {
        self.text(field).map(SecretString::from)
    }

    /// The field's value, or an error naming it.
    pub fn require(&self, field: &str) -> Result<String, AuthError> {
        self.text(field).ok_or_else(|| AuthError::MissingField {
            method: self.method.label.clone(),
            field: field.to_string(),
        })
    }

    /// A space-separated list field (`scopes`) as a list.
    pub fn list(&self, field: &str) -> Vec<String> {
        self.text(field)
            .map(|t| {
                t.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Resolves the fields of `record`'s auth method.
pub async fn resolve(
    manifest: &Manifest,
    record: &ConnectionRecord,
    store: &Store,
) -> Result<ResolvedAuth, AuthError> {
    let method = manifest
        .auth_method(&record.method)
        .ok_or_else(|| {
            AuthError::SignIn(format!(
                "the manifest has no auth method `{}`",
                record.method
            ))
        })?
        .clone();
    let mut layers = Vec::new();
    for level in
        AppCredentialLevel::layers_for(record.tenant_id.as_deref(), record.brand.as_deref())
    {
        layers.push(
            store
                .app_credentials(&manifest.id, &method.id, &level)
                .await?,
        );
    }
    let mut values = BTreeMap::new();
    for field in &method.fields {
        let chosen = if let Some(fixed) = &field.fixed {
            Some(FieldValue::Plain(fixed.clone()))
        } else {
            std::iter::once(record.fields.get(&field.name))
                .chain(layers.iter().map(|layer| layer.get(&field.name)))
                .flatten()
                .find(|v| !v.is_blank())
                .cloned()
                .or_else(|| {
                    field
                        .default
                        .as_ref()
                        .map(|d| FieldValue::Plain(default_text(d)))
                })
        };
        if let Some(value) = chosen {
            values.insert(field.name.clone(), value);
        }
    }
    Ok(ResolvedAuth { method, values })
}

/// A manifest default as field text: lists become space separated.
fn default_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credential_store::{MasterKey, NewConnection};

    fn plain(v: &str) -> FieldValue {
        FieldValue::Plain(v.into())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_most_specific_non_blank_value_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_file(&dir.path().join("s.db"), &MasterKey::generate())
            .await
            .unwrap();
        let manifest = Manifest::from_json(include_str!("../../../manifests/x.json")).unwrap();
        store
            .set_app_credentials(
                "x",
                "oauth2",
                &AppCredentialLevel::Default,
                &BTreeMap::from([
                    ("client_id".into(), plain("default-id")),
                    (
                        "client_secret".into(),
                        FieldValue::Secret(SecretString::from("default-secret")),
                    ),
                ]),
            )
            .await
            .unwrap();
        store
            .set_app_credentials(
                "x",
                "oauth2",
                &AppCredentialLevel::Brand("acme".into()),
                &BTreeMap::from([("client_id".into(), plain("acme-id"))]),
            )
            .await
            .unwrap();
        let connect = async |brand: Option<&str>, fields: BTreeMap<String, FieldValue>| {
            store
                .create_connection(&NewConnection {
                    connector: "x".into(),
                    method: "oauth2".into(),
                    auth_kind: "oauth2-authorization-code".into(),
                    name: "n".into(),
                    brand: brand.map(str::to_string),
                    fields,
                    tenant_id: None,
                    end_user: None,
                    quiet: false,
                })
                .await
                .unwrap()
        };

        let plain_conn = resolve(&manifest, &connect(None, BTreeMap::new()).await, &store)
            .await
            .unwrap();
        let brand_conn = resolve(
            &manifest,
            &connect(Some("acme"), BTreeMap::new()).await,
            &store,
        )
        .await
        .unwrap();
        let own = resolve(
            &manifest,
            &connect(
                Some("acme"),
                BTreeMap::from([
                    ("client_id".into(), plain("own-id")),
                    ("client_secret".into(), plain("  ")),
                ]),
            )
            .await,
            &store,
        )
        .await
        .unwrap();

        assert_eq!(plain_conn.text("client_id").as_deref(), Some("default-id"));
        assert_eq!(brand_conn.text("client_id").as_deref(), Some("acme-id"));
        assert_eq!(
            brand_conn.text("client_secret").as_deref(),
            Some("default-secret"),
            "blank brand level falls through"
        );
        assert_eq!(own.text("client_id").as_deref(), Some("own-id"));
        assert_eq!(
            own.text("client_secret").as_deref(),
            Some("default-secret"),
            "a blank field falls through"
        );
        assert_eq!(
            own.text("token_url").as_deref(),
            Some("https://api.x.com/2/oauth2/token")
        );
        assert!(own.list("scopes").contains(&"offline.access".to_string()));
    }
}
