//! The store's size under a steady event rate, with retention and without,
//! side by side in one run: two SQLite stores, each with one subscription
//! to an endpoint, take the same rounds, interleaved. A round queues
//! `EVENTS` events (a post's size each, as a poll finds them), delivers
//! every one (claims in batches, each settled delivered), then, for the
//! store with retention, removes what a server's retention pass removes
//! (`Store::prune_events`) with a window of one round: a second's pause
//! makes the previous rounds' events older than it. The other store keeps
//! every delivered event, as the outbox did before retention.
//!
//! The size is the file and its write-ahead log, after each round.
//! `cargo bench -p host-harness --bench retention`; `BENCH_ROUNDS`
//! (default 30), `EVENTS` (default 2000).

mod support;

use credential_store::{
    Delivery, DeliveryOutcome, Destination, FieldValue, MasterKey, NewConnection, NewSubscription,
    Store, StoreLocation,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::env_number;

/// What a delivered event carries: about the size of a post with its
/// author.
fn payload(n: usize) -> String {
    format!(
        r#"{{"id":"{n}","text":"{}","author":{{"id":"2244994945","username":"XDevelopers","name":"Developers"}},"created_at":"2026-12-07T18:00:00.000Z","public_metrics":{{"like_count":{n},"reply_count":3,"retweet_count":7}}}}"#,
        "Steady traffic for the retention bench, a post of ordinary length with a link https://t.co/abcdefghij and a tag #bench. ".repeat(2)
    )
}

fn size_of(path: &Path) -> u64 {
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

struct Bed {
    store: Store,
    path: std::path::PathBuf,
    subscription: String,
    prune: bool,
    next_event: usize,
}

impl Bed {
    async fn new(dir: &Path, name: &str, prune: bool) -> Bed {
        let path = dir.join(format!("{name}.db"));
        let store = Store::open(&StoreLocation::Sqlite(path.clone()), &MasterKey::generate())
            .await
            .unwrap();
        let connection = store
            .create_connection(&NewConnection {
                connector: "x".into(),
                method: "bearer".into(),
                auth_kind: "bearer".into(),
                name: "Bench".into(),
                brand: None,
                fields: BTreeMap::from([(
                    "bearer_token".to_string(),
                    FieldValue::Plain("unused".into()),
                )]),
                tenant_id: None,
                end_user: None,
                quiet: false,
            })
            .await
            .unwrap()
            .id;
        let subscription = store
            .create_subscription(&NewSubscription {
                connection_id: connection,
                trigger: "mention.new".into(),
                configuration: "{}".into(),
                delivery: Delivery::Poll,
                destination: Destination::Url("https://engine.example/hooks/x".into()),
                interval_secs: 30,
                signing_secret: None,
            })
            .await
            .unwrap()
            .id;
        Bed {
            store,
            path,
            subscription,
            prune,
            next_event: 0,
        }
    }

    /// One round: queue, deliver, and (with retention) prune.
    async fn round(&mut self, events: usize) -> u64 {
        let polled = self
            .store
            .claim_poll("bench", Duration::from_secs(60))
            .await
            .unwrap()
            .expect("the subscription is due");
        let batch: Vec<(String, String)> = (0..events)
            .map(|i| {
                let n = self.next_event + i;
                (n.to_string(), payload(n))
            })
            .collect();
        self.next_event += events;
        self.store
            .finish_poll(
                &self.subscription,
                "bench",
                &batch,
                None,
                &self.next_event.to_string(),
                polled.cursor_version,
                0,
            )
            .await
            .unwrap();
        loop {
            let claimed = self
                .store
                .claim_deliveries("bench", Duration::from_secs(60), 500)
                .await
                .unwrap();
            if claimed.is_empty() {
                break;
            }
            for delivery in claimed {
                self.store
                    .settle_delivery(
                        &self.subscription,
                        &delivery.delivery.event_id,
                        &DeliveryOutcome::Delivered,
                    )
                    .await
                    .unwrap();
            }
        }
        if self.prune {
            self.store.prune_events(Duration::ZERO).await.unwrap();
        }
        size_of(&self.path)
    }
}

#[tokio::main]
async fn main() {
    let rounds = env_number("BENCH_ROUNDS", 30);
    let events = env_number("EVENTS", 2000);
    let dir = tempfile::tempdir().unwrap();
    let mut kept = Bed::new(dir.path(), "kept", false).await;
    let mut pruned = Bed::new(dir.path(), "pruned", true).await;
    println!("round,events_so_far,without_retention_bytes,with_retention_bytes,ratio");
    for round in 1..=rounds {
        let without = kept.round(events).await;
        let with = pruned.round(events).await;
        println!(
            "{round},{},{without},{with},{:.2}",
            round * events,
            without as f64 / with as f64
        );
        // The window: what this round settled is older than "now" by the
        // next round's prune.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}
