//! An operator runs `serve` behind a load balancer and an orchestrator:
//! `/healthz` says the process serves and `/readyz` whether it can work,
//! without a key and whatever name the balancer uses for the node; a node
//! whose store stops answering, or was migrated past what it knows, says
//! it is not ready (503, `Retry-After`) and says so again once it is.

mod support;

use serde_json::{Value, json};
use support::web::{ServeBed, raw};

const DEFAULT_KEY: &str = "the-default-tenants-key";

/// GET `path` as a load balancer does: no key, and the node's address
/// (not a name the server knows) as `Host`, written on the wire as is.
async fn as_balancer(bed: &ServeBed, path: &str) -> (u16, Option<String>, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = bed.origin.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 10.0.0.7:8765\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let retry = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .map(str::to_string);
    (
        status,
        retry,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn probe(bed: &ServeBed, path: &str) -> (u16, Option<String>, Value) {
    as_balancer(bed, path).await
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_answer_a_load_balancer_and_follow_the_store() {
    let bed = ServeBed::start(Some(DEFAULT_KEY)).await;

    // The process serves and is ready, with no key and any Host.
    assert_eq!(
        probe(&bed, "/healthz").await,
        (200, None, json!({"status": "ok"}))
    );
    assert_eq!(
        probe(&bed, "/readyz").await,
        (200, None, json!({"status": "ready"}))
    );
    // The rest of the server still wants its own name and a key.
    assert_eq!(as_balancer(&bed, "/api/v1/connections").await.0, 421);
    let (status, _, _) = raw(&bed, "GET", &bed.url("/api/v1/connections"), &[], "").await;
    assert_eq!(status, 401);

    // Another host migrated the store past this one: not ready.
    let db = rusqlite::Connection::open(bed.store_file()).unwrap();
    db.execute(
        "UPDATE meta SET value = '999' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    let (status, retry, body) = probe(&bed, "/readyz").await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")));
    assert_eq!(body, json!({"status": "unavailable", "reason": "store"}));
    assert_eq!(
        probe(&bed, "/healthz").await.0,
        200,
        "alive, though not ready"
    );

    // The store stops answering: not ready; back, and ready again.
    db.execute_batch("ALTER TABLE meta RENAME TO meta_away")
        .unwrap();
    assert_eq!(probe(&bed, "/readyz").await.0, 503);
    db.execute_batch("ALTER TABLE meta_away RENAME TO meta")
        .unwrap();
    db.execute(
        "UPDATE meta SET value = '10' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    assert_eq!(
        probe(&bed, "/readyz").await,
        (200, None, json!({"status": "ready"}))
    );
}
