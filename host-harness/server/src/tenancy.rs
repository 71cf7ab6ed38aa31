//! Who an API request acts for, and what it may touch.
//!
//! A server serves many tenants (a platform's customers). The operator's
//! admin key manages tenants and their API keys and nothing else; a
//! tenant's key reaches that tenant's connections and what hangs from
//! them (subscriptions, events, dead letters), within the key's scopes.
//! The server's own API key, and a loopback server with no key at all,
//! act for the default tenant, which holds every connection made before
//! tenants existed. An object of another tenant is answered exactly as
//! one that does not exist.

use axum::http::{HeaderMap, header};
use credential_store::Store;
use secrecy::{ExposeSecret, SecretString};

/// What a tenant's key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// List and read connections, subscriptions, events, dead letters.
    Read,
    /// Run actions and test connections.
    Actions,
    /// Create and end subscriptions; send dead letters again.
    Subscriptions,
    /// Create and delete connections.
    Connections,
}

impl Scope {
    /// Every scope, as keys are given them by default.
    pub const ALL: [Scope; 4] = [
        Scope::Read,
        Scope::Actions,
        Scope::Subscriptions,
        Scope::Connections,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Actions => "actions",
            Scope::Subscriptions => "subscriptions",
            Scope::Connections => "connections",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator: tenants and their keys.
    Admin,
    /// A tenant (`None`: the default one), with its key's scopes.
    Tenant {
        id: Option<String>,
        scopes: Vec<Scope>,
    },
}

impl Caller {
    /// The default tenant with every scope.
    fn default_tenant() -> Caller {
        Caller::Tenant {
            id: None,
            scopes: Scope::ALL.to_vec(),
        }
    }

    /// The tenant this caller acts for, if it acts for one.
    pub fn tenant(&self) -> Option<&Option<String>> {
        match self {
            Caller::Admin => None,
            Caller::Tenant { id, .. } => Some(id),
        }
    }

    /// Whether the caller may do what `scope` covers for a tenant.
    pub fn may(&self, scope: Scope) -> bool {
        matches!(self, Caller::Tenant { scopes, .. } if scopes.contains(&scope))
    }

    /// Whether an object of `owner` (a tenant id, `None` for the default
    /// tenant) is this caller's to see.
    pub fn owns(&self, owner: &Option<String>) -> bool {
        self.tenant() == Some(owner)
    }
}

/// The keys a server knows besides its tenants' (which are in the store).
#[derive(Clone, Default)]
pub struct ServerKeys {
    /// The default tenant's key (`HOST_HARNESS_API_KEY`).
    pub api_key: Option<SecretString>,
    /// The operator's (`HOST_HARNESS_ADMIN_KEY`).
    pub admin_key: Option<SecretString>,
}

/// Why a request was not let in.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("this server requires an API key: `Authorization: Bearer KEY` or `X-API-Key: KEY`")]
    NoKey,
    #[error("the store cannot check the key: {0}")]
    Store(#[from] credential_store::StoreError),
}

/// The key a request carries, from either header.
pub fn given_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Who a request with these headers acts for. Without any key configured
/// (a loopback demo), everyone is the default tenant.
pub async fn identify(
    headers: &HeaderMap,
    keys: &ServerKeys,
    store: &Store,
) -> Result<Caller, Refused> {
    if keys.api_key.is_none() && keys.admin_key.is_none() {
        return Ok(Caller::default_tenant());
    }
    let Some(given) = given_key(headers) else {
        return Err(Refused::NoKey);
    };
    if keys
        .admin_key
        .as_ref()
        .is_some_and(|k| super::security::same(given, k.expose_secret()))
    {
        return Ok(Caller::Admin);
    }
    if keys
        .api_key
        .as_ref()
        .is_some_and(|k| super::security::same(given, k.expose_secret()))
    {
        return Ok(Caller::default_tenant());
    }
    if given.starts_with("hhk_")
        && let Some(key) = store.authenticate_api_key(given).await?
    {
        return Ok(Caller::Tenant {
            id: Some(key.tenant_id),
            scopes: key.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        });
    }
    Err(Refused::NoKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_key_is_read_from_either_header() {
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer k3y"),
        );
        let mut plain = HeaderMap::new();
        plain.insert("x-api-key", HeaderValue::from_static("k3y"));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic k3y"));

        assert_eq!(given_key(&bearer), Some("k3y"));
        assert_eq!(given_key(&plain), Some("k3y"));
        assert_eq!(given_key(&basic), None);
        assert_eq!(given_key(&HeaderMap::new()), None);
    }

    #[test]
    fn a_caller_owns_only_its_tenants_objects_and_does_only_what_its_scopes_allow() {
        let acme = Caller::Tenant {
            id: Some("ten_acme".into()),
            scopes: vec![Scope::Read],
        };
        let default = Caller::default_tenant();

        assert!(acme.owns(&Some("ten_acme".into())));
        assert!(!acme.owns(&Some("ten_globex".into())));
        assert!(!acme.owns(&None));
        assert!(default.owns(&None));
        assert!(!Caller::Admin.owns(&None));
        assert!(acme.may(Scope::Read) && !acme.may(Scope::Actions));
        assert!(!Caller::Admin.may(Scope::Read));
    }
}
