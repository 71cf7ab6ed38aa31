//! The manifest is the one source of truth a platform installs: the component
//! embeds the same file, the host refuses a component that disagrees with
//! it, and each action's scopes are those X's specification requires. What
//! a platform installs is also small: the component stays under 1 MiB.

mod support;

use host_harness::{HostConfig, HostError, Manifest, Runtime};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use support::{X_MANIFEST, XBed};

#[tokio::test(flavor = "multi_thread")]
async fn the_component_embeds_the_installed_manifest() {
    let connector = support::x_connector().await;

    let embedded = &connector.descriptor().manifest;

    let installed: Value = serde_json::from_str(X_MANIFEST).unwrap();
    assert_eq!(embedded, &installed);
    let described: Vec<&str> = connector
        .descriptor()
        .actions
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    let declared: Vec<&str> = installed["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(described, declared);
}

/// The component carries its schemas as text derived natively before it
/// was built; they must be the schemas the connector's types derive.
#[tokio::test(flavor = "multi_thread")]
async fn the_components_schemas_are_those_its_types_derive() {
    let connector = support::x_connector().await;

    let described = connector.descriptor();

    let actions = x_connector::actions::catalogue();
    assert_eq!(described.actions.len(), actions.len());
    for entry in actions {
        let action = described.action(entry.id).unwrap();
        assert_eq!(action.input_schema, entry.input_schema(), "{}", entry.id);
        assert_eq!(action.output_schema, entry.output_schema(), "{}", entry.id);
    }
    let triggers = x_connector::triggers::catalogue();
    assert_eq!(described.triggers.len(), triggers.len());
    for entry in triggers {
        let trigger = described
            .triggers
            .iter()
            .find(|t| t.id == entry.id)
            .unwrap();
        assert_eq!(
            trigger.configuration_schema,
            entry.configuration_schema(),
            "{}",
            entry.id
        );
        assert_eq!(trigger.event_schema, entry.event_schema(), "{}", entry.id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_that_differs_from_the_components_is_refused() {
    let mut altered: Value = serde_json::from_str(X_MANIFEST).unwrap();
    altered["api"]["egress"]
        .as_array_mut()
        .unwrap()
        .push(json!({"host": "evil.example", "credentials": true}));
    let runtime = Runtime::new(HostConfig::default()).unwrap();

    let result = runtime
        .load(
            component_artifacts::x_connector(),
            Manifest::from_json(&altered.to_string()).unwrap(),
        )
        .await;

    assert!(
        matches!(result, Err(HostError::ManifestMismatch { .. })),
        "{:?}",
        result.err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_actions_scopes_and_contexts_match_xs_specification() {
    let bed = XBed::start().await;
    let created = bed
        .ok("post.create", json!({"text": "For the scope check."}))
        .await;
    let inputs = [
        ("users.me", json!({})),
        ("timeline.user", json!({})),
        ("timeline.home", json!({})),
        ("search.recent", json!({"query": "engine"})),
        ("post.delete", json!({"id": created["post"]["id"]})),
    ];
    let manifest: Value = serde_json::from_str(X_MANIFEST).unwrap();
    let spec = support::openapi::spec();
    // post.create ran first.
    let mut seen = vec![("post.create", bed.x.traffic())];
    for (action, input) in inputs {
        let before = bed.x.traffic().len();
        bed.ok(action, input).await;
        seen.push((action, bed.x.traffic()[before..].to_vec()));
    }

    for (action, exchanges) in seen {
        let meta = manifest["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == action)
            .unwrap();
        let declared: BTreeSet<&str> = meta["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let contexts: Vec<&str> = meta["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(!exchanges.is_empty(), "{action} made no request");
        for exchange in exchanges {
            let (needed, app_allowed) = spec.security(&exchange.method, &exchange.path).unwrap();
            for scope in &needed {
                assert!(
                    declared.contains(scope.as_str()),
                    "{action} calls {} {} which needs {scope}",
                    exchange.method,
                    exchange.path
                );
            }
            if contexts.contains(&"app") {
                assert!(
                    app_allowed,
                    "{action} claims app-only support but {} {} refuses app tokens",
                    exchange.method, exchange.path
                );
            }
        }
    }
}

/// Platforms load the component for every action and keep it in their
/// catalogues: it stays under 1 MiB with the full catalogue
/// (BENCHMARKS.md says where its bytes are).
#[test]
fn the_component_stays_under_one_mebibyte() {
    let size = component_artifacts::x_connector().len();

    assert!(
        size < 1024 * 1024,
        "x_connector.wasm is {size} bytes, over 1 MiB by {}",
        size - 1024 * 1024
    );
}
