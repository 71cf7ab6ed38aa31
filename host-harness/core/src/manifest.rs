//! Connector manifests: the declarative description of a connector that the
//! host trusts for egress, auth and the connection form.
//!
//! A manifest is checked against `manifests/manifest.schema.json` before it
//! is parsed, so a mistake in one is reported with its location, and the host
//! never runs a connector whose manifest is malformed.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The JSON Schema of the manifest format.
pub const MANIFEST_SCHEMA: &str = include_str!("../../../manifests/manifest.schema.json");

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read the manifest {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the manifest does not fit the manifest schema: {0}")]
    Schema(String),
    #[error("the manifest is inconsistent: {0}")]
    Inconsistent(String),
}

/// A connector manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub id: String,
    pub display_name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub docs_url: Option<String>,
    pub api: Api,
    pub connection_fields: Vec<Field>,
    pub auth_methods: Vec<AuthMethod>,
    /// How to learn the connected account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The levels of access the API sells to apps, which actions'
    /// restrictions name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_levels: Vec<AccessLevel>,
    pub actions: Vec<ActionMeta>,
    /// What starts a workflow; a connector may have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerMeta>,
    /// How the API pushes events to the host; absent when it pushes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<Push>,
}

/// How the API pushes trigger events to the host's webhook: what the host
/// needs to answer the API's challenge and check each delivery, which it
/// does itself so that the key never reaches the component.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Push {
    /// The auth method of the app-level connection that registers the
    /// webhook.
    pub auth_method: String,
    /// The field of that method whose value keys challenges and signatures.
    pub secret_field: String,
    /// The query parameter of a challenge.
    pub challenge_parameter: String,
    /// The member of the JSON answer to a challenge.
    pub challenge_response_field: String,
    /// The header that carries a delivery's signature.
    pub signature_header: String,
    /// How responses and signatures are made.
    pub digest: PushDigest,
    /// What an operator does at the API to use push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_help: Option<String>,
}

/// The digests a push section may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushDigest {
    /// `sha256=` + Base64(HMAC-SHA256(key, message)).
    #[serde(rename = "hmac-sha256-base64")]
    HmacSha256Base64,
}

/// The action that tells who a connection acts for, and where in its output
/// the account's id and name are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub action: String,
    /// JSON Pointer into the output.
    pub account_id: String,
    /// JSON Pointer into the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// Facts about the account to record at connect time and hand to every
    /// action (`connection-facts.account-facts`): name to JSON Pointer into
    /// the output. A fact the output lacks is not recorded.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub facts: std::collections::BTreeMap<String, String>,
    /// How a person signs in with their account, for identity only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignIn>,
}

/// Signing a person in with their account: the OAuth 2.0 method and the
/// least scopes the identity action needs, and what of its output is the
/// verified identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    /// An auth method of kind `oauth2-authorization-code`.
    pub method: String,
    pub scopes: Vec<String>,
    /// Added when a sign-in asks for the confirmed email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_scope: Option<String>,
    /// Added when a sign-in keeps its connection (a refresh token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_scope: Option<String>,
    /// The identity, by name: JSON Pointers into the identity action's output.
    pub profile: std::collections::BTreeMap<String, String>,
}

/// Where the connector's API lives and what it may reach.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Api {
    pub base_url: String,
    pub egress: Vec<EgressHost>,
}

/// A host the component may reach.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EgressHost {
    /// Host name, with a port when not the scheme's default.
    pub host: String,
    /// Whether the connection's credentials go to this host.
    pub credentials: bool,
    #[serde(default)]
    pub purpose: Option<String>,
}

/// The kinds of authentication a manifest can declare. The names match the
/// `auth-kind` enum of the WIT contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    Oauth2AuthorizationCode,
    Oauth2ClientCredentials,
    BearerToken,
    Oauth1,
}

/// One way to connect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthMethod {
    pub id: String,
    pub kind: AuthKind,
    pub label: String,
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default)]
    pub pkce: Option<String>,
    #[serde(default)]
    pub client_authentication: Option<String>,
    pub fields: Vec<Field>,
}

/// A field of the connection form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub fixed: Option<String>,
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub options: Vec<FieldOption>,
    #[serde(default)]
    pub help: Option<String>,
}

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Password,
    Url,
    Select,
    Scopes,
}

/// A choice of a `select` or `scopes` field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldOption {
    pub value: String,
    pub label: String,
    #[serde(default)]
    pub help: Option<String>,
}

/// An action's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionMeta {
    pub id: String,
    pub title: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub contexts: Vec<String>,
    /// What the API refuses this action on some access levels, so that a
    /// platform can say so before a workflow runs into it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<Restriction>,
    /// What running it does to the account, for clients that must ask
    /// before an action changes or removes something (an AI agent's host);
    /// unsaid, a client assumes it may do anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// Whether running it again with the same input changes nothing more
    /// (a like, a follow, a delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// Whether it answers without calling the API (a check of a post's
    /// text, say): it reaches nothing outside the host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
}

/// What an action does to the account it acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// It reads; nothing changes.
    Read,
    /// It adds or changes something (a post, a like, a message).
    Write,
    /// It removes or undoes something (a delete, an unlike).
    Remove,
}

/// A level of access the API sells to apps (a plan).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessLevel {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub help: Option<String>,
}

/// What an action cannot do on one access level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Restriction {
    /// An `access_levels` id.
    pub access_level: String,
    /// The rule's stable name, as the action's `forbidden` error carries it.
    pub rule: String,
    /// What is refused and what to do.
    pub detail: String,
}

/// How a trigger's events can reach the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// The host asks the API for what is new.
    Poll,
    /// The API sends events to the host's webhook.
    Push,
}

/// A trigger's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriggerMeta {
    pub id: String,
    pub title: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub contexts: Vec<String>,
    pub delivery: Vec<Delivery>,
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn from_file(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Manifest::from_json(&text)
    }

    /// Parses and checks a manifest.
    pub fn from_json(text: &str) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        validate_against_schema(&value)?;
        let manifest: Manifest = serde_json::from_value(value)?;
        manifest.check_consistency()?;
        Ok(manifest)
    }

    /// A manifest known to fit the schema already, such as one built into
    /// the binary whose tests hold it to the schema: parsed and checked for
    /// consistency, without compiling the schema (a fifth of the CPU time
    /// of a process that runs one action).
    pub fn from_checked_json(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_str(text)?;
        manifest.check_consistency()?;
        Ok(manifest)
    }

    /// The action `id`, if declared.
    pub fn action(&self, id: &str) -> Option<&ActionMeta> {
        self.actions.iter().find(|a| a.id == id)
    }

    /// The trigger `id`, if declared.
    pub fn trigger(&self, id: &str) -> Option<&TriggerMeta> {
        self.triggers.iter().find(|t| t.id == id)
    }

    /// The auth method `id`, if declared.
    pub fn auth_method(&self, id: &str) -> Option<&AuthMethod> {
        self.auth_methods.iter().find(|m| m.id == id)
    }

    /// Rules the schema cannot state: unique ids, and a base URL whose host
    /// is one the component may reach with credentials.
    fn check_consistency(&self) -> Result<(), ManifestError> {
        let mut seen = std::collections::HashSet::new();
        for action in &self.actions {
            if !seen.insert(action.id.as_str()) {
                return Err(ManifestError::Inconsistent(format!(
                    "action `{}` is declared twice",
                    action.id
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for trigger in &self.triggers {
            if !seen.insert(trigger.id.as_str()) {
                return Err(ManifestError::Inconsistent(format!(
                    "trigger `{}` is declared twice",
                    trigger.id
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for method in &self.auth_methods {
            if !seen.insert(method.id.as_str()) {
                return Err(ManifestError::Inconsistent(format!(
                    "auth method `{}` is declared twice",
                    method.id
                )));
            }
        }
        if let Some(push) = &self.push {
            let method = self
                .auth_methods
                .iter()
                .find(|m| m.id == push.auth_method)
                .ok_or_else(|| {
                    ManifestError::Inconsistent(format!(
                        "push.auth_method `{}` is not an auth method of the manifest",
                        push.auth_method
                    ))
                })?;
            if !method
                .fields
                .iter()
                .any(|f| f.name == push.secret_field && f.secret)
            {
                return Err(ManifestError::Inconsistent(format!(
                    "push.secret_field `{}` is not a secret field of auth method `{}`",
                    push.secret_field, push.auth_method
                )));
            }
        } else if let Some(t) = self
            .triggers
            .iter()
            .find(|t| t.delivery.contains(&Delivery::Push))
        {
            return Err(ManifestError::Inconsistent(format!(
                "trigger `{}` can be pushed, and the manifest has no `push` section",
                t.id
            )));
        }
        for action in &self.actions {
            for r in &action.restrictions {
                if !self.access_levels.iter().any(|l| l.id == r.access_level) {
                    return Err(ManifestError::Inconsistent(format!(
                        "action `{}` is restricted on access level `{}`, which access_levels does not declare",
                        action.id, r.access_level
                    )));
                }
            }
        }
        if let Some(identity) = &self.identity
            && self.action(&identity.action).is_none()
        {
            return Err(ManifestError::Inconsistent(format!(
                "identity.action `{}` is not an action of the manifest",
                identity.action
            )));
        }
        if let Some(sign_in) = self.identity.as_ref().and_then(|i| i.sign_in.as_ref()) {
            let usable = self.auth_method(&sign_in.method).is_some_and(|m| {
                m.kind == AuthKind::Oauth2AuthorizationCode
                    && m.fields.iter().any(|f| f.kind == FieldKind::Scopes)
            });
            if !usable {
                return Err(ManifestError::Inconsistent(format!(
                    "identity.sign_in.method `{}` is not an oauth2-authorization-code method with a scopes field",
                    sign_in.method
                )));
            }
        }
        let base_host = self
            .api
            .base_url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        if !self
            .api
            .egress
            .iter()
            .any(|e| e.credentials && e.host.eq_ignore_ascii_case(base_host))
        {
            return Err(ManifestError::Inconsistent(format!(
                "api.base_url host `{base_host}` is not an egress host with credentials"
            )));
        }
        Ok(())
    }
}

fn validate_against_schema(value: &serde_json::Value) -> Result<(), ManifestError> {
    let schema: serde_json::Value =
        serde_json::from_str(MANIFEST_SCHEMA).expect("the bundled manifest schema is valid JSON");
    let validator = jsonschema::validator_for(&schema).map_err(|e| {
        ManifestError::Schema(format!("the manifest schema itself is invalid: {e}"))
    })?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .take(5)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{} at {}", e, if at.is_empty() { "/" } else { &at })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ManifestError::Schema(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X_MANIFEST: &str = include_str!("../../../manifests/x.json");

    #[test]
    fn the_x_manifest_is_valid() {
        let m = Manifest::from_json(X_MANIFEST).unwrap();
        assert_eq!(m.id, "x");
        assert!(
            m.auth_methods
                .iter()
                .any(|a| a.kind == AuthKind::Oauth2AuthorizationCode)
        );
    }

    #[test]
    fn a_manifest_missing_a_required_member_is_refused_with_its_location() {
        let mut v: serde_json::Value = serde_json::from_str(X_MANIFEST).unwrap();
        v["auth_methods"][0]["fields"][0]
            .as_object_mut()
            .unwrap()
            .remove("label");
        let err = Manifest::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(err.contains("/auth_methods/0/fields/0"), "{err}");
    }

    #[test]
    fn a_secret_field_must_be_masked() {
        let mut v: serde_json::Value = serde_json::from_str(X_MANIFEST).unwrap();
        v["auth_methods"][0]["fields"][1]["type"] = "text".into();
        assert!(Manifest::from_json(&v.to_string()).is_err());
    }

    #[test]
    fn base_url_must_be_a_credentialed_egress_host() {
        let mut v: serde_json::Value = serde_json::from_str(X_MANIFEST).unwrap();
        v["api"]["base_url"] = "https://elsewhere.example".into();
        let err = Manifest::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(err.contains("elsewhere.example"), "{err}");
    }
}
