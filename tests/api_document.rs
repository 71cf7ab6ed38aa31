//! The API described: `/api/v1/openapi.json` is an OpenAPI 3.1 document
//! of every route, generated from the handlers, and an independent fuzzer
//! (schemathesis, from PyPI, installed by the test) holds it to the running
//! server. As a tenant with a connection and a subscription, and as the
//! operator, no answer is a server error, and every status, content type
//! and body is one the document names.

mod support;

use serde_json::json;
use std::process::Command;
use support::web::{ServeBed, api};

const DEFAULT_KEY: &str = "the-default-tenants-key";
const ADMIN_KEY: &str = "the-operators-admin-key";

/// What every run checks.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// Runs schemathesis against the server at `origin` with `key`, the
/// paths' ids set to real objects by `config`; whether it passed, and its
/// report.
fn fuzz(python: &std::path::Path, origin: &str, key: &str, config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let output = Command::new(python)
        // Its cache of findings goes with the temporary directory.
        .current_dir(dir.path())
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config_file)
        .arg("run")
        .arg(format!("{origin}/api/v1/openapi.json"))
        .args(["--url", &format!("{origin}/api/v1")])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "20261207",
            "--workers",
            "2",
            "--no-color",
        ])
        .output()
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), report)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_names_every_route_and_the_server_keeps_to_it() {
    let python = tokio::task::spawn_blocking(|| {
        support::python::venv(
            "schemathesis-venv",
            "schemathesis",
            "api_document/requirements.txt",
        )
    })
    .await
    .unwrap();

    // Arrange: Acme, with a connection and a subscription to reach.
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    let (_, tenant) = api(
        "POST",
        &bed.url("/api/v1/tenants"),
        Some(ADMIN_KEY),
        Some(json!({"name": "Acme"})),
    )
    .await;
    let acme = tenant["id"].as_str().unwrap().to_string();
    let (_, key) = api(
        "POST",
        &bed.url(&format!("/api/v1/tenants/{acme}/api-keys")),
        Some(ADMIN_KEY),
        Some(json!({})),
    )
    .await;
    let acme_key = key["key"].as_str().unwrap().to_string();
    let key_id = key["id"].as_str().unwrap().to_string();
    let token = bed
        .x
        .issue_user_token("ada", &["tweet.read", "users.read", "tweet.write"]);
    let (_, created) = api(
        "POST",
        &bed.url("/api/v1/connections"),
        Some(&acme_key),
        Some(json!({"method": "bearer", "fields": {"bearer_token": token}})),
    )
    .await;
    let connection = created["id"].as_str().unwrap().to_string();
    let (_, subscription) = api(
        "POST",
        &bed.url(&format!("/api/v1/connections/{connection}/subscriptions")),
        Some(&acme_key),
        Some(json!({"trigger": "mention.new"})),
    )
    .await;
    let subscription = subscription["id"].as_str().unwrap().to_string();

    // Assert: the document, open to all, names every route.
    let (status, document) = api("GET", &bed.url("/api/v1/openapi.json"), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/connections/{id}/actions/{action}",
        "/subscriptions/{id}/events",
        "/tenants/{id}/api-keys/{key}/rotate",
        "/connect-sessions",
        "/sign-in-sessions/exchange",
        "/usage",
        "/webhook",
        "/events",
    ] {
        assert!(paths.contains_key(path), "the document lacks {path}");
    }
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert!(operations >= 33, "{operations} operations");

    // Act and assert: the fuzzer finds nothing, as Acme and as the operator.
    let config = format!(
        r#"
[[operations]]
include-path-regex = "^/connections/\\{{id\\}}"
parameters = {{ id = "{connection}", action = "users.me" }}

[[operations]]
include-path-regex = "^/subscriptions/"
parameters = {{ id = "{subscription}" }}

[[operations]]
include-path-regex = "^/tenants/\\{{id\\}}"
parameters = {{ id = "{acme}", key = "{key_id}", method = "oauth2" }}
"#
    );
    for (who, key) in [("Acme", acme_key.as_str()), ("the operator", ADMIN_KEY)] {
        let (python, origin, key, config) = (
            python.clone(),
            bed.origin.clone(),
            key.to_string(),
            config.clone(),
        );
        let (passed, report) =
            tokio::task::spawn_blocking(move || fuzz(&python, &origin, &key, &config))
                .await
                .unwrap();
        assert!(passed, "schemathesis, as {who}, found failures:\n{report}");
        assert!(report.contains("passed"), "{report}");
    }
}
