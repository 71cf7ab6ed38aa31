//! How the host signs connections in and keeps their credentials working:
//! OAuth 2.0 authorization code with PKCE, app-only client credentials,
//! OAuth 1.0a, and static bearer tokens, all driven by the manifest's auth
//! methods and their fields; and the connection manager, through which an
//! action gets a connection whose credentials are current.

pub mod callback;
pub mod connections;
pub mod http;
mod layering;
pub mod ledger;
pub mod oauth1;
pub mod oauth2;
pub mod tokens;

pub use connections::{ConnectError, ConnectRequest, ConnectionManager, TestReport};
pub use layering::{ResolvedAuth, resolve};

use credential_store::StoreError;

/// Why signing in or renewing credentials failed. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "`{field}` is required for {method}; give it with the connection, or set it as an app credential"
    )]
    MissingField { method: String, field: String },
    #[error("`{field}` ({url}) is not a valid URL")]
    BadUrl { field: String, url: String },
    #[error(transparent)]
    Http(#[from] http::HostHttpError),
    /// The endpoint answered with an OAuth error such as `invalid_client`.
    #[error("{endpoint} refused the request: {code}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        endpoint: String,
        code: String,
        description: Option<String>,
    },
    #[error("{endpoint} answered with status {status} and nothing this host understands")]
    Unexpected { endpoint: String, status: u16 },
    #[error("sign-in did not complete: {0}")]
    SignIn(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// The OAuth error code, when the endpoint gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AuthError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The named text fields of a stored sign-in's payload (a JSON object).
fn payload_fields<const N: usize>(
    payload: &secrecy::SecretString,
    names: [&str; N],
) -> Result<[String; N], AuthError> {
    use secrecy::ExposeSecret;
    let value: serde_json::Value = serde_json::from_str(payload.expose_secret())
        .map_err(|_| AuthError::SignIn("the stored sign-in is not readable".into()))?;
    let mut fields = names.map(|_| String::new());
    for (field, name) in fields.iter_mut().zip(names) {
        *field = value[name]
            .as_str()
            .ok_or_else(|| AuthError::SignIn(format!("the stored sign-in has no {name}")))?
            .to_string();
    }
    Ok(fields)
}
