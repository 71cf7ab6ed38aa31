//! Errors: what an action reports to a workflow, and what stops the host from
//! loading a connector.

use serde::{Deserialize, Serialize};

/// Why an action failed: the WIT contract's `connector-error`, as JSON.
///
/// Serialized with an `error` tag, e.g.
/// `{"error": "invalid-input", "field": "text", "reason": "must not be empty"}`,
/// so a workflow engine can branch on the kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub enum ActionError {
    /// Fix the input; retrying it unchanged fails again.
    #[error("invalid input at `{field}`: {reason}")]
    InvalidInput { field: String, reason: String },
    /// The user must reconnect.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String },
    /// The connection lacks permission: the named scopes, the app's
    /// access level, the account's plan, a rule of the API, or access to
    /// the resource (`reason`).
    #[error("forbidden: {detail}")]
    Forbidden {
        missing_scopes: Vec<String>,
        detail: String,
        /// `missing-scopes`, `access-level`, `account-plan`, `rule`,
        /// `resource` or `other`, as in the WIT contract.
        reason: String,
        /// The connector's stable name of the rule that refused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// The API's own type of the refusal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem_type: Option<String>,
    },
    /// The target does not exist or is not visible.
    #[error("not found: {detail}")]
    NotFound { detail: String },
    /// Retry after `reset_at` (Unix seconds).
    #[error("rate limited: {detail}")]
    RateLimited {
        reset_at: Option<u64>,
        limit: Option<u32>,
        remaining: Option<u32>,
        detail: String,
    },
    /// The action conflicts with existing state.
    #[error("conflict: {detail}")]
    Conflict { detail: String },
    /// The API failed otherwise.
    #[error("upstream answered {status} {title}: {detail}")]
    Upstream {
        status: u16,
        title: String,
        detail: String,
        problem_type: Option<String>,
    },
    /// The API or the action took too long, or the API could not be reached.
    #[error("timeout: {detail}")]
    Timeout { detail: String },
    /// A fault in the connector or the host.
    #[error("internal error: {detail}")]
    Internal { detail: String },
    /// The host stopped the action at one of its limits (`memory`,
    /// `requests`, `request-bytes`, `response-bytes`); the host's own
    /// variant, as no component reports it.
    #[error("limit exceeded ({limit}): {detail}")]
    LimitExceeded { limit: String, detail: String },
    /// What the host needs to run the action (its credential store, a
    /// token endpoint) cannot be reached now; the same request may work in
    /// a few seconds. The host's own variant, as `limit-exceeded` is.
    #[error("unavailable: {detail}")]
    Unavailable { detail: String },
}

impl ActionError {
    /// The variant's name, as in the WIT contract.
    pub fn kind(&self) -> &'static str {
        match self {
            ActionError::InvalidInput { .. } => "invalid-input",
            ActionError::Unauthorized { .. } => "unauthorized",
            ActionError::Forbidden { .. } => "forbidden",
            ActionError::NotFound { .. } => "not-found",
            ActionError::RateLimited { .. } => "rate-limited",
            ActionError::Conflict { .. } => "conflict",
            ActionError::Upstream { .. } => "upstream",
            ActionError::Timeout { .. } => "timeout",
            ActionError::Internal { .. } => "internal",
            ActionError::LimitExceeded { .. } => "limit-exceeded",
            ActionError::Unavailable { .. } => "unavailable",
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ActionError {
        ActionError::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(detail: impl Into<String>) -> ActionError {
        ActionError::Internal {
            detail: detail.into(),
        }
    }
}

/// Why the host could not load or describe a connector.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error("the component could not be compiled: {0}")]
    Compile(String),
    #[error("the component does not fit the integration:connector/plugin world: {0}")]
    Link(String),
    #[error("the component failed while describing itself: {0}")]
    Describe(String),
    #[error(
        "the component's embedded manifest differs from the installed manifest `{installed}`: {difference}"
    )]
    ManifestMismatch {
        installed: String,
        difference: String,
    },
    #[error("action `{action}` publishes an invalid {which} schema: {reason}")]
    Schema {
        action: String,
        which: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
}
