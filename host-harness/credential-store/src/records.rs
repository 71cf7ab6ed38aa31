//! What the store keeps.

use secrecy::SecretString;
use std::collections::BTreeMap;

/// A form field's value: plain text, or a secret stored encrypted.
#[derive(Clone)]
pub enum FieldValue {
    Plain(String),
    Secret(SecretString),
}

impl std::fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldValue::Plain(v) => f.debug_tuple("Plain").field(v).finish(),
            FieldValue::Secret(_) => f.write_str("Secret(..)"),
        }
    }
}

impl FieldValue {
    /// Whether the value is empty (after trimming), so that a less specific
    /// level's value shows through.
    pub fn is_blank(&self) -> bool {
        use secrecy::ExposeSecret;
        match self {
            FieldValue::Plain(v) => v.trim().is_empty(),
            FieldValue::Secret(v) => v.expose_secret().trim().is_empty(),
        }
    }
}

/// Where app credentials (a Client ID and Secret, an API key and secret) are
/// set: once for everyone, or for one brand (a group of connections). A
/// connection's own fields override both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppCredentialLevel {
    /// The operator's, for the default tenant's connections.
    Default,
    /// The operator's for one brand.
    Brand(String),
    /// A tenant's own app, for its connections.
    Tenant(String),
    /// A tenant's app for one of its brands.
    TenantBrand { tenant: String, brand: String },
}

impl AppCredentialLevel {
    pub(crate) fn key(&self) -> String {
        match self {
            AppCredentialLevel::Default => String::new(),
            AppCredentialLevel::Brand(b) => format!("brand:{b}"),
            AppCredentialLevel::Tenant(t) => format!("tenant:{t}"),
            AppCredentialLevel::TenantBrand { tenant, brand } => {
                format!("tenant:{tenant}:brand:{brand}")
            }
        }
    }

    /// The levels a connection's fields fall through to, most specific
    /// first: its tenant's brand and its tenant (a tenant brings its own
    /// app, and never borrows the operator's), or, for the default
    /// tenant, the operator's brand and default.
    pub fn layers_for(tenant: Option<&str>, brand: Option<&str>) -> Vec<AppCredentialLevel> {
        match (tenant, brand) {
            (Some(tenant), Some(brand)) => vec![
                AppCredentialLevel::TenantBrand {
                    tenant: tenant.to_string(),
                    brand: brand.to_string(),
                },
                AppCredentialLevel::Tenant(tenant.to_string()),
            ],
            (Some(tenant), None) => vec![AppCredentialLevel::Tenant(tenant.to_string())],
            (None, Some(brand)) => vec![
                AppCredentialLevel::Brand(brand.to_string()),
                AppCredentialLevel::Default,
            ],
            (None, None) => vec![AppCredentialLevel::Default],
        }
    }
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Created; sign-in not completed yet.
    Pending,
    /// Usable.
    Connected,
    /// Its credentials were refused beyond repair; the user must reconnect.
    NeedsReconnect,
    /// Its tokens were revoked; the record remains for reference.
    Revoked,
}

/// Why a connection that worked needs a reconnect, as platform events say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectCause {
    /// The provider refused the refresh token (the user revoked access, or
    /// the token was used already).
    RefreshRefused,
    /// The provider refused the app's credentials: the secret was rotated.
    SecretRotated,
    /// The API refused credentials that cannot be renewed.
    AccessRevoked,
}

impl ReconnectCause {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconnectCause::RefreshRefused => "refresh_refused",
            ReconnectCause::SecretRotated => "secret_rotated",
            ReconnectCause::AccessRevoked => "access_revoked",
        }
    }
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "pending",
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::NeedsReconnect => "needs_reconnect",
            ConnectionStatus::Revoked => "revoked",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<ConnectionStatus> {
        Some(match text {
            "pending" => ConnectionStatus::Pending,
            "connected" => ConnectionStatus::Connected,
            "needs_reconnect" => ConnectionStatus::NeedsReconnect,
            "revoked" => ConnectionStatus::Revoked,
            _ => return None,
        })
    }
}

/// A connection to create.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub connector: String,
    /// The manifest's auth method id (`oauth2`, `bearer`, ...).
    pub method: String,
    /// The method's kind (`oauth2-authorization-code`, ...).
    pub auth_kind: String,
    pub name: String,
    pub brand: Option<String>,
    /// The connection's own form fields.
    pub fields: BTreeMap<String, FieldValue>,
    /// Whose it is: `None` for the default tenant.
    pub tenant_id: Option<String>,
    /// The tenant's end user it was made for, when a connect session made it.
    pub end_user: Option<EndUser>,
    /// Makes no platform event: a connection kept only for a sign-in.
    pub quiet: bool,
}

/// The person in a tenant's product a connection belongs to, as the
/// tenant names them: so a platform can find its users' connections
/// without keeping a map of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndUser {
    /// The tenant's id for the user.
    pub id: String,
    /// The tenant's id for the user's organisation, if it has them.
    pub organization: Option<String>,
    /// Labels the tenant chose, such as a plan or a workspace.
    pub tags: BTreeMap<String, String>,
}

/// A stored connection, with its secrets decrypted.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub id: String,
    pub connector: String,
    pub method: String,
    pub auth_kind: String,
    pub name: String,
    pub brand: Option<String>,
    pub status: ConnectionStatus,
    /// Why the status is what it is (a refresh failure, say); never a secret.
    pub status_reason: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    /// What the host learnt of the account at connect time (the manifest's
    /// `identity.facts`); never a secret.
    pub account_facts: BTreeMap<String, String>,
    /// Scopes granted, when known.
    pub granted_scopes: Option<Vec<String>>,
    /// The callback URL the sign-in redirects to, for OAuth methods.
    pub callback_url: Option<String>,
    pub fields: BTreeMap<String, FieldValue>,
    /// Whose it is: `None` for the default tenant.
    pub tenant_id: Option<String>,
    /// The tenant's end user it was made for, if any.
    pub end_user: Option<EndUser>,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// The tokens of a connection.
#[derive(Clone, Default)]
pub struct Tokens {
    pub access_token: Option<SecretString>,
    /// Unix seconds; `None` when the token does not expire.
    pub access_expires_at: Option<i64>,
    /// Unix seconds when the access token was issued, so that the host can
    /// size its refresh margin to the token's lifetime.
    pub access_issued_at: Option<i64>,
    pub refresh_token: Option<SecretString>,
    /// OAuth 1.0a's token secret.
    pub token_secret: Option<SecretString>,
    /// Scopes the token carries, space separated, as the token endpoint said.
    pub scope: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &self.access_token.as_ref().map(|_| ".."))
            .field("access_expires_at", &self.access_expires_at)
            .field("access_issued_at", &self.access_issued_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .field("token_secret", &self.token_secret.as_ref().map(|_| ".."))
            .field("scope", &self.scope)
            .finish()
    }
}

/// A browser sign-in one host started and any host sharing the store may
/// finish, when the provider redirects back with its key.
#[derive(Clone)]
pub struct PendingSignIn {
    /// What the redirect carries back: OAuth 2.0's `state`, OAuth 1.0a's
    /// request token. The store keeps only its SHA-256.
    pub key: SecretString,
    pub connection_id: String,
    /// Which flow finishes it (`oauth2`, `oauth1`); the host's word.
    pub flow: String,
    /// What finishing needs (a PKCE verifier, a request token secret),
    /// sealed like every other secret.
    pub payload: SecretString,
    /// Unix seconds after which the redirect is refused.
    pub expires_at: i64,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("connection_id", &self.connection_id)
            .field("flow", &self.flow)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a trigger's events reach the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The host asks the API for what is new since a cursor.
    Poll,
    /// The API delivers events to the host (a webhook).
    Push,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Poll => "poll",
            Delivery::Push => "push",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Delivery> {
        match text {
            "poll" => Some(Delivery::Poll),
            "push" => Some(Delivery::Push),
            _ => None,
        }
    }
}

/// Where a subscription's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// To whoever watches it (`host-harness watch`), which polls it itself.
    Watch,
    /// A server polls it and keeps its events for a workflow engine to
    /// fetch.
    Pull,
    /// A server polls it and sends each event to this URL, signed.
    Url(String),
}

impl Destination {
    fn kind(&self) -> &'static str {
        match self {
            Destination::Watch => "watch",
            Destination::Pull => "pull",
            Destination::Url(_) => "url",
        }
    }

    pub(crate) fn columns(&self) -> (&'static str, Option<String>) {
        match self {
            Destination::Url(url) => (self.kind(), Some(url.clone())),
            _ => (self.kind(), None),
        }
    }

    pub(crate) fn from_columns(kind: &str, url: Option<String>) -> Destination {
        match (kind, url) {
            ("url", Some(url)) => Destination::Url(url),
            ("pull", _) => Destination::Pull,
            _ => Destination::Watch,
        }
    }
}

/// A workflow's subscription to a trigger, to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub connection_id: String,
    /// The trigger's id in the connector's manifest.
    pub trigger: String,
    /// The trigger's configuration, as JSON text (never a secret).
    pub configuration: String,
    pub delivery: Delivery,
    pub destination: Destination,
    /// Seconds between polls, for a subscription a server runs.
    pub interval_secs: u32,
    /// The key that signs deliveries to a URL: sealed in the store.
    pub signing_secret: Option<SecretString>,
}

/// A webhook registered at the API for an app-level connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub connection_id: String,
    /// The host's URL the API pushes to.
    pub url: String,
    /// The API's id of the webhook; none until it is registered.
    pub remote_id: Option<String>,
    /// Unix seconds.
    pub registered_at: Option<i64>,
    /// Unix seconds of the last delivery the API pushed.
    pub last_event_at: Option<i64>,
}

/// A stored subscription: where its trigger stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub id: String,
    pub connection_id: String,
    pub trigger: String,
    pub configuration: String,
    pub delivery: Delivery,
    /// Where the next poll starts; the connector's own text.
    pub cursor: Option<String>,
    /// Bumped by each cursor change, so two hosts polling at once cannot
    /// both move it.
    pub cursor_version: u64,
    pub destination: Destination,
    /// Seconds between polls, for a subscription a server runs.
    pub interval_secs: u32,
    /// Unix seconds when a server polls it next.
    pub next_poll_at: i64,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where one event stands on its way to a subscription's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet (or, for a pull subscription, kept to be fetched).
    Pending,
    /// The destination took it.
    Delivered,
    /// The destination kept refusing it: the dead letters.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub(crate) fn parse(text: &str) -> DeliveryStatus {
        match text {
            "delivered" => DeliveryStatus::Delivered,
            "dead" => DeliveryStatus::Dead,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// One event of a subscription, in its outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub subscription_id: String,
    pub event_id: String,
    /// Its place among the subscription's events, from 1: what a workflow
    /// engine fetching events passes back as `after`.
    pub sequence: u64,
    /// The event, as JSON text.
    pub payload: String,
    pub status: DeliveryStatus,
    /// Attempts made, counted as each is claimed: one a host took and
    /// never settled (it died) counts too.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds when it was delivered or given up.
    pub settled_at: Option<i64>,
    /// The trace the event was found in (a W3C `traceparent`), when the
    /// poll or push that found it was traced: its delivery continues it.
    pub trace_context: Option<String>,
}

/// A delivery a host has claimed, with where it goes.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: DeliveryRecord,
    pub target_url: String,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at this Unix second.
    Retry {
        at: i64,
        error: String,
    },
    /// Give up: a dead letter.
    Dead {
        error: String,
    },
}

/// How long a refresh lease may be waited for and held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTerms {
    /// How long to wait while another holder has it.
    pub wait: std::time::Duration,
    /// The longest a holder may keep it. PostgreSQL ends a holder's session
    /// that sits on it longer (a frozen process); a holder gives up its own
    /// refresh well before.
    pub hold: std::time::Duration,
}

/// The longest window [`crate::Store::count_request`] counts in; windows
/// older than this are swept.
pub(crate) const LONGEST_COUNT_WINDOW_SECS: i64 = 24 * 3600;

/// How long a connect session is kept after it expires: its connection's
/// sign-in may still come back and need its return URL.
pub(crate) const CONNECT_SESSION_KEPT_SECS: i64 = 24 * 3600;

/// Requests counted in a window so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCount {
    /// This request included.
    pub count: u64,
    /// Until the window ends and the count starts again.
    pub resets_in_secs: u64,
}

/// One of a platform's customers: its API keys and connections are its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    /// What the operator set for the tenant (allowed return URLs, say), a
    /// JSON object whose meaning is the server's.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A short-lived, single-use link a tenant hands one of its end users: to
/// connect an account, or to sign in with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectSessionRecord {
    pub id: String,
    pub tenant_id: String,
    /// What the session is for (`connect`, `identity`): the server's word.
    pub purpose: String,
    /// What the session was made with (the end user, allowed methods, the
    /// return URL), a JSON object whose meaning is the server's.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Unix seconds.
    pub expires_at: i64,
    /// When its end user used it; a used session cannot be used again.
    pub used_at: Option<i64>,
    /// The connection it made, once used.
    pub connection_id: Option<String>,
    pub created_at: i64,
}

impl ConnectSessionRecord {
    /// Whether it can still be used at `now` (Unix seconds).
    pub fn is_open(&self, now: i64) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

/// A tenant's API key, as it may be shown: never the key itself, which is
/// kept only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's id, also the start of its text (`hhk_<id>_…`).
    pub id: String,
    pub tenant_id: String,
    /// What the key may do (`read`, `actions`, `subscriptions`,
    /// `connections`).
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// When it stops working (a rotation's overlap ends), if set.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiKeyRecord {
    /// The first characters of the key, which is how people tell keys
    /// apart: `hhk_<id>`.
    pub fn prefix(&self) -> String {
        format!("hhk_{}", self.id)
    }

    /// Whether the key works at `now` (Unix seconds).
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// One row of the usage ledger: how much of one billing unit a tenant's
/// connection consumed in one operation on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEntry {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub connection_id: String,
    /// `action:ID` or `trigger:ID`.
    pub operation: String,
    pub unit: String,
    pub amount: u64,
}

/// A tenant's webhook for platform events: where they go. Its signing key
/// is shown once, when it is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantWebhookRecord {
    pub url: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Something that happened to a tenant's connection (created, needing a
/// reconnect, revoked, deleted) or subscription (a dead letter), queued for
/// the tenant's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEventRecord {
    pub id: String,
    /// `None`: the default tenant.
    pub tenant_id: Option<String>,
    /// Such as `connection.needs_reconnect`.
    pub kind: String,
    /// The JSON the webhook receives.
    pub payload: String,
    pub status: DeliveryStatus,
    /// Attempts made, counted as each is claimed.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub settled_at: Option<i64>,
}

/// A platform event a host took to send, with where and how to sign it.
pub struct ClaimedPlatformEvent {
    pub event: PlatformEventRecord,
    pub url: String,
    pub signing_secret: secrecy::SecretString,
}
