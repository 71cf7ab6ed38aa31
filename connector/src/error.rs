//! Constructors for the typed error that crosses the WIT boundary.
//!
//! The variant itself is generated from `wit/connector.wit`; these helpers
//! keep call sites short and the wording consistent.

pub use crate::bindings::integration::connector::types::{
    ConnectorError, Forbidden, InvalidInput, RateLimited, Refusal, UpstreamError,
};

/// The input field at `field` is refused for `reason`.
pub fn invalid_input(field: impl Into<String>, reason: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidInput(InvalidInput {
        field: field.into(),
        reason: reason.into(),
    })
}

/// A fault in the connector itself.
pub fn internal(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Internal(message.into())
}

/// The connection lacks the `missing` scopes.
pub fn missing_scopes(missing: Vec<String>, detail: impl Into<String>) -> ConnectorError {
    ConnectorError::Forbidden(Forbidden {
        missing_scopes: missing,
        detail: detail.into(),
        reason: Refusal::MissingScopes,
        rule: None,
        problem_type: None,
    })
}

/// A refusal for `reason`, by the named `rule` when one applies.
pub fn refused(
    reason: Refusal,
    rule: Option<&str>,
    problem_type: Option<&str>,
    detail: impl Into<String>,
) -> ConnectorError {
    ConnectorError::Forbidden(Forbidden {
        missing_scopes: Vec::new(),
        detail: detail.into(),
        reason,
        rule: rule.map(str::to_string),
        problem_type: problem_type.map(str::to_string),
    })
}

/// A short, stable name of the variant, for logs and test assertions.
pub fn kind(error: &ConnectorError) -> &'static str {
    match error {
        ConnectorError::InvalidInput(_) => "invalid-input",
        ConnectorError::Unauthorized(_) => "unauthorized",
        ConnectorError::Forbidden(_) => "forbidden",
        ConnectorError::NotFound(_) => "not-found",
        ConnectorError::RateLimited(_) => "rate-limited",
        ConnectorError::Conflict(_) => "conflict",
        ConnectorError::Upstream(_) => "upstream",
        ConnectorError::Timeout(_) => "timeout",
        ConnectorError::Internal(_) => "internal",
    }
}
