//! Where rows live. A backend stores and finds rows whose secrets are
//! already sealed; it never sees a key or a plaintext secret, so the two
//! backends cannot differ in how secrets are kept.

pub(crate) mod postgres;
mod postgres_tls;
pub(crate) mod sqlite;

use crate::error::StoreError;
use crate::records::LeaseTerms;
use crate::schema::SealedColumn;

pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// Whether a stored key-check value opens with the store's key.
pub(crate) type OpensWithKey = dyn Fn(&[u8]) -> bool + Send + Sync;

/// How the store layer checks and makes the key-check value, which only it
/// can seal and open.
pub(crate) struct KeyCheck {
    /// A freshly sealed key check, for a new store.
    pub new_value: Vec<u8>,
    pub opens: Box<OpensWithKey>,
}

/// A field's value as stored: plain text, or a sealed secret.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawValue {
    pub plain: Option<String>,
    pub secret: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawField {
    pub name: String,
    pub value: RawValue,
}

#[derive(Debug, Clone)]
pub(crate) struct RawConnection {
    pub id: String,
    pub connector: String,
    pub method: String,
    pub auth_kind: String,
    pub name: String,
    pub brand: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    /// A JSON object of strings.
    pub account_facts: Option<String>,
    /// Space separated.
    pub granted_scopes: Option<String>,
    pub callback_url: Option<String>,
    /// `None`: the default tenant's.
    pub tenant_id: Option<String>,
    /// The end user's id, indexed; the whole end user is `end_user`.
    pub end_user_id: Option<String>,
    /// A JSON object: `id`, `organization`, `tags`.
    pub end_user: Option<String>,
    /// 1: makes no platform event.
    pub quiet: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub fields: Vec<RawField>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawTenant {
    pub id: String,
    pub name: String,
    /// A JSON object, when set.
    pub settings: Option<String>,
    pub created_at: i64,
}

/// A platform event, as the outbox keeps it.
#[derive(Debug, Clone)]
pub(crate) struct RawTenantEvent {
    pub id: String,
    /// The order events were queued in (0 until the store numbers it).
    pub seq: i64,
    /// '' for the default tenant.
    pub tenant_id: String,
    pub kind: String,
    /// The JSON the tenant's webhook receives.
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub settled_at: Option<i64>,
}

/// What a platform event says of its connection, read in the step that
/// changes it.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSnapshot {
    pub tenant_id: Option<String>,
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    /// JSON: `id`, `organization`, `tags`.
    pub end_user: Option<String>,
    /// 1: the connection makes no platform event.
    pub quiet: i64,
}

/// The columns a [`ConnectionSnapshot`] is read from, in its order.
pub(crate) const SNAPSHOT_COLUMNS: &str =
    "tenant_id, name, status, status_reason, account_id, account_name, end_user, quiet";

/// The platform event a change of a connection's status makes, if any: a
/// first connect is `created`; a connection that worked and stops is
/// `needs_reconnect` or `revoked`; one that never worked (a failed first
/// sign-in) makes none.
pub(crate) fn transition_event(old: &str, new: &str) -> Option<&'static str> {
    match (old, new) {
        (old, new) if old == new => None,
        ("pending", "connected") => Some("connection.created"),
        (_, "connected") => Some("connection.reconnected"),
        ("pending", _) => None,
        (_, "needs_reconnect") => Some("connection.needs_reconnect"),
        (_, "revoked") => Some("connection.revoked"),
        _ => None,
    }
}

/// A platform event of connection `id` as its tenant's webhook receives
/// it: `{"id", "type", "created_at", "data": {"connection": {…}, …extra}}`.
pub(crate) fn platform_event(
    kind: &str,
    id: &str,
    snapshot: &ConnectionSnapshot,
    extra: serde_json::Map<String, serde_json::Value>,
    now: i64,
) -> RawTenantEvent {
    let end_user: serde_json::Value = snapshot
        .end_user
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(serde_json::Value::Null);
    // Ids sort as the events were made (to the millisecond), so a tenant's
    // events are listed and sent in the order they happened.
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let event_id = format!("evt_{millis:013}{}", crate::store::random_suffix());
    let mut data = serde_json::Map::new();
    data.insert(
        "connection".into(),
        serde_json::json!({
            "id": id,
            "name": snapshot.name,
            "status": snapshot.status,
            "reason": snapshot.status_reason,
            "account_id": snapshot.account_id,
            "account": snapshot.account_name,
            "end_user": end_user.get("id"),
            "organization": end_user.get("organization"),
            "tags": end_user.get("tags"),
        }),
    );
    data.extend(extra);
    RawTenantEvent {
        id: event_id.clone(),
        tenant_id: snapshot.tenant_id.clone().unwrap_or_default(),
        kind: kind.to_string(),
        payload: serde_json::json!({
            "id": event_id,
            "type": kind,
            "created_at": now,
            "data": data,
        })
        .to_string(),
        seq: 0,
        status: "pending".into(),
        attempts: 0,
        last_error: None,
        created_at: now,
        settled_at: None,
    }
}

/// What a dead letter's platform event adds to its connection.
pub(crate) fn dead_letter_extra(
    subscription_id: &str,
    trigger: &str,
    event_id: &str,
    error: Option<&str>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "subscription".into(),
        serde_json::json!({"id": subscription_id, "trigger": trigger}),
    );
    extra.insert("event_id".into(), event_id.into());
    extra.insert("error".into(), error.into());
    extra
}

/// Ledger rows of one tenant, day, connection and operation.
#[derive(Debug, Clone)]
pub(crate) struct RawUsage {
    pub tenant_id: String,
    pub day: String,
    pub connection_id: String,
    pub operation: String,
    /// By unit.
    pub amounts: Vec<(String, i64)>,
}

/// A single-use grant of the MCP authorization server, as stored.
#[derive(Debug, Clone)]
pub(crate) struct RawOAuthGrant {
    /// SHA-256 of the code's or the refresh token's text.
    pub token_hash: String,
    pub kind: String,
    pub connection_id: String,
    /// A JSON object: what the grant gives.
    pub claims: String,
    pub expires_at: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct RawConnectSession {
    pub id: String,
    pub tenant_id: String,
    pub purpose: String,
    /// A JSON object.
    pub details: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub connection_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct RawApiKey {
    pub id: String,
    pub tenant_id: String,
    /// Space separated.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RawTokens {
    pub access_token: Option<Vec<u8>>,
    pub access_expires_at: Option<i64>,
    pub access_issued_at: Option<i64>,
    pub refresh_token: Option<Vec<u8>>,
    pub token_secret: Option<Vec<u8>>,
    pub scope: Option<String>,
    pub version: i64,
}

/// One change to a connection's row.
#[derive(Debug, Clone)]
pub(crate) enum ConnectionUpdate {
    CallbackUrl(String),
    Account {
        account_id: Option<String>,
        account_name: Option<String>,
        account_facts: Option<String>,
        granted_scopes: Option<String>,
    },
    Status {
        status: &'static str,
        reason: Option<String>,
        /// Why, in a word the platform's events carry (`refresh_refused`).
        cause: Option<&'static str>,
        /// Make no platform event of the change (a sign-in in progress
        /// announces its outcome itself).
        quiet: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct RawSignIn {
    pub key_hash: String,
    pub connection_id: String,
    pub flow: String,
    pub payload: Vec<u8>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct RawSubscription {
    pub id: String,
    pub connection_id: String,
    pub trigger: String,
    pub configuration: String,
    pub delivery: String,
    pub cursor: Option<String>,
    pub cursor_version: i64,
    pub destination: String,
    pub target_url: Option<String>,
    pub interval_secs: i64,
    pub next_poll_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct RawWebhook {
    pub connection_id: String,
    pub url: String,
    pub remote_id: Option<String>,
    pub registered_at: Option<i64>,
    pub last_event_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawDelivery {
    pub subscription_id: String,
    pub event_id: String,
    pub sequence: i64,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub settled_at: Option<i64>,
    pub trace_context: Option<String>,
}

/// How a delivery attempt ended, as stored.
#[derive(Debug, Clone)]
pub(crate) enum Settlement {
    Delivered,
    Retry { at: i64, error: String },
    Dead { error: String },
}

impl Settlement {
    /// The delivery's new status, next attempt time, error (kept when
    /// none) and settling time.
    pub fn columns(self, now: i64) -> (&'static str, i64, Option<String>, Option<i64>) {
        match self {
            Settlement::Delivered => ("delivered", 0, None, Some(now)),
            Settlement::Retry { at, error } => ("pending", at, Some(error), None),
            Settlement::Dead { error } => ("dead", 0, Some(error), Some(now)),
        }
    }
}

/// What a store backend does. Every method is one atomic step, safe to
/// run from several processes and machines at once.
#[async_trait::async_trait]
pub(crate) trait Backend: Send + Sync {
    async fn app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &str,
    ) -> Result<Vec<RawField>>;
    /// Sets or (with `None`) removes each field at the level, all at once.
    async fn set_app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &str,
        changes: Vec<(String, Option<RawValue>)>,
    ) -> Result<()>;

    /// The schema version the store holds now (another host may have
    /// migrated it since this one opened it).
    async fn schema_version(&self) -> Result<i64>;
    async fn insert_connection(&self, connection: RawConnection) -> Result<()>;
    async fn connection(&self, id: &str) -> Result<Option<RawConnection>>;
    /// The connection's status and its reason, without its fields.
    async fn status(&self, id: &str) -> Result<Option<(String, Option<String>)>>;
    /// The tools an MCP client of the connection may use, when limited.
    async fn mcp_tools(&self, id: &str) -> Result<Option<String>>;
    /// Sets or (with `None`) lifts the limit; false when there is no such
    /// connection.
    async fn set_mcp_tools(&self, id: &str, tools: Option<&str>, now: i64) -> Result<bool>;
    /// Keeps a single-use grant (`kind`: a code, a refresh token) of
    /// connection `connection_id` by its token's hash; false when there is
    /// no such connection.
    async fn insert_oauth_grant(&self, grant: RawOAuthGrant) -> Result<bool>;
    /// Removes the grant and returns its claims and expiry: once, to one
    /// host.
    async fn take_oauth_grant(&self, token_hash: &str, kind: &str)
    -> Result<Option<(String, i64)>>;
    /// Oldest first.
    async fn connection_ids(&self) -> Result<Vec<String>>;
    /// The ids of one tenant's connections (`None`: the default tenant's), oldest first.
    async fn tenant_connection_ids(&self, tenant: Option<&str>) -> Result<Vec<String>>;
    /// False when there is no such connection.
    async fn update_connection(&self, id: &str, update: ConnectionUpdate, now: i64)
    -> Result<bool>;
    /// Deletes the connection, queuing `connection.deleted` for its tenant.
    async fn delete_connection(&self, id: &str, now: i64) -> Result<bool>;

    async fn tokens(&self, id: &str) -> Result<Option<RawTokens>>;
    /// Writes the tokens if their version is still `expected` (`None`: no
    /// tokens yet); returns the new version. Durable when it returns.
    async fn save_tokens(
        &self,
        id: &str,
        tokens: RawTokens,
        expected: Option<i64>,
        now: i64,
    ) -> Result<i64>;
    async fn clear_tokens(&self, id: &str) -> Result<()>;
    /// Waits for, and takes, the right to renew connection `id`'s
    /// credentials; released when the lease commits or is dropped, and by
    /// the database when its holder dies.
    async fn refresh_lease(&self, id: &str, terms: LeaseTerms) -> Result<Box<dyn LeaseBackend>>;

    /// Keeps a sign-in, and removes those expired at `now`.
    async fn put_sign_in(&self, sign_in: RawSignIn, now: i64) -> Result<()>;
    /// Removes and returns the sign-in, whether or not it expired.
    async fn take_sign_in(&self, key_hash: &str) -> Result<Option<RawSignIn>>;

    /// Keeps a session, and removes those expired at `now`.
    async fn put_session(&self, token_hash: &str, expires_at: i64, now: i64) -> Result<()>;
    async fn session_expires_at(&self, token_hash: &str) -> Result<Option<i64>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    /// Removes sign-ins and sessions that expired at or before `now`;
    /// returns how many.
    async fn sweep(&self, now: i64) -> Result<u64>;

    /// Inserts a subscription, with its signing key sealed.
    async fn insert_subscription(
        &self,
        subscription: RawSubscription,
        signing_secret: Option<Vec<u8>>,
    ) -> Result<()>;
    /// The sealed key that signs a subscription's deliveries.
    async fn signing_secret(&self, id: &str) -> Result<Option<Vec<u8>>>;
    /// Takes the poll of one subscription a server runs whose time has
    /// come and whose poll no live host holds: `host` holds it until
    /// `lease_until`.
    async fn claim_poll(
        &self,
        host: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<RawSubscription>>;
    /// Ends `host`'s poll: the new events go to the outbox (each once),
    /// the cursor moves if it is still at `expected`, the next poll is at
    /// `next_poll_at`, and the poll is released; all or nothing. Returns
    /// how many events were new. A poll whose lease `host` lost, or whose
    /// cursor moved, is refused as a conflict.
    #[allow(clippy::too_many_arguments)]
    async fn finish_poll(
        &self,
        id: &str,
        host: &str,
        events: Vec<(String, String)>,
        trace: Option<String>,
        cursor: String,
        expected: i64,
        next_poll_at: i64,
        now: i64,
    ) -> Result<u64>;
    /// Releases `host`'s poll without moving the cursor; the next poll is
    /// at `next_poll_at`.
    async fn release_poll(&self, id: &str, host: &str, next_poll_at: i64) -> Result<()>;
    /// Moves the next poll of every polled subscription of `connection_id`
    /// to `trigger` to `until` at the earliest.
    async fn defer_polls(&self, connection_id: &str, trigger: &str, until: i64) -> Result<u64>;
    /// Queues events the API pushed for a subscription, each once.
    async fn queue_events(
        &self,
        subscription_id: &str,
        events: Vec<(String, String)>,
        trace: Option<String>,
        now: i64,
    ) -> Result<u64>;
    /// Marks a subscription pushed under the API's `push_id`, or polled
    /// again with none.
    async fn set_push(
        &self,
        subscription_id: &str,
        push_id: Option<String>,
        now: i64,
    ) -> Result<()>;
    /// The API's id of a pushed subscription.
    async fn push_id(&self, subscription_id: &str) -> Result<Option<String>>;
    /// Every subscription the API pushes.
    async fn push_subscriptions(&self) -> Result<Vec<RawSubscription>>;
    /// The webhook of an app-level connection.
    async fn webhook(&self, connection_id: &str) -> Result<Option<RawWebhook>>;
    /// Takes the registration of `url` as the connection's webhook for
    /// `host` until `until`, unless it is registered at that URL or another
    /// live host is registering it; true when `host` has it.
    async fn claim_webhook(
        &self,
        connection_id: &str,
        url: &str,
        host: &str,
        now: i64,
        until: i64,
    ) -> Result<bool>;
    /// Records the API's id of the webhook `host` registered.
    async fn save_webhook(&self, connection_id: &str, remote_id: &str, now: i64) -> Result<()>;
    /// Records that the API pushed a delivery at `at`.
    async fn touch_webhook(&self, connection_id: &str, at: i64) -> Result<()>;
    async fn insert_tenant(&self, tenant: RawTenant) -> Result<()>;
    async fn tenant(&self, id: &str) -> Result<Option<RawTenant>>;
    async fn tenants(&self) -> Result<Vec<RawTenant>>;
    /// Replaces a tenant's settings; false when there is no such tenant.
    async fn set_tenant_settings(&self, id: &str, settings: &str) -> Result<bool>;
    /// Ids of one tenant's connections made for `end_user_id`, oldest first.
    async fn end_user_connection_ids(
        &self,
        tenant_id: &str,
        end_user_id: &str,
    ) -> Result<Vec<String>>;
    /// Stores a connect session by the hash of its token.
    async fn insert_connect_session(
        &self,
        session: RawConnectSession,
        token_hash: &str,
    ) -> Result<()>;
    async fn connect_session(&self, token_hash: &str) -> Result<Option<RawConnectSession>>;
    /// The session that made connection `connection_id`.
    async fn connect_session_of(&self, connection_id: &str) -> Result<Option<RawConnectSession>>;
    /// Marks the session used at `now` (with the connection it made), if it
    /// is unused and not expired at `now`; true when this call used it.
    async fn use_connect_session(
        &self,
        token_hash: &str,
        connection_id: Option<&str>,
        now: i64,
    ) -> Result<bool>;
    /// Keeps a sealed identity for a tenant under the hash of its code.
    async fn insert_identity_code(
        &self,
        code_hash: &str,
        tenant_id: &str,
        identity: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> Result<()>;
    /// Removes and returns the tenant's sealed identity under `code_hash`
    /// and when it expires, if there is one.
    async fn take_identity_code(
        &self,
        code_hash: &str,
        tenant_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>>;
    /// Stores a key of an existing tenant, by the hash of its text.
    async fn insert_api_key(&self, key: RawApiKey, key_hash: &str) -> Result<()>;
    /// The key whose text hashes to `key_hash`, whatever its state.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<RawApiKey>>;
    async fn api_keys(&self, tenant_id: &str) -> Result<Vec<RawApiKey>>;
    /// Sets when a tenant's key stops working (revoked now, or expiring
    /// after a rotation's overlap); false when the tenant has no such key.
    async fn end_api_key(
        &self,
        tenant_id: &str,
        key_id: &str,
        revoked_at: Option<i64>,
        expires_at: Option<i64>,
    ) -> Result<bool>;
    /// Queues platform event `kind` of connection `id` for its tenant, as
    /// the connection is now; false when there is no connection.
    async fn announce(&self, id: &str, kind: &str, now: i64) -> Result<bool>;
    /// Sets a tenant's webhook ('' for the default tenant), replacing any.
    async fn set_tenant_webhook(
        &self,
        tenant_id: &str,
        url: &str,
        signing_secret: Vec<u8>,
        now: i64,
    ) -> Result<()>;
    /// A tenant's webhook: its URL, sealed key and creation time.
    async fn tenant_webhook(&self, tenant_id: &str) -> Result<Option<(String, Vec<u8>, i64)>>;
    /// False when the tenant had none.
    async fn delete_tenant_webhook(&self, tenant_id: &str) -> Result<bool>;
    /// Takes up to `limit` due platform events of tenants with a webhook
    /// that no live host holds; `host` holds them until `claimed_until`.
    /// With each, its tenant's webhook URL and sealed key.
    async fn claim_tenant_events(
        &self,
        host: &str,
        now: i64,
        claimed_until: i64,
        limit: i64,
    ) -> Result<Vec<(RawTenantEvent, String, Vec<u8>)>>;
    /// Records how an attempt at a platform event ended.
    async fn settle_tenant_event(&self, id: &str, settlement: Settlement, now: i64) -> Result<()>;
    /// A tenant's platform events, newest first, at most `limit`.
    async fn tenant_events(&self, tenant_id: &str, limit: i64) -> Result<Vec<RawTenantEvent>>;
    /// Adds `amounts` (by unit) to the ledger's rows of one tenant ('' for
    /// the default), day, connection and operation, all at once.
    async fn add_usage(&self, entry: RawUsage) -> Result<()>;
    /// The ledger's rows of one tenant from day `from` to day `to`, both
    /// included (days as `YYYY-MM-DD`, which order as text).
    async fn usage(&self, tenant_id: &str, from: &str, to: &str) -> Result<Vec<RawUsage>>;
    /// Counts one request under `key` in the window that started at
    /// `window_start` (a new window restarts the count); the count, this
    /// request included.
    async fn count_request(&self, key: &str, window_start: i64) -> Result<u64>;
    /// Takes up to `limit` deliveries to URLs that are due and that no live
    /// host holds; `host` holds them until `claimed_until`. With each, its
    /// subscription's URL.
    async fn claim_deliveries(
        &self,
        host: &str,
        now: i64,
        claimed_until: i64,
        limit: i64,
    ) -> Result<Vec<(RawDelivery, String)>>;
    /// Gives back the deliveries of a subscription that `host` holds and
    /// has not sent (an earlier one failed), so they wait for it in order.
    async fn release_deliveries(&self, host: &str, subscription_id: &str) -> Result<()>;
    /// Records how an attempt at a delivery ended.
    async fn settle_delivery(
        &self,
        subscription_id: &str,
        event_id: &str,
        settlement: Settlement,
        now: i64,
    ) -> Result<()>;
    /// A subscription's deliveries after `after` (by sequence), of one
    /// status or any, in order.
    async fn deliveries(
        &self,
        subscription_id: &str,
        after: i64,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RawDelivery>>;
    /// Gives back every poll lease and unsettled claim `host` holds, so
    /// other hosts take them at once; returns how many.
    async fn release_host(&self, host: &str) -> Result<u64>;
    /// Removes what was kept long enough, before `before`: delivered events
    /// and events kept to be fetched (each subscription's newest always
    /// stays, so sequences never restart), and settled platform events.
    /// Dead letters stay. Returns how many rows went.
    async fn prune_events(&self, before: i64) -> Result<u64>;
    /// The smallest sequence a subscription still keeps, if any.
    async fn oldest_sequence(&self, subscription_id: &str) -> Result<Option<i64>>;
    /// `created_at` of the oldest pending delivery to an endpoint.
    async fn oldest_pending_delivery(&self) -> Result<Option<i64>>;
    /// Sends a subscription's dead letters again; returns how many.
    async fn requeue_dead(&self, subscription_id: &str, now: i64) -> Result<u64>;
    async fn subscription(&self, id: &str) -> Result<Option<RawSubscription>>;
    /// Oldest first; of one connection, or all.
    async fn subscriptions(&self, connection_id: Option<&str>) -> Result<Vec<RawSubscription>>;
    /// Moves the cursor if its version is still `expected`; returns the new
    /// version.
    async fn move_cursor(
        &self,
        id: &str,
        cursor: Option<String>,
        expected: i64,
        now: i64,
    ) -> Result<i64>;
    async fn delete_subscription(&self, id: &str) -> Result<bool>;
    /// Records event keys as seen; returns those not seen before, in the
    /// order given.
    async fn record_events(&self, id: &str, keys: Vec<String>, now: i64) -> Result<Vec<String>>;
    /// Of `keys`, those the subscription has not seen, in the order given.
    async fn unseen_events(&self, id: &str, keys: Vec<String>) -> Result<Vec<String>>;
    /// Forgets keys seen before `before`; returns how many.
    async fn forget_events(&self, id: &str, before: i64) -> Result<u64>;

    /// Up to `limit` sealed values of `column`, in the order of their row's
    /// key, after the row `after` (from the first row without it).
    async fn sealed_values(
        &self,
        column: &'static SealedColumn,
        after: Option<Vec<String>>,
        limit: usize,
    ) -> Result<Vec<SealedValue>>;
    /// Replaces each value that is still the one read, in one transaction;
    /// returns how many were replaced (a value rewritten meanwhile, by a
    /// token renewal say, is left as it is).
    async fn reseal(&self, column: &'static SealedColumn, changes: Vec<Reseal>) -> Result<u64>;
}

/// The oldest pending delivery to an endpoint (not one kept to be fetched).
pub(crate) const OLDEST_PENDING_SQL: &str = "SELECT min(d.created_at) FROM trigger_deliveries d
     JOIN trigger_subscriptions s ON s.id = d.subscription_id
     WHERE d.status = 'pending' AND s.destination <> 'pull'";

/// A sealed value and its row's key.
#[derive(Debug, Clone)]
pub(crate) struct SealedValue {
    pub key: Vec<String>,
    pub value: Vec<u8>,
}

/// A sealed value to replace, if it is still `old`.
#[derive(Debug, Clone)]
pub(crate) struct Reseal {
    pub key: Vec<String>,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// The query that pages through a sealed column, with `$n`-style (`?n`
/// in SQLite) placeholders: the row key after which to start, then the
/// limit.
pub(crate) fn sealed_values_sql(column: &SealedColumn, after: bool, placeholder: char) -> String {
    let keys = column.key.join(", ");
    let mut conditions = vec![format!("{} IS NOT NULL", column.column)];
    conditions.extend(column.only.map(str::to_string));
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("{placeholder}{n}")
    };
    if after {
        let marks: Vec<String> = column.key.iter().map(|_| next()).collect();
        conditions.push(format!("({keys}) > ({})", marks.join(", ")));
    }
    format!(
        "SELECT {keys}, {} FROM {} WHERE {} ORDER BY {keys} LIMIT {}",
        column.column,
        column.table,
        conditions.join(" AND "),
        next()
    )
}

/// The update that replaces one sealed value if it is still the one read:
/// the new value, then the row key, then the old value.
pub(crate) fn reseal_sql(column: &SealedColumn, placeholder: char) -> String {
    let matches: Vec<String> = column
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = {placeholder}{}", i + 2))
        .collect();
    format!(
        "UPDATE {} SET {col} = {placeholder}1 WHERE {} AND {col} = {placeholder}{}",
        column.table,
        matches.join(" AND "),
        column.key.len() + 2,
        col = column.column,
    )
}

/// A held refresh lease: reads and writes under it, then commit.
#[async_trait::async_trait]
pub(crate) trait LeaseBackend: Send {
    async fn tokens(&mut self, id: &str) -> Result<Option<RawTokens>>;
    /// Writes the tokens whatever their version; returns the new version.
    async fn save_tokens(&mut self, id: &str, tokens: RawTokens, now: i64) -> Result<i64>;
    async fn set_status(
        &mut self,
        id: &str,
        status: &'static str,
        reason: Option<String>,
        cause: Option<&'static str>,
        now: i64,
    ) -> Result<()>;
    /// Makes every write durable and releases the lease.
    async fn commit(self: Box<Self>) -> Result<()>;
}
