//! Connections and app credentials in one SQLite file.
//!
//! Every secret (client secrets, access and refresh tokens, OAuth 1.0a token
//! secrets, any form field marked secret) is encrypted with AES-256-GCM under
//! a 32-byte master key before it is written. Each ciphertext is bound to its
//! place (table, row, column) as associated data, so a value copied to
//! another row does not decrypt. A key-check value written when the store is
//! created tells a wrong key apart from a tampered value, and a wrong key
//! never leads to anything being overwritten.
//!
//! Token updates are versioned: a refresh commits the new tokens only if
//! nobody else committed since it read them, which is how concurrent
//! refreshes of one connection, in one process or several, stay safe.

mod crypto;
mod key;
mod records;
mod store;

pub use key::{KEY_LEN, KeyError, MasterKey};
pub use records::{
    AppCredentialLevel, ConnectionRecord, ConnectionStatus, FieldValue, NewConnection, Tokens,
};
pub use store::{Store, StoreError};
