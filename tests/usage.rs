//! A platform prices a workflow run from what each action consumed at X:
//! every output carries `usage`, in the units of X's pricing page as the
//! manifest's usage table names them, and the counts are what really
//! crossed the wire.

mod support;

use serde_json::{Value, json};
use support::{XBed, oauth_connection};

fn unit(output: &Value, name: &str) -> u64 {
    output["usage"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("usage has no {name}: {}", output["usage"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_count_the_posts_and_users_x_returned_and_the_accounts_own_apart() {
    let bed = XBed::start().await;
    bed.x.add_numbered_posts("ada", 12);

    let own = bed
        .ok("timeline.user", json!({"max_results": 5, "limit": 10}))
        .await;
    let grace = bed.x.user_id("grace").unwrap();
    let theirs = bed
        .ok("timeline.user", json!({"user_id": grace, "max_results": 5}))
        .await;
    let search = bed.ok("search.recent", json!({"query": "from:ada"})).await;

    // Two pages of the account's own posts: owned reads, not post reads.
    let own_posts = own["posts"].as_array().unwrap().len() as u64;
    assert_eq!(own_posts, 10);
    assert_eq!(unit(&own, "owned_reads"), own_posts);
    assert_eq!(unit(&own, "posts_read"), 0);
    assert_eq!(unit(&own, "requests"), 2);
    // Another user's posts are post reads, and their authors user reads.
    let their_posts = theirs["posts"].as_array().unwrap().len() as u64;
    assert!(their_posts > 0);
    assert_eq!(unit(&theirs, "owned_reads"), 0);
    assert!(unit(&theirs, "posts_read") >= their_posts);
    assert!(unit(&theirs, "users_read") >= 1);
    let found = search["posts"].as_array().unwrap().len() as u64;
    assert!(unit(&search, "posts_read") >= found && found > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_with_a_url_is_priced_apart_and_every_output_has_every_unit() {
    let bed = XBed::start().await;

    let plain = bed.ok("post.create", json!({"text": "Plain words."})).await;
    let linked = bed
        .ok(
            "post.create",
            json!({"text": "Read example.com/notes today."}),
        )
        .await;
    let counted = bed.ok("post.validate", json!({"text": "no request"})).await;

    assert_eq!(unit(&plain, "posts_created"), 1);
    assert_eq!(unit(&plain, "posts_created_with_url"), 0);
    assert_eq!(unit(&linked, "posts_created"), 0);
    assert_eq!(unit(&linked, "posts_created_with_url"), 1);
    assert_eq!(unit(&counted, "requests"), 0);
    let descriptor = bed.connector.descriptor();
    let schema = &descriptor.action("post.create").unwrap().output_schema;
    assert_eq!(schema["properties"]["usage"]["$ref"], "#/$defs/Usage");
    let units: Vec<String> = schema["$defs"]["Usage"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    for output in [&plain, &linked, &counted] {
        let usage = output["usage"].as_object().unwrap();
        assert_eq!(usage.len(), units.len());
        assert!(units.iter().all(|u| usage.contains_key(u)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_those_that_reached_x() {
    let bed = XBed::start().await;
    bed.x.follow("grace", "alan");
    bed.x.follow("ada", "alan");
    let alan = bed.x.user_id("alan").unwrap();
    let before = bed.x.traffic().len();

    let ada = oauth_connection(&bed.x, "ada", &["tweet.read", "users.read", "follows.read"]);
    let out = bed
        .run_as(
            &ada,
            "user.followers",
            json!({"user_id": alan, "max_results": 1, "limit": 2}),
        )
        .await
        .unwrap();

    let sent = (bed.x.traffic().len() - before) as u64;
    assert_eq!(sent, 2);
    assert_eq!(unit(&out, "requests"), sent);
    assert_eq!(unit(&out, "graph_read"), 2);
    assert_eq!(out["users"].as_array().unwrap().len(), 2);
}

/// Adds an output's `usage` (or a poll's) to `sum`.
fn add(sum: &mut std::collections::BTreeMap<String, u64>, usage: &Value) {
    for (unit, n) in usage.as_object().unwrap() {
        *sum.entry(unit.clone()).or_default() += n.as_u64().unwrap();
    }
}

/// What the ledger holds for `tenant` today, by unit.
async fn ledger_totals(
    store: &credential_store::Store,
    tenant: Option<&str>,
) -> std::collections::BTreeMap<String, u64> {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut totals = std::collections::BTreeMap::new();
    for entry in store.usage(tenant, &today, &today).await.unwrap() {
        *totals.entry(entry.unit).or_default() += entry.amount;
    }
    totals
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tenants_ledger_is_the_sum_of_every_actions_and_polls_usage() {
    // Arrange: Acme's connection to ada, made through the manager as every
    // route makes them; the default tenant's connection to grace beside it.
    let bed = support::auth::AuthBed::start().await;
    bed.x.add_numbered_posts("grace", 12);
    bed.x.add_numbered_posts("ada", 3);
    let acme = bed.store.create_tenant("Acme").await.unwrap();
    let scopes = ["tweet.read", "users.read", "tweet.write"];
    let mut made = Vec::new();
    for (account, tenant) in [("ada", Some(acme.id.clone())), ("grace", None)] {
        let token = bed.x.issue_user_token(account, &scopes);
        let record = bed
            .manager
            .create(&host_harness::ConnectRequest {
                method: "bearer".into(),
                fields: [("bearer_token".to_string(), token)].into(),
                tenant,
                ..Default::default()
            })
            .await
            .unwrap();
        bed.manager.activate(&record.id).await.unwrap();
        made.push(record.id);
    }
    let (ada, grace) = (&made[0], &made[1]);
    let before = ledger_totals(&bed.store, Some(&acme.id)).await;
    let default_before = ledger_totals(&bed.store, None).await;
    let grace_id = bed.x.user_id("grace").unwrap();

    // Act: 100 runs on Acme's connection, actions and polls mixed.
    let connection = bed.manager.connection(ada).await.unwrap();
    let connector = bed.manager.connector();
    let mut outputs = std::collections::BTreeMap::new();
    let mut cursor = None;
    for i in 0..100 {
        let (action, input) = match i % 5 {
            0 => ("users.me", json!({})),
            1 => ("post.create", json!({"text": format!("Ledger note {i}")})),
            2 => (
                "timeline.user",
                json!({"user_id": grace_id, "max_results": 5}),
            ),
            3 => ("search.recent", json!({"query": "from:grace"})),
            _ => {
                if i % 10 == 9 {
                    bed.x.post_as("grace", &format!("@ada mention {i}"));
                }
                let polled = connector
                    .poll(&connection, "mention.new", "{}", cursor.as_deref())
                    .await
                    .unwrap();
                cursor = Some(polled.cursor.clone());
                add(&mut outputs, &json!(polled.usage));
                continue;
            }
        };
        let output = connector
            .invoke(&connection, action, &input.to_string())
            .await
            .unwrap_or_else(|e| panic!("{action}: {e:?}"));
        add(&mut outputs, &output["usage"]);
    }

    // Assert: the ledger grew by exactly what the outputs reported, and
    // only Acme's.
    let after = ledger_totals(&bed.store, Some(&acme.id)).await;
    let grown: std::collections::BTreeMap<String, u64> = after
        .iter()
        .map(|(unit, n)| (unit.clone(), n - before.get(unit).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    outputs.retain(|_, n| *n > 0);
    assert_eq!(grown, outputs);
    assert!(outputs["requests"] >= 100, "{outputs:?}");
    assert!(
        outputs["posts_read"] > 0 && outputs["posts_created"] == 20,
        "{outputs:?}"
    );
    assert_eq!(ledger_totals(&bed.store, None).await, default_before);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let entries = bed
        .store
        .usage(Some(&acme.id), &today, &today)
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .all(|e| &e.connection_id == ada && e.connection_id != *grace)
    );
    let polls: u64 = entries
        .iter()
        .filter(|e| e.operation == "trigger:mention.new" && e.unit == "requests")
        .map(|e| e.amount)
        .sum();
    assert!(polls >= 20, "every poll reached X at least once: {polls}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_reads_its_usage_by_operation_and_the_operator_reads_any_tenants() {
    use support::web::{ServeBed, api};
    const ADMIN: &str = "the-operators-admin-key";
    let bed = ServeBed::start_with_keys(Some("the-default-key"), Some(ADMIN)).await;
    let mut keys = Vec::new();
    for name in ["Acme", "Globex"] {
        let (_, tenant) = api(
            "POST",
            &bed.url("/api/v1/tenants"),
            Some(ADMIN),
            Some(json!({"name": name})),
        )
        .await;
        let id = tenant["id"].as_str().unwrap().to_string();
        let (_, key) = api(
            "POST",
            &bed.url(&format!("/api/v1/tenants/{id}/api-keys")),
            Some(ADMIN),
            Some(json!({})),
        )
        .await;
        keys.push((id, key["key"].as_str().unwrap().to_string()));
    }
    let (acme, acme_key) = keys[0].clone();
    let (_, globex_key) = keys[1].clone();
    let token = bed
        .x
        .issue_user_token("ada", &["tweet.read", "users.read", "tweet.write"]);
    let (status, created) = api(
        "POST",
        &bed.url("/api/v1/connections"),
        Some(&acme_key),
        Some(json!({"method": "bearer", "fields": {"bearer_token": token}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (_, before) = api("GET", &bed.url("/api/v1/usage"), Some(&acme_key), None).await;

    let mut sent = std::collections::BTreeMap::new();
    for text in ["First", "Second"] {
        let (status, out) = api(
            "POST",
            &bed.url(&format!("/api/v1/connections/{id}/actions/post.create")),
            Some(&acme_key),
            Some(json!({"text": text})),
        )
        .await;
        assert_eq!(status, 200, "{out}");
        add(&mut sent, &out["output"]["usage"]);
    }
    sent.retain(|_, n| *n > 0);

    let (status, report) = api(
        "GET",
        &bed.url("/api/v1/usage?group_by=operation,connection"),
        Some(&acme_key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let creates = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["operation"] == "action:post.create")
        .unwrap_or_else(|| panic!("no post.create group: {report}"));
    assert_eq!(creates["connection"], id);
    assert_eq!(creates["usage"], json!(sent));
    let grew = |unit: &str| {
        report["totals"][unit].as_u64().unwrap_or(0) - before["totals"][unit].as_u64().unwrap_or(0)
    };
    assert_eq!(grew("posts_created"), 2);
    let (_, operator) = api(
        "GET",
        &bed.url(&format!(
            "/api/v1/tenants/{acme}/usage?group_by=operation,connection"
        )),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(operator, report);
    let (_, theirs) = api("GET", &bed.url("/api/v1/usage"), Some(&globex_key), None).await;
    assert_eq!(theirs["totals"], json!({}), "{theirs}");
    for (query, field) in [
        ("from=yesterday", "from"),
        ("group_by=tenant", "group_by"),
        ("from=2026-12-08&to=2026-12-01", "from"),
    ] {
        let (status, refused) = api(
            "GET",
            &bed.url(&format!("/api/v1/usage?{query}")),
            Some(&acme_key),
            None,
        )
        .await;
        assert_eq!(
            (status, refused["field"].as_str()),
            (400, Some(field)),
            "{query}: {refused}"
        );
    }
    let (status, _) = api(
        "GET",
        &bed.url(&format!("/api/v1/tenants/{acme}/usage")),
        Some(&globex_key),
        None,
    )
    .await;
    assert_eq!(status, 403);
}
