//! The SQLite store.

use crate::crypto::Cipher;
use crate::key::MasterKey;
use crate::records::{
    AppCredentialLevel, ConnectionRecord, ConnectionStatus, FieldValue, NewConnection, Tokens,
};
use rusqlite::{Connection, OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// Associated data of the key-check value.
const KEY_CHECK_PLACE: &str = "meta/key_check";
const KEY_CHECK_TEXT: &[u8] = b"credential-store key check v1";
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS app_credentials (
    connector TEXT NOT NULL,
    method    TEXT NOT NULL,
    level     TEXT NOT NULL,
    field     TEXT NOT NULL,
    plain     TEXT,
    secret    BLOB,
    PRIMARY KEY (connector, method, level, field)
);
CREATE TABLE IF NOT EXISTS connections (
    id             TEXT PRIMARY KEY,
    connector      TEXT NOT NULL,
    method         TEXT NOT NULL,
    auth_kind      TEXT NOT NULL,
    name           TEXT NOT NULL,
    brand          TEXT,
    status         TEXT NOT NULL,
    status_reason  TEXT,
    account_id     TEXT,
    account_name   TEXT,
    granted_scopes TEXT,
    callback_url   TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS connection_fields (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    field         TEXT NOT NULL,
    plain         TEXT,
    secret        BLOB,
    PRIMARY KEY (connection_id, field)
);
CREATE TABLE IF NOT EXISTS tokens (
    connection_id     TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    access_token      BLOB,
    access_expires_at INTEGER,
    refresh_token     BLOB,
    token_secret      BLOB,
    scope             TEXT,
    version           INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
";

/// Why the store refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the credential store {path} cannot be opened: {error}")]
    Open {
        path: String,
        error: rusqlite::Error,
    },
    #[error(
        "the master key does not open the credential store {path}; use the key it was created with"
    )]
    WrongKey { path: String },
    #[error(
        "the credential store {path} has no key check; it was not created by this program or is damaged"
    )]
    NotAStore { path: String },
    #[error(
        "a stored secret ({what}) does not decrypt: the store was altered or damaged; reconnect to replace it"
    )]
    Tampered { what: String },
    #[error("no connection `{0}`")]
    NoSuchConnection(String),
    #[error("the tokens of connection `{0}` changed since they were read")]
    Conflict(String),
    #[error("the credential store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The credential store. Safe to share between threads.
pub struct Store {
    db: Mutex<Connection>,
    cipher: Cipher,
    path: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Whether `path` holds a store already (and so has a key it needs).
    pub fn exists(path: &Path) -> bool {
        let Ok(db) = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        else {
            return false;
        };
        db.query_row("SELECT 1 FROM meta WHERE key = 'key_check'", [], |_| Ok(()))
            .is_ok()
    }

    /// Opens the store at `path`, creating it if needed. An existing store
    /// must open with `key`; otherwise nothing is written.
    pub fn open(path: &Path, key: &MasterKey) -> Result<Store, StoreError> {
        let display = path.display().to_string();
        let open_error = |error| StoreError::Open {
            path: display.clone(),
            error,
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let cipher = Cipher::new(key);
        // An existing store is checked read-only first, so a wrong key
        // cannot lead to any write.
        if path.exists() {
            let db = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(open_error)?;
            let check: Option<Vec<u8>> = db
                .query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
                    r.get(0)
                })
                .optional()
                .unwrap_or(None);
            match check {
                Some(sealed)
                    if cipher.open(&sealed, KEY_CHECK_PLACE).ok().as_deref()
                        != Some(KEY_CHECK_TEXT) =>
                {
                    return Err(StoreError::WrongKey { path: display });
                }
                Some(_) => {}
                None => {
                    let tables: i64 = db
                        .query_row(
                            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                            [],
                            |r| r.get(0),
                        )
                        .map_err(open_error)?;
                    if tables > 0 {
                        return Err(StoreError::NotAStore { path: display });
                    }
                }
            }
        }
        let db = Connection::open(path).map_err(open_error)?;
        db.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_error)?;
        // WAL with full sync: a committed refresh token survives a crash.
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(open_error)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_error)?;

        let has_meta: bool = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(open_error)?
            > 0;
        let check: Option<Vec<u8>> = if has_meta {
            db.query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(open_error)?
        } else {
            None
        };
        match check {
            Some(sealed) => {
                if cipher.open(&sealed, KEY_CHECK_PLACE).ok().as_deref() != Some(KEY_CHECK_TEXT) {
                    return Err(StoreError::WrongKey { path: display });
                }
            }
            None => {
                let tables: i64 = db
                    .query_row(
                        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(open_error)?;
                if tables > 0 {
                    return Err(StoreError::NotAStore { path: display });
                }
                db.execute_batch(SCHEMA).map_err(open_error)?;
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('key_check', ?1), ('schema_version', ?2)",
                    params![cipher.seal(KEY_CHECK_TEXT, KEY_CHECK_PLACE), SCHEMA_VERSION],
                )
                .map_err(open_error)?;
            }
        }
        Ok(Store {
            db: Mutex::new(db),
            cipher,
            path: display,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each
        // statement is atomic), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seal(&self, value: &SecretString, place: &str) -> Vec<u8> {
        self.cipher.seal(value.expose_secret().as_bytes(), place)
    }

    fn open_secret(
        &self,
        sealed: &[u8],
        place: &str,
        what: impl FnOnce() -> String,
    ) -> Result<SecretString, StoreError> {
        let text = self
            .cipher
            .open(sealed, place)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        text.map(SecretString::from)
            .ok_or_else(|| StoreError::Tampered { what: what() })
    }

    fn split(&self, value: &FieldValue, place: &str) -> (Option<String>, Option<Vec<u8>>) {
        match value {
            FieldValue::Plain(v) => (Some(v.clone()), None),
            FieldValue::Secret(s) => (None, Some(self.seal(s, place))),
        }
    }

    fn join(
        &self,
        plain: Option<String>,
        secret: Option<Vec<u8>>,
        place: &str,
        what: impl FnOnce() -> String,
    ) -> Result<FieldValue, StoreError> {
        match (plain, secret) {
            (_, Some(sealed)) => Ok(FieldValue::Secret(self.open_secret(&sealed, place, what)?)),
            (Some(v), None) => Ok(FieldValue::Plain(v)),
            (None, None) => Ok(FieldValue::Plain(String::new())),
        }
    }

    // ---- App credentials -------------------------------------------------

    /// Sets app credential fields of `connector`'s auth `method` at `level`.
    /// A blank value removes the field at that level.
    pub fn set_app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &AppCredentialLevel,
        fields: &BTreeMap<String, FieldValue>,
    ) -> Result<(), StoreError> {
        let level = level.key();
        let mut db = self.db();
        let tx = db.transaction()?;
        for (field, value) in fields {
            if value.is_blank() {
                tx.execute(
                    "DELETE FROM app_credentials WHERE connector = ?1 AND method = ?2 AND level = ?3 AND field = ?4",
                    params![connector, method, level, field],
                )?;
                continue;
            }
            let place = format!("app_credentials/{connector}/{method}/{level}/{field}");
            let (plain, secret) = self.split(value, &place);
            tx.execute(
                "INSERT INTO app_credentials (connector, method, level, field, plain, secret)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (connector, method, level, field) DO UPDATE SET plain = ?5, secret = ?6",
                params![connector, method, level, field, plain, secret],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The app credential fields set at exactly `level`.
    pub fn app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &AppCredentialLevel,
    ) -> Result<BTreeMap<String, FieldValue>, StoreError> {
        let level = level.key();
        let rows: Vec<(String, Option<String>, Option<Vec<u8>>)> = {
            let db = self.db();
            let mut stmt = db.prepare(
                "SELECT field, plain, secret FROM app_credentials
                 WHERE connector = ?1 AND method = ?2 AND level = ?3 ORDER BY field",
            )?;
            stmt.query_map(params![connector, method, level], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let mut out = BTreeMap::new();
        for (field, plain, secret) in rows {
            let place = format!("app_credentials/{connector}/{method}/{level}/{field}");
            let value = self.join(plain, secret, &place, || {
                format!("app credential `{field}` of {connector}/{method}")
            })?;
            out.insert(field, value);
        }
        Ok(out)
    }

    // ---- Connections -----------------------------------------------------

    /// Stores a new connection, `pending` until its sign-in completes.
    pub fn create_connection(&self, new: &NewConnection) -> Result<ConnectionRecord, StoreError> {
        let id = new_connection_id();
        let now = now();
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "INSERT INTO connections (id, connector, method, auth_kind, name, brand, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
                params![id, new.connector, new.method, new.auth_kind, new.name, new.brand, now],
            )?;
            for (field, value) in &new.fields {
                let place = format!("connection_fields/{id}/{field}");
                let (plain, secret) = self.split(value, &place);
                tx.execute(
                    "INSERT INTO connection_fields (connection_id, field, plain, secret) VALUES (?1, ?2, ?3, ?4)",
                    params![id, field, plain, secret],
                )?;
            }
            tx.commit()?;
        }
        self.connection(&id)
    }

    /// The connection `id`, with its fields decrypted.
    pub fn connection(&self, id: &str) -> Result<ConnectionRecord, StoreError> {
        let (record, fields) = {
            let db = self.db();
            let record = db
                .query_row(
                    "SELECT connector, method, auth_kind, name, brand, status, status_reason, account_id,
                            account_name, granted_scopes, callback_url, created_at, updated_at
                     FROM connections WHERE id = ?1",
                    params![id],
                    |r| {
                        let status: String = r.get(5)?;
                        let scopes: Option<String> = r.get(9)?;
                        Ok(ConnectionRecord {
                            id: id.to_string(),
                            connector: r.get(0)?,
                            method: r.get(1)?,
                            auth_kind: r.get(2)?,
                            name: r.get(3)?,
                            brand: r.get(4)?,
                            status: ConnectionStatus::parse(&status).unwrap_or(ConnectionStatus::NeedsReconnect),
                            status_reason: r.get(6)?,
                            account_id: r.get(7)?,
                            account_name: r.get(8)?,
                            granted_scopes: scopes.map(|s| s.split_whitespace().map(str::to_string).collect()),
                            callback_url: r.get(10)?,
                            fields: BTreeMap::new(),
                            created_at: r.get(11)?,
                            updated_at: r.get(12)?,
                        })
                    },
                )
                .optional()?;
            let mut stmt = db.prepare(
                "SELECT field, plain, secret FROM connection_fields WHERE connection_id = ?1 ORDER BY field",
            )?;
            let fields: Vec<(String, Option<String>, Option<Vec<u8>>)> = stmt
                .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            (record, fields)
        };
        let mut record = record.ok_or_else(|| StoreError::NoSuchConnection(id.to_string()))?;
        for (field, plain, secret) in fields {
            let place = format!("connection_fields/{id}/{field}");
            let value = self.join(plain, secret, &place, || {
                format!("field `{field}` of connection {id}")
            })?;
            record.fields.insert(field, value);
        }
        Ok(record)
    }

    /// Records where the connection's sign-in redirect is expected, so a
    /// failed sign-in can name the callback URL to register.
    pub fn set_callback_url(&self, id: &str, url: &str) -> Result<(), StoreError> {
        let changed = self.db().execute(
            "UPDATE connections SET callback_url = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, url, now()],
        )?;
        if changed == 0 {
            return Err(StoreError::NoSuchConnection(id.to_string()));
        }
        Ok(())
    }

    /// Every connection's id, oldest first.
    pub fn connection_ids(&self) -> Result<Vec<String>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare("SELECT id FROM connections ORDER BY created_at, id")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Records the connected account and the scopes granted.
    pub fn set_account(
        &self,
        id: &str,
        account_id: Option<&str>,
        account_name: Option<&str>,
        granted_scopes: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let scopes = granted_scopes.map(|s| s.join(" "));
        let changed = self.db().execute(
            "UPDATE connections SET account_id = ?2, account_name = ?3, granted_scopes = ?4, updated_at = ?5 WHERE id = ?1",
            params![id, account_id, account_name, scopes, now()],
        )?;
        if changed == 0 {
            return Err(StoreError::NoSuchConnection(id.to_string()));
        }
        Ok(())
    }

    /// Sets the status, with a reason a user can read (never a secret).
    pub fn set_status(
        &self,
        id: &str,
        status: ConnectionStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let changed = self.db().execute(
            "UPDATE connections SET status = ?2, status_reason = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, status.as_str(), reason, now()],
        )?;
        if changed == 0 {
            return Err(StoreError::NoSuchConnection(id.to_string()));
        }
        Ok(())
    }

    /// Deletes a connection, its fields and its tokens.
    pub fn delete_connection(&self, id: &str) -> Result<(), StoreError> {
        let changed = self
            .db()
            .execute("DELETE FROM connections WHERE id = ?1", params![id])?;
        if changed == 0 {
            return Err(StoreError::NoSuchConnection(id.to_string()));
        }
        Ok(())
    }

    // ---- Tokens ------------------------------------------------------------

    /// The connection's tokens and their version, if it has any.
    pub fn tokens(&self, id: &str) -> Result<Option<(Tokens, u64)>, StoreError> {
        type Row = (
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<String>,
            i64,
        );
        let row: Option<Row> = self
            .db()
            .query_row(
                "SELECT access_token, access_expires_at, refresh_token, token_secret, scope, version
                 FROM tokens WHERE connection_id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        let Some((access, expires, refresh, secret, scope, version)) = row else {
            return Ok(None);
        };
        let open =
            |sealed: Option<Vec<u8>>, column: &str| -> Result<Option<SecretString>, StoreError> {
                sealed
                    .map(|s| {
                        self.open_secret(&s, &format!("tokens/{id}/{column}"), || {
                            format!("{column} of connection {id}")
                        })
                    })
                    .transpose()
            };
        Ok(Some((
            Tokens {
                access_token: open(access, "access_token")?,
                access_expires_at: expires,
                refresh_token: open(refresh, "refresh_token")?,
                token_secret: open(secret, "token_secret")?,
                scope,
            },
            version as u64,
        )))
    }

    /// Stores `tokens` for the connection if its tokens are still at
    /// `expected_version` (`None`: it has none yet), and returns the new
    /// version. The write is durable when this returns.
    pub fn save_tokens(
        &self,
        id: &str,
        tokens: &Tokens,
        expected_version: Option<u64>,
    ) -> Result<u64, StoreError> {
        let seal = |value: &Option<SecretString>, column: &str| {
            value
                .as_ref()
                .map(|v| self.seal(v, &format!("tokens/{id}/{column}")))
        };
        let access = seal(&tokens.access_token, "access_token");
        let refresh = seal(&tokens.refresh_token, "refresh_token");
        let secret = seal(&tokens.token_secret, "token_secret");
        let mut db = self.db();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT version FROM tokens WHERE connection_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        if current.map(|v| v as u64) != expected_version {
            return Err(StoreError::Conflict(id.to_string()));
        }
        let exists: bool = tx
            .query_row(
                "SELECT 1 FROM connections WHERE id = ?1",
                params![id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !exists {
            return Err(StoreError::NoSuchConnection(id.to_string()));
        }
        let version = current.unwrap_or(0) + 1;
        tx.execute(
            "INSERT INTO tokens (connection_id, access_token, access_expires_at, refresh_token, token_secret, scope, version, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (connection_id) DO UPDATE SET
                 access_token = ?2, access_expires_at = ?3, refresh_token = ?4, token_secret = ?5,
                 scope = ?6, version = ?7, updated_at = ?8",
            params![id, access, tokens.access_expires_at, refresh, secret, tokens.scope, version, now()],
        )?;
        tx.commit()?;
        Ok(version as u64)
    }

    /// Forgets the connection's tokens.
    pub fn clear_tokens(&self, id: &str) -> Result<(), StoreError> {
        self.db()
            .execute("DELETE FROM tokens WHERE connection_id = ?1", params![id])?;
        Ok(())
    }

    /// The store's file, for messages.
    pub fn path(&self) -> &str {
        &self.path
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `conn_` and 16 lower-case letters and digits.
fn new_connection_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("conn_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> FieldValue {
        FieldValue::Secret(SecretString::from(s.to_string()))
    }

    fn new_connection() -> NewConnection {
        NewConnection {
            connector: "x".into(),
            method: "oauth2".into(),
            auth_kind: "oauth2-authorization-code".into(),
            name: "Marketing".into(),
            brand: Some("acme".into()),
            fields: BTreeMap::from([
                (
                    "client_id".to_string(),
                    FieldValue::Plain("client-123456".into()),
                ),
                ("client_secret".to_string(), secret("very-secret-value")),
            ]),
        }
    }

    fn tokens(access: &str, refresh: &str) -> Tokens {
        Tokens {
            access_token: Some(SecretString::from(access.to_string())),
            access_expires_at: Some(1_900_000_000),
            refresh_token: Some(SecretString::from(refresh.to_string())),
            token_secret: None,
            scope: Some("tweet.read users.read".into()),
        }
    }

    #[test]
    fn connections_round_trip_and_secrets_are_not_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let key = MasterKey::generate();
        let store = Store::open(&path, &key).unwrap();
        let created = store.create_connection(&new_connection()).unwrap();
        store
            .save_tokens(&created.id, &tokens("access-AAAA", "refresh-RRRR"), None)
            .unwrap();
        drop(store);

        let store = Store::open(&path, &key).unwrap();
        let read = store.connection(&created.id).unwrap();
        assert_eq!(read.status, ConnectionStatus::Pending);
        assert_eq!(read.brand.as_deref(), Some("acme"));
        match &read.fields["client_secret"] {
            FieldValue::Secret(s) => assert_eq!(s.expose_secret(), "very-secret-value"),
            other => panic!("{other:?}"),
        }
        let (t, version) = store.tokens(&created.id).unwrap().unwrap();
        assert_eq!(version, 1);
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "refresh-RRRR");
        drop(store);

        let mut bytes = std::fs::read(&path).unwrap();
        for wal in ["store.db-wal"] {
            if let Ok(more) = std::fs::read(dir.path().join(wal)) {
                bytes.extend(more);
            }
        }
        for needle in ["very-secret-value", "access-AAAA", "refresh-RRRR"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is in the file"
            );
        }
    }

    #[test]
    fn a_wrong_key_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Store::open(&path, &MasterKey::generate()).unwrap();
        store.create_connection(&new_connection()).unwrap();
        drop(store);
        let before = std::fs::read(&path).unwrap();

        let err = Store::open(&path, &MasterKey::generate()).unwrap_err();

        assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains("master key"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_tampered_ciphertext_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let key = MasterKey::generate();
        let store = Store::open(&path, &key).unwrap();
        let id = store.create_connection(&new_connection()).unwrap().id;
        store.save_tokens(&id, &tokens("a", "r"), None).unwrap();
        {
            let db = store.db();
            let mut sealed: Vec<u8> = db
                .query_row(
                    "SELECT refresh_token FROM tokens WHERE connection_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .unwrap();
            sealed[14] ^= 0x40;
            db.execute(
                "UPDATE tokens SET refresh_token = ?2 WHERE connection_id = ?1",
                params![id, sealed],
            )
            .unwrap();
        }

        let err = store.tokens(&id).unwrap_err();

        assert!(matches!(err, StoreError::Tampered { .. }), "{err}");
        assert!(err.to_string().contains("refresh_token"), "{err}");
    }

    #[test]
    fn a_ciphertext_moved_to_another_connection_does_not_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &MasterKey::generate()).unwrap();
        let a = store.create_connection(&new_connection()).unwrap().id;
        let b = store.create_connection(&new_connection()).unwrap().id;
        {
            let db = store.db();
            let sealed: Vec<u8> = db
                .query_row(
                    "SELECT secret FROM connection_fields WHERE connection_id = ?1 AND field = 'client_secret'",
                    params![a],
                    |r| r.get(0),
                )
                .unwrap();
            db.execute(
                "UPDATE connection_fields SET secret = ?2 WHERE connection_id = ?1 AND field = 'client_secret'",
                params![b, sealed],
            )
            .unwrap();
        }
        assert!(matches!(
            store.connection(&b),
            Err(StoreError::Tampered { .. })
        ));
        assert!(store.connection(&a).is_ok());
    }

    #[test]
    fn token_saves_are_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &MasterKey::generate()).unwrap();
        let id = store.create_connection(&new_connection()).unwrap().id;
        let v1 = store.save_tokens(&id, &tokens("a1", "r1"), None).unwrap();
        let v2 = store
            .save_tokens(&id, &tokens("a2", "r2"), Some(v1))
            .unwrap();
        assert!(matches!(
            store.save_tokens(&id, &tokens("a3", "r3"), Some(v1)),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.save_tokens(&id, &tokens("a3", "r3"), None),
            Err(StoreError::Conflict(_))
        ));
        let (t, v) = store.tokens(&id).unwrap().unwrap();
        assert_eq!(v, v2);
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "r2");
        assert!(matches!(
            store.save_tokens("conn_missing", &tokens("a", "r"), None),
            Err(StoreError::NoSuchConnection(_))
        ));
    }

    #[test]
    fn app_credentials_are_kept_per_level_and_blank_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &MasterKey::generate()).unwrap();
        let default = AppCredentialLevel::Default;
        let brand = AppCredentialLevel::Brand("acme".into());
        store
            .set_app_credentials(
                "x",
                "oauth2",
                &default,
                &BTreeMap::from([
                    ("client_id".into(), FieldValue::Plain("default-id".into())),
                    ("client_secret".into(), secret("default-secret")),
                ]),
            )
            .unwrap();
        store
            .set_app_credentials(
                "x",
                "oauth2",
                &brand,
                &BTreeMap::from([("client_id".into(), FieldValue::Plain("brand-id".into()))]),
            )
            .unwrap();
        assert_eq!(
            store
                .app_credentials("x", "oauth2", &default)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            store.app_credentials("x", "oauth2", &brand).unwrap().len(),
            1
        );
        store
            .set_app_credentials(
                "x",
                "oauth2",
                &brand,
                &BTreeMap::from([("client_id".into(), FieldValue::Plain(" ".into()))]),
            )
            .unwrap();
        assert!(
            store
                .app_credentials("x", "oauth2", &brand)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn delete_removes_fields_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &MasterKey::generate()).unwrap();
        let id = store.create_connection(&new_connection()).unwrap().id;
        store.save_tokens(&id, &tokens("a", "r"), None).unwrap();
        store.delete_connection(&id).unwrap();
        assert!(matches!(
            store.connection(&id),
            Err(StoreError::NoSuchConnection(_))
        ));
        assert!(store.tokens(&id).unwrap().is_none());
        let count: i64 = store
            .db()
            .query_row("SELECT count(*) FROM connection_fields", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 0);
    }

    #[test]
    fn a_file_that_is_not_a_store_is_not_touched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        assert!(matches!(
            Store::open(&path, &MasterKey::generate()),
            Err(StoreError::NotAStore { .. })
        ));
    }
}
