//! Access tokens that stay valid: refreshed before they expire and after the
//! API refuses them, one refresh at a time per connection.
//!
//! X's refresh tokens are single use: a refresh consumes the stored one and
//! issues a new one. So a refresh is single-flight per connection (the
//! others wait and then use its result), its result is committed to the
//! store before the new access token is used, and a refusal of the refresh
//! token first checks whether another process already refreshed before it
//! gives up on the connection.

use super::http::HostHttp;
use super::{AuthError, ResolvedAuth, oauth2};
use crate::credentials::{Authorizer, BoxFuture, CredentialError};
use credential_store::{ConnectionStatus, Store, StoreError, Tokens};
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Refresh an access token this long before it expires.
const EXPIRY_MARGIN_SECS: i64 = 120;

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

fn fresh(tokens: &Tokens) -> bool {
    tokens.access_token.is_some()
        && tokens
            .access_expires_at
            .is_none_or(|at| at > now() + EXPIRY_MARGIN_SECS)
}

fn unavailable(e: StoreError) -> CredentialError {
    CredentialError::Unavailable(format!("the credential store failed: {e}"))
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

    pub fn stats(&self) -> TokenStats {
        *self.stats.lock().unwrap()
    }

    fn flight(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.flights
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// Refuses work on a connection that needs reconnecting.
    fn check_status(&self, id: &str) -> Result<(), CredentialError> {
        let record = self.store.connection(id).map_err(unavailable)?;
        match record.status {
            ConnectionStatus::NeedsReconnect
            | ConnectionStatus::Revoked
            | ConnectionStatus::Pending => Err(CredentialError::NeedsReconnect(
                record
                    .status_reason
                    .unwrap_or_else(|| format!("the connection is {}", record.status.as_str())),
            )),
            ConnectionStatus::Connected => Ok(()),
        }
    }

    fn give_up(&self, id: &str, reason: String) -> CredentialError {
        tracing::warn!(connection = id, %reason, "the connection needs to be reconnected");
        if let Err(e) = self
            .store
            .set_status(id, ConnectionStatus::NeedsReconnect, Some(&reason))
        {
            tracing::error!(connection = id, error = %e, "cannot record that the connection needs reconnecting");
        }
        CredentialError::NeedsReconnect(reason)
    }

    /// A valid user access token for the connection, refreshed first if it
    /// expires soon.
    pub async fn user_token(
        &self,
        auth: &ResolvedAuth,
        id: &str,
    ) -> Result<SecretString, CredentialError> {
        self.check_status(id)?;
        let (tokens, version) = self.store.tokens(id).map_err(unavailable)?.ok_or_else(|| {
            CredentialError::NeedsReconnect("the connection has no tokens; sign in again".into())
        })?;
        if fresh(&tokens) {
            return Ok(tokens
                .access_token
                .expect("fresh tokens have an access token"));
        }
        self.refresh(auth, id, version).await
    }

    /// The API refused `refused`; refresh unless another request already
    /// did. True when a retry may succeed.
    pub async fn user_token_refused(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        refused: &str,
    ) -> Result<bool, CredentialError> {
        let Some((tokens, version)) = self.store.tokens(id).map_err(unavailable)? else {
            return Ok(false);
        };
        let current = tokens
            .access_token
            .as_ref()
            .map(|t| t.expose_secret().to_string());
        if current.as_deref() != Some(refused) {
            return Ok(true);
        }
        // The stored token is the refused one: treat it as expired.
        self.refresh(auth, id, version).await.map(|_| true)
    }

    /// Refreshes once for everyone who saw version `seen` of the tokens.
    async fn refresh(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        seen: u64,
    ) -> Result<SecretString, CredentialError> {
        let flight = self.flight(id);
        let _only_one = flight.lock().await;
        let (tokens, version) = self.store.tokens(id).map_err(unavailable)?.ok_or_else(|| {
            CredentialError::NeedsReconnect("the connection has no tokens; sign in again".into())
        })?;
        if version != seen && fresh(&tokens) {
            // Someone refreshed while this request waited.
            return Ok(tokens
                .access_token
                .expect("fresh tokens have an access token"));
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(self.give_up(
                id,
                "the access token expired and there is no refresh token (the offline.access scope was not granted); reconnect".into(),
            ));
        };
        self.stats.lock().unwrap().refreshes += 1;
        tracing::info!(connection = id, "refreshing the access token");
        match oauth2::refresh(&self.http, auth, &refresh_token).await {
            Ok(issued) => {
                let new = Tokens {
                    access_token: Some(issued.access_token.clone()),
                    access_expires_at: issued.expires_in.map(|s| now() + s as i64),
                    // A provider that does not rotate keeps the old one valid.
                    refresh_token: issued.refresh_token.or(Some(refresh_token)),
                    token_secret: None,
                    scope: issued.scopes.map(|s| s.join(" ")).or(tokens.scope),
                };
                self.commit(id, &new, version)?;
                Ok(issued.access_token)
            }
            Err(e) => {
                // Another process may have used the same refresh token first.
                if let Ok(Some((latest, latest_version))) = self.store.tokens(id)
                    && latest_version != version
                    && fresh(&latest)
                {
                    return Ok(latest
                        .access_token
                        .expect("fresh tokens have an access token"));
                }
                Err(self.refresh_failure(id, e))
            }
        }
    }

    /// Commits refreshed tokens. The refresh consumed the old refresh token,
    /// so the new one is kept even if the row changed meanwhile.
    fn commit(&self, id: &str, tokens: &Tokens, read_version: u64) -> Result<(), CredentialError> {
        match self.store.save_tokens(id, tokens, Some(read_version)) {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => {
                let current = self.store.tokens(id).map_err(unavailable)?.map(|(_, v)| v);
                self.store
                    .save_tokens(id, tokens, current)
                    .map(|_| ())
                    .map_err(unavailable)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn refresh_failure(&self, id: &str, error: AuthError) -> CredentialError {
        match error.code() {
            Some("invalid_grant") => self.give_up(
                id,
                format!("the refresh token was refused ({error}); the user revoked access or the token was already used: reconnect"),
            ),
            Some("invalid_client" | "unauthorized_client") => self.give_up(
                id,
                format!("the Client ID or Client Secret was refused ({error}); they are wrong or the secret was rotated in the developer portal: update them and reconnect"),
            ),
            _ => CredentialError::Unavailable(format!("the token could not be refreshed now: {error}")),
        }
    }

    /// The connection's app-only token, fetched and stored on first use.
    pub async fn app_token(
        &self,
        auth: &ResolvedAuth,
        id: &str,
    ) -> Result<SecretString, CredentialError> {
        self.check_status(id)?;
        let stored = self.store.tokens(id).map_err(unavailable)?;
        if let Some((tokens, _)) = &stored
            && fresh(tokens)
        {
            return Ok(tokens
                .access_token
                .clone()
                .expect("fresh tokens have an access token"));
        }
        self.fetch_app_token(auth, id, stored.map(|(_, v)| v)).await
    }

    /// The API refused the app token `refused`: fetch a new one.
    pub async fn app_token_refused(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        refused: &str,
    ) -> Result<bool, CredentialError> {
        let stored = self.store.tokens(id).map_err(unavailable)?;
        let current = stored
            .as_ref()
            .and_then(|(t, _)| t.access_token.as_ref())
            .map(|t| t.expose_secret().to_string());
        if current.as_deref() != Some(refused) {
            return Ok(true);
        }
        self.fetch_app_token(auth, id, stored.map(|(_, v)| v))
            .await
            .map(|_| true)
    }

    async fn fetch_app_token(
        &self,
        auth: &ResolvedAuth,
        id: &str,
        seen: Option<u64>,
    ) -> Result<SecretString, CredentialError> {
        let flight = self.flight(id);
        let _only_one = flight.lock().await;
        let stored = self.store.tokens(id).map_err(unavailable)?;
        if let Some((tokens, version)) = &stored
            && Some(*version) != seen
            && fresh(tokens)
        {
            return Ok(tokens
                .access_token
                .clone()
                .expect("fresh tokens have an access token"));
        }
        self.stats.lock().unwrap().app_tokens += 1;
        let issued = oauth2::client_credentials(&self.http, auth)
            .await
            .map_err(|e| self.refresh_failure(id, e))?;
        let tokens = Tokens {
            access_token: Some(issued.access_token.clone()),
            access_expires_at: issued.expires_in.map(|s| now() + s as i64),
            refresh_token: None,
            token_secret: None,
            scope: None,
        };
        self.commit(id, &tokens, stored.map(|(_, v)| v).unwrap_or(0))
            .or_else(|_| {
                self.store
                    .save_tokens(id, &tokens, None)
                    .map(|_| ())
                    .map_err(unavailable)
            })?;
        Ok(issued.access_token)
    }
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

/// Which token a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// OAuth 2.0 user context, refreshed with its refresh token.
    User,
    /// App-only, fetched with the client credentials grant.
    App,
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
            let token = match self.kind {
                TokenKind::User => {
                    self.manager
                        .user_token(&self.auth, &self.connection_id)
                        .await?
                }
                TokenKind::App => {
                    self.manager
                        .app_token(&self.auth, &self.connection_id)
                        .await?
                }
            };
            bearer(&token)
        })
    }

    fn refused<'a>(
        &'a self,
        used: &'a HeaderValue,
    ) -> BoxFuture<'a, Result<bool, CredentialError>> {
        Box::pin(async move {
            let used = token_of(used);
            match self.kind {
                TokenKind::User => {
                    self.manager
                        .user_token_refused(&self.auth, &self.connection_id, &used)
                        .await
                }
                TokenKind::App => {
                    self.manager
                        .app_token_refused(&self.auth, &self.connection_id, &used)
                        .await
                }
            }
        })
    }
}
