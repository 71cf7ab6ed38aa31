//! Connections: created from the manifest's form fields, signed in with
//! their auth method, kept in the encrypted store, turned into the
//! [`Connection`] an action runs on, tested, revoked and deleted.
//!
//! Nothing here knows a particular API. The account a connection acts for
//! is learned by running the manifest's identity action through the
//! connector itself.

use crate::callback::CALLBACK_PATH;
use crate::http::HostHttp;
use crate::tokens::{ManagedToken, TokenKind, TokenManager};
use crate::{AuthError, ResolvedAuth, oauth1, oauth2, resolve};
use credential_store::{
    ConnectionRecord, ConnectionStatus, FieldValue, NewConnection, PendingSignIn, Store,
    StoreError, Tokens,
};
use host_core::LoadedConnector;
use host_core::credentials::{
    Authorizer, BearerToken, BoxFuture, Connection, ConnectionFacts, CredentialError,
};
use host_core::error::ActionError;
use host_core::manifest::{AuthKind, AuthMethod, FieldKind, Manifest};
use host_core::outgoing::HttpTimeouts;
use http::HeaderValue;
use secrecy::SecretString;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a started browser sign-in waits for its redirect.
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why a connection could not be created or signed in.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the connector has no auth method `{method}`; it offers {offered}")]
    UnknownMethod { method: String, offered: String },
    #[error("`{field}` is not a field of {method}; its fields are {fields}")]
    UnknownField {
        method: String,
        field: String,
        fields: String,
    },
    #[error("`{field}` is fixed by the manifest ({value}) and cannot be set")]
    FixedField { field: String, value: String },
    #[error("`{field}`: {reason}")]
    InvalidField { field: String, reason: String },
    /// The connection's `name` or `brand` is not a plain, short label.
    #[error("`{field}` {reason}")]
    InvalidLabel { field: String, reason: String },
    #[error("connection `{id}` uses {method}, which {reason}")]
    WrongMethod {
        id: String,
        method: String,
        reason: String,
    },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the connection was signed in, but {0}")]
    Identity(String),
}

/// What to connect: an auth method of the manifest and the form's values.
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    pub method: String,
    pub name: Option<String>,
    pub brand: Option<String>,
    /// Field values by field name, as typed in the form; blank ones fall
    /// through to app credentials.
    pub fields: BTreeMap<String, String>,
    /// The tenant the connection is made for: `None` for the default one.
    pub tenant: Option<String>,
    /// The tenant's end user it is made for, when a connect session makes it.
    pub end_user: Option<credential_store::EndUser>,
    /// Make no platform event: a connection kept only for a sign-in.
    pub quiet: bool,
}

/// The outcome of testing a connection, in words a user can act on.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub ok: bool,
    /// The account the connection acts for, when the test learned it.
    pub account: Option<String>,
    /// One sentence on what happened.
    pub summary: String,
    /// What to do about it.
    pub advice: Vec<String>,
    /// Actions the connection cannot run for lack of scopes, with those scopes.
    pub actions_missing_scopes: BTreeMap<String, Vec<String>>,
}

/// Creates, signs in and serves the connections of one connector.
pub struct ConnectionManager {
    store: Arc<Store>,
    connector: LoadedConnector,
    http: HostHttp,
    tokens: Arc<TokenManager>,
}

impl ConnectionManager {
    /// A manager for `connector`'s connections in `store`. The host's own
    /// requests (token endpoints, sign-in pages) follow `routes`, like the
    /// component's.
    pub fn new(
        store: Arc<Store>,
        connector: LoadedConnector,
        routes: host_core::Routes,
        timeouts: HttpTimeouts,
    ) -> ConnectionManager {
        let http = HostHttp::new(routes, timeouts).with_transport(connector.transport());
        let tokens = Arc::new(TokenManager::new(store.clone(), http.clone()));
        ConnectionManager {
            store,
            connector,
            http,
            tokens,
        }
    }

    pub fn manifest(&self) -> &Manifest {
        self.connector.manifest()
    }

    pub fn connector(&self) -> &LoadedConnector {
        &self.connector
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, to share with what outlives a borrow of the manager.
    pub fn shared_store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// How many token requests the host has made.
    pub fn token_stats(&self) -> crate::tokens::TokenStats {
        self.tokens.stats()
    }

    fn method(&self, id: &str) -> Result<&AuthMethod, ConnectError> {
        self.manifest()
            .auth_method(id)
            .ok_or_else(|| ConnectError::UnknownMethod {
                method: id.to_string(),
                offered: self
                    .manifest()
                    .auth_methods
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Checks the form against the manifest and stores a `pending`
    /// connection. Secrets are stored encrypted.
    pub async fn create(&self, request: &ConnectRequest) -> Result<ConnectionRecord, ConnectError> {
        let method = self.method(&request.method)?.clone();
        let mut fields = BTreeMap::new();
        let mut name = request.name.clone();
        for (field_name, value) in &request.fields {
            if field_name == "connection_name" {
                name = Some(value.clone());
                continue;
            }
            let Some(field) = method.fields.iter().find(|f| &f.name == field_name) else {
                return Err(ConnectError::UnknownField {
                    method: method.label.clone(),
                    field: field_name.clone(),
                    fields: method
                        .fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            if let Some(fixed) = &field.fixed {
                if value.trim() != fixed {
                    return Err(ConnectError::FixedField {
                        field: field_name.clone(),
                        value: fixed.clone(),
                    });
                }
                continue;
            }
            if field.kind == FieldKind::Scopes {
                let known: Vec<&str> = field.options.iter().map(|o| o.value.as_str()).collect();
                if let Some(unknown) = value
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .find(|s| !known.contains(s))
                {
                    return Err(ConnectError::InvalidField {
                        field: field_name.clone(),
                        reason: format!("`{unknown}` is not a scope this connector knows"),
                    });
                }
            }
            let stored = if field.secret {
                FieldValue::Secret(SecretString::from(value.clone()))
            } else {
                FieldValue::Plain(value.clone())
            };
            fields.insert(field_name.clone(), stored);
        }
        let label = |field: &str, value: &Option<String>| match value {
            Some(v) => {
                host_core::labels::check_label(v).map_err(|reason| ConnectError::InvalidLabel {
                    field: field.to_string(),
                    reason,
                })
            }
            None => Ok(()),
        };
        let name_field = if request.fields.contains_key("connection_name") {
            "connection_name"
        } else {
            "name"
        };
        label(name_field, &name)?;
        label("brand", &request.brand)?;
        if let Some(user) = &request.end_user {
            label("end_user", &Some(user.id.clone()))?;
            label("organization", &user.organization)?;
            for (key, value) in &user.tags {
                label(&format!("tags.{key}"), &Some(key.clone()))?;
                label(&format!("tags.{key}"), &Some(value.clone()))?;
            }
        }
        let new = NewConnection {
            connector: self.manifest().id.clone(),
            method: method.id.clone(),
            auth_kind: kind_name(method.kind).to_string(),
            name: name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| format!("{} connection", self.manifest().display_name)),
            brand: request.brand.clone().filter(|b| !b.trim().is_empty()),
            fields,
            tenant_id: request.tenant.clone(),
            end_user: request.end_user.clone(),
            quiet: request.quiet,
        };
        let record = self.store.create_connection(&new).await?;
        // Every required field must have a value once app credentials are layered in.
        let resolved = resolve(self.manifest(), &record, &self.store).await?;
        if let Some(missing) = method
            .fields
            .iter()
            .find(|f| f.required && resolved.get(&f.name).is_none())
        {
            self.store.delete_connection(&record.id).await?;
            return Err(ConnectError::Auth(AuthError::MissingField {
                method: method.label.clone(),
                field: missing.name.clone(),
            }));
        }
        Ok(record)
    }

    async fn record(&self, id: &str) -> Result<ConnectionRecord, ConnectError> {
        Ok(self.store.connection(id).await?)
    }

    async fn resolved(&self, record: &ConnectionRecord) -> Result<ResolvedAuth, ConnectError> {
        Ok(resolve(self.manifest(), record, &self.store).await?)
    }

    async fn expect_kind(
        &self,
        record: &ConnectionRecord,
        kind: AuthKind,
        reason: &str,
    ) -> Result<ResolvedAuth, ConnectError> {
        let resolved = self.resolved(record).await?;
        if resolved.method.kind != kind {
            return Err(ConnectError::WrongMethod {
                id: record.id.clone(),
                method: resolved.method.label.clone(),
                reason: reason.to_string(),
            });
        }
        Ok(resolved)
    }

    /// Starts an OAuth 2.0 sign-in that will redirect to `redirect_uri`.
    pub async fn begin_oauth2(
        &self,
        id: &str,
        redirect_uri: &str,
    ) -> Result<oauth2::PendingAuthorization, ConnectError> {
        let record = self.record(id).await?;
        let auth = self
            .expect_kind(
                &record,
                AuthKind::Oauth2AuthorizationCode,
                "does not sign in with OAuth 2.0",
            )
            .await?;
        self.store.set_callback_url(id, redirect_uri).await?;
        Ok(oauth2::begin(&self.http, &auth, redirect_uri)?)
    }

    /// Completes an OAuth 2.0 sign-in from the redirect's query.
    pub async fn finish_oauth2(
        &self,
        id: &str,
        pending: oauth2::PendingAuthorization,
        query: &[(String, String)],
    ) -> Result<ConnectionRecord, ConnectError> {
        let record = self.record(id).await?;
        let auth = self
            .expect_kind(
                &record,
                AuthKind::Oauth2AuthorizationCode,
                "does not sign in with OAuth 2.0",
            )
            .await?;
        let issued = oauth2::finish(&self.http, &auth, pending, query).await?;
        let tokens = Tokens {
            access_token: Some(issued.access_token),
            access_expires_at: issued.expires_in.map(|s| now() + s as i64),
            access_issued_at: Some(now()),
            refresh_token: issued.refresh_token,
            token_secret: None,
            scope: issued.scopes.as_ref().map(|s| s.join(" ")),
        };
        self.replace_tokens(id, &tokens).await?;
        let granted = issued.scopes.or_else(|| Some(auth.list("scopes")));
        self.store
            .set_account(id, None, None, &Default::default(), granted.as_deref())
            .await?;
        self.activate(id).await
    }

    /// Starts connection `id`'s browser sign-in, redirecting to `callback`,
    /// and keeps it in the store for [`SIGN_IN_WINDOW`]: whichever host
    /// sharing the store the redirect reaches can finish it. Returns the
    /// URL to send the user to, or `None` for a method that signs in
    /// without a browser.
    pub async fn start_sign_in(
        &self,
        id: &str,
        callback: &str,
    ) -> Result<Option<String>, ConnectError> {
        let record = self.record(id).await?;
        let kind = self.manifest().auth_method(&record.method).map(|m| m.kind);
        let (key, url, flow, payload) = match kind {
            Some(AuthKind::Oauth2AuthorizationCode) => {
                let p = self.begin_oauth2(id, callback).await?;
                (
                    p.state().to_string(),
                    p.authorization_url.clone(),
                    "oauth2",
                    p.to_payload(),
                )
            }
            Some(AuthKind::Oauth1) => {
                let p = self.begin_oauth1(id, callback).await?;
                (
                    p.request_token().to_string(),
                    p.authorization_url.clone(),
                    "oauth1",
                    p.to_payload(),
                )
            }
            _ => return Ok(None),
        };
        self.store
            .begin_sign_in(&PendingSignIn {
                key: SecretString::from(key),
                connection_id: id.to_string(),
                flow: flow.to_string(),
                payload,
                expires_at: now() + SIGN_IN_WINDOW.as_secs() as i64,
            })
            .await?;
        Ok(Some(url))
    }

    /// Finishes the sign-in a redirect names (OAuth 2.0's `state`, OAuth
    /// 1.0a's `oauth_token`, or `denied` when the user refused), started by
    /// any host sharing the store. Each sign-in finishes once. `None` when
    /// the store holds no such sign-in: never started, already finished, or
    /// expired; otherwise the connection's id and how the sign-in ended.
    pub async fn complete_sign_in(
        &self,
        query: &[(String, String)],
    ) -> Result<Option<(String, Result<ConnectionRecord, ConnectError>)>, ConnectError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let Some(key) = get("state").or(get("oauth_token")).or(get("denied")) else {
            return Ok(None);
        };
        let Some(pending) = self.store.take_sign_in(key).await? else {
            return Ok(None);
        };
        let id = pending.connection_id.clone();
        let finished = match pending.flow.as_str() {
            "oauth2" => match oauth2::PendingAuthorization::from_payload(key, &pending.payload) {
                Ok(p) => self.finish_oauth2(&id, p, query).await,
                Err(e) => Err(e.into()),
            },
            "oauth1" => match oauth1::PendingAuthorization::from_payload(key, &pending.payload) {
                Ok(p) => self.finish_oauth1(&id, p, query).await,
                Err(e) => Err(e.into()),
            },
            other => Err(AuthError::SignIn(format!(
                "the stored sign-in has an unknown flow `{other}`"
            ))
            .into()),
        };
        Ok(Some((id, finished)))
    }

    /// Starts an OAuth 1.0a sign-in that will redirect to `callback`.
    pub async fn begin_oauth1(
        &self,
        id: &str,
        callback: &str,
    ) -> Result<oauth1::PendingAuthorization, ConnectError> {
        let record = self.record(id).await?;
        let auth = self
            .expect_kind(
                &record,
                AuthKind::Oauth1,
                "does not sign in with OAuth 1.0a",
            )
            .await?;
        self.store.set_callback_url(id, callback).await?;
        Ok(oauth1::begin(&self.http, &auth, callback).await?)
    }

    /// Completes an OAuth 1.0a sign-in from the redirect's query.
    pub async fn finish_oauth1(
        &self,
        id: &str,
        pending: oauth1::PendingAuthorization,
        query: &[(String, String)],
    ) -> Result<ConnectionRecord, ConnectError> {
        let record = self.record(id).await?;
        let auth = self
            .expect_kind(
                &record,
                AuthKind::Oauth1,
                "does not sign in with OAuth 1.0a",
            )
            .await?;
        let access = oauth1::finish(&self.http, &auth, pending, query).await?;
        let tokens = Tokens {
            access_token: Some(access.token),
            token_secret: Some(access.secret),
            ..Tokens::default()
        };
        self.replace_tokens(id, &tokens).await?;
        self.store
            .set_account(
                id,
                access.user_id.as_deref(),
                access.screen_name.as_deref(),
                &Default::default(),
                None,
            )
            .await?;
        self.activate(id).await
    }

    /// Stores a sign-in's new tokens over whatever the connection had.
    async fn replace_tokens(&self, id: &str, tokens: &Tokens) -> Result<(), ConnectError> {
        loop {
            let current = self.store.tokens(id).await.ok().flatten().map(|(_, v)| v);
            match self.store.save_tokens(id, tokens, current).await {
                // A renewal of the old tokens landed in between: replace its result too.
                Err(StoreError::Conflict(_)) => continue,
                other => return Ok(other.map(|_| ())?),
            }
        }
    }

    /// Marks a signed-in connection (or one that needs no sign-in: a pasted
    /// token, app-only credentials) connected, after checking that its
    /// credentials work, and records its account.
    pub async fn activate(&self, id: &str) -> Result<ConnectionRecord, ConnectError> {
        let record = self.record(id).await?;
        let auth = self.resolved(&record).await?;
        if auth.method.kind == AuthKind::Oauth2ClientCredentials {
            // Fetching the app token checks the API Key and Secret.
            let issued = oauth2::client_credentials(&self.http, &auth).await?;
            let tokens = Tokens {
                access_token: Some(issued.access_token),
                access_expires_at: issued.expires_in.map(|s| now() + s as i64),
                access_issued_at: Some(now()),
                ..Tokens::default()
            };
            self.replace_tokens(id, &tokens).await?;
        }
        // The sign-in announces how it ended (to the tenant's webhook) once
        // the account is known, rather than at each status change on the way.
        let before = record.status;
        self.store
            .set_status_unannounced(id, ConnectionStatus::Connected, None)
            .await?;
        if auth.method.kind != AuthKind::Oauth2ClientCredentials
            && let Err(e) = self.identify(id).await
        {
            let reason = e.to_string();
            if before == ConnectionStatus::Connected {
                // It worked before this sign-in: it stops working now.
                self.store
                    .set_status(id, ConnectionStatus::NeedsReconnect, Some(&reason))
                    .await?;
            } else {
                self.store
                    .set_status_unannounced(id, ConnectionStatus::NeedsReconnect, Some(&reason))
                    .await?;
            }
            return Err(e);
        }
        match before {
            ConnectionStatus::Pending => self.store.announce(id, "connection.created").await?,
            ConnectionStatus::NeedsReconnect | ConnectionStatus::Revoked => {
                self.store.announce(id, "connection.reconnected").await?
            }
            ConnectionStatus::Connected => {}
        }
        self.record(id).await
    }

    /// Runs the manifest's identity action and records the account.
    async fn identify(&self, id: &str) -> Result<(), ConnectError> {
        let Some(identity) = self.manifest().identity.clone() else {
            return Ok(());
        };
        let connection = self.connection(id).await?;
        match self
            .connector
            .invoke(&connection, &identity.action, "{}")
            .await
        {
            Ok(output) => {
                let account_id = output
                    .pointer(&identity.account_id)
                    .and_then(|v| v.as_str());
                let account_name = identity
                    .account_name
                    .as_deref()
                    .and_then(|p| output.pointer(p))
                    .and_then(|v| v.as_str());
                // Each fact as text: a string as it is, anything else as JSON.
                let account_facts = identity
                    .facts
                    .iter()
                    .filter_map(|(name, pointer)| {
                        let value = output.pointer(pointer)?;
                        let text = value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_string);
                        Some((name.clone(), text))
                    })
                    .collect();
                let record = self.record(id).await?;
                self.store
                    .set_account(
                        id,
                        account_id,
                        account_name,
                        &account_facts,
                        record.granted_scopes.as_deref(),
                    )
                    .await?;
                Ok(())
            }
            // A pasted app-only token cannot name a user; it still works for app actions.
            Err(ActionError::Forbidden { .. })
                if record_kind(&self.record(id).await?) == Some(AuthKind::BearerToken) =>
            {
                Ok(())
            }
            Err(e) => Err(ConnectError::Identity(format!(
                "`{}` failed: {e}",
                identity.action
            ))),
        }
    }

    /// The connection `id`, ready for actions: its facts and an authorizer
    /// that keeps its credentials valid. A connection that needs
    /// reconnecting still loads; its actions fail as `unauthorized`.
    /// The key of the webhook that connection `id` registered: its value of
    /// the manifest's `push.secret_field`. It keys the API's challenges and
    /// signatures, and never leaves the host.
    pub async fn push_key(&self, id: &str) -> Result<secrecy::SecretString, ConnectError> {
        let record = self.record(id).await?;
        let auth = self.resolved(&record).await?;
        let Some(push) = &self.manifest().push else {
            return Err(ConnectError::WrongMethod {
                id: id.to_string(),
                method: auth.method.label.clone(),
                reason: "cannot receive pushed events: the connector pushes none".into(),
            });
        };
        if auth.method.id != push.auth_method {
            return Err(ConnectError::WrongMethod {
                id: id.to_string(),
                method: auth.method.label.clone(),
                reason: format!(
                    "cannot register a webhook; connect one with the `{}` method",
                    push.auth_method
                ),
            });
        }
        auth.secret(&push.secret_field).ok_or_else(|| {
            ConnectError::Auth(AuthError::MissingField {
                method: auth.method.label.clone(),
                field: push.secret_field.clone(),
            })
        })
    }

    pub async fn connection(&self, id: &str) -> Result<Connection, ConnectError> {
        let record = self.record(id).await?;
        let auth = self.resolved(&record).await?;
        let facts = ConnectionFacts {
            id: record.id.clone(),
            auth_kind: auth.method.kind,
            granted_scopes: record.granted_scopes.clone(),
            account_id: record.account_id.clone(),
            account_facts: record.account_facts.clone(),
        };
        let authorizer: Arc<dyn Authorizer> = match record.status {
            ConnectionStatus::NeedsReconnect
            | ConnectionStatus::Revoked
            | ConnectionStatus::Pending => {
                Arc::new(Refuses(record.status_reason.clone().unwrap_or_else(|| {
                    format!(
                        "the connection is {}; connect it again",
                        record.status.as_str()
                    )
                })))
            }
            ConnectionStatus::Connected => self.authorizer(&record, auth).await?,
        };
        let ledger = crate::ledger::StoreLedger::new(self.store.clone(), record.tenant_id.clone());
        Ok(Connection::new(facts, authorizer)
            .with_ledger(Arc::new(ledger))
            .with_tenant(record.tenant_id.clone()))
    }

    async fn authorizer(
        &self,
        record: &ConnectionRecord,
        auth: ResolvedAuth,
    ) -> Result<Arc<dyn Authorizer>, ConnectError> {
        let marker = |inner: Arc<dyn Authorizer>| -> Arc<dyn Authorizer> {
            Arc::new(ReconnectOnRefusal {
                inner,
                store: self.store.clone(),
                id: record.id.clone(),
            })
        };
        Ok(match auth.method.kind {
            AuthKind::BearerToken => {
                let token = auth
                    .secret("bearer_token")
                    .ok_or_else(|| AuthError::MissingField {
                        method: auth.method.label.clone(),
                        field: "bearer_token".into(),
                    })?;
                marker(Arc::new(BearerToken::new(token)))
            }
            AuthKind::Oauth2AuthorizationCode | AuthKind::Oauth2ClientCredentials => {
                Arc::new(ManagedToken {
                    manager: self.tokens.clone(),
                    kind: if auth.method.kind == AuthKind::Oauth2AuthorizationCode {
                        TokenKind::User
                    } else {
                        TokenKind::App
                    },
                    auth,
                    connection_id: record.id.clone(),
                })
            }
            AuthKind::Oauth1 => {
                let (tokens, _) = self.store.tokens(&record.id).await?.ok_or_else(|| {
                    AuthError::SignIn(
                        "the connection has no OAuth 1.0a tokens; sign in again".into(),
                    )
                })?;
                let (Some(token), Some(secret)) = (tokens.access_token, tokens.token_secret) else {
                    return Err(AuthError::SignIn(
                        "the connection's OAuth 1.0a tokens are incomplete; sign in again".into(),
                    )
                    .into());
                };
                marker(Arc::new(oauth1::Signer::new(&auth, token, secret)?))
            }
        })
    }

    /// Every connection of this connector, oldest first.
    pub async fn list(&self) -> Result<Vec<ConnectionRecord>, ConnectError> {
        let ids = self.store.connection_ids().await?;
        self.records_of(ids).await
    }

    /// One tenant's connections of this connector (`None`: the default
    /// tenant's), oldest first.
    pub async fn list_of(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<ConnectionRecord>, ConnectError> {
        let ids = self.store.tenant_connection_ids(tenant).await?;
        self.records_of(ids).await
    }

    /// A tenant's connections made for one of its end users, oldest first.
    pub async fn list_of_end_user(
        &self,
        tenant: &str,
        end_user: &str,
    ) -> Result<Vec<ConnectionRecord>, ConnectError> {
        let ids = self.store.end_user_connection_ids(tenant, end_user).await?;
        self.records_of(ids).await
    }

    async fn records_of(&self, ids: Vec<String>) -> Result<Vec<ConnectionRecord>, ConnectError> {
        let mut out = Vec::new();
        for id in ids {
            let record = match self.store.connection(&id).await {
                Ok(record) => record,
                // Deleted by another host since the ids were read.
                Err(StoreError::NoSuchConnection(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if record.connector == self.manifest().id {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Revokes the connection's tokens where the method allows it, forgets
    /// them, and marks the connection revoked.
    pub async fn revoke(&self, id: &str) -> Result<(), ConnectError> {
        let record = self.record(id).await?;
        let auth = self.resolved(&record).await?;
        if auth.method.kind == AuthKind::Oauth2AuthorizationCode
            && auth.get("revoke_url").is_some()
            && let Some((tokens, _)) = self.store.tokens(id).await?
        {
            if let Some(refresh) = &tokens.refresh_token {
                oauth2::revoke(&self.http, &auth, refresh, true).await?;
            }
            if let Some(access) = &tokens.access_token {
                oauth2::revoke(&self.http, &auth, access, false).await?;
            }
        }
        self.store.clear_tokens(id).await?;
        self.store
            .set_status(
                id,
                ConnectionStatus::Revoked,
                Some("the connection's tokens were revoked; connect it again"),
            )
            .await?;
        Ok(())
    }

    /// Deletes the connection and everything stored for it.
    pub async fn delete(&self, id: &str) -> Result<(), ConnectError> {
        Ok(self.store.delete_connection(id).await?)
    }

    /// Tests the connection by running the identity action, and explains a
    /// failure in words a user can act on.
    pub async fn test(&self, id: &str) -> Result<TestReport, ConnectError> {
        let record = self.record(id).await?;
        let auth = self.resolved(&record).await?;
        let mut report = TestReport {
            ok: false,
            account: record.account_name.clone().or(record.account_id.clone()),
            summary: String::new(),
            advice: Vec::new(),
            actions_missing_scopes: self.actions_missing_scopes(&record),
        };
        match record.status {
            ConnectionStatus::Pending => {
                report.summary = "The sign-in never completed.".into();
                if let Some(callback) = &record.callback_url {
                    report.advice.push(format!(
                        "If the sign-in page reported an error about the callback or redirect URL, register exactly this callback URL in the app's settings in the developer portal: {callback}"
                    ));
                }
                report.advice.push("Then connect again.".into());
                return Ok(report);
            }
            ConnectionStatus::Revoked => {
                report.summary = "The connection was revoked.".into();
                report.advice.push("Connect again to use it.".into());
                return Ok(report);
            }
            ConnectionStatus::NeedsReconnect => {
                let reason = record.status_reason.clone().unwrap_or_default();
                report.summary = format!("The connection needs to be reconnected: {reason}");
                report.advice = advice_for(&reason, &auth);
                return Ok(report);
            }
            ConnectionStatus::Connected => {}
        }
        let Some(identity) = self.manifest().identity.clone() else {
            report.ok = true;
            report.summary = "The connection is stored; the connector declares no identity action to test it with.".into();
            return Ok(report);
        };
        if auth.method.kind == AuthKind::Oauth2ClientCredentials {
            // An app-only connection has no user: check the credentials alone.
            let connection = self.connection(id).await?;
            let (parts, ()) = http::Request::new(()).into_parts();
            return Ok(match connection.authorizer().authorize(&parts).await {
                Ok(_) => TestReport {
                    ok: true,
                    summary: "The app-only credentials work.".into(),
                    ..report
                },
                Err(e) => TestReport {
                    summary: format!("The app-only credentials do not work: {e}"),
                    advice: advice_for(&e.to_string(), &auth),
                    ..report
                },
            });
        }
        let connection = self.connection(id).await?;
        match self
            .connector
            .invoke(&connection, &identity.action, "{}")
            .await
        {
            Ok(output) => {
                report.ok = true;
                let name = identity
                    .account_name
                    .as_deref()
                    .and_then(|p| output.pointer(p))
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                report.account = name.or(report.account);
                report.summary = format!(
                    "The connection works{}.",
                    report
                        .account
                        .as_deref()
                        .map(|a| format!(" and acts for {a}"))
                        .unwrap_or_default()
                );
                if !report.actions_missing_scopes.is_empty() {
                    let actions: Vec<&str> = report
                        .actions_missing_scopes
                        .keys()
                        .map(String::as_str)
                        .collect();
                    report.advice.push(format!(
                        "These actions need scopes the connection was not granted: {}. Reconnect with those scopes to use them.",
                        actions.join(", ")
                    ));
                }
            }
            Err(ActionError::Unauthorized { reason }) => {
                report.summary = format!("The credentials were refused: {reason}");
                report.advice = advice_for(&reason, &auth);
            }
            Err(ActionError::Forbidden {
                missing_scopes,
                detail,
                ..
            }) => {
                let needed = self
                    .manifest()
                    .action(&identity.action)
                    .map(|a| a.scopes.clone())
                    .unwrap_or_default();
                let missing = if missing_scopes.is_empty() {
                    needed
                } else {
                    missing_scopes
                };
                report.summary = format!(
                    "Signing in worked, but the API refuses the connection permission ({detail})."
                );
                report.advice.push(format!(
                    "Scopes are missing: {}. Enable them for the app in the developer portal, then reconnect and grant them.",
                    missing.join(" ")
                ));
            }
            Err(e) => {
                report.summary = format!("The test action failed: {e}");
            }
        }
        Ok(report)
    }

    fn actions_missing_scopes(&self, record: &ConnectionRecord) -> BTreeMap<String, Vec<String>> {
        let Some(granted) = &record.granted_scopes else {
            return BTreeMap::new();
        };
        self.manifest()
            .actions
            .iter()
            .filter_map(|a| {
                let missing: Vec<String> = a
                    .scopes
                    .iter()
                    .filter(|s| !granted.contains(s))
                    .cloned()
                    .collect();
                (!missing.is_empty()).then(|| (a.id.clone(), missing))
            })
            .collect()
    }

    /// The callback URL a sign-in listening on `port` of 127.0.0.1 uses.
    pub fn loopback_callback(port: u16) -> String {
        format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
    }
}

/// What may be shown of a connection, to people and to API clients: no
/// secret (a secret field says only that it is set), a Client ID or API Key
/// by its first characters.
pub fn public_summary(r: &ConnectionRecord) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> = r
        .fields
        .iter()
        .map(|(name, value)| {
            let shown = match value {
                FieldValue::Secret(_) => "(set, hidden)".to_string(),
                FieldValue::Plain(v) if name == "client_id" || name == "api_key" => preview(v),
                FieldValue::Plain(v) => v.clone(),
            };
            (name.clone(), serde_json::json!(shown))
        })
        .collect();
    serde_json::json!({
        "id": r.id,
        "name": r.name,
        "connector": r.connector,
        "method": r.method,
        "status": r.status.as_str(),
        "status_reason": r.status_reason,
        "account_id": r.account_id,
        "account": r.account_name,
        "brand": r.brand,
        "granted_scopes": r.granted_scopes,
        "callback_url": r.callback_url,
        "fields": fields,
        "end_user": r.end_user.as_ref().map(|u| u.id.clone()),
        "organization": r.end_user.as_ref().and_then(|u| u.organization.clone()),
        "tags": r.end_user.as_ref().map(|u| u.tags.clone()).unwrap_or_default(),
    })
}

/// `abcdef…`: enough of an identifier to recognise it, as listings show
/// a Client ID.
pub fn preview(value: &str) -> String {
    let head: String = value.chars().take(6).collect();
    if value.chars().count() > 6 {
        format!("{head}…")
    } else {
        head
    }
}

/// Advice for a failure reason, by the OAuth error it names.
fn advice_for(reason: &str, auth: &ResolvedAuth) -> Vec<String> {
    let (id_field, secret_field) = match auth.method.kind {
        AuthKind::Oauth1 => ("API Key", "API Key Secret"),
        AuthKind::Oauth2ClientCredentials => ("API Key", "API Key Secret"),
        _ => ("Client ID", "Client Secret"),
    };
    if reason.contains("invalid_client")
        || reason.contains("unauthorized_client")
        || reason.contains("Client ID or Client Secret")
    {
        vec![format!(
            "The {id_field} or {secret_field} is wrong, or the secret was rotated in the developer portal: copy the current pair from the portal, update it here, and reconnect."
        )]
    } else if reason.contains("authorization code") {
        vec!["The sign-in took too long, or its code was used already (a page reloaded, a redirect delivered twice): connect again, and finish the sign-in without waiting.".into()]
    } else if reason.contains("invalid_grant") || reason.contains("refresh token") {
        vec!["The account's authorization ended (access was revoked, or the refresh token was used elsewhere): reconnect.".into()]
    } else {
        vec!["Reconnect the account.".into()]
    }
}

fn kind_name(kind: AuthKind) -> &'static str {
    match kind {
        AuthKind::Oauth2AuthorizationCode => "oauth2-authorization-code",
        AuthKind::Oauth2ClientCredentials => "oauth2-client-credentials",
        AuthKind::BearerToken => "bearer-token",
        AuthKind::Oauth1 => "oauth1",
    }
}

fn record_kind(record: &ConnectionRecord) -> Option<AuthKind> {
    serde_json::from_value(serde_json::Value::String(record.auth_kind.clone())).ok()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The authorizer of a connection that cannot be used: every request fails
/// with the reason, so actions report `unauthorized` with it.
struct Refuses(String);

impl Authorizer for Refuses {
    fn authorize<'a>(
        &'a self,
        _request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<HeaderValue, CredentialError>> {
        Box::pin(async move { Err(CredentialError::NeedsReconnect(self.0.clone())) })
    }
}

/// A credential that cannot be renewed: when the API refuses it, the
/// connection is marked as needing a reconnect.
struct ReconnectOnRefusal {
    inner: Arc<dyn Authorizer>,
    store: Arc<Store>,
    id: String,
}

impl Authorizer for ReconnectOnRefusal {
    fn authorize<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<HeaderValue, CredentialError>> {
        self.inner.authorize(request)
    }

    fn refused<'a>(
        &'a self,
        _used: &'a HeaderValue,
    ) -> BoxFuture<'a, Result<bool, CredentialError>> {
        Box::pin(async move {
            let reason = "the API refused the connection's credentials (they were revoked or are wrong); reconnect";
            if let Err(e) = self
                .store
                .needs_reconnect(
                    &self.id,
                    reason,
                    credential_store::ReconnectCause::AccessRevoked,
                )
                .await
            {
                tracing::error!(connection = %self.id, error = %e, "cannot record that the connection needs reconnecting");
            }
            Err(CredentialError::NeedsReconnect(reason.into()))
        })
    }
}
