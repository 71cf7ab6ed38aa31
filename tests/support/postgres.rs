//! A store of its own on the PostgreSQL server of this machine: a fresh
//! schema, dropped when the test ends. The server is
//! `HOST_HARNESS_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`; a test that needs it fails,
//! saying so, when it is not there.

use credential_store::StoreLocation;

fn server_url() -> String {
    std::env::var("HOST_HARNESS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "this test needs the PostgreSQL server at {url} (set HOST_HARNESS_TEST_DATABASE_URL): {e}"
            )
        });
    tokio::spawn(connection);
    client
}

pub struct TestDatabase {
    schema: String,
    /// The URL hosts are given: the server, with the schema as search path.
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let schema = format!("hosts_test_{:016x}", rand::random::<u64>());
        let server = server_url();
        connect(&server)
            .await
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let separator = if server.contains('?') { '&' } else { '?' };
        TestDatabase {
            url: format!("{server}{separator}options=-c%20search_path%3D{schema}"),
            schema,
        }
    }

    pub fn location(&self) -> StoreLocation {
        StoreLocation::from_database_url(&self.url).unwrap()
    }

    /// Every row of every table of the store, as the server prints them,
    /// in a fixed order: equal dumps mean nothing was written.
    pub async fn dump(&self) -> Vec<String> {
        let db = connect(&server_url()).await;
        let tables = db
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
                &[&self.schema],
            )
            .await
            .unwrap();
        let mut rows = Vec::new();
        for table in tables {
            let name: String = table.get(0);
            for row in db
                .query(
                    &format!("SELECT t::text FROM {}.{name} t ORDER BY 1", self.schema),
                    &[],
                )
                .await
                .unwrap()
            {
                rows.push(format!("{name}: {}", row.get::<_, String>(0)));
            }
        }
        rows
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let schema = self.schema.clone();
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
