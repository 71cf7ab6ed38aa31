//! A platform engineer runs a connector it did not write. The hostile
//! fixture misbehaves on purpose, one way per action; each misbehaviour is
//! stopped or refused with a typed error, and the same host goes on serving
//! the next action at once.

use host_harness::outgoing::TrafficLimits;
use host_harness::{
    ActionError, Connection, ConnectionFacts, HostConfig, InstancePool, LoadedConnector, Manifest,
    Origin, Runtime,
};
use serde_json::Value;
use std::time::{Duration, Instant};
use x_emulator::Emulator;

const HOSTILE_MANIFEST: &str = include_str!("fixtures/hostile-component/manifest.json");

/// The hostile fixture, with tight limits, its API routed to `x`.
async fn hostile(x: &Emulator) -> LoadedConnector {
    hostile_with(x, None).await
}

/// The same, its instances from a pool when `pool` is given.
async fn hostile_with(x: &Emulator, pool: Option<InstancePool>) -> LoadedConnector {
    let config = HostConfig {
        instance_pool: pool,
        action_deadline: Duration::from_secs(2),
        max_memory_bytes: 32 * 1024 * 1024,
        traffic: TrafficLimits {
            max_requests: 40,
            ..TrafficLimits::default()
        },
        ..HostConfig::default()
    };
    let runtime = Runtime::new(config).unwrap();
    let component = std::fs::read(component_artifacts::HOSTILE_COMPONENT_PATH).unwrap();
    let mut connector = runtime
        .load(&component, Manifest::from_json(HOSTILE_MANIFEST).unwrap())
        .await
        .expect("the fixture loads: it is hostile only when run");
    connector
        .route("api.x.com", Origin::parse(&x.base_url()).unwrap())
        .unwrap();
    connector
}

/// ada's connection, with a real token of the emulator's.
fn ada(x: &Emulator) -> Connection {
    Connection::bearer(
        ConnectionFacts {
            id: "ada".into(),
            auth_kind: host_harness::manifest::AuthKind::BearerToken,
            granted_scopes: None,
            account_id: x.user_id("ada"),
            account_facts: Default::default(),
        },
        secrecy::SecretString::from(x.issue_user_token("ada", &["tweet.read", "users.read"])),
    )
}

/// Runs `action`, then checks that the host still serves at once.
async fn misbehave(x: &Emulator, action: &str) -> (Result<Value, ActionError>, Duration) {
    let connector = hostile(x).await;
    let connection = ada(x);
    let started = Instant::now();
    let result = connector.invoke(&connection, action, "{}").await;
    let took = started.elapsed();
    let next = connector.invoke(&connection, "ok.behave", "{}").await;
    assert_eq!(
        next.unwrap()["behaved"],
        true,
        "the host serves after `{action}`"
    );
    (result, took)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_loops_forever_is_stopped_at_its_deadline() {
    let x = Emulator::start().await.unwrap();

    let (result, took) = misbehave(&x, "cpu.spin").await;

    assert!(
        matches!(result, Err(ActionError::Timeout { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_allocates_without_bound_is_stopped_at_its_memory_cap() {
    let x = Emulator::start().await.unwrap();

    let (result, _) = misbehave(&x, "memory.hoard").await;

    assert!(
        matches!(&result, Err(ActionError::LimitExceeded { limit, .. }) if limit == "memory"),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_floods_requests_is_cut_off_at_its_request_limit() {
    let x = Emulator::start().await.unwrap();

    let (result, _) = misbehave(&x, "http.flood").await;

    assert!(
        matches!(&result, Err(ActionError::LimitExceeded { limit, .. }) if limit == "requests"),
        "{result:?}"
    );
    assert_eq!(
        x.arrivals("/2/users/me"),
        40,
        "not one request past the limit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_traps_is_an_internal_error() {
    let x = Emulator::start().await.unwrap();

    let (result, _) = misbehave(&x, "wasm.trap").await;

    assert!(
        matches!(&result, Err(ActionError::Internal { detail }) if detail.contains("stopped abnormally")),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_calls_a_host_outside_its_manifest_is_refused() {
    let x = Emulator::start().await.unwrap();

    let (result, _) = misbehave(&x, "http.elsewhere").await;

    assert!(
        matches!(&result, Err(ActionError::Forbidden { detail, .. }) if detail.contains("evil.example")),
        "{result:?}"
    );
    assert!(x.traffic().is_empty(), "nothing reached any server");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_sends_its_own_credentials_gets_the_connections_instead() {
    let x = Emulator::start().await.unwrap();

    let (result, _) = misbehave(&x, "http.forge").await;

    let output = result.unwrap();
    assert_eq!(output["status"], 200, "{output}");
    let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pooled_host_queues_actions_beyond_its_slots_and_still_stops_a_hoarder() {
    // Arrange: a pool of two instance slots.
    let x = Emulator::start().await.unwrap();
    let pool = InstancePool {
        max_concurrent_actions: 2,
    };
    let connector = hostile_with(&x, Some(pool)).await;
    let connection = ada(&x);

    // Act: twenty actions at once, some of them hostile.
    let mut runs = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (connector, connection) = (connector.clone(), connection.clone());
        let action = match n % 4 {
            0 => "memory.hoard",
            1 => "wasm.trap",
            _ => "ok.behave",
        };
        runs.spawn(async move { (action, connector.invoke(&connection, action, "{}").await) });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = runs.join_next().await {
        outcomes.push(done.unwrap());
    }

    // Assert: the well-behaved ones waited for a slot and ran; the others
    // failed as they do without a pool.
    assert_eq!(outcomes.len(), 20);
    for (action, outcome) in outcomes {
        match action {
            "ok.behave" => assert_eq!(outcome.unwrap()["behaved"], true),
            "memory.hoard" => assert!(
                matches!(&outcome, Err(ActionError::LimitExceeded { limit, .. }) if limit == "memory"),
                "{outcome:?}"
            ),
            _ => assert!(
                matches!(outcome, Err(ActionError::Internal { .. })),
                "{outcome:?}"
            ),
        }
    }
}
