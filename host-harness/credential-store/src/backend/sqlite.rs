//! The embedded store: one SQLite file in WAL mode, synchronous writes.
//!
//! SQLite's calls block, so each runs on tokio's blocking pool with a
//! connection from a small pool of open ones. A new store file is built
//! under a temporary name and linked into place whole, so a store file
//! either holds a key check or was not made by this program: an empty
//! file is an error, never a new store. The file and its directory are
//! private to their owner.
//!
//! The refresh lease is a write transaction (`BEGIN IMMEDIATE`) on a
//! connection of its own: SQLite lets one writer in at a time, across every
//! process on the machine, and the operating system releases the lock of a
//! process that dies. While a refresh holds it, other writes to the store
//! wait (up to [`BUSY_TIMEOUT`]); reads go on.

use super::{
    Backend, ConnectionSnapshot, ConnectionUpdate, KeyCheck, LeaseBackend, OLDEST_PENDING_SQL,
    RawApiKey, RawConnectSession, RawConnection, RawDelivery, RawField, RawOAuthGrant, RawSignIn,
    RawSubscription, RawTenant, RawTenantEvent, RawTokens, RawUsage, RawValue, RawWebhook, Reseal,
    Result, SNAPSHOT_COLUMNS, SealedValue, Settlement, dead_letter_extra, platform_event,
    reseal_sql, sealed_values_sql, transition_event,
};
use crate::error::StoreError;
use crate::records::LeaseTerms;
use crate::schema::{LATEST, MIGRATIONS, SealedColumn};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a write waits for another writer (a refresh in flight, another
/// process's migration) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
/// Open connections kept for reuse.
const IDLE_CONNECTIONS: usize = 8;
/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8] = b"SQLite format 3\0";

pub(crate) struct Sqlite {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    location: String,
    idle: Mutex<Vec<Connection>>,
}

impl Sqlite {
    /// Whether `path` holds something a new store must not replace: any
    /// file at all, readable or not.
    pub(crate) fn exists(path: &Path) -> bool {
        path.symlink_metadata().is_ok() || wal_of(path).symlink_metadata().is_ok()
    }

    /// Opens the store file at `path`, creating it if there is none. An
    /// existing file is checked read-only first (its key, its schema
    /// version), so nothing is written to a store this key cannot open.
    pub(crate) async fn open(path: &Path, check: KeyCheck) -> Result<Sqlite> {
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            location: path.display().to_string(),
            idle: Mutex::new(Vec::new()),
        });
        let opening = inner.clone();
        tokio::task::spawn_blocking(move || opening.prepare(&check)).await??;
        Ok(Sqlite { inner })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let mut db = inner.checkout()?;
            let result = f(&mut db);
            inner.checkin(db);
            result
        })
        .await?;
        host_metrics::store_operation("sqlite", started.elapsed());
        if let Err(e @ (StoreError::Sqlite(_) | StoreError::Unavailable(_))) = &result {
            host_metrics::store_error("sqlite", e.is_unavailable());
        }
        result
    }
}

fn wal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

fn open_error(location: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        location: location.to_string(),
        reason: error.to_string(),
    }
}

impl Inner {
    fn prepare(&self, check: &KeyCheck) -> Result<()> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.len() == 0 => {
                return Err(StoreError::Empty {
                    location: self.location.clone(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.create(check)?,
            Err(e) => return Err(open_error(&self.location, e)),
        }
        // Checked before the first read-write connection, which sets the
        // journal mode; a current store is only read, so hosts starting
        // together do not queue for the write lock.
        let version = self.verify_read_only(check)?;
        let mut db = self.connect(BUSY_TIMEOUT)?;
        if version != Some(LATEST) {
            migrate(&mut db, check, &self.location)?;
        }
        self.checkin(db);
        restrict_file(&self.path);
        Ok(())
    }

    /// Checks an existing file without writing to it; returns its schema
    /// version (`None`: a database without tables, to be made a store).
    fn verify_read_only(&self, check: &KeyCheck) -> Result<Option<i64>> {
        let mut header = [0u8; 16];
        let read = std::fs::File::open(&self.path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
        if read.is_err() || header != SQLITE_HEADER {
            return Err(StoreError::NotAStore {
                location: self.location.clone(),
            });
        }
        let db = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| open_error(&self.location, e))?;
        db.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_error(&self.location, e))?;
        inspect(&db, check, &self.location)
    }

    /// Builds a new store under a temporary name and links it into place,
    /// unless another process made one first.
    fn create(&self, check: &KeyCheck) -> Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| open_error(&self.location, e))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "store".into());
        let temporary = dir.join(format!(".{name}.{}.new", crate::store::random_suffix()));
        let built = (|| -> Result<()> {
            create_private_file(&temporary).map_err(|e| open_error(&self.location, e))?;
            let mut db = Connection::open(&temporary).map_err(|e| open_error(&self.location, e))?;
            migrate(&mut db, check, &self.location)?;
            db.close().map_err(|(_, e)| open_error(&self.location, e))?;
            match std::fs::hard_link(&temporary, &self.path) {
                Ok(()) => Ok(()),
                // Another host created the store meanwhile: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                // A file system without hard links: move it instead.
                Err(_) => std::fs::rename(&temporary, &self.path)
                    .map_err(|e| open_error(&self.location, e)),
            }
        })();
        let _ = std::fs::remove_file(&temporary);
        built
    }

    fn connect(&self, busy: Duration) -> Result<Connection> {
        let db = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(&self.location, e))?;
        db.busy_timeout(busy)?;
        // WAL with full sync: a committed refresh token survives a crash.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        Ok(db)
    }

    fn checkout(&self) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(db) => Ok(db),
            None => self.connect(BUSY_TIMEOUT),
        }
    }

    fn checkin(&self, db: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_CONNECTIONS && db.is_autocommit() {
            idle.push(db);
        }
    }
}

/// Reads the store's key check and schema version: `Ok(None)` for a
/// database with no tables at all (a new store), an error for anything
/// this key or this release cannot use.
fn inspect(db: &Connection, check: &KeyCheck, location: &str) -> Result<Option<i64>> {
    let tables: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| open_error(location, e))?;
    let has_meta: bool = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| open_error(location, e))?
        > 0;
    if !has_meta {
        return if tables == 0 {
            Ok(None)
        } else {
            Err(StoreError::NotAStore {
                location: location.to_string(),
            })
        };
    }
    let sealed: Option<Vec<u8>> = db
        .query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| open_error(location, e))?;
    match sealed {
        None => {
            return Err(StoreError::NotAStore {
                location: location.to_string(),
            });
        }
        Some(sealed) if !(check.opens)(&sealed) => {
            return Err(StoreError::WrongKey {
                location: location.to_string(),
            });
        }
        Some(_) => {}
    }
    let version: i64 = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| open_error(location, e))?
        .unwrap_or(1);
    if version > LATEST {
        return Err(StoreError::TooNew {
            location: location.to_string(),
            found: version,
            known: LATEST,
        });
    }
    Ok(Some(version))
}

/// Makes the store current: creates it in an empty database, applies the
/// migrations it lacks. One process at a time; the key is checked again
/// under the lock, in case another process created the store meanwhile.
fn migrate(db: &mut Connection, check: &KeyCheck, location: &str) -> Result<()> {
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version = match inspect(&tx, check, location)? {
        Some(version) => version,
        None => {
            tx.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);")?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('key_check', ?1), ('schema_version', 0)",
                params![check.new_value],
            )?;
            0
        }
    };
    if version == LATEST {
        return Ok(());
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > version) {
        tx.execute_batch(migration.sqlite())?;
    }
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        params![LATEST],
    )?;
    tx.commit()?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(|_| ())
}

/// Takes group and other access away from a store file that has it (one
/// made by an earlier release). SQLite gives its `-wal` and `-shm` files
/// the database file's mode when it creates them.
fn restrict_file(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
    }
}

fn busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DatabaseBusy)
}

fn constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

const TOKEN_COLUMNS: &str = "access_token, access_expires_at, access_issued_at, refresh_token, token_secret, scope, version";

fn read_tokens(db: &Connection, id: &str) -> Result<Option<RawTokens>> {
    Ok(db
        .query_row(
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE connection_id = ?1"),
            params![id],
            |r| {
                Ok(RawTokens {
                    access_token: r.get(0)?,
                    access_expires_at: r.get(1)?,
                    access_issued_at: r.get(2)?,
                    refresh_token: r.get(3)?,
                    token_secret: r.get(4)?,
                    scope: r.get(5)?,
                    version: r.get(6)?,
                })
            },
        )
        .optional()?)
}

/// Writes tokens at `version`; the caller checked what it had to.
fn write_tokens(db: &Connection, id: &str, t: &RawTokens, version: i64, now: i64) -> Result<()> {
    db.execute(
        "INSERT INTO tokens (connection_id, access_token, access_expires_at, access_issued_at, refresh_token, token_secret, scope, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (connection_id) DO UPDATE SET
             access_token = ?2, access_expires_at = ?3, access_issued_at = ?4, refresh_token = ?5,
             token_secret = ?6, scope = ?7, version = ?8, updated_at = ?9",
        params![
            id,
            t.access_token,
            t.access_expires_at,
            t.access_issued_at,
            t.refresh_token,
            t.token_secret,
            t.scope,
            version,
            now
        ],
    )?;
    Ok(())
}

fn connection_exists(db: &Connection, id: &str) -> Result<bool> {
    Ok(db
        .query_row(
            "SELECT 1 FROM connections WHERE id = ?1",
            params![id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn subscription_exists(db: &Connection, id: &str) -> Result<bool> {
    Ok(db
        .query_row(
            "SELECT 1 FROM trigger_subscriptions WHERE id = ?1",
            params![id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// What platform events say of connection `id`, if it exists.
fn snapshot(db: &Connection, id: &str) -> Result<Option<ConnectionSnapshot>> {
    Ok(db
        .prepare_cached(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM connections WHERE id = ?1"
        ))?
        .query_row(params![id], |r| {
            Ok(ConnectionSnapshot {
                tenant_id: r.get(0)?,
                name: r.get(1)?,
                status: r.get(2)?,
                status_reason: r.get(3)?,
                account_id: r.get(4)?,
                account_name: r.get(5)?,
                end_user: r.get(6)?,
                quiet: r.get(7)?,
            })
        })
        .optional()?)
}

/// Queues a platform event of connection `id` when its tenant has a
/// webhook. Runs inside the caller's transaction, beside the change.
fn queue_platform_event(
    db: &Connection,
    kind: &str,
    id: &str,
    snapshot: &ConnectionSnapshot,
    extra: serde_json::Map<String, serde_json::Value>,
    now: i64,
) -> Result<()> {
    if snapshot.quiet != 0 {
        return Ok(());
    }
    let tenant = snapshot.tenant_id.clone().unwrap_or_default();
    let listening: bool = db
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM tenant_webhooks WHERE tenant_id = ?1)")?
        .query_row(params![tenant], |r| r.get(0))?;
    if !listening {
        return Ok(());
    }
    let e = platform_event(kind, id, snapshot, extra, now);
    db.execute(
        "INSERT INTO tenant_events (id, seq, tenant_id, kind, payload, status, attempts, next_attempt_at,
             claimed_by, claimed_until, last_error, created_at, settled_at)
         VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM tenant_events), ?2, ?3, ?4,
                 'pending', 0, ?5, NULL, 0, NULL, ?5, NULL)",
        params![e.id, e.tenant_id, e.kind, e.payload, now],
    )?;
    Ok(())
}

/// Sets the connection's status, queuing the platform event the change
/// makes, in the caller's transaction; false when there is no connection.
fn transition(
    db: &Connection,
    id: &str,
    status: &str,
    reason: Option<&str>,
    cause: Option<&str>,
    quiet: bool,
    now: i64,
) -> Result<bool> {
    let Some(before) = snapshot(db, id)? else {
        return Ok(false);
    };
    db.execute(
        "UPDATE connections SET status = ?2, status_reason = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, status, reason, now],
    )?;
    if let Some(kind) = transition_event(&before.status, status).filter(|_| !quiet) {
        let after = ConnectionSnapshot {
            status: status.to_string(),
            status_reason: reason.map(str::to_string),
            ..before
        };
        let mut extra = serde_json::Map::new();
        if let Some(cause) = cause {
            extra.insert("cause".into(), cause.into());
        }
        queue_platform_event(db, kind, id, &after, extra, now)?;
    }
    Ok(true)
}

const SUBSCRIPTION_COLUMNS: &str = "id, connection_id, trigger_id, configuration, delivery, cursor, cursor_version, destination, target_url, interval_secs, next_poll_at, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "subscription_id, event_id, sequence, payload, status, attempts, last_error, created_at, settled_at, trace_context";

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawDelivery> {
    Ok(RawDelivery {
        subscription_id: r.get(0)?,
        event_id: r.get(1)?,
        sequence: r.get(2)?,
        payload: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        last_error: r.get(6)?,
        created_at: r.get(7)?,
        settled_at: r.get(8)?,
        trace_context: r.get(9)?,
    })
}

/// Adds events to a subscription's outbox in order, each once; returns how
/// many were new.
fn queue(
    tx: &rusqlite::Transaction<'_>,
    subscription_id: &str,
    events: Vec<(String, String)>,
    trace: Option<&str>,
    now: i64,
) -> rusqlite::Result<u64> {
    let mut sequence: i64 = tx.query_row(
        "SELECT coalesce(max(sequence), 0) FROM trigger_deliveries WHERE subscription_id = ?1",
        params![subscription_id],
        |r| r.get(0),
    )?;
    let mut new = 0;
    let mut insert = tx.prepare_cached(
        "INSERT INTO trigger_deliveries (subscription_id, event_id, sequence, payload, status,
             attempts, next_attempt_at, claimed_until, created_at, trace_context)
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, 0, ?5, ?6)
         ON CONFLICT DO NOTHING",
    )?;
    for (event_id, payload) in events {
        if insert.execute(params![
            subscription_id,
            event_id,
            sequence + 1,
            payload,
            now,
            trace
        ])? > 0
        {
            sequence += 1;
            new += 1;
        }
    }
    Ok(new)
}

const WEBHOOK_COLUMNS: &str = "connection_id, url, remote_id, registered_at, last_event_at";

fn webhook_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawWebhook> {
    Ok(RawWebhook {
        connection_id: r.get(0)?,
        url: r.get(1)?,
        remote_id: r.get(2)?,
        registered_at: r.get(3)?,
        last_event_at: r.get(4)?,
    })
}

fn subscription_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawSubscription> {
    Ok(RawSubscription {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        trigger: r.get(2)?,
        configuration: r.get(3)?,
        delivery: r.get(4)?,
        cursor: r.get(5)?,
        cursor_version: r.get(6)?,
        destination: r.get(7)?,
        target_url: r.get(8)?,
        interval_secs: r.get(9)?,
        next_poll_at: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    async fn app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &str,
    ) -> Result<Vec<RawField>> {
        let (connector, method, level) =
            (connector.to_owned(), method.to_owned(), level.to_owned());
        self.run(move |db| {
            let mut stmt = db.prepare_cached(
                "SELECT field, plain, secret FROM app_credentials
                 WHERE connector = ?1 AND method = ?2 AND level = ?3 ORDER BY field",
            )?;
            let rows = stmt
                .query_map(params![connector, method, level], |r| {
                    Ok(RawField {
                        name: r.get(0)?,
                        value: RawValue {
                            plain: r.get(1)?,
                            secret: r.get(2)?,
                        },
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn set_app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &str,
        changes: Vec<(String, Option<RawValue>)>,
    ) -> Result<()> {
        let (connector, method, level) =
            (connector.to_owned(), method.to_owned(), level.to_owned());
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (field, value) in changes {
                match value {
                    None => {
                        tx.execute(
                            "DELETE FROM app_credentials WHERE connector = ?1 AND method = ?2 AND level = ?3 AND field = ?4",
                            params![connector, method, level, field],
                        )?;
                    }
                    Some(v) => {
                        tx.execute(
                            "INSERT INTO app_credentials (connector, method, level, field, plain, secret)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                             ON CONFLICT (connector, method, level, field) DO UPDATE SET plain = ?5, secret = ?6",
                            params![connector, method, level, field, v.plain, v.secret],
                        )?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn schema_version(&self) -> Result<i64> {
        self.run(|db| {
            let text: String = db.query_row(
                "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )?;
            text.trim().parse().map_err(|_| {
                StoreError::Internal("the store's schema version is unreadable".into())
            })
        })
        .await
    }

    async fn insert_connection(&self, c: RawConnection) -> Result<()> {
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO connections (id, connector, method, auth_kind, name, brand, status, status_reason,
                     account_id, account_name, granted_scopes, callback_url, created_at, updated_at, tenant_id,
                     end_user_id, end_user, quiet)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                params![
                    c.id,
                    c.connector,
                    c.method,
                    c.auth_kind,
                    c.name,
                    c.brand,
                    c.status,
                    c.status_reason,
                    c.account_id,
                    c.account_name,
                    c.granted_scopes,
                    c.callback_url,
                    c.created_at,
                    c.updated_at,
                    c.tenant_id,
                    c.end_user_id,
                    c.end_user,
                    c.quiet
                ],
            )?;
            for field in &c.fields {
                tx.execute(
                    "INSERT INTO connection_fields (connection_id, field, plain, secret) VALUES (?1, ?2, ?3, ?4)",
                    params![c.id, field.name, field.value.plain, field.value.secret],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn connection(&self, id: &str) -> Result<Option<RawConnection>> {
        let id = id.to_owned();
        self.run(move |db| {
            let tx = db.transaction()?;
            let connection = tx
                .prepare_cached(
                    "SELECT connector, method, auth_kind, name, brand, status, status_reason, account_id,
                            account_name, granted_scopes, callback_url, created_at, updated_at, account_facts, tenant_id,
                            end_user_id, end_user, quiet
                     FROM connections WHERE id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok(RawConnection {
                        id: id.clone(),
                        connector: r.get(0)?,
                        method: r.get(1)?,
                        auth_kind: r.get(2)?,
                        name: r.get(3)?,
                        brand: r.get(4)?,
                        status: r.get(5)?,
                        status_reason: r.get(6)?,
                        account_id: r.get(7)?,
                        account_name: r.get(8)?,
                        account_facts: r.get(13)?,
                        granted_scopes: r.get(9)?,
                        callback_url: r.get(10)?,
                        created_at: r.get(11)?,
                        updated_at: r.get(12)?,
                        tenant_id: r.get(14)?,
                        end_user_id: r.get(15)?,
                        end_user: r.get(16)?,
                        quiet: r.get(17)?,
                        fields: Vec::new(),
                    })
                })
                .optional()?;
            let Some(mut connection) = connection else {
                return Ok(None);
            };
            connection.fields = tx
                .prepare_cached(
                    "SELECT field, plain, secret FROM connection_fields WHERE connection_id = ?1 ORDER BY field",
                )?
                .query_map(params![id], |r| {
                    Ok(RawField {
                        name: r.get(0)?,
                        value: RawValue {
                            plain: r.get(1)?,
                            secret: r.get(2)?,
                        },
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some(connection))
        })
        .await
    }

    async fn status(&self, id: &str) -> Result<Option<(String, Option<String>)>> {
        let id = id.to_owned();
        self.run(move |db| {
            Ok(db
                .prepare_cached("SELECT status, status_reason FROM connections WHERE id = ?1")?
                .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })
        .await
    }

    async fn insert_oauth_grant(&self, g: RawOAuthGrant) -> Result<bool> {
        self.run(move |db| {
            Ok(db.execute(
                "INSERT INTO oauth_grants (token_hash, kind, connection_id, claims, expires_at, created_at)
                 SELECT ?1, ?2, id, ?4, ?5, ?6 FROM connections WHERE id = ?3",
                params![g.token_hash, g.kind, g.connection_id, g.claims, g.expires_at, g.created_at],
            )? > 0)
        })
        .await
    }

    async fn take_oauth_grant(
        &self,
        token_hash: &str,
        kind: &str,
    ) -> Result<Option<(String, i64)>> {
        let (token_hash, kind) = (token_hash.to_owned(), kind.to_owned());
        self.run(move |db| {
            Ok(db
                .query_row(
                    "DELETE FROM oauth_grants WHERE token_hash = ?1 AND kind = ?2
                     RETURNING claims, expires_at",
                    params![token_hash, kind],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .await
    }

    async fn mcp_tools(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_owned();
        self.run(move |db| {
            Ok(db
                .prepare_cached("SELECT tools FROM mcp_tool_limits WHERE connection_id = ?1")?
                .query_row(params![id], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn set_mcp_tools(&self, id: &str, tools: Option<&str>, now: i64) -> Result<bool> {
        let (id, tools) = (id.to_owned(), tools.map(str::to_owned));
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let exists = tx
                .prepare_cached("SELECT 1 FROM connections WHERE id = ?1")?
                .exists(params![id])?;
            if exists {
                match tools {
                    Some(tools) => tx.execute(
                        "INSERT INTO mcp_tool_limits (connection_id, tools, updated_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (connection_id) DO UPDATE SET tools = excluded.tools, updated_at = excluded.updated_at",
                        params![id, tools, now],
                    )?,
                    None => tx.execute(
                        "DELETE FROM mcp_tool_limits WHERE connection_id = ?1",
                        params![id],
                    )?,
                };
            }
            tx.commit()?;
            Ok(exists)
        })
        .await
    }

    async fn tenant_connection_ids(&self, tenant: Option<&str>) -> Result<Vec<String>> {
        let tenant = tenant.map(str::to_owned);
        self.run(move |db| {
            let mut stmt = db.prepare_cached(
                "SELECT id FROM connections WHERE tenant_id IS ?1 ORDER BY created_at, id",
            )?;
            let ids = stmt
                .query_map(params![tenant], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })
        .await
    }

    async fn connection_ids(&self) -> Result<Vec<String>> {
        self.run(|db| {
            let mut stmt =
                db.prepare_cached("SELECT id FROM connections ORDER BY created_at, id")?;
            let ids = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })
        .await
    }

    async fn update_connection(
        &self,
        id: &str,
        update: ConnectionUpdate,
        now: i64,
    ) -> Result<bool> {
        let id = id.to_owned();
        self.run(move |db| {
            let changed = match update {
                ConnectionUpdate::CallbackUrl(url) => db.execute(
                    "UPDATE connections SET callback_url = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, url, now],
                )?,
                ConnectionUpdate::Account {
                    account_id,
                    account_name,
                    account_facts,
                    granted_scopes,
                } => db.execute(
                    "UPDATE connections SET account_id = ?2, account_name = ?3, granted_scopes = ?4, updated_at = ?5, account_facts = ?6 WHERE id = ?1",
                    params![id, account_id, account_name, granted_scopes, now, account_facts],
                )?,
                ConnectionUpdate::Status {
                    status,
                    reason,
                    cause,
                    quiet,
                } => {
                    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let found = transition(&tx, &id, status, reason.as_deref(), cause, quiet, now)?;
                    tx.commit()?;
                    return Ok(found);
                }
            };
            Ok(changed > 0)
        })
        .await
    }

    async fn delete_connection(&self, id: &str, now: i64) -> Result<bool> {
        let id = id.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Some(before) = snapshot(&tx, &id)?
                && before.status != "pending"
            {
                queue_platform_event(
                    &tx,
                    "connection.deleted",
                    &id,
                    &before,
                    Default::default(),
                    now,
                )?;
            }
            let deleted = tx.execute("DELETE FROM connections WHERE id = ?1", params![id])? > 0;
            tx.commit()?;
            Ok(deleted)
        })
        .await
    }

    async fn tokens(&self, id: &str) -> Result<Option<RawTokens>> {
        let id = id.to_owned();
        self.run(move |db| read_tokens(db, &id)).await
    }

    async fn save_tokens(
        &self,
        id: &str,
        tokens: RawTokens,
        expected: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        let id = id.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT version FROM tokens WHERE connection_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            if current != expected {
                return Err(StoreError::Conflict(format!(
                    "the tokens of connection `{id}`"
                )));
            }
            if !connection_exists(&tx, &id)? {
                return Err(StoreError::NoSuchConnection(id));
            }
            let version = current.unwrap_or(0) + 1;
            write_tokens(&tx, &id, &tokens, version, now)?;
            tx.commit()?;
            Ok(version)
        })
        .await
    }

    async fn clear_tokens(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.run(move |db| {
            db.execute("DELETE FROM tokens WHERE connection_id = ?1", params![id])?;
            Ok(())
        })
        .await
    }

    async fn refresh_lease(&self, id: &str, terms: LeaseTerms) -> Result<Box<dyn LeaseBackend>> {
        let inner = self.inner.clone();
        let connection = id.to_owned();
        let db = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let db = inner.connect(terms.wait)?;
            match db.execute_batch("BEGIN IMMEDIATE") {
                Ok(()) => Ok(db),
                Err(e) if busy(&e) => Err(StoreError::LeaseBusy {
                    connection,
                    waited_secs: terms.wait.as_secs(),
                }),
                Err(e) => Err(e.into()),
            }
        })
        .await??;
        Ok(Box::new(SqliteLease { db: Some(db) }))
    }

    async fn put_sign_in(&self, s: RawSignIn, now: i64) -> Result<()> {
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM sign_ins WHERE expires_at <= ?1", params![now])?;
            let inserted = tx.execute(
                "INSERT INTO sign_ins (key_hash, connection_id, flow, payload, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![s.key_hash, s.connection_id, s.flow, s.payload, s.expires_at, now],
            );
            match inserted {
                Err(e) if constraint(&e) && !connection_exists(&tx, &s.connection_id)? => {
                    return Err(StoreError::NoSuchConnection(s.connection_id));
                }
                other => other?,
            };
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn take_sign_in(&self, key_hash: &str) -> Result<Option<RawSignIn>> {
        let key_hash = key_hash.to_owned();
        self.run(move |db| {
            Ok(db
                .query_row(
                    "DELETE FROM sign_ins WHERE key_hash = ?1 RETURNING connection_id, flow, payload, expires_at",
                    params![key_hash],
                    |r| {
                        Ok(RawSignIn {
                            key_hash: key_hash.clone(),
                            connection_id: r.get(0)?,
                            flow: r.get(1)?,
                            payload: r.get(2)?,
                            expires_at: r.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    async fn put_session(&self, token_hash: &str, expires_at: i64, now: i64) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?;
            tx.execute(
                "INSERT INTO sessions (token_hash, expires_at, created_at) VALUES (?1, ?2, ?3)",
                params![token_hash, expires_at, now],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn session_expires_at(&self, token_hash: &str) -> Result<Option<i64>> {
        let token_hash = token_hash.to_owned();
        self.run(move |db| {
            Ok(db
                .prepare_cached("SELECT expires_at FROM sessions WHERE token_hash = ?1")?
                .query_row(params![token_hash], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.run(move |db| {
            db.execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                params![token_hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn sweep(&self, now: i64) -> Result<u64> {
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let sign_ins =
                tx.execute("DELETE FROM sign_ins WHERE expires_at <= ?1", params![now])?;
            let sessions =
                tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?;
            tx.execute(
                "DELETE FROM request_counts WHERE window_start < ?1",
                params![now - crate::records::LONGEST_COUNT_WINDOW_SECS],
            )?;
            tx.execute(
                "DELETE FROM connect_sessions WHERE expires_at <= ?1",
                params![now - crate::records::CONNECT_SESSION_KEPT_SECS],
            )?;
            tx.execute(
                "DELETE FROM identity_codes WHERE expires_at <= ?1",
                params![now],
            )?;
            tx.execute(
                "DELETE FROM oauth_grants WHERE expires_at <= ?1",
                params![now],
            )?;
            tx.commit()?;
            Ok((sign_ins + sessions) as u64)
        })
        .await
    }

    async fn insert_subscription(&self, s: RawSubscription, secret: Option<Vec<u8>>) -> Result<()> {
        self.run(move |db| {
            let inserted = db.execute(
                &format!(
                    "INSERT INTO trigger_subscriptions ({SUBSCRIPTION_COLUMNS}, signing_secret)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                ),
                params![
                    s.id,
                    s.connection_id,
                    s.trigger,
                    s.configuration,
                    s.delivery,
                    s.cursor,
                    s.cursor_version,
                    s.destination,
                    s.target_url,
                    s.interval_secs,
                    s.next_poll_at,
                    s.created_at,
                    s.updated_at,
                    secret
                ],
            );
            match inserted {
                Err(e) if constraint(&e) && !connection_exists(db, &s.connection_id)? => {
                    Err(StoreError::NoSuchConnection(s.connection_id))
                }
                other => other.map(|_| ()).map_err(Into::into),
            }
        })
        .await
    }

    async fn signing_secret(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let id = id.to_owned();
        self.run(move |db| {
            Ok(db
                .query_row(
                    "SELECT signing_secret FROM trigger_subscriptions WHERE id = ?1",
                    params![id],
                    |r| r.get::<_, Option<Vec<u8>>>(0),
                )
                .optional()?
                .flatten())
        })
        .await
    }

    async fn claim_poll(
        &self,
        host: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<RawSubscription>> {
        let host = host.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let claimed = tx
                .query_row(
                    &format!(
                        "UPDATE trigger_subscriptions SET poller = ?1, poll_lease_until = ?3
                         WHERE id = (SELECT id FROM trigger_subscriptions
                                     WHERE destination <> 'watch' AND delivery = 'poll'
                                       AND next_poll_at <= ?2 AND poll_lease_until < ?2
                                     ORDER BY next_poll_at, id LIMIT 1)
                         RETURNING {SUBSCRIPTION_COLUMNS}"
                    ),
                    params![host, now, lease_until],
                    subscription_row,
                )
                .optional()?;
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

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
    ) -> Result<u64> {
        let (id, host) = (id.to_owned(), host.to_owned());
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let moved = tx.execute(
                "UPDATE trigger_subscriptions
                 SET cursor = ?3, cursor_version = cursor_version + 1, next_poll_at = ?5,
                     poller = NULL, poll_lease_until = 0, updated_at = ?6
                 WHERE id = ?1 AND poller = ?2 AND cursor_version = ?4",
                params![id, host, cursor, expected, next_poll_at, now],
            )?;
            if moved == 0 {
                return Err(StoreError::Conflict(format!(
                    "the poll of subscription `{id}`"
                )));
            }
            let new = queue(&tx, &id, events, trace.as_deref(), now)?;
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn release_poll(&self, id: &str, host: &str, next_poll_at: i64) -> Result<()> {
        let (id, host) = (id.to_owned(), host.to_owned());
        self.run(move |db| {
            db.execute(
                "UPDATE trigger_subscriptions SET poller = NULL, poll_lease_until = 0, next_poll_at = ?3
                 WHERE id = ?1 AND poller = ?2",
                params![id, host, next_poll_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        host: &str,
        now: i64,
        claimed_until: i64,
        limit: i64,
    ) -> Result<Vec<(RawDelivery, String)>> {
        let host = host.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let claimed: Vec<RawDelivery> = tx
                .prepare_cached(&format!(
                    "UPDATE trigger_deliveries SET claimed_by = ?1, claimed_until = ?3, attempts = attempts + 1
                     WHERE rowid IN (
                         SELECT d.rowid FROM trigger_deliveries d
                         JOIN trigger_subscriptions s ON s.id = d.subscription_id
                         WHERE d.status = 'pending' AND s.destination = 'url'
                           AND d.next_attempt_at <= ?2 AND d.claimed_until < ?2
                           AND NOT EXISTS (
                             SELECT 1 FROM trigger_deliveries e
                             WHERE e.subscription_id = d.subscription_id AND e.status = 'pending'
                               AND e.sequence < d.sequence
                               AND (e.claimed_until >= ?2 OR e.next_attempt_at > ?2))
                         ORDER BY d.subscription_id, d.sequence LIMIT ?4)
                     RETURNING {DELIVERY_COLUMNS}"
                ))?
                .query_map(params![host, now, claimed_until, limit], delivery_row)?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::with_capacity(claimed.len());
            for delivery in claimed {
                let url: String = tx.query_row(
                    "SELECT coalesce(target_url, '') FROM trigger_subscriptions WHERE id = ?1",
                    params![delivery.subscription_id],
                    |r| r.get(0),
                )?;
                out.push((delivery, url));
            }
            tx.commit()?;
            out.sort_by(|a, b| {
                (a.0.subscription_id.as_str(), a.0.sequence)
                    .cmp(&(b.0.subscription_id.as_str(), b.0.sequence))
            });
            Ok(out)
        })
        .await
    }

    async fn defer_polls(&self, connection_id: &str, trigger: &str, until: i64) -> Result<u64> {
        let (id, trigger) = (connection_id.to_owned(), trigger.to_owned());
        self.run(move |db| {
            Ok(db.execute(
                "UPDATE trigger_subscriptions SET next_poll_at = ?3
                 WHERE connection_id = ?1 AND trigger_id = ?2 AND delivery = 'poll'
                   AND destination <> 'watch' AND next_poll_at < ?3",
                params![id, trigger, until],
            )? as u64)
        })
        .await
    }

    async fn queue_events(
        &self,
        subscription_id: &str,
        events: Vec<(String, String)>,
        trace: Option<String>,
        now: i64,
    ) -> Result<u64> {
        let id = subscription_id.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM trigger_subscriptions WHERE id = ?1)",
                params![id],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StoreError::NoSuchSubscription(id.clone()));
            }
            let new = queue(&tx, &id, events, trace.as_deref(), now)?;
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn set_push(
        &self,
        subscription_id: &str,
        push_id: Option<String>,
        now: i64,
    ) -> Result<()> {
        let id = subscription_id.to_owned();
        self.run(move |db| {
            let changed = db.execute(
                "UPDATE trigger_subscriptions
                 SET delivery = CASE WHEN ?2 IS NULL THEN 'poll' ELSE 'push' END, push_id = ?2, updated_at = ?3
                 WHERE id = ?1",
                params![id, push_id, now],
            )?;
            if changed == 0 {
                return Err(StoreError::NoSuchSubscription(id.clone()));
            }
            Ok(())
        })
        .await
    }

    async fn push_id(&self, subscription_id: &str) -> Result<Option<String>> {
        let id = subscription_id.to_owned();
        self.run(move |db| {
            Ok(db
                .query_row(
                    "SELECT push_id FROM trigger_subscriptions WHERE id = ?1",
                    params![id],
                    |r| r.get::<_, Option<String>>(0),
                )
                .optional()?
                .flatten())
        })
        .await
    }

    async fn push_subscriptions(&self) -> Result<Vec<RawSubscription>> {
        self.run(move |db| {
            let mut stmt = db.prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions
                 WHERE delivery = 'push' AND push_id IS NOT NULL ORDER BY created_at, id"
            ))?;
            let rows = stmt
                .query_map([], subscription_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn webhook(&self, connection_id: &str) -> Result<Option<RawWebhook>> {
        let id = connection_id.to_owned();
        self.run(move |db| {
            Ok(db
                .query_row(
                    &format!(
                        "SELECT {WEBHOOK_COLUMNS} FROM push_webhooks WHERE connection_id = ?1"
                    ),
                    params![id],
                    webhook_row,
                )
                .optional()?)
        })
        .await
    }

    async fn claim_webhook(
        &self,
        connection_id: &str,
        url: &str,
        host: &str,
        now: i64,
        until: i64,
    ) -> Result<bool> {
        let (id, url, host) = (connection_id.to_owned(), url.to_owned(), host.to_owned());
        self.run(move |db| {
            let taken = db.execute(
                "INSERT INTO push_webhooks (connection_id, url, registrar, registrar_until)
                 VALUES (?1, ?2, ?3, ?5)
                 ON CONFLICT (connection_id) DO UPDATE
                 SET url = excluded.url, remote_id = NULL, registered_at = NULL,
                     registrar = excluded.registrar, registrar_until = excluded.registrar_until
                 WHERE push_webhooks.registrar_until < ?4
                   AND (push_webhooks.remote_id IS NULL OR push_webhooks.url <> excluded.url)",
                params![id, url, host, now, until],
            )?;
            Ok(taken > 0)
        })
        .await
    }

    async fn save_webhook(&self, connection_id: &str, remote_id: &str, now: i64) -> Result<()> {
        let (id, remote) = (connection_id.to_owned(), remote_id.to_owned());
        self.run(move |db| {
            db.execute(
                "UPDATE push_webhooks SET remote_id = ?2, registered_at = ?3, registrar = NULL,
                     registrar_until = 0, last_event_at = coalesce(last_event_at, ?3)
                 WHERE connection_id = ?1",
                params![id, remote, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn touch_webhook(&self, connection_id: &str, at: i64) -> Result<()> {
        let id = connection_id.to_owned();
        self.run(move |db| {
            db.execute(
                "UPDATE push_webhooks SET last_event_at = max(coalesce(last_event_at, 0), ?2)
                 WHERE connection_id = ?1",
                params![id, at],
            )?;
            Ok(())
        })
        .await
    }

    async fn insert_tenant(&self, t: RawTenant) -> Result<()> {
        self.run(move |db| {
            db.execute(
                "INSERT INTO tenants (id, name, created_at, settings) VALUES (?1, ?2, ?3, ?4)",
                params![t.id, t.name, t.created_at, t.settings],
            )?;
            Ok(())
        })
        .await
    }

    async fn tenant(&self, id: &str) -> Result<Option<RawTenant>> {
        let id = id.to_owned();
        self.run(move |db| {
            Ok(db
                .prepare_cached("SELECT id, name, created_at, settings FROM tenants WHERE id = ?1")?
                .query_row(params![id], tenant_row)
                .optional()?)
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<RawTenant>> {
        self.run(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT id, name, created_at, settings FROM tenants ORDER BY created_at, id",
            )?;
            let rows = stmt
                .query_map([], tenant_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn set_tenant_settings(&self, id: &str, settings: &str) -> Result<bool> {
        let (id, settings) = (id.to_owned(), settings.to_owned());
        self.run(move |db| {
            Ok(db.execute(
                "UPDATE tenants SET settings = ?2 WHERE id = ?1",
                params![id, settings],
            )? > 0)
        })
        .await
    }

    async fn end_user_connection_ids(
        &self,
        tenant_id: &str,
        end_user_id: &str,
    ) -> Result<Vec<String>> {
        let (tenant_id, end_user_id) = (tenant_id.to_owned(), end_user_id.to_owned());
        self.run(move |db| {
            let mut stmt = db.prepare_cached(
                "SELECT id FROM connections WHERE tenant_id = ?1 AND end_user_id = ?2 ORDER BY created_at, id",
            )?;
            let ids = stmt
                .query_map(params![tenant_id, end_user_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })
        .await
    }

    async fn insert_connect_session(&self, c: RawConnectSession, token_hash: &str) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.run(move |db| {
            let inserted = db.execute(
                &format!(
                    "INSERT INTO connect_sessions (token_hash, {CONNECT_SESSION_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    token_hash,
                    c.id,
                    c.tenant_id,
                    c.purpose,
                    c.details,
                    c.expires_at,
                    c.used_at,
                    c.connection_id,
                    c.created_at
                ],
            );
            match inserted {
                Err(e) if constraint(&e) => Err(StoreError::NoSuchTenant(c.tenant_id)),
                other => Ok(other.map(|_| ())?),
            }
        })
        .await
    }

    async fn connect_session(&self, token_hash: &str) -> Result<Option<RawConnectSession>> {
        let token_hash = token_hash.to_owned();
        self.run(move |db| {
            Ok(db
                .prepare_cached(&format!(
                    "SELECT {CONNECT_SESSION_COLUMNS} FROM connect_sessions WHERE token_hash = ?1"
                ))?
                .query_row(params![token_hash], connect_session_row)
                .optional()?)
        })
        .await
    }

    async fn connect_session_of(&self, connection_id: &str) -> Result<Option<RawConnectSession>> {
        let connection_id = connection_id.to_owned();
        self.run(move |db| {
            Ok(db
                .prepare_cached(&format!(
                    "SELECT {CONNECT_SESSION_COLUMNS} FROM connect_sessions WHERE connection_id = ?1"
                ))?
                .query_row(params![connection_id], connect_session_row)
                .optional()?)
        })
        .await
    }

    async fn use_connect_session(
        &self,
        token_hash: &str,
        connection_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let (token_hash, connection_id) = (token_hash.to_owned(), connection_id.map(str::to_owned));
        self.run(move |db| {
            Ok(db.execute(
                "UPDATE connect_sessions SET used_at = ?3, connection_id = ?2
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?3",
                params![token_hash, connection_id, now],
            )? > 0)
        })
        .await
    }

    async fn insert_identity_code(
        &self,
        code_hash: &str,
        tenant_id: &str,
        identity: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        let (code_hash, tenant_id) = (code_hash.to_owned(), tenant_id.to_owned());
        self.run(move |db| {
            db.execute(
                "INSERT INTO identity_codes (code_hash, tenant_id, identity, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![code_hash, tenant_id, identity, expires_at, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn take_identity_code(
        &self,
        code_hash: &str,
        tenant_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        let (code_hash, tenant_id) = (code_hash.to_owned(), tenant_id.to_owned());
        self.run(move |db| {
            Ok(db
                .query_row(
                    "DELETE FROM identity_codes WHERE code_hash = ?1 AND tenant_id = ?2
                     RETURNING identity, expires_at",
                    params![code_hash, tenant_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .await
    }

    async fn insert_api_key(&self, k: RawApiKey, key_hash: &str) -> Result<()> {
        let key_hash = key_hash.to_owned();
        self.run(move |db| {
            db.execute(
                "INSERT INTO api_keys (id, tenant_id, key_hash, scopes, created_at, expires_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![k.id, k.tenant_id, key_hash, k.scopes, k.created_at, k.expires_at, k.revoked_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<RawApiKey>> {
        let key_hash = key_hash.to_owned();
        self.run(move |db| {
            Ok(db
                .prepare_cached(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"
                ))?
                .query_row(params![key_hash], api_key_row)
                .optional()?)
        })
        .await
    }

    async fn api_keys(&self, tenant_id: &str) -> Result<Vec<RawApiKey>> {
        let tenant_id = tenant_id.to_owned();
        self.run(move |db| {
            let mut stmt = db.prepare_cached(&format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = stmt
                .query_map(params![tenant_id], api_key_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn end_api_key(
        &self,
        tenant_id: &str,
        key_id: &str,
        revoked_at: Option<i64>,
        expires_at: Option<i64>,
    ) -> Result<bool> {
        let (tenant_id, key_id) = (tenant_id.to_owned(), key_id.to_owned());
        self.run(move |db| {
            let changed = db.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3),
                     expires_at = CASE WHEN ?4 IS NULL THEN expires_at
                                       ELSE min(coalesce(expires_at, ?4), ?4) END
                 WHERE tenant_id = ?1 AND id = ?2",
                params![tenant_id, key_id, revoked_at, expires_at],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn announce(&self, id: &str, kind: &str, now: i64) -> Result<bool> {
        let (id, kind) = (id.to_owned(), kind.to_owned());
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let Some(now_as) = snapshot(&tx, &id)? else {
                return Ok(false);
            };
            queue_platform_event(&tx, &kind, &id, &now_as, Default::default(), now)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn set_tenant_webhook(
        &self,
        tenant_id: &str,
        url: &str,
        signing_secret: Vec<u8>,
        now: i64,
    ) -> Result<()> {
        let (tenant_id, url) = (tenant_id.to_owned(), url.to_owned());
        self.run(move |db| {
            db.execute(
                "INSERT INTO tenant_webhooks (tenant_id, url, signing_secret, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id) DO UPDATE
                 SET url = excluded.url, signing_secret = excluded.signing_secret, created_at = excluded.created_at",
                params![tenant_id, url, signing_secret, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn tenant_webhook(&self, tenant_id: &str) -> Result<Option<(String, Vec<u8>, i64)>> {
        let tenant_id = tenant_id.to_owned();
        self.run(move |db| {
            Ok(db
                .prepare_cached(
                    "SELECT url, signing_secret, created_at FROM tenant_webhooks WHERE tenant_id = ?1",
                )?
                .query_row(params![tenant_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?)
        })
        .await
    }

    async fn delete_tenant_webhook(&self, tenant_id: &str) -> Result<bool> {
        let tenant_id = tenant_id.to_owned();
        self.run(move |db| {
            Ok(db.execute(
                "DELETE FROM tenant_webhooks WHERE tenant_id = ?1",
                params![tenant_id],
            )? > 0)
        })
        .await
    }

    async fn claim_tenant_events(
        &self,
        host: &str,
        now: i64,
        claimed_until: i64,
        limit: i64,
    ) -> Result<Vec<(RawTenantEvent, String, Vec<u8>)>> {
        let host = host.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let claimed: Vec<(RawTenantEvent, String, Vec<u8>)> = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {TENANT_EVENT_COLUMNS}, w.url, w.signing_secret
                     FROM tenant_events e JOIN tenant_webhooks w ON w.tenant_id = e.tenant_id
                     WHERE e.status = 'pending' AND e.next_attempt_at <= ?1 AND e.claimed_until <= ?1
                     ORDER BY e.seq LIMIT ?2"
                ))?;
                stmt.query_map(params![now, limit], |r| {
                    Ok((tenant_event_row(r)?, r.get(10)?, r.get(11)?))
                })?
                .collect::<rusqlite::Result<_>>()?
            };
            for (event, _, _) in &claimed {
                tx.execute(
                    "UPDATE tenant_events SET claimed_by = ?2, claimed_until = ?3, attempts = attempts + 1 WHERE id = ?1",
                    params![event.id, host, claimed_until],
                )?;
            }
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    async fn settle_tenant_event(&self, id: &str, settlement: Settlement, now: i64) -> Result<()> {
        let id = id.to_owned();
        self.run(move |db| {
            let (status, next, error, settled) = settlement.columns(now);
            db.execute(
                "UPDATE tenant_events SET status = ?2, next_attempt_at = ?3,
                     last_error = coalesce(?4, last_error), settled_at = ?5, claimed_by = NULL, claimed_until = 0
                 WHERE id = ?1",
                params![id, status, next, error, settled],
            )?;
            Ok(())
        })
        .await
    }

    async fn tenant_events(&self, tenant_id: &str, limit: i64) -> Result<Vec<RawTenantEvent>> {
        let tenant_id = tenant_id.to_owned();
        self.run(move |db| {
            let mut stmt = db.prepare_cached(&format!(
                "SELECT {TENANT_EVENT_COLUMNS} FROM tenant_events e WHERE e.tenant_id = ?1
                 ORDER BY e.seq DESC LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![tenant_id, limit], tenant_event_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn add_usage(&self, entry: RawUsage) -> Result<()> {
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (unit, amount) in &entry.amounts {
                tx.execute(
                    "INSERT INTO usage_ledger (tenant_id, day, connection_id, operation, unit, amount)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (tenant_id, day, connection_id, operation, unit)
                     DO UPDATE SET amount = usage_ledger.amount + excluded.amount",
                    params![
                        entry.tenant_id,
                        entry.day,
                        entry.connection_id,
                        entry.operation,
                        unit,
                        amount
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn usage(&self, tenant_id: &str, from: &str, to: &str) -> Result<Vec<RawUsage>> {
        let (tenant_id, from, to) = (tenant_id.to_owned(), from.to_owned(), to.to_owned());
        self.run(move |db| {
            let mut stmt = db.prepare_cached(
                "SELECT day, connection_id, operation, unit, amount FROM usage_ledger
                 WHERE tenant_id = ?1 AND day >= ?2 AND day <= ?3
                 ORDER BY day, connection_id, operation, unit",
            )?;
            let rows = stmt
                .query_map(params![tenant_id, from, to], |r| {
                    Ok(RawUsage {
                        tenant_id: tenant_id.clone(),
                        day: r.get(0)?,
                        connection_id: r.get(1)?,
                        operation: r.get(2)?,
                        amounts: vec![(r.get(3)?, r.get(4)?)],
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn count_request(&self, key: &str, window_start: i64) -> Result<u64> {
        let key = key.to_owned();
        self.run(move |db| {
            let count: i64 = db.query_row(
                "INSERT INTO request_counts (key, window_start, count) VALUES (?1, ?2, 1)
                 ON CONFLICT (key) DO UPDATE
                 SET count = CASE WHEN request_counts.window_start = excluded.window_start
                                  THEN request_counts.count + 1 ELSE 1 END,
                     window_start = excluded.window_start
                 RETURNING count",
                params![key, window_start],
                |row| row.get(0),
            )?;
            Ok(count.max(0) as u64)
        })
        .await
    }

    async fn release_deliveries(&self, host: &str, subscription_id: &str) -> Result<()> {
        let (host, sid) = (host.to_owned(), subscription_id.to_owned());
        self.run(move |db| {
            db.execute(
                "UPDATE trigger_deliveries SET claimed_by = NULL, claimed_until = 0, attempts = attempts - 1
                 WHERE subscription_id = ?2 AND claimed_by = ?1 AND status = 'pending'",
                params![host, sid],
            )?;
            Ok(())
        })
        .await
    }

    async fn settle_delivery(
        &self,
        subscription_id: &str,
        event_id: &str,
        settlement: Settlement,
        now: i64,
    ) -> Result<()> {
        let (sid, eid) = (subscription_id.to_owned(), event_id.to_owned());
        self.run(move |db| {
            let (status, next, error, settled) = settlement.columns(now);
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let changed = tx.execute(
                "UPDATE trigger_deliveries SET status = ?3, next_attempt_at = ?4,
                     last_error = coalesce(?5, last_error), settled_at = ?6, claimed_by = NULL, claimed_until = 0
                 WHERE subscription_id = ?1 AND event_id = ?2 AND status <> 'dead'",
                params![sid, eid, status, next, error, settled],
            )?;
            if changed > 0 && status == "dead" {
                let found: Option<(String, String)> = tx
                    .query_row(
                        "SELECT connection_id, trigger_id FROM trigger_subscriptions WHERE id = ?1",
                        params![sid],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((connection, trigger)) = found
                    && let Some(snapshot) = snapshot(&tx, &connection)?
                {
                    let extra = dead_letter_extra(&sid, &trigger, &eid, error.as_deref());
                    queue_platform_event(&tx, "subscription.dead_letter", &connection, &snapshot, extra, now)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn deliveries(
        &self,
        subscription_id: &str,
        after: i64,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RawDelivery>> {
        let (sid, status) = (subscription_id.to_owned(), status.map(str::to_owned));
        self.run(move |db| {
            let rows = db
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM trigger_deliveries
                     WHERE subscription_id = ?1 AND sequence > ?2 AND (?3 IS NULL OR status = ?3)
                     ORDER BY sequence LIMIT ?4"
                ))?
                .query_map(params![sid, after, status, limit], delivery_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn release_host(&self, host: &str) -> Result<u64> {
        let host = host.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut released = 0;
            for sql in [
                "UPDATE trigger_subscriptions SET poller = NULL, poll_lease_until = 0 WHERE poller = ?1",
                "UPDATE trigger_deliveries SET claimed_by = NULL, claimed_until = 0 WHERE claimed_by = ?1 AND status = 'pending'",
                "UPDATE tenant_events SET claimed_by = NULL, claimed_until = 0 WHERE claimed_by = ?1 AND status = 'pending'",
            ] {
                released += tx.execute(sql, params![host])?;
            }
            tx.commit()?;
            Ok(released as u64)
        })
        .await
    }

    async fn prune_events(&self, before: i64) -> Result<u64> {
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let events = tx.execute(
                "DELETE FROM trigger_deliveries
                 WHERE ((status = 'delivered' AND settled_at < ?1)
                        OR (status = 'pending' AND created_at < ?1 AND subscription_id IN
                            (SELECT id FROM trigger_subscriptions WHERE destination = 'pull')))
                   AND sequence < (SELECT max(d.sequence) FROM trigger_deliveries d
                                   WHERE d.subscription_id = trigger_deliveries.subscription_id)",
                params![before],
            )?;
            let platform = tx.execute(
                "DELETE FROM tenant_events WHERE status <> 'pending' AND settled_at < ?1",
                params![before],
            )?;
            tx.commit()?;
            Ok((events + platform) as u64)
        })
        .await
    }

    async fn sealed_values(
        &self,
        column: &'static SealedColumn,
        after: Option<Vec<String>>,
        limit: usize,
    ) -> Result<Vec<SealedValue>> {
        self.run(move |db| {
            let sql = sealed_values_sql(column, after.is_some(), '?');
            let mut values: Vec<rusqlite::types::Value> = after
                .unwrap_or_default()
                .into_iter()
                .map(rusqlite::types::Value::Text)
                .collect();
            values.push(rusqlite::types::Value::Integer(limit as i64));
            let mut statement = db.prepare(&sql)?;
            let rows = statement.query_map(rusqlite::params_from_iter(values), |r| {
                let key = (0..column.key.len())
                    .map(|i| r.get::<_, String>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(SealedValue {
                    key,
                    value: r.get(column.key.len())?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn reseal(&self, column: &'static SealedColumn, changes: Vec<Reseal>) -> Result<u64> {
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut replaced = 0;
            {
                let mut statement = tx.prepare(&reseal_sql(column, '?'))?;
                for change in changes {
                    let mut values = vec![rusqlite::types::Value::Blob(change.new)];
                    values.extend(change.key.into_iter().map(rusqlite::types::Value::Text));
                    values.push(rusqlite::types::Value::Blob(change.old));
                    replaced += statement.execute(rusqlite::params_from_iter(values))? as u64;
                }
            }
            tx.commit()?;
            Ok(replaced)
        })
        .await
    }

    async fn oldest_pending_delivery(&self) -> Result<Option<i64>> {
        self.run(|db| Ok(db.query_row(OLDEST_PENDING_SQL, [], |r| r.get(0))?))
            .await
    }

    async fn oldest_sequence(&self, subscription_id: &str) -> Result<Option<i64>> {
        let sid = subscription_id.to_owned();
        self.run(move |db| {
            Ok(db.query_row(
                "SELECT min(sequence) FROM trigger_deliveries WHERE subscription_id = ?1",
                params![sid],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn requeue_dead(&self, subscription_id: &str, now: i64) -> Result<u64> {
        let sid = subscription_id.to_owned();
        self.run(move |db| {
            Ok(db.execute(
                "UPDATE trigger_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?2,
                     settled_at = NULL, claimed_until = 0
                 WHERE subscription_id = ?1 AND status = 'dead'",
                params![sid, now],
            )? as u64)
        })
        .await
    }

    async fn subscription(&self, id: &str) -> Result<Option<RawSubscription>> {
        let id = id.to_owned();
        self.run(move |db| {
            Ok(db
                .query_row(
                    &format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions WHERE id = ?1"
                    ),
                    params![id],
                    subscription_row,
                )
                .optional()?)
        })
        .await
    }

    async fn subscriptions(&self, connection_id: Option<&str>) -> Result<Vec<RawSubscription>> {
        let connection_id = connection_id.map(str::to_owned);
        self.run(move |db| {
            let mut stmt = db.prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions
                 WHERE ?1 IS NULL OR connection_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = stmt
                .query_map(params![connection_id], subscription_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn move_cursor(
        &self,
        id: &str,
        cursor: Option<String>,
        expected: i64,
        now: i64,
    ) -> Result<i64> {
        let id = id.to_owned();
        self.run(move |db| {
            let moved: Option<i64> = db
                .query_row(
                    "UPDATE trigger_subscriptions SET cursor = ?2, cursor_version = cursor_version + 1, updated_at = ?4
                     WHERE id = ?1 AND cursor_version = ?3 RETURNING cursor_version",
                    params![id, cursor, expected, now],
                    |r| r.get(0),
                )
                .optional()?;
            match moved {
                Some(version) => Ok(version),
                None => {
                    Err(if subscription_exists(db, &id)? {
                        StoreError::Conflict(format!("the cursor of subscription `{id}`"))
                    } else {
                        StoreError::NoSuchSubscription(id)
                    })
                }
            }
        })
        .await
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.run(move |db| {
            Ok(db.execute(
                "DELETE FROM trigger_subscriptions WHERE id = ?1",
                params![id],
            )? > 0)
        })
        .await
    }

    async fn record_events(&self, id: &str, keys: Vec<String>, now: i64) -> Result<Vec<String>> {
        let id = id.to_owned();
        self.run(move |db| {
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if !subscription_exists(&tx, &id)? {
                return Err(StoreError::NoSuchSubscription(id));
            }
            let mut new = Vec::new();
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO trigger_events_seen (subscription_id, event_key, seen_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                )?;
                for key in keys {
                    if insert.execute(params![id, key, now])? > 0 {
                        new.push(key);
                    }
                }
            }
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn unseen_events(&self, id: &str, keys: Vec<String>) -> Result<Vec<String>> {
        let id = id.to_owned();
        self.run(move |db| {
            let tx = db.transaction()?;
            let mut unseen = Vec::new();
            {
                let mut seen = tx.prepare_cached(
                    "SELECT 1 FROM trigger_events_seen WHERE subscription_id = ?1 AND event_key = ?2",
                )?;
                for key in keys {
                    if !seen.exists(params![id, key])? {
                        unseen.push(key);
                    }
                }
            }
            Ok(unseen)
        })
        .await
    }

    async fn forget_events(&self, id: &str, before: i64) -> Result<u64> {
        let id = id.to_owned();
        self.run(move |db| {
            Ok(db.execute(
                "DELETE FROM trigger_events_seen WHERE subscription_id = ?1 AND seen_at < ?2",
                params![id, before],
            )? as u64)
        })
        .await
    }
}

/// A write transaction held as a refresh lease. Dropping it without
/// committing closes its connection, which rolls the transaction back.
struct SqliteLease {
    db: Option<Connection>,
}

impl SqliteLease {
    async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut db = self
            .db
            .take()
            .ok_or_else(|| StoreError::Internal("the lease was already released".into()))?;
        let (db, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut db);
            (db, result)
        })
        .await?;
        self.db = Some(db);
        result
    }
}

#[async_trait::async_trait]
impl LeaseBackend for SqliteLease {
    async fn tokens(&mut self, id: &str) -> Result<Option<RawTokens>> {
        let id = id.to_owned();
        self.run(move |db| read_tokens(db, &id)).await
    }

    async fn save_tokens(&mut self, id: &str, tokens: RawTokens, now: i64) -> Result<i64> {
        let id = id.to_owned();
        self.run(move |db| {
            if !connection_exists(db, &id)? {
                return Err(StoreError::NoSuchConnection(id));
            }
            let version = read_tokens(db, &id)?.map(|t| t.version).unwrap_or(0) + 1;
            write_tokens(db, &id, &tokens, version, now)?;
            Ok(version)
        })
        .await
    }

    async fn set_status(
        &mut self,
        id: &str,
        status: &'static str,
        reason: Option<String>,
        cause: Option<&'static str>,
        now: i64,
    ) -> Result<()> {
        let id = id.to_owned();
        self.run(move |db| {
            if transition(db, &id, status, reason.as_deref(), cause, false, now)? {
                Ok(())
            } else {
                Err(StoreError::NoSuchConnection(id))
            }
        })
        .await
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.run(|db| Ok(db.execute_batch("COMMIT")?)).await
    }
}

const API_KEY_COLUMNS: &str = "id, tenant_id, scopes, created_at, expires_at, revoked_at";

fn tenant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawTenant> {
    Ok(RawTenant {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
        settings: r.get(3)?,
    })
}

const TENANT_EVENT_COLUMNS: &str = "e.id, e.tenant_id, e.kind, e.payload, e.status, e.attempts, e.last_error, e.created_at, e.settled_at, e.seq";

fn tenant_event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawTenantEvent> {
    Ok(RawTenantEvent {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        kind: r.get(2)?,
        payload: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        last_error: r.get(6)?,
        created_at: r.get(7)?,
        settled_at: r.get(8)?,
        seq: r.get(9)?,
    })
}

const CONNECT_SESSION_COLUMNS: &str =
    "id, tenant_id, purpose, details, expires_at, used_at, connection_id, created_at";

fn connect_session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawConnectSession> {
    Ok(RawConnectSession {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        purpose: r.get(2)?,
        details: r.get(3)?,
        expires_at: r.get(4)?,
        used_at: r.get(5)?,
        connection_id: r.get(6)?,
        created_at: r.get(7)?,
    })
}

fn api_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawApiKey> {
    Ok(RawApiKey {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        scopes: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}
