//! Access tokens that stay valid: refreshed before they expire and after the
//! API refuses them, by one renewer at a time per connection across every
//! host sharing the store.
//!
//! X's refresh tokens are single use: a refresh consumes the stored one and
//! issues a new one, and a strict provider revokes the whole grant when a
//! used one is presented again. So a renewal takes two turns: in this
//! process, one task per connection (the others wait and use its result);
//! across processes and machines, the store's refresh lease, under which the
//! tokens are read again and renewed only if still stale. The new tokens
//! are committed to the store before the new access token is used.

use super::http::HostHttp;
use super::{AuthError, ResolvedAuth, oauth2};
use credential_store::{
    ConnectionStatus, LeaseTerms, ReconnectCause, RefreshLease, Store, StoreError, Tokens,
};
use host_core::credentials::{Authorizer, BoxFuture, CredentialError};
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Refresh an access token at most this long before it expires; a token
/// that lives less than four times this is refreshed when a quarter of its
/// life is left, so a short-lived token is still used for most of it.
const EXPIRY_MARGIN_SECS: i64 = 120;

/// How long a token request may take. A renewer gives up on its own
/// request by then, so the lease it holds never outlives the request.
const TOKEN_REQUEST_DEADLINE: Duration = Duration::from_secs(20);

/// The refresh lease: waited for while another host renews (its request
/// and its write), held at most past the request's deadline.
const LEASE: LeaseTerms = LeaseTerms {
    wait: Duration::from_secs(45),
    hold: Duration::from_secs(40),
};

/// Counts of token requests, for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TokenStats {
    pub refreshes: u64,
    pub app_tokens: u64,
}

/// Keeps the tokens of a store's connections valid.
pub struct TokenManager {
    store: Arc<Store>,
    http: HostHttp,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    stats: Mutex<TokenStats>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How long before expiry the token is renewed: scaled to its lifetime.
fn margin(tokens: &Tokens) -> i64 {
    match (tokens.access_issued_at, tokens.access_expires_at) {
        (Some(issued), Some(expires)) if expires > issued => {
            ((expires - issued) / 4).min(EXPIRY_MARGIN_SECS)
        }
        _ => EXPIRY_MARGIN_SECS,
    }
}

fn fresh(tokens: &Tokens) -> bool {
    tokens.access_token.is_some()
        && tokens
            .access_expires_at
            .is_none_or(|at| at > now() + margin(tokens))
}

fn access(tokens: &Tokens) -> Option<SecretString> {
    tokens.access_token.clone()
}

fn unavailable(e: StoreError) -> CredentialError {
    match e {
        StoreError::LeaseBusy { .. } => CredentialError::Unavailable(e.to_string()),
        e => CredentialError::Unavailable(format!("the credential store failed: {e}")),
    }
}

fn no_tokens() -> CredentialError {
    CredentialError::NeedsReconnect("the connection has no tokens; sign in again".into())
}

/// Which token a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// OAuth 2.0 user context, refreshed with its refresh token.
    User,
    /// App-only, fetched with the client credentials grant.
    App,
}

impl TokenManager {
    pub fn new(store: Arc<Store>, http: HostHttp) -> TokenManager {
        TokenManager {
            store,
            http,
            flights: Mutex::new(HashMap::new()),
            stats: Mutex::new(TokenStats::default()),
        }
    }

    /// Token requests this process made.
    pub fn stats(&self) -> TokenStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flight(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.flights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// Refuses work on a connection that needs reconnecting.
    async fn check_status(&self, id: &str) -> Result<(), CredentialError> {
        let (status, reason) = self.store.status(id).await.map_err(unavailable)?;
        match status {
            ConnectionStatus::NeedsReconnect
            | ConnectionStatus::Revoked
            | ConnectionStatus::Pending => Err(CredentialError::NeedsReconnect(
                reason.unwrap_or_else(|| format!("the connection is {}", status.as_str())),
            )),
            ConnectionStatus::Connected => Ok(()),
        }
    }

    /// A valid access token of `kind` for the connection, renewed first if
    /// it expires soon.
    pub async fn token(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        kind: TokenKind,
    ) -> Result<SecretString, CredentialError> {
        self.check_status(id).await?;
        let stored = self.store.tokens(id).await.map_err(unavailable)?;
        match stored {
            Some((tokens, _)) if fresh(&tokens) => access(&tokens).ok_or_else(no_tokens),
            None if kind == TokenKind::User => Err(no_tokens()),
            _ => self.renew(auth, id, kind, None).await,
        }
    }

    /// The API refused `refused`: renew unless another request already did.
    /// True when a retry may succeed.
    pub async fn token_refused(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        kind: TokenKind,
        refused: &str,
    ) -> Result<bool, CredentialError> {
        let Some((tokens, _)) = self.store.tokens(id).await.map_err(unavailable)? else {
            return Ok(false);
        };
        if tokens.access_token.as_ref().map(|t| t.expose_secret()) != Some(refused) {
            return Ok(true);
        }
        // The stored token is the refused one: treat it as expired.
        self.renew(auth, id, kind, Some(refused))
            .await
            .map(|_| true)
    }

    /// Renews the connection's token once for everyone who found it stale
    /// (expired, or the `refused` one), in this process and in every other
    /// sharing the store.
    async fn renew(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        kind: TokenKind,
        refused: Option<&str>,
    ) -> Result<SecretString, CredentialError> {
        let stale = |t: &Tokens| {
            !fresh(t)
                || refused
                    .is_some_and(|r| t.access_token.as_ref().map(|a| a.expose_secret()) == Some(r))
        };
        let flight = self.flight(id);
        let _only_one_here = flight.lock().await;
        // Another task of this process may have renewed meanwhile.
        if let Some((tokens, _)) = self.store.tokens(id).await.map_err(unavailable)?
            && !stale(&tokens)
        {
            return access(&tokens).ok_or_else(no_tokens);
        }
        let waiting = std::time::Instant::now();
        let mut lease = self
            .store
            .refresh_lease(id, LEASE)
            .await
            .map_err(unavailable)?;
        host_metrics::metrics()
            .refresh_lease_wait_seconds
            .observe(waiting.elapsed().as_secs_f64());
        // Another host may have renewed while this one waited for the lease.
        let current = lease.tokens().await.map_err(unavailable)?.map(|(t, _)| t);
        if let Some(tokens) = &current
            && !stale(tokens)
        {
            lease.commit().await.map_err(unavailable)?;
            return access(tokens).ok_or_else(no_tokens);
        }
        match kind {
            TokenKind::User => {
                let Some(tokens) = current else {
                    return Err(no_tokens());
                };
                self.refresh(auth, id, lease, tokens).await
            }
            TokenKind::App => self.fetch_app_token(auth, id, lease).await,
        }
    }

    /// Exchanges the refresh token under the lease, and commits the new
    /// tokens before the new access token is used.
    async fn refresh(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        lease: RefreshLease,
        tokens: Tokens,
    ) -> Result<SecretString, CredentialError> {
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(give_up(
                id,
                lease,
                "the access token expired and there is no refresh token (the offline.access scope was not granted); reconnect".into(),
                ReconnectCause::AccessRevoked,
            )
            .await);
        };
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .refreshes += 1;
        tracing::info!(connection = id, "refreshing the access token");
        let issued = match tokio::time::timeout(
            TOKEN_REQUEST_DEADLINE,
            oauth2::refresh(&self.http, auth, &refresh_token),
        )
        .await
        {
            Ok(Ok(issued)) => issued,
            Ok(Err(e)) => return Err(self.refused(id, lease, e).await),
            Err(_) => {
                counted("timeout");
                return Err(late());
            }
        };
        counted("renewed");
        let renewed = Tokens {
            access_token: Some(issued.access_token.clone()),
            access_expires_at: issued.expires_in.map(|s| now() + s as i64),
            access_issued_at: Some(now()),
            // A provider that does not rotate keeps the old one valid.
            refresh_token: issued.refresh_token.or(Some(refresh_token)),
            token_secret: None,
            scope: issued.scopes.map(|s| s.join(" ")).or(tokens.scope),
        };
        commit(lease, &renewed).await?;
        Ok(issued.access_token)
    }

    /// Fetches a new app-only token under the lease.
    async fn fetch_app_token(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        lease: RefreshLease,
    ) -> Result<SecretString, CredentialError> {
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .app_tokens += 1;
        let issued = match tokio::time::timeout(
            TOKEN_REQUEST_DEADLINE,
            oauth2::client_credentials(&self.http, auth),
        )
        .await
        {
            Ok(Ok(issued)) => issued,
            Ok(Err(e)) => return Err(self.refused(id, lease, e).await),
            Err(_) => {
                counted("timeout");
                return Err(late());
            }
        };
        counted("renewed");
        let tokens = Tokens {
            access_token: Some(issued.access_token.clone()),
            access_expires_at: issued.expires_in.map(|s| now() + s as i64),
            access_issued_at: Some(now()),
            ..Tokens::default()
        };
        commit(lease, &tokens).await?;
        Ok(issued.access_token)
    }

    /// A token request failed: a refusal ends the connection, anything else
    /// may pass.
    async fn refused(&self, id: &str, lease: RefreshLease, error: AuthError) -> CredentialError {
        counted(match error.code() {
            Some(_) => "refused",
            None => "failed",
        });
        let (reason, cause) = match error.code() {
            Some("invalid_grant") => (
                format!(
                    "the refresh token was refused ({error}); the user revoked access or the token was already used: reconnect"
                ),
                ReconnectCause::RefreshRefused,
            ),
            Some("invalid_client" | "unauthorized_client") => (
                format!(
                    "the Client ID or Client Secret was refused ({error}); they are wrong or the secret was rotated in the developer portal: update them and reconnect"
                ),
                ReconnectCause::SecretRotated,
            ),
            _ => {
                return CredentialError::Unavailable(format!(
                    "the token could not be renewed now: {error}"
                ));
            }
        };
        give_up(id, lease, reason, cause).await
    }
}

/// The token request passed its deadline. Whether the provider used the
/// refresh token is unknown: it stays stored, and the next renewal (after
/// this lease is released) presents it again, which a provider that did
/// use it refuses, as it would refuse any client.
fn late() -> CredentialError {
    CredentialError::Unavailable(format!(
        "the token endpoint did not answer within {} s; try again",
        TOKEN_REQUEST_DEADLINE.as_secs()
    ))
}

/// Writes renewed tokens and releases the lease.
async fn commit(mut lease: RefreshLease, tokens: &Tokens) -> Result<(), CredentialError> {
    lease.save_tokens(tokens).await.map_err(unavailable)?;
    lease.commit().await.map_err(unavailable)
}

/// Counts a token renewal's outcome in the metrics.
fn counted(outcome: &str) {
    host_metrics::outcome(&host_metrics::metrics().token_refreshes, outcome);
}

/// Marks the connection as needing a reconnect, under the lease.
async fn give_up(
    id: &str,
    mut lease: RefreshLease,
    reason: String,
    cause: ReconnectCause,
) -> CredentialError {
    tracing::warn!(connection = id, %reason, "the connection needs to be reconnected");
    let recorded = match lease.needs_reconnect(&reason, cause).await {
        Ok(()) => lease.commit().await,
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        tracing::error!(connection = id, error = %e, "cannot record that the connection needs reconnecting");
    }
    CredentialError::NeedsReconnect(reason)
}

fn bearer(token: &SecretString) -> Result<HeaderValue, CredentialError> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
            CredentialError::Malformed("the access token cannot be put in a header".into())
        })?;
    value.set_sensitive(true);
    Ok(value)
}

fn token_of(used: &HeaderValue) -> String {
    used.to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

/// Authorizes requests with a managed token.
pub struct ManagedToken {
    pub manager: Arc<TokenManager>,
    pub auth: ResolvedAuth,
    pub connection_id: String,
    pub kind: TokenKind,
}

impl Authorizer for ManagedToken {
    fn authorize<'a>(
        &'a self,
        _request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<HeaderValue, CredentialError>> {
        Box::pin(async move {
            let token = self
                .manager
                .token(&self.auth, &self.connection_id, self.kind)
                .await?;
            bearer(&token)
        })
    }

    fn refused<'a>(
        &'a self,
        used: &'a HeaderValue,
    ) -> BoxFuture<'a, Result<bool, CredentialError>> {
        Box::pin(async move {
            self.manager
                .token_refused(&self.auth, &self.connection_id, self.kind, &token_of(used))
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lasting(issued: i64, lifetime: i64) -> Tokens {
        Tokens {
            access_token: Some(SecretString::from("t")),
            access_issued_at: Some(issued),
            access_expires_at: Some(issued + lifetime),
            ..Tokens::default()
        }
    }

    #[test]
    fn the_refresh_margin_scales_with_the_token_lifetime() {
        assert_eq!(margin(&lasting(0, 7200)), 120);
        assert_eq!(margin(&lasting(0, 60)), 15);
        assert_eq!(margin(&Tokens::default()), 120);
        // A minute-long token is used for most of its minute, not refreshed at once.
        assert!(fresh(&lasting(now(), 60)));
        assert!(!fresh(&lasting(now() - 50, 60)));
        assert!(!fresh(&lasting(now() - 7100, 7200)));
        assert!(fresh(&lasting(now() - 7000, 7200)));
    }
}
