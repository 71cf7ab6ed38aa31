//! Where a contract test keeps its store, and the raw access a test needs
//! to look behind the contract (what is stored, tampering, versions).

use credential_store::{MasterKey, Store, StoreLocation};
use std::path::PathBuf;

/// The PostgreSQL server the tests use.
fn server_url() -> String {
    std::env::var("HOST_HARNESS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL tests need a server at {url} (set HOST_HARNESS_TEST_DATABASE_URL): {e}"
            )
        });
    tokio::spawn(connection);
    client
}

/// A fresh store location: a file in a temporary directory, or a schema
/// of its own on the server, dropped at the end.
pub struct Place {
    pub location: StoreLocation,
    dir: Option<tempfile::TempDir>,
    schema: Option<String>,
}

impl Place {
    pub async fn sqlite() -> Place {
        let dir = tempfile::tempdir().unwrap();
        Place {
            location: StoreLocation::Sqlite(dir.path().join("store.db")),
            dir: Some(dir),
            schema: None,
        }
    }

    pub async fn postgres() -> Place {
        let schema = format!("store_test_{:016x}", rand::random::<u64>());
        let server = server_url();
        connect(&server)
            .await
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let separator = if server.contains('?') { '&' } else { '?' };
        Place {
            location: StoreLocation::from_database_url(&format!(
                "{server}{separator}options=-c%20search_path%3D{schema}"
            ))
            .unwrap(),
            dir: None,
            schema: Some(schema),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.schema.is_some()
    }

    pub fn path(&self) -> PathBuf {
        match &self.location {
            StoreLocation::Sqlite(path) => path.clone(),
            StoreLocation::Postgres(_) => panic!("not a file"),
        }
    }

    /// Opens the store as a host would.
    pub async fn open(&self, key: &MasterKey) -> Store {
        Store::open(&self.location, key).await.unwrap()
    }

    /// Runs SQL on the store's own database, outside the contract.
    async fn sql(&self, sqlite: &str, postgres: &str) {
        match &self.schema {
            None => rusqlite::Connection::open(self.path())
                .unwrap()
                .execute_batch(sqlite)
                .unwrap(),
            Some(schema) => connect(&server_url())
                .await
                .batch_execute(&format!("SET search_path = {schema}; {postgres}"))
                .await
                .unwrap(),
        }
    }

    /// Every stored byte: the file and its WAL, or every row of every
    /// table as the server prints it.
    pub async fn dump(&self) -> Vec<u8> {
        match &self.schema {
            None => {
                let mut bytes = std::fs::read(self.path()).unwrap();
                let wal = PathBuf::from(format!("{}-wal", self.path().display()));
                if let Ok(more) = std::fs::read(wal) {
                    bytes.extend(more);
                }
                bytes
            }
            Some(schema) => {
                let db = connect(&server_url()).await;
                let tables = db
                    .query(
                        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
                        &[schema],
                    )
                    .await
                    .unwrap();
                let mut out = String::new();
                for table in tables {
                    let name: String = table.get(0);
                    // Rows in a fixed order, bytea as hex and as text.
                    let rows = db
                        .query(
                            &format!("SELECT t::text FROM {schema}.{name} t ORDER BY t::text"),
                            &[],
                        )
                        .await
                        .unwrap();
                    for row in rows {
                        let text: String = row.get(0);
                        out.push_str(&format!("{name}: {text}\n"));
                        out.push_str(&String::from_utf8_lossy(&decode_hex_runs(&text)));
                    }
                }
                out.into_bytes()
            }
        }
    }

    pub async fn flip_a_bit_of_the_refresh_token(&self, id: &str) {
        if self.is_postgres() {
            return self
                .sql(
                    "",
                    &format!(
                        "UPDATE tokens SET refresh_token = set_byte(refresh_token, 14, get_byte(refresh_token, 14) # 64) WHERE connection_id = '{id}'"
                    ),
                )
                .await;
        }
        let db = rusqlite::Connection::open(self.path()).unwrap();
        let mut sealed: Vec<u8> = db
            .query_row(
                "SELECT refresh_token FROM tokens WHERE connection_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        sealed[14] ^= 0x40;
        db.execute(
            "UPDATE tokens SET refresh_token = ?2 WHERE connection_id = ?1",
            rusqlite::params![id, sealed],
        )
        .unwrap();
    }

    pub async fn copy_client_secret(&self, from: &str, to: &str) {
        let statement = format!(
            "UPDATE connection_fields SET secret = (SELECT secret FROM connection_fields WHERE connection_id = '{from}' AND field = 'client_secret') WHERE connection_id = '{to}' AND field = 'client_secret'"
        );
        self.sql(&statement, &statement).await
    }

    pub async fn set_schema_version(&self, version: i64) {
        self.sql(
            &format!("UPDATE meta SET value = {version} WHERE key = 'schema_version'"),
            &format!(
                "UPDATE meta SET value = convert_to('{version}', 'UTF8') WHERE key = 'schema_version'"
            ),
        )
        .await
    }

    /// Rows anywhere that still name connection `id`.
    pub async fn rows_left_of(&self, id: &str) -> i64 {
        let tables = [
            ("connection_fields", "connection_id"),
            ("tokens", "connection_id"),
            ("sign_ins", "connection_id"),
            ("trigger_subscriptions", "connection_id"),
            ("mcp_tool_limits", "connection_id"),
            ("oauth_grants", "connection_id"),
        ];
        let mut total = 0;
        match &self.schema {
            None => {
                let db = rusqlite::Connection::open(self.path()).unwrap();
                for (table, column) in tables {
                    total += db
                        .query_row(
                            &format!("SELECT count(*) FROM {table} WHERE {column} = ?1"),
                            [id],
                            |r| r.get::<_, i64>(0),
                        )
                        .unwrap();
                }
                total += db
                    .query_row("SELECT count(*) FROM trigger_events_seen", [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .unwrap();
            }
            Some(schema) => {
                let db = connect(&server_url()).await;
                for (table, column) in tables {
                    total += db
                        .query_one(
                            &format!("SELECT count(*) FROM {schema}.{table} WHERE {column} = $1"),
                            &[&id],
                        )
                        .await
                        .unwrap()
                        .get::<_, i64>(0);
                }
                total += db
                    .query_one(
                        &format!("SELECT count(*) FROM {schema}.trigger_events_seen"),
                        &[],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0);
            }
        }
        total
    }

    pub fn assert_schema_version(&self, expected: i64) {
        let version: i64 = rusqlite::Connection::open(self.path())
            .unwrap()
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, expected);
    }
}

/// The bytes of every `\x…` hex run in a row's text, so that a secret
/// stored as plain bytes in a `bytea` column shows in the dump.
fn decode_hex_runs(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for run in text.split("\\\\x").skip(1) {
        let hex: String = run.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        for pair in hex.as_bytes().chunks(2).filter(|p| p.len() == 2) {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16) {
                out.push(b);
            }
        }
    }
    out
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = self.dir.take();
        if let Some(schema) = self.schema.take() {
            // Tests end on their runtime's thread: drop the schema from a
            // thread of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&server_url(), tokio_postgres::NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}
