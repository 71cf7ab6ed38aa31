//! The shared store: a PostgreSQL database that every host of a platform
//! uses, on one machine or many.
//!
//! Connections come from a pool (`deadpool-postgres` over
//! `tokio-postgres`). The tables live in the connection's current schema,
//! so one database can hold several stores (`options=-c search_path=…` in
//! the URL picks one).
//!
//! The refresh lease is a transaction-scoped advisory lock, named by the
//! schema and the connection, taken on a database connection of its own
//! and kept for the transaction's life. A holder that dies loses its
//! session and with it the lock; a holder that stops answering
//! (a frozen process) is disconnected by the server once it has sat idle in
//! the transaction past the lease's `hold`; a waiter gives up after `wait`.

use super::postgres_tls::{connector, split_url};
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
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Database connections a host keeps open at most.
const POOL_SIZE: usize = 16;
/// How long opening a database connection may take, unless the URL says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Postgres {
    pool: Pool,
    config: Config,
    /// TLS as the URL's `sslmode` asks, for connections outside the pool.
    tls: MakeRustlsConnect,
}

/// The URL as it may be shown: user, hosts, ports and database, never the
/// password or the options.
pub(crate) fn location_of(url: &str) -> String {
    let url = split_url(url).map(|(url, _)| url).unwrap_or_default();
    match url.parse::<Config>() {
        Ok(config) => describe(&config),
        Err(_) => "(a PostgreSQL URL that does not parse)".into(),
    }
}

fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    format!(
        "postgres://{}{}/{}",
        config
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

/// The driver's configuration of a URL, and its TLS connector as the URL's
/// `sslmode` and `sslrootcert` ask.
fn parse(url: &str) -> Result<(Config, MakeRustlsConnect)> {
    let invalid = |reason: String| StoreError::Open {
        location: location_of(url),
        reason: format!("the database URL is not valid: {reason}"),
    };
    let (url, tls) = split_url(url).map_err(invalid)?;
    let mut config: Config = url.parse().map_err(|e| invalid(format!("{e}")))?;
    config.ssl_mode(tls.driver_mode());
    if config.get_application_name().is_none() {
        config.application_name("host-harness");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let connector = connector(&tls, &describe(&config))?;
    Ok((config, connector))
}

/// A failure to reach the server: unavailable (a later try may work) when
/// the server did not answer or is not taking work, a failure to open
/// otherwise (a refused password, a missing database).
fn unreachable_error(config: &Config, error: StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(why) => {
            StoreError::Unavailable(format!("{}: {why}", describe(config)))
        }
        error => open_error(config, error),
    }
}

fn open_error(config: &Config, error: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        location: describe(config),
        reason: error.to_string(),
    }
}

/// The advisory lock key of `name` within the current schema.
const LOCK_KEY: &str = "hashtextextended(coalesce(current_schema(), '') || ':' || $1::text, 0)";

impl Postgres {
    /// Whether the database at `url` holds a store (a `meta` table in its
    /// current schema). An unreachable database is an error, not a no.
    pub(crate) async fn exists(url: &str) -> Result<bool> {
        let (config, tls) = parse(url)?;
        let (client, connection) = config
            .connect(tls)
            .await
            .map_err(|e| unreachable_error(&config, e.into()))?;
        let task = tokio::spawn(connection);
        let found = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = current_schema() AND c.relname = 'meta')",
                &[],
            )
            .await
            .map_err(|e| unreachable_error(&config, e.into()))?
            .get::<_, bool>(0);
        drop(client);
        let _ = task.await;
        Ok(found)
    }

    /// Connects, checks the store's key read-only, then creates or migrates
    /// the schema under a lock only one host holds at a time.
    pub(crate) async fn open(url: &str, check: KeyCheck) -> Result<Postgres> {
        let (config, tls) = parse(url)?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| open_error(&config, e))?;
        let location = describe(&config);
        {
            let mut client = pool
                .get()
                .await
                .map_err(|e| unreachable_error(&config, e.into()))?;
            inspect(&client, &check, &location).await?;
            migrate(&mut client, &check, &location).await?;
        }
        Ok(Postgres { pool, config, tls })
    }

    /// A connection from the pool, timed from the wait for it until it
    /// goes back: one store operation.
    async fn client(&self) -> Result<Timed> {
        let started = std::time::Instant::now();
        Ok(Timed {
            client: self.pool.get().await?,
            started,
        })
    }
}

/// A pooled connection that records how long its operation took.
struct Timed {
    client: deadpool_postgres::Object,
    started: std::time::Instant,
}

impl std::ops::Deref for Timed {
    type Target = deadpool_postgres::Object;

    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

impl std::ops::DerefMut for Timed {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.client
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        host_metrics::store_operation("postgres", self.started.elapsed());
    }
}

/// The store's schema version in the current schema: `None` for a schema
/// without a store; an error for one this key or release cannot use.
async fn inspect(db: &impl GenericClient, check: &KeyCheck, location: &str) -> Result<Option<i64>> {
    // A scan of the catalog, not `to_regclass`, whose cache may not yet
    // know of a table another host just created.
    let row = db
        .query_one(
            "SELECT bool_or(c.relname = 'meta'), bool_or(c.relname = 'connections')
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relname IN ('meta', 'connections')",
            &[],
        )
        .await?;
    let flag = |i| row.get::<_, Option<bool>>(i).unwrap_or(false);
    let (has_meta, has_connections) = (flag(0), flag(1));
    if !has_meta {
        return if has_connections {
            Err(StoreError::NotAStore {
                location: location.to_string(),
            })
        } else {
            Ok(None)
        };
    }
    let rows = db
        .query(
            "SELECT key, value FROM meta WHERE key IN ('key_check', 'schema_version')",
            &[],
        )
        .await?;
    let value = |name: &str| {
        rows.iter()
            .find(|r| r.get::<_, &str>(0) == name)
            .map(|r| r.get::<_, Vec<u8>>(1))
    };
    match value("key_check") {
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
    let version = value("schema_version")
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| StoreError::NotAStore {
            location: location.to_string(),
        })?;
    if version > LATEST {
        return Err(StoreError::TooNew {
            location: location.to_string(),
            found: version,
            known: LATEST,
        });
    }
    Ok(Some(version))
}

async fn migrate(
    client: &mut deadpool_postgres::Object,
    check: &KeyCheck,
    location: &str,
) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute(
        &format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"),
        &[&"migrations"],
    )
    .await?;
    let version = match inspect(&tx, check, location).await? {
        Some(version) => version,
        None => {
            tx.batch_execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL)")
                .await?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('key_check', $1), ('schema_version', '0')",
                &[&check.new_value],
            )
            .await?;
            0
        }
    };
    if version == LATEST {
        return Ok(());
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > version) {
        tx.batch_execute(&migration.postgres()).await?;
    }
    tx.execute(
        "UPDATE meta SET value = $1 WHERE key = 'schema_version'",
        &[&LATEST.to_string().into_bytes()],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn is(e: &tokio_postgres::Error, state: &SqlState) -> bool {
    e.code() == Some(state)
}

const TOKEN_COLUMNS: &str = "access_token, access_expires_at, access_issued_at, refresh_token, token_secret, scope, version";

/// What platform events say of connection `id`, if it exists, its row
/// locked until the caller's transaction ends, so that of two hosts
/// changing it at once the second sees the first's change.
async fn snapshot(
    db: &(impl tokio_postgres::GenericClient + Sync),
    id: &str,
) -> Result<Option<ConnectionSnapshot>> {
    let row = db
        .query_opt(
            &format!("SELECT {SNAPSHOT_COLUMNS} FROM connections WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?;
    Ok(row.map(|r| ConnectionSnapshot {
        tenant_id: r.get(0),
        name: r.get(1),
        status: r.get(2),
        status_reason: r.get(3),
        account_id: r.get(4),
        account_name: r.get(5),
        end_user: r.get(6),
        quiet: r.get(7),
    }))
}

/// Queues a platform event of connection `id` when its tenant has a
/// webhook, inside the caller's transaction, beside the change.
async fn queue_platform_event(
    db: &(impl tokio_postgres::GenericClient + Sync),
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
    let listening = db
        .query_opt(
            "SELECT 1 FROM tenant_webhooks WHERE tenant_id = $1",
            &[&tenant],
        )
        .await?
        .is_some();
    if !listening {
        return Ok(());
    }
    let e = platform_event(kind, id, snapshot, extra, now);
    db.execute(
        "INSERT INTO tenant_events (id, seq, tenant_id, kind, payload, status, attempts, next_attempt_at,
             claimed_by, claimed_until, last_error, created_at, settled_at)
         VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM tenant_events), $2, $3, $4,
                 'pending', 0, $5, NULL, 0, NULL, $5, NULL)",
        &[&e.id, &e.tenant_id, &e.kind, &e.payload, &now],
    )
    .await?;
    Ok(())
}

/// Sets the connection's status, queuing the platform event the change
/// makes, in the caller's transaction; false when there is no connection.
async fn transition(
    db: &(impl tokio_postgres::GenericClient + Sync),
    id: &str,
    status: &str,
    reason: Option<&str>,
    cause: Option<&str>,
    quiet: bool,
    now: i64,
) -> Result<bool> {
    let Some(before) = snapshot(db, id).await? else {
        return Ok(false);
    };
    db.execute(
        "UPDATE connections SET status = $2, status_reason = $3, updated_at = $4 WHERE id = $1",
        &[&id, &status, &reason, &now],
    )
    .await?;
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
        queue_platform_event(db, kind, id, &after, extra, now).await?;
    }
    Ok(true)
}

const TENANT_EVENT_COLUMNS: &str = "e.id, e.tenant_id, e.kind, e.payload, e.status, e.attempts, e.last_error, e.created_at, e.settled_at, e.seq";

fn tenant_event_row(r: &Row) -> RawTenantEvent {
    RawTenantEvent {
        id: r.get(0),
        tenant_id: r.get(1),
        kind: r.get(2),
        payload: r.get(3),
        status: r.get(4),
        attempts: r.get(5),
        last_error: r.get(6),
        created_at: r.get(7),
        settled_at: r.get(8),
        seq: r.get(9),
    }
}

fn tokens_row(r: &Row) -> RawTokens {
    RawTokens {
        access_token: r.get(0),
        access_expires_at: r.get(1),
        access_issued_at: r.get(2),
        refresh_token: r.get(3),
        token_secret: r.get(4),
        scope: r.get(5),
        version: r.get(6),
    }
}

const SUBSCRIPTION_COLUMNS: &str = "id, connection_id, trigger_id, configuration, delivery, cursor, cursor_version, destination, target_url, interval_secs, next_poll_at, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "subscription_id, event_id, sequence, payload, status, attempts, last_error, created_at, settled_at, trace_context";

fn delivery_row(r: &Row) -> RawDelivery {
    RawDelivery {
        subscription_id: r.get(0),
        event_id: r.get(1),
        sequence: r.get(2),
        payload: r.get(3),
        status: r.get(4),
        attempts: r.get(5),
        last_error: r.get(6),
        created_at: r.get(7),
        settled_at: r.get(8),
        trace_context: r.get(9),
    }
}

/// Adds events to a subscription's outbox in order, each once; returns how
/// many were new. The caller's transaction holds the subscription's row.
async fn queue(
    tx: &deadpool_postgres::Transaction<'_>,
    subscription_id: &str,
    events: Vec<(String, String)>,
    trace: Option<&str>,
    now: i64,
) -> Result<u64> {
    let mut sequence: i64 = tx
        .query_one(
            "SELECT coalesce(max(sequence), 0)::BIGINT FROM trigger_deliveries WHERE subscription_id = $1",
            &[&subscription_id],
        )
        .await?
        .get(0);
    let mut new = 0;
    for (event_id, payload) in events {
        let inserted = tx
            .execute(
                "INSERT INTO trigger_deliveries (subscription_id, event_id, sequence, payload, status,
                     attempts, next_attempt_at, claimed_until, created_at, trace_context)
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, 0, $5, $6)
                 ON CONFLICT DO NOTHING",
                &[&subscription_id, &event_id, &(sequence + 1), &payload, &now, &trace],
            )
            .await?;
        if inserted > 0 {
            sequence += 1;
            new += 1;
        }
    }
    Ok(new)
}

const WEBHOOK_COLUMNS: &str = "connection_id, url, remote_id, registered_at, last_event_at";

fn webhook_row(r: &Row) -> RawWebhook {
    RawWebhook {
        connection_id: r.get(0),
        url: r.get(1),
        remote_id: r.get(2),
        registered_at: r.get(3),
        last_event_at: r.get(4),
    }
}

fn subscription_row(r: &Row) -> RawSubscription {
    RawSubscription {
        id: r.get(0),
        connection_id: r.get(1),
        trigger: r.get(2),
        configuration: r.get(3),
        delivery: r.get(4),
        cursor: r.get(5),
        cursor_version: r.get(6),
        destination: r.get(7),
        target_url: r.get(8),
        interval_secs: r.get(9),
        next_poll_at: r.get(10),
        created_at: r.get(11),
        updated_at: r.get(12),
    }
}

fn field_row(r: &Row) -> RawField {
    RawField {
        name: r.get(0),
        value: RawValue {
            plain: r.get(1),
            secret: r.get(2),
        },
    }
}

async fn connection_exists(db: &impl GenericClient, id: &str) -> Result<bool> {
    Ok(db
        .query_opt("SELECT 1 FROM connections WHERE id = $1", &[&id])
        .await?
        .is_some())
}

const UPSERT_TOKENS: &str = "INSERT INTO tokens (connection_id, access_token, access_expires_at, access_issued_at, refresh_token, token_secret, scope, version, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
     ON CONFLICT (connection_id) DO UPDATE SET
         access_token = EXCLUDED.access_token, access_expires_at = EXCLUDED.access_expires_at,
         access_issued_at = EXCLUDED.access_issued_at, refresh_token = EXCLUDED.refresh_token,
         token_secret = EXCLUDED.token_secret, scope = EXCLUDED.scope,
         version = tokens.version + 1, updated_at = EXCLUDED.updated_at
     RETURNING version";

#[async_trait::async_trait]
impl Backend for Postgres {
    async fn app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &str,
    ) -> Result<Vec<RawField>> {
        let db = self.client().await?;
        let stmt = db
            .prepare_cached(
                "SELECT field, plain, secret FROM app_credentials
                 WHERE connector = $1 AND method = $2 AND level = $3 ORDER BY field",
            )
            .await?;
        let rows = db.query(&stmt, &[&connector, &method, &level]).await?;
        Ok(rows.iter().map(field_row).collect())
    }

    async fn set_app_credentials(
        &self,
        connector: &str,
        method: &str,
        level: &str,
        changes: Vec<(String, Option<RawValue>)>,
    ) -> Result<()> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        for (field, value) in changes {
            match value {
                None => {
                    tx.execute(
                        "DELETE FROM app_credentials WHERE connector = $1 AND method = $2 AND level = $3 AND field = $4",
                        &[&connector, &method, &level, &field],
                    )
                    .await?;
                }
                Some(v) => {
                    tx.execute(
                        "INSERT INTO app_credentials (connector, method, level, field, plain, secret)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (connector, method, level, field)
                         DO UPDATE SET plain = EXCLUDED.plain, secret = EXCLUDED.secret",
                        &[&connector, &method, &level, &field, &v.plain, &v.secret],
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64> {
        let db = self.client().await?;
        let row = db
            .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
            .await?;
        String::from_utf8(row.get::<_, Vec<u8>>(0))
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| StoreError::Internal("the store's schema version is unreadable".into()))
    }

    async fn insert_connection(&self, c: RawConnection) -> Result<()> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        tx.execute(
            "INSERT INTO connections (id, connector, method, auth_kind, name, brand, status, status_reason,
                 account_id, account_name, granted_scopes, callback_url, created_at, updated_at, tenant_id,
                 end_user_id, end_user, quiet)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            &[
                &c.id,
                &c.connector,
                &c.method,
                &c.auth_kind,
                &c.name,
                &c.brand,
                &c.status,
                &c.status_reason,
                &c.account_id,
                &c.account_name,
                &c.granted_scopes,
                &c.callback_url,
                &c.created_at,
                &c.updated_at,
                &c.tenant_id,
                &c.end_user_id,
                &c.end_user,
                &c.quiet,
            ],
        )
        .await?;
        for field in &c.fields {
            tx.execute(
                "INSERT INTO connection_fields (connection_id, field, plain, secret) VALUES ($1, $2, $3, $4)",
                &[&c.id, &field.name, &field.value.plain, &field.value.secret],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn connection(&self, id: &str) -> Result<Option<RawConnection>> {
        let db = self.client().await?;
        let (row, fields) = (
            db.prepare_cached(
                "SELECT connector, method, auth_kind, name, brand, status, status_reason, account_id,
                        account_name, granted_scopes, callback_url, created_at, updated_at, account_facts, tenant_id,
                        end_user_id, end_user, quiet
                 FROM connections WHERE id = $1",
            )
            .await?,
            db.prepare_cached(
                "SELECT field, plain, secret FROM connection_fields WHERE connection_id = $1 ORDER BY field",
            )
            .await?,
        );
        // Both queries in one round trip: the driver pipelines them.
        let params: &[&(dyn tokio_postgres::types::ToSql + Sync)] = &[&id];
        let (row, fields) =
            tokio::try_join!(db.query_opt(&row, params), db.query(&fields, params))?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(RawConnection {
            id: id.to_string(),
            connector: r.get(0),
            method: r.get(1),
            auth_kind: r.get(2),
            name: r.get(3),
            brand: r.get(4),
            status: r.get(5),
            status_reason: r.get(6),
            account_id: r.get(7),
            account_name: r.get(8),
            account_facts: r.get(13),
            granted_scopes: r.get(9),
            callback_url: r.get(10),
            created_at: r.get(11),
            updated_at: r.get(12),
            tenant_id: r.get(14),
            end_user_id: r.get(15),
            end_user: r.get(16),
            quiet: r.get(17),
            fields: fields.iter().map(field_row).collect(),
        }))
    }

    async fn status(&self, id: &str) -> Result<Option<(String, Option<String>)>> {
        let db = self.client().await?;
        let stmt = db
            .prepare_cached("SELECT status, status_reason FROM connections WHERE id = $1")
            .await?;
        Ok(db
            .query_opt(&stmt, &[&id])
            .await?
            .map(|r| (r.get(0), r.get(1))))
    }

    async fn insert_oauth_grant(&self, g: RawOAuthGrant) -> Result<bool> {
        let db = self.client().await?;
        Ok(db
            .execute(
                "INSERT INTO oauth_grants (token_hash, kind, connection_id, claims, expires_at, created_at)
                 SELECT $1, $2, id, $4, $5, $6 FROM connections WHERE id = $3",
                &[&g.token_hash, &g.kind, &g.connection_id, &g.claims, &g.expires_at, &g.created_at],
            )
            .await?
            > 0)
    }

    async fn take_oauth_grant(
        &self,
        token_hash: &str,
        kind: &str,
    ) -> Result<Option<(String, i64)>> {
        let db = self.client().await?;
        Ok(db
            .query_opt(
                "DELETE FROM oauth_grants WHERE token_hash = $1 AND kind = $2
                 RETURNING claims, expires_at",
                &[&token_hash, &kind],
            )
            .await?
            .map(|r| (r.get(0), r.get(1))))
    }

    async fn mcp_tools(&self, id: &str) -> Result<Option<String>> {
        let db = self.client().await?;
        let stmt = db
            .prepare_cached("SELECT tools FROM mcp_tool_limits WHERE connection_id = $1")
            .await?;
        Ok(db.query_opt(&stmt, &[&id]).await?.map(|r| r.get(0)))
    }

    async fn set_mcp_tools(&self, id: &str, tools: Option<&str>, now: i64) -> Result<bool> {
        let db = self.client().await?;
        // One statement each way, so that a connection deleted meanwhile
        // leaves no limit behind (the foreign key refuses it).
        let changed = match tools {
            Some(tools) => {
                db.execute(
                    "INSERT INTO mcp_tool_limits (connection_id, tools, updated_at)
                     SELECT id, $2, $3 FROM connections WHERE id = $1
                     ON CONFLICT (connection_id) DO UPDATE SET tools = excluded.tools, updated_at = excluded.updated_at",
                    &[&id, &tools, &now],
                )
                .await?
            }
            None => {
                db.execute("DELETE FROM mcp_tool_limits WHERE connection_id = $1", &[&id])
                    .await?;
                let exists = db
                    .query_opt("SELECT 1 FROM connections WHERE id = $1", &[&id])
                    .await?;
                u64::from(exists.is_some())
            }
        };
        Ok(changed > 0)
    }

    async fn tenant_connection_ids(&self, tenant: Option<&str>) -> Result<Vec<String>> {
        let db = self.client().await?;
        let rows = db
            .query(
                "SELECT id FROM connections WHERE tenant_id IS NOT DISTINCT FROM $1::TEXT
                 ORDER BY created_at, id",
                &[&tenant],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn connection_ids(&self) -> Result<Vec<String>> {
        let db = self.client().await?;
        let rows = db
            .query("SELECT id FROM connections ORDER BY created_at, id", &[])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn update_connection(
        &self,
        id: &str,
        update: ConnectionUpdate,
        now: i64,
    ) -> Result<bool> {
        let db = self.client().await?;
        let changed = match update {
            ConnectionUpdate::CallbackUrl(url) => {
                db.execute(
                    "UPDATE connections SET callback_url = $2, updated_at = $3 WHERE id = $1",
                    &[&id, &url, &now],
                )
                .await?
            }
            ConnectionUpdate::Account {
                account_id,
                account_name,
                account_facts,
                granted_scopes,
            } => {
                db.execute(
                    "UPDATE connections SET account_id = $2, account_name = $3, granted_scopes = $4, updated_at = $5, account_facts = $6 WHERE id = $1",
                    &[&id, &account_id, &account_name, &granted_scopes, &now, &account_facts],
                )
                .await?
            }
            ConnectionUpdate::Status {
                status,
                reason,
                cause,
                quiet,
            } => {
                let mut db = db;
                let tx = db.transaction().await?;
                let found = transition(&*tx, id, status, reason.as_deref(), cause, quiet, now).await?;
                tx.commit().await?;
                return Ok(found);
            }
        };
        Ok(changed > 0)
    }

    async fn delete_connection(&self, id: &str, now: i64) -> Result<bool> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        if let Some(before) = snapshot(&*tx, id).await?
            && before.status != "pending"
        {
            queue_platform_event(
                &*tx,
                "connection.deleted",
                id,
                &before,
                Default::default(),
                now,
            )
            .await?;
        }
        let deleted = tx
            .execute("DELETE FROM connections WHERE id = $1", &[&id])
            .await?
            > 0;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn tokens(&self, id: &str) -> Result<Option<RawTokens>> {
        let db = self.client().await?;
        let stmt = db
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE connection_id = $1"
            ))
            .await?;
        Ok(db.query_opt(&stmt, &[&id]).await?.as_ref().map(tokens_row))
    }

    async fn save_tokens(
        &self,
        id: &str,
        t: RawTokens,
        expected: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        let db = self.client().await?;
        let written = match expected {
            Some(version) => {
                db.query_opt(
                    "UPDATE tokens SET access_token = $2, access_expires_at = $3, access_issued_at = $4,
                         refresh_token = $5, token_secret = $6, scope = $7, version = version + 1, updated_at = $8
                     WHERE connection_id = $1 AND version = $9 RETURNING version",
                    &[
                        &id,
                        &t.access_token,
                        &t.access_expires_at,
                        &t.access_issued_at,
                        &t.refresh_token,
                        &t.token_secret,
                        &t.scope,
                        &now,
                        &version,
                    ],
                )
                .await?
            }
            None => {
                let inserted = db
                    .query_opt(
                        "INSERT INTO tokens (connection_id, access_token, access_expires_at, access_issued_at,
                             refresh_token, token_secret, scope, version, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
                         ON CONFLICT (connection_id) DO NOTHING RETURNING version",
                        &[
                            &id,
                            &t.access_token,
                            &t.access_expires_at,
                            &t.access_issued_at,
                            &t.refresh_token,
                            &t.token_secret,
                            &t.scope,
                            &now,
                        ],
                    )
                    .await;
                match inserted {
                    Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => {
                        return Err(StoreError::NoSuchConnection(id.to_string()));
                    }
                    other => other?,
                }
            }
        };
        match written {
            Some(row) => Ok(row.get(0)),
            None if !connection_exists(&*db, id).await? => {
                Err(StoreError::NoSuchConnection(id.to_string()))
            }
            None => Err(StoreError::Conflict(format!(
                "the tokens of connection `{id}`"
            ))),
        }
    }

    async fn clear_tokens(&self, id: &str) -> Result<()> {
        let db = self.client().await?;
        db.execute("DELETE FROM tokens WHERE connection_id = $1", &[&id])
            .await?;
        Ok(())
    }

    async fn refresh_lease(&self, id: &str, terms: LeaseTerms) -> Result<Box<dyn LeaseBackend>> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        let task = tokio::spawn(connection);
        let millis = |d: Duration| d.as_millis().clamp(1, i32::MAX as u128);
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL lock_timeout = {}; SET LOCAL idle_in_transaction_session_timeout = {};",
                millis(terms.wait),
                millis(terms.hold)
            ))
            .await?;
        let name = format!("refresh:{id}");
        match client
            .execute(
                &format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"),
                &[&name],
            )
            .await
        {
            Ok(_) => Ok(Box::new(PostgresLease {
                client,
                _connection: task,
            })),
            Err(e) if is(&e, &SqlState::LOCK_NOT_AVAILABLE) => Err(StoreError::LeaseBusy {
                connection: id.to_string(),
                waited_secs: terms.wait.as_secs(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn put_sign_in(&self, s: RawSignIn, now: i64) -> Result<()> {
        let db = self.client().await?;
        db.execute("DELETE FROM sign_ins WHERE expires_at <= $1", &[&now])
            .await?;
        let inserted = db
            .execute(
                "INSERT INTO sign_ins (key_hash, connection_id, flow, payload, expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &s.key_hash,
                    &s.connection_id,
                    &s.flow,
                    &s.payload,
                    &s.expires_at,
                    &now,
                ],
            )
            .await;
        match inserted {
            Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(StoreError::NoSuchConnection(s.connection_id))
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn take_sign_in(&self, key_hash: &str) -> Result<Option<RawSignIn>> {
        let db = self.client().await?;
        let row = db
            .query_opt(
                "DELETE FROM sign_ins WHERE key_hash = $1 RETURNING connection_id, flow, payload, expires_at",
                &[&key_hash],
            )
            .await?;
        Ok(row.map(|r| RawSignIn {
            key_hash: key_hash.to_string(),
            connection_id: r.get(0),
            flow: r.get(1),
            payload: r.get(2),
            expires_at: r.get(3),
        }))
    }

    async fn put_session(&self, token_hash: &str, expires_at: i64, now: i64) -> Result<()> {
        let db = self.client().await?;
        db.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])
            .await?;
        db.execute(
            "INSERT INTO sessions (token_hash, expires_at, created_at) VALUES ($1, $2, $3)",
            &[&token_hash, &expires_at, &now],
        )
        .await?;
        Ok(())
    }

    async fn session_expires_at(&self, token_hash: &str) -> Result<Option<i64>> {
        let db = self.client().await?;
        let stmt = db
            .prepare_cached("SELECT expires_at FROM sessions WHERE token_hash = $1")
            .await?;
        Ok(db.query_opt(&stmt, &[&token_hash]).await?.map(|r| r.get(0)))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let db = self.client().await?;
        db.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await?;
        Ok(())
    }

    async fn sweep(&self, now: i64) -> Result<u64> {
        let db = self.client().await?;
        let sign_ins = db
            .execute("DELETE FROM sign_ins WHERE expires_at <= $1", &[&now])
            .await?;
        let sessions = db
            .execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])
            .await?;
        db.execute(
            "DELETE FROM request_counts WHERE window_start < $1",
            &[&(now - crate::records::LONGEST_COUNT_WINDOW_SECS)],
        )
        .await?;
        db.execute(
            "DELETE FROM connect_sessions WHERE expires_at <= $1",
            &[&(now - crate::records::CONNECT_SESSION_KEPT_SECS)],
        )
        .await?;
        db.execute("DELETE FROM identity_codes WHERE expires_at <= $1", &[&now])
            .await?;
        db.execute("DELETE FROM oauth_grants WHERE expires_at <= $1", &[&now])
            .await?;
        Ok(sign_ins + sessions)
    }

    async fn insert_subscription(&self, s: RawSubscription, secret: Option<Vec<u8>>) -> Result<()> {
        let db = self.client().await?;
        let inserted = db
            .execute(
                &format!(
                    "INSERT INTO trigger_subscriptions ({SUBSCRIPTION_COLUMNS}, signing_secret)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                ),
                &[
                    &s.id,
                    &s.connection_id,
                    &s.trigger,
                    &s.configuration,
                    &s.delivery,
                    &s.cursor,
                    &s.cursor_version,
                    &s.destination,
                    &s.target_url,
                    &s.interval_secs,
                    &s.next_poll_at,
                    &s.created_at,
                    &s.updated_at,
                    &secret,
                ],
            )
            .await;
        match inserted {
            Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(StoreError::NoSuchConnection(s.connection_id))
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn signing_secret(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let db = self.client().await?;
        Ok(db
            .query_opt(
                "SELECT signing_secret FROM trigger_subscriptions WHERE id = $1",
                &[&id],
            )
            .await?
            .and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
    }

    async fn claim_poll(
        &self,
        host: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<RawSubscription>> {
        let db = self.client().await?;
        // The outer condition is checked again on the locked row, so two
        // hosts picking the same subscription cannot both take it.
        Ok(db
            .query_opt(
                &format!(
                    "UPDATE trigger_subscriptions SET poller = $1, poll_lease_until = $3
                     WHERE id = (SELECT id FROM trigger_subscriptions
                                 WHERE destination <> 'watch' AND delivery = 'poll'
                                   AND next_poll_at <= $2 AND poll_lease_until < $2
                                 ORDER BY next_poll_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                       AND poll_lease_until < $2
                     RETURNING {SUBSCRIPTION_COLUMNS}"
                ),
                &[&host, &now, &lease_until],
            )
            .await?
            .as_ref()
            .map(subscription_row))
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
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        let moved = tx
            .execute(
                "UPDATE trigger_subscriptions
                 SET cursor = $3, cursor_version = cursor_version + 1, next_poll_at = $5,
                     poller = NULL, poll_lease_until = 0, updated_at = $6
                 WHERE id = $1 AND poller = $2 AND cursor_version = $4",
                &[&id, &host, &cursor, &expected, &next_poll_at, &now],
            )
            .await?;
        if moved == 0 {
            return Err(StoreError::Conflict(format!(
                "the poll of subscription `{id}`"
            )));
        }
        let new = queue(&tx, id, events, trace.as_deref(), now).await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn release_poll(&self, id: &str, host: &str, next_poll_at: i64) -> Result<()> {
        let db = self.client().await?;
        db.execute(
            "UPDATE trigger_subscriptions SET poller = NULL, poll_lease_until = 0, next_poll_at = $3
             WHERE id = $1 AND poller = $2",
            &[&id, &host, &next_poll_at],
        )
        .await?;
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        host: &str,
        now: i64,
        claimed_until: i64,
        limit: i64,
    ) -> Result<Vec<(RawDelivery, String)>> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        // Claims are taken one host at a time, so the check that no earlier
        // event of the subscription is out with another host (or waiting for
        // its retry) reads every claim made before it: each subscription's
        // events leave in order.
        tx.execute(
            &format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"),
            &[&"deliveries"],
        )
        .await?;
        let rows = tx
            .query(
                &format!(
                    "UPDATE trigger_deliveries t SET claimed_by = $1, claimed_until = $3, attempts = t.attempts + 1
                     FROM trigger_subscriptions s
                     WHERE s.id = t.subscription_id
                       AND (t.subscription_id, t.event_id) IN (
                         SELECT d.subscription_id, d.event_id FROM trigger_deliveries d
                         JOIN trigger_subscriptions s ON s.id = d.subscription_id
                         WHERE d.status = 'pending' AND s.destination = 'url'
                           AND d.next_attempt_at <= $2 AND d.claimed_until < $2
                           AND NOT EXISTS (
                             SELECT 1 FROM trigger_deliveries e
                             WHERE e.subscription_id = d.subscription_id AND e.status = 'pending'
                               AND e.sequence < d.sequence
                               AND (e.claimed_until >= $2 OR e.next_attempt_at > $2))
                         ORDER BY d.subscription_id, d.sequence LIMIT $4)
                     RETURNING {}, coalesce(s.target_url, '')",
                    DELIVERY_COLUMNS
                        .split(", ")
                        .map(|c| format!("t.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[&host, &now, &claimed_until, &limit],
            )
            .await?;
        tx.commit().await?;
        let mut out: Vec<(RawDelivery, String)> = rows
            .iter()
            .map(|r| (delivery_row(r), r.get::<_, String>(10)))
            .collect();
        out.sort_by(|a, b| {
            (a.0.subscription_id.as_str(), a.0.sequence)
                .cmp(&(b.0.subscription_id.as_str(), b.0.sequence))
        });
        Ok(out)
    }

    async fn defer_polls(&self, connection_id: &str, trigger: &str, until: i64) -> Result<u64> {
        let db = self.client().await?;
        Ok(db
            .execute(
                "UPDATE trigger_subscriptions SET next_poll_at = $3
                 WHERE connection_id = $1 AND trigger_id = $2 AND delivery = 'poll'
                   AND destination <> 'watch' AND next_poll_at < $3",
                &[&connection_id, &trigger, &until],
            )
            .await?)
    }

    async fn queue_events(
        &self,
        subscription_id: &str,
        events: Vec<(String, String)>,
        trace: Option<String>,
        now: i64,
    ) -> Result<u64> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        // The subscription's row lock orders this with its polls.
        if tx
            .query_opt(
                "SELECT 1 FROM trigger_subscriptions WHERE id = $1 FOR UPDATE",
                &[&subscription_id],
            )
            .await?
            .is_none()
        {
            return Err(StoreError::NoSuchSubscription(subscription_id.to_string()));
        }
        let new = queue(&tx, subscription_id, events, trace.as_deref(), now).await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn set_push(
        &self,
        subscription_id: &str,
        push_id: Option<String>,
        now: i64,
    ) -> Result<()> {
        let db = self.client().await?;
        let changed = db
            .execute(
                "UPDATE trigger_subscriptions
                 SET delivery = CASE WHEN $2::text IS NULL THEN 'poll' ELSE 'push' END, push_id = $2, updated_at = $3
                 WHERE id = $1",
                &[&subscription_id, &push_id, &now],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NoSuchSubscription(subscription_id.to_string()));
        }
        Ok(())
    }

    async fn push_id(&self, subscription_id: &str) -> Result<Option<String>> {
        let db = self.client().await?;
        Ok(db
            .query_opt(
                "SELECT push_id FROM trigger_subscriptions WHERE id = $1",
                &[&subscription_id],
            )
            .await?
            .and_then(|r| r.get::<_, Option<String>>(0)))
    }

    async fn push_subscriptions(&self) -> Result<Vec<RawSubscription>> {
        let db = self.client().await?;
        let rows = db
            .query(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions
                     WHERE delivery = 'push' AND push_id IS NOT NULL ORDER BY created_at, id"
                ),
                &[],
            )
            .await?;
        Ok(rows.iter().map(subscription_row).collect())
    }

    async fn webhook(&self, connection_id: &str) -> Result<Option<RawWebhook>> {
        let db = self.client().await?;
        Ok(db
            .query_opt(
                &format!("SELECT {WEBHOOK_COLUMNS} FROM push_webhooks WHERE connection_id = $1"),
                &[&connection_id],
            )
            .await?
            .as_ref()
            .map(webhook_row))
    }

    async fn claim_webhook(
        &self,
        connection_id: &str,
        url: &str,
        host: &str,
        now: i64,
        until: i64,
    ) -> Result<bool> {
        let db = self.client().await?;
        let taken = db
            .execute(
                "INSERT INTO push_webhooks (connection_id, url, registrar, registrar_until)
                 VALUES ($1, $2, $3, $5)
                 ON CONFLICT (connection_id) DO UPDATE
                 SET url = excluded.url, remote_id = NULL, registered_at = NULL,
                     registrar = excluded.registrar, registrar_until = excluded.registrar_until
                 WHERE push_webhooks.registrar_until < $4
                   AND (push_webhooks.remote_id IS NULL OR push_webhooks.url <> excluded.url)",
                &[&connection_id, &url, &host, &now, &until],
            )
            .await?;
        Ok(taken > 0)
    }

    async fn save_webhook(&self, connection_id: &str, remote_id: &str, now: i64) -> Result<()> {
        let db = self.client().await?;
        db.execute(
            "UPDATE push_webhooks SET remote_id = $2, registered_at = $3, registrar = NULL,
                 registrar_until = 0, last_event_at = coalesce(last_event_at, $3)
             WHERE connection_id = $1",
            &[&connection_id, &remote_id, &now],
        )
        .await?;
        Ok(())
    }

    async fn touch_webhook(&self, connection_id: &str, at: i64) -> Result<()> {
        let db = self.client().await?;
        db.execute(
            "UPDATE push_webhooks SET last_event_at = greatest(coalesce(last_event_at, 0), $2)
             WHERE connection_id = $1",
            &[&connection_id, &at],
        )
        .await?;
        Ok(())
    }

    async fn insert_tenant(&self, t: RawTenant) -> Result<()> {
        let db = self.client().await?;
        db.execute(
            "INSERT INTO tenants (id, name, created_at, settings) VALUES ($1, $2, $3, $4)",
            &[&t.id, &t.name, &t.created_at, &t.settings],
        )
        .await?;
        Ok(())
    }

    async fn tenant(&self, id: &str) -> Result<Option<RawTenant>> {
        let db = self.client().await?;
        let row = db
            .query_opt(
                "SELECT id, name, created_at, settings FROM tenants WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(tenant_row))
    }

    async fn tenants(&self) -> Result<Vec<RawTenant>> {
        let db = self.client().await?;
        let rows = db
            .query(
                "SELECT id, name, created_at, settings FROM tenants ORDER BY created_at, id",
                &[],
            )
            .await?;
        Ok(rows.iter().map(tenant_row).collect())
    }

    async fn set_tenant_settings(&self, id: &str, settings: &str) -> Result<bool> {
        let db = self.client().await?;
        let changed = db
            .execute(
                "UPDATE tenants SET settings = $2 WHERE id = $1",
                &[&id, &settings],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn end_user_connection_ids(
        &self,
        tenant_id: &str,
        end_user_id: &str,
    ) -> Result<Vec<String>> {
        let db = self.client().await?;
        let rows = db
            .query(
                "SELECT id FROM connections WHERE tenant_id = $1 AND end_user_id = $2 ORDER BY created_at, id",
                &[&tenant_id, &end_user_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn insert_connect_session(&self, c: RawConnectSession, token_hash: &str) -> Result<()> {
        let db = self.client().await?;
        let inserted = db
            .execute(
                &format!(
                    "INSERT INTO connect_sessions (token_hash, {CONNECT_SESSION_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ),
                &[
                    &token_hash,
                    &c.id,
                    &c.tenant_id,
                    &c.purpose,
                    &c.details,
                    &c.expires_at,
                    &c.used_at,
                    &c.connection_id,
                    &c.created_at,
                ],
            )
            .await;
        match inserted {
            Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(StoreError::NoSuchTenant(c.tenant_id))
            }
            other => Ok(other.map(|_| ())?),
        }
    }

    async fn connect_session(&self, token_hash: &str) -> Result<Option<RawConnectSession>> {
        let db = self.client().await?;
        let row = db
            .query_opt(
                &format!(
                    "SELECT {CONNECT_SESSION_COLUMNS} FROM connect_sessions WHERE token_hash = $1"
                ),
                &[&token_hash],
            )
            .await?;
        Ok(row.as_ref().map(connect_session_row))
    }

    async fn connect_session_of(&self, connection_id: &str) -> Result<Option<RawConnectSession>> {
        let db = self.client().await?;
        let row = db
            .query_opt(
                &format!(
                    "SELECT {CONNECT_SESSION_COLUMNS} FROM connect_sessions WHERE connection_id = $1"
                ),
                &[&connection_id],
            )
            .await?;
        Ok(row.as_ref().map(connect_session_row))
    }

    async fn use_connect_session(
        &self,
        token_hash: &str,
        connection_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let db = self.client().await?;
        let changed = db
            .execute(
                "UPDATE connect_sessions SET used_at = $3, connection_id = $2
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $3",
                &[&token_hash, &connection_id, &now],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn insert_identity_code(
        &self,
        code_hash: &str,
        tenant_id: &str,
        identity: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        let db = self.client().await?;
        db.execute(
            "INSERT INTO identity_codes (code_hash, tenant_id, identity, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&code_hash, &tenant_id, &identity, &expires_at, &now],
        )
        .await?;
        Ok(())
    }

    async fn take_identity_code(
        &self,
        code_hash: &str,
        tenant_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        let db = self.client().await?;
        let row = db
            .query_opt(
                "DELETE FROM identity_codes WHERE code_hash = $1 AND tenant_id = $2
                 RETURNING identity, expires_at",
                &[&code_hash, &tenant_id],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn insert_api_key(&self, k: RawApiKey, key_hash: &str) -> Result<()> {
        let db = self.client().await?;
        db.execute(
            "INSERT INTO api_keys (id, tenant_id, key_hash, scopes, created_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&k.id, &k.tenant_id, &key_hash, &k.scopes, &k.created_at, &k.expires_at, &k.revoked_at],
        )
        .await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<RawApiKey>> {
        let db = self.client().await?;
        let row = db
            .query_opt(
                &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"),
                &[&key_hash],
            )
            .await?;
        Ok(row.as_ref().map(api_key_row))
    }

    async fn api_keys(&self, tenant_id: &str) -> Result<Vec<RawApiKey>> {
        let db = self.client().await?;
        let rows = db
            .query(
                &format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id"
                ),
                &[&tenant_id],
            )
            .await?;
        Ok(rows.iter().map(api_key_row).collect())
    }

    async fn end_api_key(
        &self,
        tenant_id: &str,
        key_id: &str,
        revoked_at: Option<i64>,
        expires_at: Option<i64>,
    ) -> Result<bool> {
        let db = self.client().await?;
        let changed = db
            .execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3),
                     expires_at = CASE WHEN $4::BIGINT IS NULL THEN expires_at
                                       ELSE least(coalesce(expires_at, $4), $4) END
                 WHERE tenant_id = $1 AND id = $2",
                &[&tenant_id, &key_id, &revoked_at, &expires_at],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn announce(&self, id: &str, kind: &str, now: i64) -> Result<bool> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        let Some(now_as) = snapshot(&*tx, id).await? else {
            return Ok(false);
        };
        queue_platform_event(&*tx, kind, id, &now_as, Default::default(), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_tenant_webhook(
        &self,
        tenant_id: &str,
        url: &str,
        signing_secret: Vec<u8>,
        now: i64,
    ) -> Result<()> {
        let db = self.client().await?;
        db.execute(
            "INSERT INTO tenant_webhooks (tenant_id, url, signing_secret, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id) DO UPDATE
             SET url = excluded.url, signing_secret = excluded.signing_secret, created_at = excluded.created_at",
            &[&tenant_id, &url, &signing_secret, &now],
        )
        .await?;
        Ok(())
    }

    async fn tenant_webhook(&self, tenant_id: &str) -> Result<Option<(String, Vec<u8>, i64)>> {
        let db = self.client().await?;
        let row = db
            .query_opt(
                "SELECT url, signing_secret, created_at FROM tenant_webhooks WHERE tenant_id = $1",
                &[&tenant_id],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    async fn delete_tenant_webhook(&self, tenant_id: &str) -> Result<bool> {
        let db = self.client().await?;
        Ok(db
            .execute(
                "DELETE FROM tenant_webhooks WHERE tenant_id = $1",
                &[&tenant_id],
            )
            .await?
            > 0)
    }

    async fn claim_tenant_events(
        &self,
        host: &str,
        now: i64,
        claimed_until: i64,
        limit: i64,
    ) -> Result<Vec<(RawTenantEvent, String, Vec<u8>)>> {
        let db = self.client().await?;
        let rows = db
            .query(
                &format!(
                    "WITH due AS (
                         SELECT e.id FROM tenant_events e
                         JOIN tenant_webhooks w ON w.tenant_id = e.tenant_id
                         WHERE e.status = 'pending' AND e.next_attempt_at <= $2 AND e.claimed_until <= $2
                         ORDER BY e.seq LIMIT $4
                         FOR UPDATE OF e SKIP LOCKED)
                     UPDATE tenant_events e SET claimed_by = $1, claimed_until = $3, attempts = e.attempts + 1
                     FROM due, tenant_webhooks w
                     WHERE e.id = due.id AND w.tenant_id = e.tenant_id
                     RETURNING {TENANT_EVENT_COLUMNS}, w.url, w.signing_secret"
                ),
                &[&host, &now, &claimed_until, &limit],
            )
            .await?;
        let mut claimed: Vec<(RawTenantEvent, String, Vec<u8>)> = rows
            .iter()
            .map(|r| (tenant_event_row(r), r.get(10), r.get(11)))
            .collect();
        claimed.sort_by_key(|(event, _, _)| event.seq);
        Ok(claimed)
    }

    async fn settle_tenant_event(&self, id: &str, settlement: Settlement, now: i64) -> Result<()> {
        let db = self.client().await?;
        let (status, next, error, settled) = settlement.columns(now);
        db.execute(
            "UPDATE tenant_events SET status = $2, next_attempt_at = $3,
                 last_error = coalesce($4, last_error), settled_at = $5, claimed_by = NULL, claimed_until = 0
             WHERE id = $1",
            &[&id, &status, &next, &error, &settled],
        )
        .await?;
        Ok(())
    }

    async fn tenant_events(&self, tenant_id: &str, limit: i64) -> Result<Vec<RawTenantEvent>> {
        let db = self.client().await?;
        let rows = db
            .query(
                &format!(
                    "SELECT {TENANT_EVENT_COLUMNS} FROM tenant_events e WHERE e.tenant_id = $1
                     ORDER BY e.seq DESC LIMIT $2"
                ),
                &[&tenant_id, &limit],
            )
            .await?;
        Ok(rows.iter().map(tenant_event_row).collect())
    }

    async fn add_usage(&self, entry: RawUsage) -> Result<()> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO usage_ledger (tenant_id, day, connection_id, operation, unit, amount)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, day, connection_id, operation, unit)
                 DO UPDATE SET amount = usage_ledger.amount + excluded.amount",
            )
            .await?;
        for (unit, amount) in &entry.amounts {
            tx.execute(
                &stmt,
                &[
                    &entry.tenant_id,
                    &entry.day,
                    &entry.connection_id,
                    &entry.operation,
                    unit,
                    amount,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn usage(&self, tenant_id: &str, from: &str, to: &str) -> Result<Vec<RawUsage>> {
        let db = self.client().await?;
        let rows = db
            .query(
                "SELECT day, connection_id, operation, unit, amount FROM usage_ledger
                 WHERE tenant_id = $1 AND day >= $2 AND day <= $3
                 ORDER BY day, connection_id, operation, unit",
                &[&tenant_id, &from, &to],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| RawUsage {
                tenant_id: tenant_id.to_string(),
                day: r.get(0),
                connection_id: r.get(1),
                operation: r.get(2),
                amounts: vec![(r.get(3), r.get(4))],
            })
            .collect())
    }

    async fn count_request(&self, key: &str, window_start: i64) -> Result<u64> {
        let db = self.client().await?;
        let row = db
            .query_one(
                "INSERT INTO request_counts (key, window_start, count) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE
                 SET count = CASE WHEN request_counts.window_start = excluded.window_start
                                  THEN request_counts.count + 1 ELSE 1 END,
                     window_start = excluded.window_start
                 RETURNING count",
                &[&key, &window_start],
            )
            .await?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    async fn release_deliveries(&self, host: &str, subscription_id: &str) -> Result<()> {
        let db = self.client().await?;
        db.execute(
            "UPDATE trigger_deliveries SET claimed_by = NULL, claimed_until = 0, attempts = attempts - 1
             WHERE subscription_id = $2 AND claimed_by = $1 AND status = 'pending'",
            &[&host, &subscription_id],
        )
        .await?;
        Ok(())
    }

    async fn settle_delivery(
        &self,
        subscription_id: &str,
        event_id: &str,
        settlement: Settlement,
        now: i64,
    ) -> Result<()> {
        let mut db = self.client().await?;
        let (status, next, error, settled) = settlement.columns(now);
        let tx = db.transaction().await?;
        let changed = tx
            .execute(
                "UPDATE trigger_deliveries SET status = $3, next_attempt_at = $4,
                     last_error = coalesce($5, last_error), settled_at = $6, claimed_by = NULL, claimed_until = 0
                 WHERE subscription_id = $1 AND event_id = $2 AND status <> 'dead'",
                &[&subscription_id, &event_id, &status, &next, &error, &settled],
            )
            .await?;
        if changed > 0 && status == "dead" {
            let found = tx
                .query_opt(
                    "SELECT connection_id, trigger_id FROM trigger_subscriptions WHERE id = $1",
                    &[&subscription_id],
                )
                .await?;
            if let Some(row) = found {
                let (connection, trigger): (String, String) = (row.get(0), row.get(1));
                if let Some(snapshot) = snapshot(&*tx, &connection).await? {
                    let extra =
                        dead_letter_extra(subscription_id, &trigger, event_id, error.as_deref());
                    queue_platform_event(
                        &*tx,
                        "subscription.dead_letter",
                        &connection,
                        &snapshot,
                        extra,
                        now,
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn deliveries(
        &self,
        subscription_id: &str,
        after: i64,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RawDelivery>> {
        let db = self.client().await?;
        let rows = db
            .query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM trigger_deliveries
                     WHERE subscription_id = $1 AND sequence > $2 AND ($3::text IS NULL OR status = $3)
                     ORDER BY sequence LIMIT $4"
                ),
                &[&subscription_id, &after, &status, &limit],
            )
            .await?;
        Ok(rows.iter().map(delivery_row).collect())
    }

    async fn release_host(&self, host: &str) -> Result<u64> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        let mut released = 0;
        for sql in [
            "UPDATE trigger_subscriptions SET poller = NULL, poll_lease_until = 0 WHERE poller = $1",
            "UPDATE trigger_deliveries SET claimed_by = NULL, claimed_until = 0 WHERE claimed_by = $1 AND status = 'pending'",
            "UPDATE tenant_events SET claimed_by = NULL, claimed_until = 0 WHERE claimed_by = $1 AND status = 'pending'",
        ] {
            released += tx.execute(sql, &[&host]).await?;
        }
        tx.commit().await?;
        Ok(released)
    }

    async fn prune_events(&self, before: i64) -> Result<u64> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        let events = tx
            .execute(
                "DELETE FROM trigger_deliveries
                 WHERE ((status = 'delivered' AND settled_at < $1)
                        OR (status = 'pending' AND created_at < $1 AND subscription_id IN
                            (SELECT id FROM trigger_subscriptions WHERE destination = 'pull')))
                   AND sequence < (SELECT max(d.sequence) FROM trigger_deliveries d
                                   WHERE d.subscription_id = trigger_deliveries.subscription_id)",
                &[&before],
            )
            .await?;
        let platform = tx
            .execute(
                "DELETE FROM tenant_events WHERE status <> 'pending' AND settled_at < $1",
                &[&before],
            )
            .await?;
        tx.commit().await?;
        Ok(events + platform)
    }

    async fn sealed_values(
        &self,
        column: &'static SealedColumn,
        after: Option<Vec<String>>,
        limit: usize,
    ) -> Result<Vec<SealedValue>> {
        let db = self.client().await?;
        let sql = sealed_values_sql(column, after.is_some(), '$');
        let after = after.unwrap_or_default();
        let limit = limit as i64;
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            after.iter().map(|k| k as _).collect();
        params.push(&limit);
        let rows = db.query(&sql, &params).await?;
        Ok(rows
            .iter()
            .map(|r| SealedValue {
                key: (0..column.key.len()).map(|i| r.get(i)).collect(),
                value: r.get(column.key.len()),
            })
            .collect())
    }

    async fn reseal(&self, column: &'static SealedColumn, changes: Vec<Reseal>) -> Result<u64> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        let statement = tx.prepare(&reseal_sql(column, '$')).await?;
        let mut replaced = 0;
        for change in &changes {
            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&change.new];
            params.extend(
                change
                    .key
                    .iter()
                    .map(|k| k as &(dyn tokio_postgres::types::ToSql + Sync)),
            );
            params.push(&change.old);
            replaced += tx.execute(&statement, &params).await?;
        }
        tx.commit().await?;
        Ok(replaced)
    }

    async fn oldest_pending_delivery(&self) -> Result<Option<i64>> {
        let db = self.client().await?;
        Ok(db.query_one(OLDEST_PENDING_SQL, &[]).await?.get(0))
    }

    async fn oldest_sequence(&self, subscription_id: &str) -> Result<Option<i64>> {
        let db = self.client().await?;
        let row = db
            .query_one(
                "SELECT min(sequence) FROM trigger_deliveries WHERE subscription_id = $1",
                &[&subscription_id],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn requeue_dead(&self, subscription_id: &str, now: i64) -> Result<u64> {
        let db = self.client().await?;
        Ok(db
            .execute(
                "UPDATE trigger_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2,
                     settled_at = NULL, claimed_until = 0
                 WHERE subscription_id = $1 AND status = 'dead'",
                &[&subscription_id, &now],
            )
            .await?)
    }

    async fn subscription(&self, id: &str) -> Result<Option<RawSubscription>> {
        let db = self.client().await?;
        Ok(db
            .query_opt(
                &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions WHERE id = $1"),
                &[&id],
            )
            .await?
            .as_ref()
            .map(subscription_row))
    }

    async fn subscriptions(&self, connection_id: Option<&str>) -> Result<Vec<RawSubscription>> {
        let db = self.client().await?;
        let rows = db
            .query(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions
                     WHERE $1::text IS NULL OR connection_id = $1 ORDER BY created_at, id"
                ),
                &[&connection_id],
            )
            .await?;
        Ok(rows.iter().map(subscription_row).collect())
    }

    async fn move_cursor(
        &self,
        id: &str,
        cursor: Option<String>,
        expected: i64,
        now: i64,
    ) -> Result<i64> {
        let db = self.client().await?;
        let moved = db
            .query_opt(
                "UPDATE trigger_subscriptions SET cursor = $2, cursor_version = cursor_version + 1, updated_at = $4
                 WHERE id = $1 AND cursor_version = $3 RETURNING cursor_version",
                &[&id, &cursor, &expected, &now],
            )
            .await?;
        if let Some(row) = moved {
            return Ok(row.get(0));
        }
        let exists = db
            .query_opt("SELECT 1 FROM trigger_subscriptions WHERE id = $1", &[&id])
            .await?
            .is_some();
        Err(if exists {
            StoreError::Conflict(format!("the cursor of subscription `{id}`"))
        } else {
            StoreError::NoSuchSubscription(id.to_string())
        })
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool> {
        let db = self.client().await?;
        Ok(db
            .execute("DELETE FROM trigger_subscriptions WHERE id = $1", &[&id])
            .await?
            > 0)
    }

    async fn record_events(&self, id: &str, keys: Vec<String>, now: i64) -> Result<Vec<String>> {
        let db = self.client().await?;
        let inserted = db
            .query(
                "INSERT INTO trigger_events_seen (subscription_id, event_key, seen_at)
                 SELECT $1, key, $3 FROM unnest($2::text[]) AS key
                 ON CONFLICT DO NOTHING RETURNING event_key",
                &[&id, &keys, &now],
            )
            .await;
        let rows = match inserted {
            Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => {
                return Err(StoreError::NoSuchSubscription(id.to_string()));
            }
            other => other?,
        };
        let new: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(keys.into_iter().filter(|k| new.contains(k)).collect())
    }

    async fn unseen_events(&self, id: &str, keys: Vec<String>) -> Result<Vec<String>> {
        let db = self.client().await?;
        let rows = db
            .query(
                "SELECT event_key FROM trigger_events_seen WHERE subscription_id = $1 AND event_key = ANY($2)",
                &[&id, &keys],
            )
            .await?;
        let seen: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(keys.into_iter().filter(|k| !seen.contains(k)).collect())
    }

    async fn forget_events(&self, id: &str, before: i64) -> Result<u64> {
        let db = self.client().await?;
        Ok(db
            .execute(
                "DELETE FROM trigger_events_seen WHERE subscription_id = $1 AND seen_at < $2",
                &[&id, &before],
            )
            .await?)
    }
}

/// An open transaction holding a refresh lease's advisory lock, on a
/// database connection of its own. Dropped without committing, its
/// connection closes and the server rolls back and releases the lock.
struct PostgresLease {
    client: tokio_postgres::Client,
    _connection: tokio::task::JoinHandle<std::result::Result<(), tokio_postgres::Error>>,
}

#[async_trait::async_trait]
impl LeaseBackend for PostgresLease {
    async fn tokens(&mut self, id: &str) -> Result<Option<RawTokens>> {
        Ok(self
            .client
            .query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE connection_id = $1"),
                &[&id],
            )
            .await?
            .as_ref()
            .map(tokens_row))
    }

    async fn save_tokens(&mut self, id: &str, t: RawTokens, now: i64) -> Result<i64> {
        let written = self
            .client
            .query_one(
                UPSERT_TOKENS,
                &[
                    &id,
                    &t.access_token,
                    &t.access_expires_at,
                    &t.access_issued_at,
                    &t.refresh_token,
                    &t.token_secret,
                    &t.scope,
                    &now,
                ],
            )
            .await;
        match written {
            Ok(row) => Ok(row.get(0)),
            Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(StoreError::NoSuchConnection(id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn set_status(
        &mut self,
        id: &str,
        status: &'static str,
        reason: Option<String>,
        cause: Option<&'static str>,
        now: i64,
    ) -> Result<()> {
        if !transition(
            &self.client,
            id,
            status,
            reason.as_deref(),
            cause,
            false,
            now,
        )
        .await?
        {
            return Err(StoreError::NoSuchConnection(id.to_string()));
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.client.batch_execute("COMMIT").await?;
        Ok(())
    }
}

const API_KEY_COLUMNS: &str = "id, tenant_id, scopes, created_at, expires_at, revoked_at";

fn tenant_row(r: &tokio_postgres::Row) -> RawTenant {
    RawTenant {
        id: r.get(0),
        name: r.get(1),
        created_at: r.get(2),
        settings: r.get(3),
    }
}

const CONNECT_SESSION_COLUMNS: &str =
    "id, tenant_id, purpose, details, expires_at, used_at, connection_id, created_at";

fn connect_session_row(r: &tokio_postgres::Row) -> RawConnectSession {
    RawConnectSession {
        id: r.get(0),
        tenant_id: r.get(1),
        purpose: r.get(2),
        details: r.get(3),
        expires_at: r.get(4),
        used_at: r.get(5),
        connection_id: r.get(6),
        created_at: r.get(7),
    }
}

fn api_key_row(r: &tokio_postgres::Row) -> RawApiKey {
    RawApiKey {
        id: r.get(0),
        tenant_id: r.get(1),
        scopes: r.get(2),
        created_at: r.get(3),
        expires_at: r.get(4),
        revoked_at: r.get(5),
    }
}
