//! The store's contract: what a host keeps, sealed the same way whichever
//! backend holds it.

use crate::backend::postgres::{self, Postgres};
use crate::backend::sqlite::Sqlite;
use crate::backend::{
    Backend, ConnectionUpdate, KeyCheck, LeaseBackend, RawApiKey, RawConnectSession, RawConnection,
    RawDelivery, RawField, RawOAuthGrant, RawSignIn, RawSubscription, RawTenant, RawTenantEvent,
    RawTokens, RawUsage, RawValue, Settlement,
};
use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::key::{Keyring, MasterKey};
use crate::records::{
    ApiKeyRecord, AppCredentialLevel, ClaimedDelivery, ClaimedPlatformEvent, ConnectSessionRecord,
    ConnectionRecord, ConnectionStatus, Delivery, DeliveryOutcome, DeliveryRecord, DeliveryStatus,
    Destination, EndUser, FieldValue, LeaseTerms, NewConnection, NewSubscription, PendingSignIn,
    PlatformEventRecord, ReconnectCause, RequestCount, SubscriptionRecord, TenantRecord,
    TenantWebhookRecord, Tokens, UsageEntry, WebhookRecord,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Associated data of the key-check value.
const KEY_CHECK_PLACE: &str = "meta/key_check";
const KEY_CHECK_TEXT: &[u8] = b"credential-store key check v1";

/// Where a store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file: the embedded default, for hosts on one machine.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…`), for hosts on several.
    Postgres(String),
}

impl StoreLocation {
    /// A database URL, as `--database-url` takes it. Only PostgreSQL's
    /// schemes are accepted; the URL is checked when the store opens.
    pub fn from_database_url(url: &str) -> Result<StoreLocation, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(url.to_string()))
        } else {
            Err(StoreError::Open {
                location: "the database URL".into(),
                reason: "it must start with postgres:// or postgresql:// (the embedded store is a SQLite file in the data directory, chosen by leaving the database URL unset)".into(),
            })
        }
    }

    /// The location as it may be shown: a PostgreSQL URL without its
    /// password.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sqlite(path) => path.display().to_string(),
            StoreLocation::Postgres(url) => postgres::location_of(url),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The credential store. Cheap to share behind an `Arc`; every method is
/// safe to call from many tasks, processes and machines at once.
pub struct Store {
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) cipher: Arc<Cipher>,
    location: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Lower-case letters and digits, for ids and temporary names.
pub(crate) fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// What the store keeps of a key it is given: its SHA-256, in hex.
/// A JSON object stored as text; anything else reads as empty.
fn json_object(text: Option<&str>) -> serde_json::Map<String, serde_json::Value> {
    match text.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(serde_json::Value::Object(map))) => map,
        _ => serde_json::Map::new(),
    }
}

fn tenant_record(raw: RawTenant) -> TenantRecord {
    TenantRecord {
        id: raw.id,
        name: raw.name,
        settings: json_object(raw.settings.as_deref()),
        created_at: raw.created_at,
    }
}

fn connect_session_record(raw: RawConnectSession) -> ConnectSessionRecord {
    ConnectSessionRecord {
        id: raw.id,
        tenant_id: raw.tenant_id,
        purpose: raw.purpose,
        details: json_object(Some(&raw.details)),
        expires_at: raw.expires_at,
        used_at: raw.used_at,
        connection_id: raw.connection_id,
        created_at: raw.created_at,
    }
}

fn end_user_json(user: &EndUser) -> String {
    serde_json::json!({"id": user.id, "organization": user.organization, "tags": user.tags})
        .to_string()
}

fn end_user_of(text: &str) -> Option<EndUser> {
    let map = json_object(Some(text));
    Some(EndUser {
        id: map.get("id")?.as_str()?.to_string(),
        organization: map
            .get("organization")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        tags: map
            .get("tags")
            .and_then(|v| v.as_object())
            .map(|tags| {
                tags.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn api_key_record(raw: RawApiKey) -> ApiKeyRecord {
    ApiKeyRecord {
        id: raw.id,
        tenant_id: raw.tenant_id,
        scopes: raw.scopes.split_whitespace().map(str::to_string).collect(),
        created_at: raw.created_at,
        expires_at: raw.expires_at,
        revoked_at: raw.revoked_at,
    }
}

fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn token_place(id: &str, column: &str) -> String {
    format!("tokens/{id}/{column}")
}

fn seal_tokens(cipher: &Cipher, id: &str, tokens: &Tokens) -> RawTokens {
    let seal = |value: &Option<SecretString>, column: &str| {
        value
            .as_ref()
            .map(|v| cipher.seal(v.expose_secret().as_bytes(), &token_place(id, column)))
    };
    RawTokens {
        access_token: seal(&tokens.access_token, "access_token"),
        access_expires_at: tokens.access_expires_at,
        access_issued_at: tokens.access_issued_at,
        refresh_token: seal(&tokens.refresh_token, "refresh_token"),
        token_secret: seal(&tokens.token_secret, "token_secret"),
        scope: tokens.scope.clone(),
        version: 0,
    }
}

fn open_secret(
    cipher: &Cipher,
    sealed: &[u8],
    place: &str,
    what: impl FnOnce() -> String,
) -> Result<SecretString, StoreError> {
    cipher
        .open(sealed, place)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(SecretString::from)
        .ok_or_else(|| StoreError::Tampered { what: what() })
}

fn open_tokens(cipher: &Cipher, id: &str, raw: RawTokens) -> Result<(Tokens, u64), StoreError> {
    let open = |sealed: Option<Vec<u8>>, column: &str| {
        sealed
            .map(|s| {
                open_secret(cipher, &s, &token_place(id, column), || {
                    format!("{column} of connection {id}")
                })
            })
            .transpose()
    };
    Ok((
        Tokens {
            access_token: open(raw.access_token, "access_token")?,
            access_expires_at: raw.access_expires_at,
            access_issued_at: raw.access_issued_at,
            refresh_token: open(raw.refresh_token, "refresh_token")?,
            token_secret: open(raw.token_secret, "token_secret")?,
            scope: raw.scope,
        },
        raw.version as u64,
    ))
}

fn subscription_record(raw: RawSubscription) -> SubscriptionRecord {
    SubscriptionRecord {
        delivery: Delivery::parse(&raw.delivery).unwrap_or(Delivery::Poll),
        id: raw.id,
        connection_id: raw.connection_id,
        trigger: raw.trigger,
        configuration: raw.configuration,
        cursor: raw.cursor,
        cursor_version: raw.cursor_version as u64,
        destination: Destination::from_columns(&raw.destination, raw.target_url),
        interval_secs: raw.interval_secs.clamp(0, u32::MAX as i64) as u32,
        next_poll_at: raw.next_poll_at,
        created_at: raw.created_at,
        updated_at: raw.updated_at,
    }
}

fn platform_event_record(raw: RawTenantEvent) -> PlatformEventRecord {
    PlatformEventRecord {
        id: raw.id,
        tenant_id: Some(raw.tenant_id).filter(|t| !t.is_empty()),
        kind: raw.kind,
        payload: raw.payload,
        status: DeliveryStatus::parse(&raw.status),
        attempts: raw.attempts.clamp(0, u32::MAX as i64) as u32,
        last_error: raw.last_error,
        created_at: raw.created_at,
        settled_at: raw.settled_at,
    }
}

fn delivery_record(raw: RawDelivery) -> DeliveryRecord {
    DeliveryRecord {
        status: DeliveryStatus::parse(&raw.status),
        subscription_id: raw.subscription_id,
        event_id: raw.event_id,
        sequence: raw.sequence.max(0) as u64,
        payload: raw.payload,
        attempts: raw.attempts.clamp(0, u32::MAX as i64) as u32,
        last_error: raw.last_error,
        created_at: raw.created_at,
        settled_at: raw.settled_at,
        trace_context: raw.trace_context,
    }
}

impl Store {
    /// Whether `location` holds a store already, and so has a master key
    /// it needs. For a file, anything at its path counts, even a damaged or
    /// empty file: a new key is never made beside something that may be a
    /// store. An unreachable database is an error, not a no.
    pub async fn exists(location: &StoreLocation) -> Result<bool, StoreError> {
        match location {
            StoreLocation::Sqlite(path) => Ok(Sqlite::exists(path)),
            StoreLocation::Postgres(url) => Postgres::exists(url).await,
        }
    }

    /// Opens the store at `location`, creating it if there is none, and
    /// brings its schema up to date. An existing store must open with
    /// `key`: a wrong key, a damaged or foreign file, or a store from a
    /// newer release is refused before anything is written.
    pub async fn open(location: &StoreLocation, key: &MasterKey) -> Result<Store, StoreError> {
        Store::open_with_keys(location, &Keyring::single(key.duplicate())).await
    }

    /// Opens the store with several master keys: new secrets are sealed
    /// with the first, and a secret sealed with any of them opens. The
    /// store is refused unless one of them opens its key check, so a set of
    /// keys that opens nothing is refused before anything is written.
    pub async fn open_with_keys(
        location: &StoreLocation,
        keys: &Keyring,
    ) -> Result<Store, StoreError> {
        let cipher = Arc::new(Cipher::new(keys));
        let opener = cipher.clone();
        let check = KeyCheck {
            new_value: cipher.seal(KEY_CHECK_TEXT, KEY_CHECK_PLACE),
            opens: Box::new(move |sealed| {
                opener.open(sealed, KEY_CHECK_PLACE).ok().as_deref() == Some(KEY_CHECK_TEXT)
            }),
        };
        let backend: Box<dyn Backend> = match location {
            StoreLocation::Sqlite(path) => Box::new(Sqlite::open(path, check).await?),
            StoreLocation::Postgres(url) => Box::new(Postgres::open(url, check).await?),
        };
        Ok(Store {
            backend,
            cipher,
            location: location.describe(),
        })
    }

    /// Opens (or creates) a SQLite store file.
    pub async fn open_file(path: &std::path::Path, key: &MasterKey) -> Result<Store, StoreError> {
        Store::open(&StoreLocation::Sqlite(path.to_path_buf()), key).await
    }

    /// Where the store is, for messages (never with a password).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn seal(&self, value: &SecretString, place: &str) -> Vec<u8> {
        self.cipher.seal(value.expose_secret().as_bytes(), place)
    }

    fn raw_value(&self, value: &FieldValue, place: &str) -> RawValue {
        match value {
            FieldValue::Plain(v) => RawValue {
                plain: Some(v.clone()),
                secret: None,
            },
            FieldValue::Secret(s) => RawValue {
                plain: None,
                secret: Some(self.seal(s, place)),
            },
        }
    }

    fn field_value(
        &self,
        raw: RawValue,
        place: &str,
        what: impl FnOnce() -> String,
    ) -> Result<FieldValue, StoreError> {
        match (raw.plain, raw.secret) {
            (_, Some(sealed)) => Ok(FieldValue::Secret(open_secret(
                &self.cipher,
                &sealed,
                place,
                what,
            )?)),
            (Some(v), None) => Ok(FieldValue::Plain(v)),
            (None, None) => Ok(FieldValue::Plain(String::new())),
        }
    }

    /// Whether this host can serve from the store now: it answers, and its
    /// schema is the one this host knows (not migrated past it by a newer
    /// host since it opened).
    pub async fn ready(&self) -> Result<(), StoreError> {
        let found = self.backend.schema_version().await?;
        if found != crate::schema::LATEST {
            return Err(StoreError::TooNew {
                location: self.location.clone(),
                found,
                known: crate::schema::LATEST,
            });
        }
        Ok(())
    }

    // ---- App credentials -------------------------------------------------

    /// Sets app credential fields of `connector`'s auth `method` at `level`.
    /// A blank value removes the field at that level.
    pub async fn set_app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &AppCredentialLevel,
        fields: &BTreeMap<String, FieldValue>,
    ) -> Result<(), StoreError> {
        let level = level.key();
        let changes = fields
            .iter()
            .map(|(field, value)| {
                let place = format!("app_credentials/{connector}/{method}/{level}/{field}");
                let stored = (!value.is_blank()).then(|| self.raw_value(value, &place));
                (field.clone(), stored)
            })
            .collect();
        self.backend
            .set_app_credentials(connector, method, &level, changes)
            .await
    }

    /// The app credential fields set at exactly `level`.
    pub async fn app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &AppCredentialLevel,
    ) -> Result<BTreeMap<String, FieldValue>, StoreError> {
        let level = level.key();
        let mut out = BTreeMap::new();
        for RawField { name, value } in self
            .backend
            .app_credentials(connector, method, &level)
            .await?
        {
            let place = format!("app_credentials/{connector}/{method}/{level}/{name}");
            let value = self.field_value(value, &place, || {
                format!("app credential `{name}` of {connector}/{method}")
            })?;
            out.insert(name, value);
        }
        Ok(out)
    }

    // ---- Tenants and their API keys -----------------------------------------

    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str) -> Result<TenantRecord, StoreError> {
        let tenant = RawTenant {
            id: format!("ten_{}", random_suffix()),
            name: name.to_string(),
            settings: None,
            created_at: now(),
        };
        self.backend.insert_tenant(tenant.clone()).await?;
        Ok(tenant_record(tenant))
    }

    /// Replaces the tenant's settings (a JSON object the server reads).
    pub async fn set_tenant_settings(
        &self,
        id: &str,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), StoreError> {
        let text = serde_json::Value::Object(settings.clone()).to_string();
        if self.backend.set_tenant_settings(id, &text).await? {
            Ok(())
        } else {
            Err(StoreError::NoSuchTenant(id.to_string()))
        }
    }

    // ---- Platform events ----------------------------------------------------

    /// Sets the webhook that receives `tenant`'s platform events (`None`:
    /// the default tenant's), replacing any; returns the new key that signs
    /// them, shown this once. Events are queued from now on.
    pub async fn set_tenant_webhook(
        &self,
        tenant: Option<&str>,
        url: &str,
    ) -> Result<SecretString, StoreError> {
        let tenant = tenant.unwrap_or_default();
        let bytes: [u8; 32] = rand::random();
        let key = SecretString::from(format!(
            "whsec_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        let sealed = self.seal(&key, &format!("tenant_webhooks/{tenant}/signing_secret"));
        self.backend
            .set_tenant_webhook(tenant, url, sealed, now())
            .await?;
        Ok(key)
    }

    /// The tenant's webhook, if it has one.
    pub async fn tenant_webhook(
        &self,
        tenant: Option<&str>,
    ) -> Result<Option<TenantWebhookRecord>, StoreError> {
        Ok(self
            .backend
            .tenant_webhook(tenant.unwrap_or_default())
            .await?
            .map(|(url, _, created_at)| TenantWebhookRecord { url, created_at }))
    }

    /// Removes the tenant's webhook: no more events are queued, and those
    /// queued wait; false when it had none.
    pub async fn delete_tenant_webhook(&self, tenant: Option<&str>) -> Result<bool, StoreError> {
        self.backend
            .delete_tenant_webhook(tenant.unwrap_or_default())
            .await
    }

    /// Takes up to `limit` due platform events for `host` to send, each
    /// nobody else's for `claim`.
    pub async fn claim_platform_events(
        &self,
        host: &str,
        claim: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedPlatformEvent>, StoreError> {
        let now = now();
        let mut out = Vec::new();
        for (raw, url, sealed) in self
            .backend
            .claim_tenant_events(host, now, now + claim.as_secs() as i64, limit as i64)
            .await?
        {
            let place = format!("tenant_webhooks/{}/signing_secret", raw.tenant_id);
            let signing_secret = open_secret(&self.cipher, &sealed, &place, || {
                "a tenant webhook's signing key".to_string()
            })?;
            out.push(ClaimedPlatformEvent {
                event: platform_event_record(raw),
                url,
                signing_secret,
            });
        }
        Ok(out)
    }

    /// Records how an attempt at a platform event ended.
    pub async fn settle_platform_event(
        &self,
        id: &str,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let settlement = match outcome.clone() {
            DeliveryOutcome::Delivered => Settlement::Delivered,
            DeliveryOutcome::Retry { at, error } => Settlement::Retry { at, error },
            DeliveryOutcome::Dead { error } => Settlement::Dead { error },
        };
        self.backend
            .settle_tenant_event(id, settlement, now())
            .await
    }

    /// The tenant's platform events, newest first, at most `limit`.
    pub async fn platform_events(
        &self,
        tenant: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PlatformEventRecord>, StoreError> {
        Ok(self
            .backend
            .tenant_events(tenant.unwrap_or_default(), limit as i64)
            .await?
            .into_iter()
            .map(platform_event_record)
            .collect())
    }

    // ---- The usage ledger ---------------------------------------------------

    /// Adds what one run consumed to the ledger of `tenant` (`None`: the
    /// default tenant), on `day` (`YYYY-MM-DD`, UTC), for the connection
    /// and operation (`action:ID`, `trigger:ID`); all units at once.
    pub async fn add_usage(
        &self,
        tenant: Option<&str>,
        day: &str,
        connection_id: &str,
        operation: &str,
        usage: &BTreeMap<String, u64>,
    ) -> Result<(), StoreError> {
        let amounts: Vec<(String, i64)> = usage
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(unit, n)| (unit.clone(), i64::try_from(*n).unwrap_or(i64::MAX)))
            .collect();
        if amounts.is_empty() {
            return Ok(());
        }
        self.backend
            .add_usage(RawUsage {
                tenant_id: tenant.unwrap_or_default().to_string(),
                day: day.to_string(),
                connection_id: connection_id.to_string(),
                operation: operation.to_string(),
                amounts,
            })
            .await
    }

    /// The ledger of `tenant` from day `from` to day `to` (`YYYY-MM-DD`,
    /// both included), by day, connection, operation and unit.
    pub async fn usage(
        &self,
        tenant: Option<&str>,
        from: &str,
        to: &str,
    ) -> Result<Vec<UsageEntry>, StoreError> {
        let rows = self
            .backend
            .usage(tenant.unwrap_or_default(), from, to)
            .await?;
        Ok(rows
            .into_iter()
            .flat_map(|row| {
                let RawUsage {
                    day,
                    connection_id,
                    operation,
                    amounts,
                    ..
                } = row;
                amounts.into_iter().map(move |(unit, amount)| UsageEntry {
                    day: day.clone(),
                    connection_id: connection_id.clone(),
                    operation: operation.clone(),
                    unit,
                    amount: amount.max(0) as u64,
                })
            })
            .collect())
    }

    // ---- Connect sessions and identities ------------------------------------

    /// A new connect session of `tenant_id` for `purpose`, open for
    /// `lifetime`; its token (what the link carries) is returned this once
    /// and kept only as a hash.
    pub async fn create_connect_session(
        &self,
        tenant_id: &str,
        purpose: &str,
        details: &serde_json::Map<String, serde_json::Value>,
        lifetime: Duration,
    ) -> Result<(ConnectSessionRecord, SecretString), StoreError> {
        let bytes: [u8; 32] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = now();
        let raw = RawConnectSession {
            id: format!("cs_{}", random_suffix()),
            tenant_id: tenant_id.to_string(),
            purpose: purpose.to_string(),
            details: serde_json::Value::Object(details.clone()).to_string(),
            expires_at: now + lifetime.as_secs() as i64,
            used_at: None,
            connection_id: None,
            created_at: now,
        };
        self.backend
            .insert_connect_session(raw.clone(), &hash(&token))
            .await?;
        Ok((connect_session_record(raw), SecretString::from(token)))
    }

    /// The session a link's token names, used or not, expired or not (so
    /// its page can say which); `None` when there is none.
    pub async fn connect_session(
        &self,
        token: &str,
    ) -> Result<Option<ConnectSessionRecord>, StoreError> {
        Ok(self
            .backend
            .connect_session(&hash(token))
            .await?
            .map(connect_session_record))
    }

    /// The session that made connection `connection_id`, if one did.
    pub async fn connect_session_of(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectSessionRecord>, StoreError> {
        Ok(self
            .backend
            .connect_session_of(connection_id)
            .await?
            .map(connect_session_record))
    }

    /// Uses the session once, for the connection it made (if any): true
    /// for the one caller, on any host, that used it while it was open.
    pub async fn use_connect_session(
        &self,
        token: &str,
        connection_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.backend
            .use_connect_session(&hash(token), connection_id, now())
            .await
    }

    /// Keeps a signed-in user's identity (JSON text, sealed) for the
    /// tenant's backend to take once within `lifetime`; returns the code
    /// that takes it, of which the store keeps only the hash.
    pub async fn create_identity_code(
        &self,
        tenant_id: &str,
        identity: &SecretString,
        lifetime: Duration,
    ) -> Result<SecretString, StoreError> {
        let bytes: [u8; 32] = rand::random();
        let code: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let code_hash = hash(&code);
        let sealed = self.seal(identity, &format!("identity_codes/{code_hash}/identity"));
        let now = now();
        self.backend
            .insert_identity_code(
                &code_hash,
                tenant_id,
                sealed,
                now + lifetime.as_secs() as i64,
                now,
            )
            .await?;
        Ok(SecretString::from(code))
    }

    /// Takes the identity `code` names for `tenant_id`: once, by one host;
    /// `None` when there is none, it was taken, it expired, or it is
    /// another tenant's.
    pub async fn take_identity_code(
        &self,
        tenant_id: &str,
        code: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let code_hash = hash(code);
        let Some((sealed, expires_at)) = self
            .backend
            .take_identity_code(&code_hash, tenant_id)
            .await?
        else {
            return Ok(None);
        };
        if expires_at <= now() {
            return Ok(None);
        }
        open_secret(
            &self.cipher,
            &sealed,
            &format!("identity_codes/{code_hash}/identity"),
            || "a signed-in identity".to_string(),
        )
        .map(Some)
    }

    /// The tenant `id`.
    pub async fn tenant(&self, id: &str) -> Result<TenantRecord, StoreError> {
        self.backend
            .tenant(id)
            .await?
            .map(tenant_record)
            .ok_or_else(|| StoreError::NoSuchTenant(id.to_string()))
    }

    /// Every tenant, oldest first.
    pub async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        Ok(self
            .backend
            .tenants()
            .await?
            .into_iter()
            .map(tenant_record)
            .collect())
    }

    /// A new API key of `tenant_id` with `scopes`; its text is returned
    /// this once and kept only as a hash. A key is 32 random bytes, so a
    /// plain SHA-256 of it cannot be searched back.
    pub async fn create_api_key(
        &self,
        tenant_id: &str,
        scopes: &[String],
    ) -> Result<(ApiKeyRecord, SecretString), StoreError> {
        self.tenant(tenant_id).await?;
        let id = random_suffix()[..12].to_string();
        let bytes: [u8; 32] = rand::random();
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let text = format!("hhk_{id}_{secret}");
        let raw = RawApiKey {
            id,
            tenant_id: tenant_id.to_string(),
            scopes: scopes.join(" "),
            created_at: now(),
            expires_at: None,
            revoked_at: None,
        };
        self.backend
            .insert_api_key(raw.clone(), &hash(&text))
            .await?;
        Ok((api_key_record(raw), SecretString::from(text)))
    }

    /// The tenant's keys, live or not, oldest first.
    pub async fn api_keys(&self, tenant_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.tenant(tenant_id).await?;
        Ok(self
            .backend
            .api_keys(tenant_id)
            .await?
            .into_iter()
            .map(api_key_record)
            .collect())
    }

    /// The live key whose text this is, if any.
    pub async fn authenticate_api_key(
        &self,
        text: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let now = now();
        Ok(self
            .backend
            .api_key_by_hash(&hash(text))
            .await?
            .map(api_key_record)
            .filter(|k| k.is_live(now)))
    }

    /// Revokes a tenant's key at once.
    pub async fn revoke_api_key(&self, tenant_id: &str, key_id: &str) -> Result<(), StoreError> {
        if self
            .backend
            .end_api_key(tenant_id, key_id, Some(now()), None)
            .await?
        {
            Ok(())
        } else {
            Err(StoreError::NoSuchApiKey(key_id.to_string()))
        }
    }

    /// Replaces a tenant's key with a new one of the same scopes; the old
    /// one keeps working for `overlap`, so clients can move over, then
    /// stops. Returns the new key, shown this once.
    pub async fn rotate_api_key(
        &self,
        tenant_id: &str,
        key_id: &str,
        overlap: Duration,
    ) -> Result<(ApiKeyRecord, SecretString), StoreError> {
        let old = self
            .api_keys(tenant_id)
            .await?
            .into_iter()
            .find(|k| k.id == key_id && k.is_live(now()))
            .ok_or_else(|| StoreError::NoSuchApiKey(key_id.to_string()))?;
        let created = self.create_api_key(tenant_id, &old.scopes).await?;
        self.backend
            .end_api_key(
                tenant_id,
                key_id,
                None,
                Some(now() + overlap.as_secs() as i64),
            )
            .await?;
        Ok(created)
    }

    // ---- Connections -----------------------------------------------------

    /// Stores a new connection, `pending` until its sign-in completes.
    pub async fn create_connection(
        &self,
        new: &NewConnection,
    ) -> Result<ConnectionRecord, StoreError> {
        let id = format!("conn_{}", random_suffix());
        let now = now();
        let fields = new
            .fields
            .iter()
            .map(|(name, value)| RawField {
                name: name.clone(),
                value: self.raw_value(value, &format!("connection_fields/{id}/{name}")),
            })
            .collect();
        self.backend
            .insert_connection(RawConnection {
                id: id.clone(),
                connector: new.connector.clone(),
                method: new.method.clone(),
                auth_kind: new.auth_kind.clone(),
                name: new.name.clone(),
                brand: new.brand.clone(),
                status: ConnectionStatus::Pending.as_str().to_string(),
                status_reason: None,
                account_id: None,
                account_name: None,
                account_facts: None,
                granted_scopes: None,
                callback_url: None,
                tenant_id: new.tenant_id.clone(),
                end_user_id: new.end_user.as_ref().map(|u| u.id.clone()),
                end_user: new.end_user.as_ref().map(end_user_json),
                quiet: i64::from(new.quiet),
                created_at: now,
                updated_at: now,
                fields,
            })
            .await?;
        self.connection(&id).await
    }

    /// The connection `id`, with its fields decrypted.
    pub async fn connection(&self, id: &str) -> Result<ConnectionRecord, StoreError> {
        let raw = self
            .backend
            .connection(id)
            .await?
            .ok_or_else(|| StoreError::NoSuchConnection(id.to_string()))?;
        let mut fields = BTreeMap::new();
        for RawField { name, value } in raw.fields {
            let place = format!("connection_fields/{id}/{name}");
            let value = self.field_value(value, &place, || {
                format!("field `{name}` of connection {id}")
            })?;
            fields.insert(name, value);
        }
        Ok(ConnectionRecord {
            id: raw.id,
            connector: raw.connector,
            method: raw.method,
            auth_kind: raw.auth_kind,
            name: raw.name,
            brand: raw.brand,
            status: ConnectionStatus::parse(&raw.status)
                .unwrap_or(ConnectionStatus::NeedsReconnect),
            status_reason: raw.status_reason,
            account_id: raw.account_id,
            account_name: raw.account_name,
            // Facts are a convenience: unreadable ones are simply absent.
            account_facts: raw
                .account_facts
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
            granted_scopes: raw
                .granted_scopes
                .map(|s| s.split_whitespace().map(str::to_string).collect()),
            callback_url: raw.callback_url,
            fields,
            tenant_id: raw.tenant_id,
            end_user: raw.end_user.as_deref().and_then(end_user_of),
            created_at: raw.created_at,
            updated_at: raw.updated_at,
        })
    }

    /// The tools an MCP client of connection `id` may see and call (`read-only`,
    /// or tool names separated by commas), when its tenant limited them.
    pub async fn mcp_tools(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.backend.mcp_tools(id).await
    }

    /// Limits (or, with `None`, stops limiting) the tools of connection `id`
    /// to `tools`, which the caller has checked.
    pub async fn set_mcp_tools(&self, id: &str, tools: Option<&str>) -> Result<(), StoreError> {
        if self.backend.set_mcp_tools(id, tools, now()).await? {
            Ok(())
        } else {
            Err(StoreError::NoSuchConnection(id.to_string()))
        }
    }

    // ---- The MCP server's authorization ----------------------------------

    /// Keeps a grant of connection `connection_id` to be used once within
    /// `lifetime` (an authorization code, a refresh token), `claims` saying
    /// what it gives; returns its text, of which the store keeps only the
    /// hash. The grant goes with its connection.
    pub async fn create_oauth_grant(
        &self,
        kind: &str,
        connection_id: &str,
        claims: &str,
        lifetime: Duration,
    ) -> Result<SecretString, StoreError> {
        let bytes: [u8; 32] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = now();
        let inserted = self
            .backend
            .insert_oauth_grant(RawOAuthGrant {
                token_hash: hash(&token),
                kind: kind.to_string(),
                connection_id: connection_id.to_string(),
                claims: claims.to_string(),
                expires_at: now + lifetime.as_secs() as i64,
                created_at: now,
            })
            .await?;
        if inserted {
            Ok(SecretString::from(token))
        } else {
            Err(StoreError::NoSuchConnection(connection_id.to_string()))
        }
    }

    /// Takes the grant of `kind` that `token` names: once, by one host;
    /// `None` when there is none, it was taken, or it expired.
    pub async fn take_oauth_grant(
        &self,
        kind: &str,
        token: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .backend
            .take_oauth_grant(&hash(token), kind)
            .await?
            .filter(|(_, expires_at)| *expires_at > now())
            .map(|(claims, _)| claims))
    }

    /// Seals `text` into a bearer string (base64url) that only this store's
    /// keys open, for what the host hands out and reads back without
    /// keeping a row: MCP access tokens, registered clients' ids. What is
    /// sealed for one `purpose` does not open for another.
    pub fn seal_bearer(&self, purpose: &str, text: &str) -> String {
        use base64::Engine;
        let sealed = self
            .cipher
            .seal(text.as_bytes(), &format!("bearer/{purpose}"));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    }

    /// What [`Store::seal_bearer`] sealed for `purpose`; `None` for
    /// anything else (altered, another purpose, a retired key).
    pub fn open_bearer(&self, purpose: &str, bearer: &str) -> Option<String> {
        use base64::Engine;
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(bearer)
            .ok()?;
        let text = self
            .cipher
            .open(&sealed, &format!("bearer/{purpose}"))
            .ok()?;
        String::from_utf8(text).ok()
    }

    /// The connection's status and why, read without its fields: what
    /// every action checks first.
    pub async fn status(&self, id: &str) -> Result<(ConnectionStatus, Option<String>), StoreError> {
        let (status, reason) = self
            .backend
            .status(id)
            .await?
            .ok_or_else(|| StoreError::NoSuchConnection(id.to_string()))?;
        Ok((
            ConnectionStatus::parse(&status).unwrap_or(ConnectionStatus::NeedsReconnect),
            reason,
        ))
    }

    async fn update(&self, id: &str, update: ConnectionUpdate) -> Result<(), StoreError> {
        if self.backend.update_connection(id, update, now()).await? {
            Ok(())
        } else {
            Err(StoreError::NoSuchConnection(id.to_string()))
        }
    }

    /// Records where the connection's sign-in redirect is expected, so a
    /// failed sign-in can name the callback URL to register.
    pub async fn set_callback_url(&self, id: &str, url: &str) -> Result<(), StoreError> {
        self.update(id, ConnectionUpdate::CallbackUrl(url.to_string()))
            .await
    }

    /// Every connection's id, oldest first.
    pub async fn connection_ids(&self) -> Result<Vec<String>, StoreError> {
        self.backend.connection_ids().await
    }

    /// The ids of one tenant's connections (`None`: the default tenant's),
    /// oldest first, found by the tenant's index.
    pub async fn tenant_connection_ids(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        self.backend.tenant_connection_ids(tenant).await
    }

    /// The ids of a tenant's connections made for one of its end users,
    /// oldest first.
    pub async fn end_user_connection_ids(
        &self,
        tenant_id: &str,
        end_user_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.backend
            .end_user_connection_ids(tenant_id, end_user_id)
            .await
    }

    /// Records the connected account, what the host learnt of it, and the
    /// scopes granted.
    pub async fn set_account(
        &self,
        id: &str,
        account_id: Option<&str>,
        account_name: Option<&str>,
        account_facts: &BTreeMap<String, String>,
        granted_scopes: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let account_facts = (!account_facts.is_empty())
            .then(|| serde_json::to_string(account_facts).unwrap_or_default());
        self.update(
            id,
            ConnectionUpdate::Account {
                account_id: account_id.map(str::to_string),
                account_name: account_name.map(str::to_string),
                account_facts,
                granted_scopes: granted_scopes.map(|s| s.join(" ")),
            },
        )
        .await
    }

    /// Sets the status, with a reason a user can read (never a secret).
    pub async fn set_status(
        &self,
        id: &str,
        status: ConnectionStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.update(
            id,
            ConnectionUpdate::Status {
                status: status.as_str(),
                reason: reason.map(str::to_string),
                cause: None,
                quiet: false,
            },
        )
        .await
    }

    /// Sets the status without the platform event the change would make:
    /// for a sign-in in progress, which announces how it ended itself.
    pub async fn set_status_unannounced(
        &self,
        id: &str,
        status: ConnectionStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.update(
            id,
            ConnectionUpdate::Status {
                status: status.as_str(),
                reason: reason.map(str::to_string),
                cause: None,
                quiet: true,
            },
        )
        .await
    }

    /// Queues platform event `kind` (such as `connection.created`) of the
    /// connection, as it is now, for its tenant's webhook, if it has one.
    pub async fn announce(&self, id: &str, kind: &str) -> Result<(), StoreError> {
        if self.backend.announce(id, kind, now()).await? {
            Ok(())
        } else {
            Err(StoreError::NoSuchConnection(id.to_string()))
        }
    }

    /// Marks a connection that worked as needing a reconnect, and why: its
    /// tenant's platform event (`connection.needs_reconnect`) carries the
    /// cause, once, whichever host noticed first.
    pub async fn needs_reconnect(
        &self,
        id: &str,
        reason: &str,
        cause: ReconnectCause,
    ) -> Result<(), StoreError> {
        self.update(
            id,
            ConnectionUpdate::Status {
                status: ConnectionStatus::NeedsReconnect.as_str(),
                reason: Some(reason.to_string()),
                cause: Some(cause.as_str()),
                quiet: false,
            },
        )
        .await
    }

    /// Deletes a connection and everything kept for it: fields, tokens,
    /// pending sign-ins, subscriptions and their seen events.
    pub async fn delete_connection(&self, id: &str) -> Result<(), StoreError> {
        if self.backend.delete_connection(id, now()).await? {
            Ok(())
        } else {
            Err(StoreError::NoSuchConnection(id.to_string()))
        }
    }

    // ---- Tokens ------------------------------------------------------------

    /// The connection's tokens and their version, if it has any.
    pub async fn tokens(&self, id: &str) -> Result<Option<(Tokens, u64)>, StoreError> {
        self.backend
            .tokens(id)
            .await?
            .map(|raw| open_tokens(&self.cipher, id, raw))
            .transpose()
    }

    /// Stores `tokens` for the connection if its tokens are still at
    /// `expected_version` (`None`: it has none yet), and returns the new
    /// version. The write is durable when this returns.
    pub async fn save_tokens(
        &self,
        id: &str,
        tokens: &Tokens,
        expected_version: Option<u64>,
    ) -> Result<u64, StoreError> {
        let raw = seal_tokens(&self.cipher, id, tokens);
        self.backend
            .save_tokens(id, raw, expected_version.map(|v| v as i64), now())
            .await
            .map(|v| v as u64)
    }

    /// Forgets the connection's tokens.
    pub async fn clear_tokens(&self, id: &str) -> Result<(), StoreError> {
        self.backend.clear_tokens(id).await
    }

    /// Waits for the right to renew connection `id`'s credentials, which
    /// one holder at a time has, across every process and machine sharing
    /// the store. Read the tokens again under it: another holder may have
    /// renewed them meanwhile.
    pub async fn refresh_lease(
        &self,
        id: &str,
        terms: LeaseTerms,
    ) -> Result<RefreshLease, StoreError> {
        Ok(RefreshLease {
            inner: self.backend.refresh_lease(id, terms).await?,
            cipher: self.cipher.clone(),
            id: id.to_string(),
        })
    }

    // ---- Sign-ins in flight ---------------------------------------------

    /// Keeps a started sign-in until its redirect comes back to any host,
    /// and sweeps away expired ones.
    pub async fn begin_sign_in(&self, sign_in: &PendingSignIn) -> Result<(), StoreError> {
        let key_hash = hash(sign_in.key.expose_secret());
        let payload = self.seal(&sign_in.payload, &format!("sign_ins/{key_hash}/payload"));
        self.backend
            .put_sign_in(
                RawSignIn {
                    key_hash,
                    connection_id: sign_in.connection_id.clone(),
                    flow: sign_in.flow.clone(),
                    payload,
                    expires_at: sign_in.expires_at,
                },
                now(),
            )
            .await
    }

    /// Takes the sign-in `key` names: each can be taken once, by one host.
    /// `None` when there is none, or it expired.
    pub async fn take_sign_in(&self, key: &str) -> Result<Option<PendingSignIn>, StoreError> {
        let key_hash = hash(key);
        let Some(raw) = self.backend.take_sign_in(&key_hash).await? else {
            return Ok(None);
        };
        if raw.expires_at <= now() {
            return Ok(None);
        }
        let payload = open_secret(
            &self.cipher,
            &raw.payload,
            &format!("sign_ins/{key_hash}/payload"),
            || format!("a pending sign-in of connection {}", raw.connection_id),
        )?;
        Ok(Some(PendingSignIn {
            key: SecretString::from(key.to_string()),
            connection_id: raw.connection_id,
            flow: raw.flow,
            payload,
            expires_at: raw.expires_at,
        }))
    }

    // ---- Page sessions -------------------------------------------------------

    /// Opens a session for `lifetime`; returns its token, of which the store
    /// keeps only the hash.
    pub async fn open_session(&self, lifetime: Duration) -> Result<String, StoreError> {
        let bytes: [u8; 32] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = now();
        self.backend
            .put_session(&hash(&token), now + lifetime.as_secs() as i64, now)
            .await?;
        Ok(token)
    }

    /// Whether `token` names a session that has not expired.
    pub async fn session_is_open(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self
            .backend
            .session_expires_at(&hash(token))
            .await?
            .is_some_and(|at| at > now()))
    }

    /// Ends a session.
    pub async fn close_session(&self, token: &str) -> Result<(), StoreError> {
        self.backend.delete_session(&hash(token)).await
    }

    /// Removes expired sign-ins and sessions; returns how many.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        self.backend.sweep(now()).await
    }

    // ---- Triggers ------------------------------------------------------------

    /// Subscribes a workflow to a trigger of a connection. The cursor starts
    /// empty; the first poll decides where "now" is.
    pub async fn create_subscription(
        &self,
        new: &NewSubscription,
    ) -> Result<SubscriptionRecord, StoreError> {
        let now = now();
        let (destination, target_url) = new.destination.columns();
        let id = format!("sub_{}", random_suffix());
        let secret = new
            .signing_secret
            .as_ref()
            .map(|s| self.seal(s, &format!("trigger_subscriptions/{id}/signing_secret")));
        let raw = RawSubscription {
            id,
            connection_id: new.connection_id.clone(),
            trigger: new.trigger.clone(),
            configuration: new.configuration.clone(),
            delivery: new.delivery.as_str().to_string(),
            cursor: None,
            cursor_version: 0,
            destination: destination.to_string(),
            target_url,
            interval_secs: new.interval_secs as i64,
            next_poll_at: now,
            created_at: now,
            updated_at: now,
        };
        self.backend
            .insert_subscription(raw.clone(), secret)
            .await?;
        Ok(subscription_record(raw))
    }

    /// The key that signs a subscription's deliveries, if it has one.
    pub async fn signing_secret(&self, id: &str) -> Result<Option<SecretString>, StoreError> {
        self.backend
            .signing_secret(id)
            .await?
            .map(|sealed| {
                open_secret(
                    &self.cipher,
                    &sealed,
                    &format!("trigger_subscriptions/{id}/signing_secret"),
                    || format!("the signing key of subscription {id}"),
                )
            })
            .transpose()
    }

    /// Takes the poll of one subscription a server runs whose time has come
    /// and that no live host is polling: `host` holds it for `lease`, by
    /// when it must finish or release it (a host that dies frees it then).
    pub async fn claim_poll(
        &self,
        host: &str,
        lease: Duration,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        let now = now();
        Ok(self
            .backend
            .claim_poll(host, now, now + lease.as_secs() as i64)
            .await?
            .map(subscription_record))
    }

    /// Ends `host`'s poll in one step: `events` (id and JSON text, oldest
    /// first) join the subscription's outbox, each once; the cursor moves if
    /// it is still at `expected`; the next poll is at `next_poll_at`.
    /// Returns how many events were new. Refused as a conflict when the
    /// lease was lost or the cursor moved: nothing is written then. `trace`
    /// is the poll's trace context, kept with its events for their delivery.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_poll(
        &self,
        id: &str,
        host: &str,
        events: &[(String, String)],
        trace: Option<&str>,
        cursor: &str,
        expected: u64,
        next_poll_at: i64,
    ) -> Result<u64, StoreError> {
        self.backend
            .finish_poll(
                id,
                host,
                events.to_vec(),
                trace.map(str::to_owned),
                cursor.to_string(),
                expected as i64,
                next_poll_at,
                now(),
            )
            .await
    }

    /// Releases `host`'s poll without moving the cursor (the poll failed);
    /// the next is at `next_poll_at`.
    pub async fn release_poll(
        &self,
        id: &str,
        host: &str,
        next_poll_at: i64,
    ) -> Result<(), StoreError> {
        self.backend.release_poll(id, host, next_poll_at).await
    }

    /// Takes up to `limit` deliveries to URLs that are due and that no live
    /// host is sending; `host` holds them for `claim`, oldest first. A
    /// delivery is taken only when no earlier event of its subscription is
    /// out with another host or waiting for a retry, so each subscription's
    /// events reach its URL in order, whichever hosts send them.
    pub async fn claim_deliveries(
        &self,
        host: &str,
        claim: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let now = now();
        Ok(self
            .backend
            .claim_deliveries(host, now, now + claim.as_secs() as i64, limit as i64)
            .await?
            .into_iter()
            .map(|(raw, target_url)| ClaimedDelivery {
                delivery: delivery_record(raw),
                target_url,
            })
            .collect())
    }

    /// Holds back every polled subscription of a connection to the same
    /// trigger until `until` (Unix seconds): they read the same endpoint,
    /// whose rate limit the API counts per connection, so when one finds
    /// it spent, none of them polls before it resets. Returns how many
    /// were held back.
    pub async fn defer_polls(
        &self,
        connection_id: &str,
        trigger: &str,
        until: i64,
    ) -> Result<u64, StoreError> {
        self.backend
            .defer_polls(connection_id, trigger, until)
            .await
    }

    /// Queues the events the API pushed for a subscription, each once
    /// whoever queues it and however often the API sends it; returns how
    /// many were new. `trace` is the trace context of the request that
    /// brought them, kept for their delivery.
    pub async fn queue_events(
        &self,
        subscription_id: &str,
        events: &[(String, String)],
        trace: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.backend
            .queue_events(
                subscription_id,
                events.to_vec(),
                trace.map(str::to_owned),
                now(),
            )
            .await
    }

    /// Marks a subscription as pushed by the API under `push_id` (no host
    /// polls it then), or as polled again with `None`.
    pub async fn set_push(
        &self,
        subscription_id: &str,
        push_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.backend
            .set_push(subscription_id, push_id.map(str::to_owned), now())
            .await
    }

    /// The API's id of a pushed subscription, to end it.
    pub async fn push_id(&self, subscription_id: &str) -> Result<Option<String>, StoreError> {
        self.backend.push_id(subscription_id).await
    }

    /// Every subscription the API pushes, whichever connection it is of.
    pub async fn push_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        Ok(self
            .backend
            .push_subscriptions()
            .await?
            .into_iter()
            .map(subscription_record)
            .collect())
    }

    /// The webhook registered for an app-level connection, if any.
    pub async fn webhook(&self, connection_id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        Ok(self
            .backend
            .webhook(connection_id)
            .await?
            .map(|w| WebhookRecord {
                connection_id: w.connection_id,
                url: w.url,
                remote_id: w.remote_id,
                registered_at: w.registered_at,
                last_event_at: w.last_event_at,
            }))
    }

    /// Takes, for `host` and for `lease`, the registration of `url` as the
    /// connection's webhook: false when it is registered there already or
    /// another live host is registering it, so that hosts sharing the store
    /// register it once.
    pub async fn claim_webhook(
        &self,
        connection_id: &str,
        url: &str,
        host: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = now();
        self.backend
            .claim_webhook(connection_id, url, host, now, now + lease.as_secs() as i64)
            .await
    }

    /// Records the API's id of the webhook just registered.
    pub async fn save_webhook(
        &self,
        connection_id: &str,
        remote_id: &str,
    ) -> Result<(), StoreError> {
        self.backend
            .save_webhook(connection_id, remote_id, now())
            .await
    }

    /// Records that the API pushed a delivery now: a later replay starts
    /// from here.
    pub async fn touch_webhook(&self, connection_id: &str) -> Result<(), StoreError> {
        self.backend.touch_webhook(connection_id, now()).await
    }

    /// Counts a request under `key` in the current fixed window of
    /// `window` (at most a day), for every host sharing the store. Returns
    /// the count, this request included, and the seconds until the window
    /// ends, for a `Retry-After`.
    pub async fn count_request(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<RequestCount, StoreError> {
        let length = (window.as_secs() as i64).clamp(1, crate::records::LONGEST_COUNT_WINDOW_SECS);
        let now = now();
        let window_start = now - now.rem_euclid(length);
        let count = self.backend.count_request(key, window_start).await?;
        Ok(RequestCount {
            count,
            resets_in_secs: (window_start + length - now).max(1) as u64,
        })
    }

    /// Gives back the deliveries of a subscription that `host` took but did
    /// not send because an earlier one failed; they go after its retry.
    pub async fn release_deliveries(
        &self,
        host: &str,
        subscription_id: &str,
    ) -> Result<(), StoreError> {
        self.backend.release_deliveries(host, subscription_id).await
    }

    /// Gives back every poll lease and unsettled claim of `host` (one
    /// that is stopping), so other hosts take them at once rather than
    /// when they expire. Returns how many.
    pub async fn release_host(&self, host: &str) -> Result<u64, StoreError> {
        self.backend.release_host(host).await
    }

    /// Removes events kept longer than `retention`: delivered ones, those
    /// kept to be fetched, and settled platform events. Dead letters stay
    /// until sent again, and each subscription keeps its newest event (its
    /// sequence goes on from it). Returns how many went.
    pub async fn prune_events(&self, retention: Duration) -> Result<u64, StoreError> {
        self.backend
            .prune_events(now() - retention.as_secs() as i64)
            .await
    }

    /// The smallest sequence the subscription still keeps: events before
    /// it were removed after the retention window.
    /// When the oldest event waiting to be sent to an endpoint was queued
    /// (Unix seconds), in the whole store; `None` when none waits. Events
    /// kept to be fetched do not count.
    pub async fn oldest_pending_delivery(&self) -> Result<Option<i64>, StoreError> {
        self.backend.oldest_pending_delivery().await
    }

    pub async fn oldest_sequence(&self, subscription_id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .backend
            .oldest_sequence(subscription_id)
            .await?
            .map(|s| s.max(0) as u64))
    }

    /// Records how an attempt at a delivery ended.
    pub async fn settle_delivery(
        &self,
        subscription_id: &str,
        event_id: &str,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let settlement = match outcome.clone() {
            DeliveryOutcome::Delivered => Settlement::Delivered,
            DeliveryOutcome::Retry { at, error } => Settlement::Retry { at, error },
            DeliveryOutcome::Dead { error } => Settlement::Dead { error },
        };
        self.backend
            .settle_delivery(subscription_id, event_id, settlement, now())
            .await
    }

    /// A subscription's events after `after` (by sequence), of one status
    /// or any, oldest first, at most `limit`.
    pub async fn deliveries(
        &self,
        subscription_id: &str,
        after: u64,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        Ok(self
            .backend
            .deliveries(
                subscription_id,
                after.min(i64::MAX as u64) as i64,
                status.map(DeliveryStatus::as_str),
                limit as i64,
            )
            .await?
            .into_iter()
            .map(delivery_record)
            .collect())
    }

    /// Sends a subscription's dead letters again; returns how many.
    pub async fn requeue_dead(&self, subscription_id: &str) -> Result<u64, StoreError> {
        self.backend.requeue_dead(subscription_id, now()).await
    }

    pub async fn subscription(&self, id: &str) -> Result<SubscriptionRecord, StoreError> {
        self.backend
            .subscription(id)
            .await?
            .map(subscription_record)
            .ok_or_else(|| StoreError::NoSuchSubscription(id.to_string()))
    }

    /// The subscriptions of one connection, or of all; oldest first.
    pub async fn subscriptions(
        &self,
        connection_id: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        Ok(self
            .backend
            .subscriptions(connection_id)
            .await?
            .into_iter()
            .map(subscription_record)
            .collect())
    }

    /// Moves a subscription's cursor, if nobody moved it since version
    /// `expected` was read; returns the new version.
    pub async fn move_cursor(
        &self,
        id: &str,
        cursor: Option<&str>,
        expected: u64,
    ) -> Result<u64, StoreError> {
        self.backend
            .move_cursor(id, cursor.map(str::to_string), expected as i64, now())
            .await
            .map(|v| v as u64)
    }

    pub async fn delete_subscription(&self, id: &str) -> Result<(), StoreError> {
        if self.backend.delete_subscription(id).await? {
            Ok(())
        } else {
            Err(StoreError::NoSuchSubscription(id.to_string()))
        }
    }

    /// Records that the subscription saw events `keys`; returns the keys it
    /// had not seen before, in the order given, each once. Two hosts
    /// recording the same key at once: exactly one gets it back.
    pub async fn record_events(
        &self,
        id: &str,
        keys: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut unique = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(key) {
                unique.push(key.clone());
            }
        }
        self.backend.record_events(id, unique, now()).await
    }

    /// Of `keys`, those the subscription has not recorded as seen, in the
    /// order given, each once. Reads only: a host hands the events on, then
    /// records them, so a crash in between repeats them (at least once)
    /// rather than losing them.
    pub async fn unseen_events(
        &self,
        id: &str,
        keys: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut unique = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(key) {
                unique.push(key.clone());
            }
        }
        self.backend.unseen_events(id, unique).await
    }

    /// Forgets the event keys the subscription saw more than `age` ago, so
    /// the list does not grow forever; returns how many.
    pub async fn forget_events_older_than(
        &self,
        id: &str,
        age: Duration,
    ) -> Result<u64, StoreError> {
        self.backend
            .forget_events(id, now() - age.as_secs() as i64)
            .await
    }
}

/// The right to renew one connection's credentials, held until committed or
/// dropped. Everything a refresh writes goes through it, so that a store
/// whose lease is a write lock (SQLite) never waits on itself.
pub struct RefreshLease {
    inner: Box<dyn LeaseBackend>,
    cipher: Arc<Cipher>,
    id: String,
}

impl std::fmt::Debug for RefreshLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshLease")
            .field("connection", &self.id)
            .finish_non_exhaustive()
    }
}

impl RefreshLease {
    /// The connection's tokens as they are now, under the lease.
    pub async fn tokens(&mut self) -> Result<Option<(Tokens, u64)>, StoreError> {
        let id = self.id.clone();
        self.inner
            .tokens(&id)
            .await?
            .map(|raw| open_tokens(&self.cipher, &id, raw))
            .transpose()
    }

    /// Writes renewed tokens; durable once [`RefreshLease::commit`] returns.
    pub async fn save_tokens(&mut self, tokens: &Tokens) -> Result<u64, StoreError> {
        let raw = seal_tokens(&self.cipher, &self.id, tokens);
        let id = self.id.clone();
        self.inner
            .save_tokens(&id, raw, now())
            .await
            .map(|v| v as u64)
    }

    /// Sets the connection's status, with a reason a user can read.
    pub async fn set_status(
        &mut self,
        status: ConnectionStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let id = self.id.clone();
        self.inner
            .set_status(
                &id,
                status.as_str(),
                reason.map(str::to_string),
                None,
                now(),
            )
            .await
    }

    /// Marks the connection as needing a reconnect, and why (see
    /// [`Store::needs_reconnect`]).
    pub async fn needs_reconnect(
        &mut self,
        reason: &str,
        cause: ReconnectCause,
    ) -> Result<(), StoreError> {
        let id = self.id.clone();
        self.inner
            .set_status(
                &id,
                ConnectionStatus::NeedsReconnect.as_str(),
                Some(reason.to_string()),
                Some(cause.as_str()),
                now(),
            )
            .await
    }

    /// Makes the writes durable and lets the next holder in.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.inner.commit().await
    }
}
