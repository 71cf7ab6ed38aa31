//! What a host keeps between actions, and shares with every other host of
//! the same platform: connections, their form fields and tokens, layered
//! app credentials, sign-ins in flight, page sessions, and the state of
//! triggers (subscriptions, cursors, the keys of events already seen).
//!
//! Two backends keep the same data behind one contract ([`Store`]): a
//! SQLite file, the embedded default for hosts on one machine, and a
//! PostgreSQL database for hosts on several. Both create and migrate their
//! schema at start, in numbered steps, one host at a time.
//!
//! Every secret (client secrets, access and refresh tokens, OAuth 1.0a token
//! secrets, any form field marked secret, what a pending sign-in needs) is
//! sealed with AES-256-GCM under a 32-byte master key before it reaches a
//! backend. Each ciphertext is bound to its place (table, row, column) as
//! associated data, so a value copied to another row does not decrypt. A
//! key-check value written when the store is created tells a wrong key
//! apart from a tampered value, and a wrong key never leads to anything
//! being written.
//!
//! Several master keys may be held at once ([`Keyring`]): the first seals,
//! each opens what it sealed (every value names its key), and
//! [`Store::rotate_keys`] re-seals every secret under the first while hosts
//! keep serving, so an old key can be retired.
//!
//! Token renewal is coordinated in the store, not in a process: a
//! [`RefreshLease`] admits one renewer of a connection at a time across
//! every process and machine, and token writes are versioned.

mod backend;
mod crypto;
mod error;
mod key;
mod records;
mod rotation;
mod schema;
mod store;

pub use error::StoreError;
pub use key::{KEY_LEN, KeyError, KeyId, Keyring, MasterKey};
pub use records::{
    ApiKeyRecord, AppCredentialLevel, ClaimedDelivery, ClaimedPlatformEvent, ConnectSessionRecord,
    ConnectionRecord, ConnectionStatus, Delivery, DeliveryOutcome, DeliveryRecord, DeliveryStatus,
    Destination, EndUser, FieldValue, LeaseTerms, NewConnection, NewSubscription, PendingSignIn,
    PlatformEventRecord, ReconnectCause, RequestCount, SubscriptionRecord, TenantRecord,
    TenantWebhookRecord, Tokens, UsageEntry, WebhookRecord,
};
pub use rotation::{KeyRotation, RotationReport};
pub use store::{RefreshLease, Store, StoreLocation};
