//! Connections and the credentials the host attaches to requests.
//!
//! A connection pairs the facts a component may know (its kind, scopes and
//! account) with an [`Authorizer`] that produces the `Authorization` header.
//! The component only ever sees the facts.

use crate::manifest::AuthKind;
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a component may know about the connection it runs on. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionFacts {
    /// The host's id of the connection.
    pub id: String,
    /// How the connection authenticates.
    pub auth_kind: AuthKind,
    /// Scopes the account granted, when known.
    pub granted_scopes: Option<Vec<String>>,
    /// The account's id at the API, when known.
    pub account_id: Option<String>,
    /// What the host recorded about the account at connect time, as the
    /// manifest's `identity.facts` names it.
    #[serde(default)]
    pub account_facts: std::collections::BTreeMap<String, String>,
}

/// Why credentials could not be produced.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    /// The connection must be reconnected by its owner.
    #[error("the connection needs to be reconnected: {0}")]
    NeedsReconnect(String),
    /// The credential cannot be put in a header.
    #[error("the stored credential is malformed: {0}")]
    Malformed(String),
    /// The credential cannot be had right now (the token endpoint is down,
    /// say); a later attempt may work.
    #[error("the credentials are unavailable right now: {0}")]
    Unavailable(String),
}

/// A boxed future, as trait objects need.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Produces the `Authorization` header for a request.
///
/// Asynchronous because producing it may need a token refresh, and it sees
/// the request because OAuth 1.0a signs the method and URL.
pub trait Authorizer: Send + Sync + 'static {
    /// The `Authorization` header for `request`.
    fn authorize<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<HeaderValue, CredentialError>>;

    /// The API answered 401 to a request authorized with `used`. Renew the
    /// credential if that can help, and say whether a retry may succeed.
    fn refused<'a>(
        &'a self,
        used: &'a HeaderValue,
    ) -> BoxFuture<'a, Result<bool, CredentialError>> {
        let _ = used;
        Box::pin(async { Ok(false) })
    }
}

/// A static bearer token: pasted by the user, or issued by an emulator.
pub struct BearerToken(SecretString);

impl BearerToken {
    pub fn new(token: SecretString) -> BearerToken {
        BearerToken(token)
    }
}

impl Authorizer for BearerToken {
    fn authorize<'a>(
        &'a self,
        _request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<HeaderValue, CredentialError>> {
        Box::pin(async move {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0.expose_secret()))
                .map_err(|_| {
                    CredentialError::Malformed(
                        "the bearer token holds characters a header cannot carry".into(),
                    )
                })?;
            value.set_sensitive(true);
            Ok(value)
        })
    }
}

/// What one run consumed at the API, by billing unit.
pub type Usage = std::collections::BTreeMap<String, u64>;

/// What a run of a connection was: an action or a trigger's poll, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'a> {
    Action(&'a str),
    Trigger(&'a str),
}

/// Where a connection's consumption goes once a run succeeds: the
/// platform's ledger, which it bills from. Every run through the
/// connection reaches it, whichever route started the run.
pub trait UsageLedger: Send + Sync + 'static {
    /// Adds what a run of `operation` on connection `connection_id`
    /// consumed. A failure is the ledger's to report; the run stands.
    fn record<'a>(
        &'a self,
        connection_id: &'a str,
        operation: Operation<'a>,
        usage: &'a Usage,
    ) -> BoxFuture<'a, ()>;
}

/// A connection: what the component may know, and how the host authorizes
/// its requests.
#[derive(Clone)]
pub struct Connection {
    pub facts: ConnectionFacts,
    authorizer: Arc<dyn Authorizer>,
    ledger: Option<Arc<dyn UsageLedger>>,
    /// Whose connection it is, for the metrics: a tenant's id, or none for
    /// the default tenant.
    tenant: Option<String>,
}

impl Connection {
    pub fn new(facts: ConnectionFacts, authorizer: Arc<dyn Authorizer>) -> Connection {
        Connection {
            facts,
            authorizer,
            ledger: None,
            tenant: None,
        }
    }

    /// The same connection, counted in the metrics as `tenant`'s.
    pub fn with_tenant(mut self, tenant: Option<String>) -> Connection {
        self.tenant = tenant;
        self
    }

    /// The tenant the metrics count its runs for.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The same connection, its runs' usage added to `ledger`.
    pub fn with_ledger(mut self, ledger: Arc<dyn UsageLedger>) -> Connection {
        self.ledger = Some(ledger);
        self
    }

    /// Adds a successful run's usage to the connection's ledger, if it has one.
    pub async fn record_usage(&self, operation: Operation<'_>, usage: &Usage) {
        if let Some(ledger) = &self.ledger
            && !usage.is_empty()
        {
            ledger.record(&self.facts.id, operation, usage).await;
        }
    }

    /// A bearer-token connection.
    pub fn bearer(facts: ConnectionFacts, token: SecretString) -> Connection {
        Connection::new(facts, Arc::new(BearerToken::new(token)))
    }

    pub fn authorizer(&self) -> Arc<dyn Authorizer> {
        self.authorizer.clone()
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("facts", &self.facts)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bearer_header_is_marked_sensitive_and_debug_hides_the_token() {
        let facts = ConnectionFacts {
            id: "c".into(),
            auth_kind: AuthKind::BearerToken,
            granted_scopes: None,
            account_id: None,
            account_facts: Default::default(),
        };
        let connection = Connection::bearer(facts, SecretString::from("s3cr3t-token"));
        assert!(!format!("{connection:?}").contains("s3cr3t"));
        let (parts, ()) = http::Request::new(()).into_parts();
        let value = connection.authorizer().authorize(&parts).await.unwrap();
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("s3cr3t"));
        assert_eq!(value.to_str().unwrap(), "Bearer s3cr3t-token");
    }
}
