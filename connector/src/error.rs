//! Constructors for the typed error that crosses the WIT boundary.
//!
//! The variant itself is generated from `wit/connector.wit`; these helpers
//! keep call sites short and the wording consistent.

pub use crate::bindings::integration::connector::types::{
    ConnectorError, Forbidden, InvalidInput, RateLimited, UpstreamError,
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

/// The connection lacks `missing` scopes, or is refused for `detail`.
pub fn forbidden(missing: Vec<String>, detail: impl Into<String>) -> ConnectorError {
    ConnectorError::Forbidden(Forbidden {
        missing_scopes: missing,
        detail: detail.into(),
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
