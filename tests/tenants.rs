//! A platform serves two customers from one `serve`: the operator creates
//! the tenants Acme and Globex and their API keys with the admin key; each
//! tenant connects its own X account and subscribes to it with its own
//! key; neither can see or touch the other's connections, subscriptions,
//! events or dead letters on any route (another tenant's object answers
//! exactly as one that does not exist); keys are kept as hashes, listed by
//! prefix, limited to scopes, rotated with an overlap and revoked.

mod support;

use serde_json::{Value, json};
use support::auth::AuthBed;
use support::nodes::{Node, Platform, free_port};
use support::postgres::TestDatabase;
use support::web::{ServeBed, api, raw};

const DEFAULT_KEY: &str = "the-default-tenants-key";
const ADMIN_KEY: &str = "the-operators-admin-key";

/// An API request with `key`: status and JSON body.
async fn call(
    bed: &ServeBed,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    api(method, &bed.url(path), Some(key), body).await
}

/// A tenant made by the operator, with a key of every scope.
async fn tenant(bed: &ServeBed, name: &str) -> (String, String, String) {
    let (status, tenant) = call(
        bed,
        "POST",
        "/api/v1/tenants",
        ADMIN_KEY,
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    let id = tenant["id"].as_str().unwrap().to_string();
    let (status, key) = call(
        bed,
        "POST",
        &format!("/api/v1/tenants/{id}/api-keys"),
        ADMIN_KEY,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    (
        id,
        key["id"].as_str().unwrap().to_string(),
        key["key"].as_str().unwrap().to_string(),
    )
}

/// A bearer connection of `account` made with `key`, and a subscription
/// of it whose events are kept to be fetched.
async fn connect(bed: &ServeBed, key: &str, account: &str) -> (String, String) {
    let token = bed
        .x
        .issue_user_token(account, &["tweet.read", "users.read"]);
    let (status, created) = call(
        bed,
        "POST",
        "/api/v1/connections",
        key,
        Some(json!({"method": "bearer", "name": account, "fields": {"bearer_token": token}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, subscription) = call(
        bed,
        "POST",
        &format!("/api/v1/connections/{id}/subscriptions"),
        key,
        Some(json!({"trigger": "mention.new"})),
    )
    .await;
    assert_eq!(status, 201, "{subscription}");
    (id, subscription["id"].as_str().unwrap().to_string())
}

/// Every route that names a connection or a subscription, with these ids.
fn routes_of(connection: &str, subscription: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", format!("/api/v1/connections/{connection}"), None),
        (
            "POST",
            format!("/api/v1/connections/{connection}/test"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/api/v1/connections/{connection}/actions/users.me"),
            Some(json!({})),
        ),
        (
            "GET",
            format!("/api/v1/connections/{connection}/subscriptions"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/connections/{connection}/subscriptions"),
            Some(json!({"trigger": "mention.new"})),
        ),
        ("GET", format!("/api/v1/subscriptions/{subscription}"), None),
        (
            "GET",
            format!("/api/v1/subscriptions/{subscription}/events?after=0"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/subscriptions/{subscription}/dead-letters"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/subscriptions/{subscription}/dead-letters/retry"),
            Some(json!({})),
        ),
        (
            "DELETE",
            format!("/api/v1/subscriptions/{subscription}"),
            None,
        ),
        ("DELETE", format!("/api/v1/connections/{connection}"), None),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn each_tenant_reaches_its_own_connections_only_on_every_route() {
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    let (_, _, acme_key) = tenant(&bed, "Acme").await;
    let (_, _, globex_key) = tenant(&bed, "Globex").await;
    let (acme_connection, acme_subscription) = connect(&bed, &acme_key, "ada").await;
    let (globex_connection, globex_subscription) = connect(&bed, &globex_key, "grace").await;

    // Acme tries every route on Globex's objects, then on ids nobody has.
    let mut foreign = Vec::new();
    for (method, path, body) in routes_of(&globex_connection, &globex_subscription) {
        foreign.push((
            path.clone(),
            call(&bed, method, &path, &acme_key, body).await,
        ));
    }
    let mut missing = Vec::new();
    for (method, path, body) in routes_of("conn_nobodyhasthis0", "sub_nobodyhasthis00") {
        missing.push(call(&bed, method, &path, &acme_key, body).await);
    }
    let (_, acme_list) = call(&bed, "GET", "/api/v1/connections", &acme_key, None).await;
    let (_, default_list) = call(&bed, "GET", "/api/v1/connections", DEFAULT_KEY, None).await;
    let (globex_still, globex_record) = call(
        &bed,
        "GET",
        &format!("/api/v1/connections/{globex_connection}"),
        &globex_key,
        None,
    )
    .await;
    let (globex_subscription_still, _) = call(
        &bed,
        "GET",
        &format!("/api/v1/subscriptions/{globex_subscription}"),
        &globex_key,
        None,
    )
    .await;
    let (acme_runs, me) = call(
        &bed,
        "POST",
        &format!("/api/v1/connections/{acme_connection}/actions/users.me"),
        &acme_key,
        Some(json!({})),
    )
    .await;
    let (default_reaches_acme, _) = call(
        &bed,
        "GET",
        &format!("/api/v1/subscriptions/{acme_subscription}"),
        DEFAULT_KEY,
        None,
    )
    .await;

    for ((path, (status, body)), (missing_status, missing_body)) in foreign.iter().zip(&missing) {
        let text = body.to_string();
        assert_eq!(*status, 404, "{path} answered Acme: {body}");
        assert_eq!(status, missing_status, "{path}");
        assert_eq!(body["error"], missing_body["error"], "{path}");
        let anonymised = text
            .replace(&globex_connection, "conn_nobodyhasthis0")
            .replace(&globex_subscription, "sub_nobodyhasthis00");
        assert_eq!(
            anonymised,
            missing_body.to_string(),
            "{path} tells a foreign object from a missing one"
        );
        assert!(
            !text.contains("grace"),
            "{path} showed Globex's account: {text}"
        );
    }
    let listed: Vec<&str> = acme_list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [acme_connection.as_str()]);
    assert!(
        default_list["connections"].as_array().unwrap().is_empty(),
        "{default_list}"
    );
    assert_eq!(
        globex_still, 200,
        "Acme's DELETE reached Globex's connection"
    );
    assert_eq!(globex_record["account"], "grace");
    assert_eq!(
        globex_subscription_still, 200,
        "Acme's DELETE reached Globex's subscription"
    );
    assert_eq!(acme_runs, 200, "{me}");
    assert_eq!(me["output"]["user"]["username"], "ada");
    assert_eq!(default_reaches_acme, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_admin_key_manages_tenants_and_it_reaches_no_tenants_connections() {
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    let (acme, acme_key_id, acme_key) = tenant(&bed, "Acme").await;
    let admin_routes = [
        ("GET", "/api/v1/tenants".to_string(), None),
        (
            "POST",
            "/api/v1/tenants".to_string(),
            Some(json!({"name": "Mallory"})),
        ),
        ("GET", format!("/api/v1/tenants/{acme}"), None),
        ("GET", format!("/api/v1/tenants/{acme}/api-keys"), None),
        (
            "POST",
            format!("/api/v1/tenants/{acme}/api-keys"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/api/v1/tenants/{acme}/api-keys/{acme_key_id}/rotate"),
            Some(json!({})),
        ),
        (
            "DELETE",
            format!("/api/v1/tenants/{acme}/api-keys/{acme_key_id}"),
            None,
        ),
    ];

    let mut by_tenant = Vec::new();
    let mut by_default = Vec::new();
    for (method, path, body) in &admin_routes {
        by_tenant.push(call(&bed, method, path, &acme_key, body.clone()).await);
        by_default.push(call(&bed, method, path, DEFAULT_KEY, body.clone()).await);
    }
    let (admin_on_connections, refusal) =
        call(&bed, "GET", "/api/v1/connections", ADMIN_KEY, None).await;
    let (no_key, _) = call(&bed, "GET", "/api/v1/tenants", "", None).await;
    let (bad_scope, scope_error) = call(
        &bed,
        "POST",
        &format!("/api/v1/tenants/{acme}/api-keys"),
        ADMIN_KEY,
        Some(json!({"scopes": ["read", "everything"]})),
    )
    .await;
    let (bad_name, name_error) = call(
        &bed,
        "POST",
        "/api/v1/tenants",
        ADMIN_KEY,
        Some(json!({"name": "Evil\u{1b}[2J"})),
    )
    .await;
    let (unknown_tenant, _) = call(
        &bed,
        "GET",
        "/api/v1/tenants/ten_nobody/api-keys",
        ADMIN_KEY,
        None,
    )
    .await;

    for ((status, body), (method, path, _)) in by_tenant
        .iter()
        .chain(&by_default)
        .zip(admin_routes.iter().cycle())
    {
        assert_eq!(*status, 403, "{method} {path} let a tenant key in: {body}");
        assert_eq!(body["reason"], "admin-only");
    }
    assert_eq!(admin_on_connections, 403, "{refusal}");
    assert_eq!(refusal["reason"], "admin-key");
    assert_eq!(no_key, 401);
    assert_eq!(
        (bad_scope, scope_error["field"].as_str()),
        (400, Some("scopes"))
    );
    assert_eq!(
        (bad_name, name_error["field"].as_str()),
        (400, Some("name"))
    );
    assert_eq!(unknown_tenant, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_hashed_listed_by_prefix_scoped_rotated_with_an_overlap_and_revoked() {
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    let (acme, key_id, key) = tenant(&bed, "Acme").await;
    let keys = format!("/api/v1/tenants/{acme}/api-keys");
    let (_, reader) = call(
        &bed,
        "POST",
        &keys,
        ADMIN_KEY,
        Some(json!({"scopes": ["read"]})),
    )
    .await;
    let reader_key = reader["key"].as_str().unwrap().to_string();
    let (connection, _) = connect(&bed, &key, "ada").await;
    let run = format!("/api/v1/connections/{connection}/actions/users.me");

    let (reader_lists, _) = call(&bed, "GET", "/api/v1/connections", &reader_key, None).await;
    let (reader_runs, refused) = call(&bed, "POST", &run, &reader_key, Some(json!({}))).await;
    let (reader_subscribes, _) = call(
        &bed,
        "POST",
        &format!("/api/v1/connections/{connection}/subscriptions"),
        &reader_key,
        Some(json!({"trigger": "mention.new"})),
    )
    .await;
    let (_, listed) = call(&bed, "GET", &keys, ADMIN_KEY, None).await;
    let (rotated_status, rotated) = call(
        &bed,
        "POST",
        &format!("{keys}/{key_id}/rotate"),
        ADMIN_KEY,
        Some(json!({"overlap_secs": 600})),
    )
    .await;
    let new_key = rotated["key"].as_str().unwrap().to_string();
    let new_id = rotated["id"].as_str().unwrap().to_string();
    let (old_during_overlap, _) = call(&bed, "POST", &run, &key, Some(json!({}))).await;
    let (new_works, _) = call(&bed, "POST", &run, &new_key, Some(json!({}))).await;
    call(
        &bed,
        "POST",
        &format!("{keys}/{new_id}/rotate"),
        ADMIN_KEY,
        Some(json!({"overlap_secs": 0})),
    )
    .await;
    let (new_after_rotation_without_overlap, _) =
        call(&bed, "GET", "/api/v1/connections", &new_key, None).await;
    let (revoked_status, _) = call(
        &bed,
        "DELETE",
        &format!("{keys}/{}", reader["id"].as_str().unwrap()),
        ADMIN_KEY,
        None,
    )
    .await;
    let (reader_after_revoke, _) =
        call(&bed, "GET", "/api/v1/connections", &reader_key, None).await;
    let stored: Vec<String> = rusqlite::Connection::open(bed.store_file())
        .unwrap()
        .prepare("SELECT key_hash FROM api_keys")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let database = std::fs::read(bed.store_file()).unwrap();

    assert_eq!(reader_lists, 200);
    assert_eq!(reader_runs, 403, "{refused}");
    assert_eq!(refused["reason"], "key-scope");
    assert_eq!(refused["missing_scopes"], json!(["actions"]));
    assert_eq!(reader_subscribes, 403);
    let text = listed.to_string();
    assert!(
        !text.contains(&key) && !text.contains(&reader_key),
        "a key was listed: {text}"
    );
    assert!(
        listed["api_keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["key"].is_null()
                && k["prefix"].as_str().unwrap().starts_with("hhk_")
                && key.starts_with(k["prefix"].as_str().unwrap()) == (k["id"] == json!(key_id)))
    );
    assert_eq!(rotated_status, 201, "{rotated}");
    assert_eq!(
        old_during_overlap, 200,
        "the old key stopped before its overlap ended"
    );
    assert_eq!(new_works, 200);
    assert_eq!(new_after_rotation_without_overlap, 401);
    assert_eq!(revoked_status, 204);
    assert_eq!(reader_after_revoke, 401);
    for secret in [&key, &reader_key, &new_key] {
        assert!(!stored.contains(secret));
        assert!(
            !database
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "a key is in the store file in the clear"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_are_the_default_tenants_and_show_no_tenants_connection() {
    let bed = ServeBed::start_with_keys(None, None).await;
    // A server without keys (a loopback demo) acts for the default tenant;
    // a tenant's connection is made here through the store.
    let record = bed.store.create_tenant("Acme").await.unwrap();
    let tenants_connection = bed
        .store
        .create_connection(&credential_store::NewConnection {
            tenant_id: Some(record.id.clone()),
            ..support::hostile_connection()
        })
        .await
        .unwrap();

    let tenants_subscription = bed
        .store
        .create_subscription(&credential_store::NewSubscription {
            connection_id: tenants_connection.id.clone(),
            trigger: "mention.new".into(),
            configuration: "{}".into(),
            delivery: credential_store::Delivery::Poll,
            destination: credential_store::Destination::Pull,
            interval_secs: 60,
            signing_secret: None,
        })
        .await
        .unwrap();
    let own = bed
        .store
        .create_connection(&support::hostile_connection())
        .await
        .unwrap();

    // The default tenant's own page, asked to end the tenant's subscription.
    let (_, headers, _) = page(&bed, "GET", &format!("/connections/{}", own.id), None, "").await;
    let cookie = headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = cookie.trim_start_matches("hh_csrf=").to_string();
    let (unsubscribe_status, _, _) = page(
        &bed,
        "POST",
        &format!(
            "/connections/{}/subscriptions/{}/delete",
            own.id, tenants_subscription.id
        ),
        Some(&cookie),
        &format!("csrf={csrf}"),
    )
    .await;
    let (list_status, _, list) = support::browser::get(&bed.url("/connections")).await;
    let (page_status, _, page) =
        support::browser::get(&bed.url(&format!("/connections/{}", tenants_connection.id))).await;
    let (run_status, _, _) =
        support::browser::get(&bed.url(&format!("/connections/{}/run", tenants_connection.id)))
            .await;
    let (missing_status, _, missing) =
        support::browser::get(&bed.url("/connections/conn_nobodyhasthis0")).await;
    let (api_status, _) = call(
        &bed,
        "GET",
        &format!("/api/v1/connections/{}", tenants_connection.id),
        "",
        None,
    )
    .await;

    assert_eq!(list_status, 200);
    assert!(
        !list.contains(&tenants_connection.id),
        "the list shows a tenant's connection"
    );
    assert_eq!((page_status, run_status, missing_status), (404, 404, 404));
    assert_eq!(
        page.replace(&tenants_connection.id, "conn_nobodyhasthis0"),
        missing,
        "a tenant's connection page differs from a missing one"
    );
    assert_eq!(api_status, 404);
    assert_eq!(unsubscribe_status, 404);
    assert!(
        bed.store
            .subscription(&tenants_subscription.id)
            .await
            .is_ok(),
        "a page ended a tenant's subscription"
    );
}

/// A page request with the CSRF cookie and a form body: status, headers
/// and body.
async fn page(
    bed: &ServeBed,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &str,
) -> (u16, http::HeaderMap, String) {
    let headers: Vec<(&str, &str)> = match cookie {
        Some(cookie) => vec![
            ("cookie", cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        None => Vec::new(),
    };
    raw(bed, method, &bed.url(path), &headers, form).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_brings_its_own_app_per_brand_and_nobody_reads_its_secret_back() {
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    // The operator's own app, which tenants' connections must not borrow.
    bed.store
        .set_app_credentials(
            "x",
            "app_only",
            &credential_store::AppCredentialLevel::Default,
            &std::collections::BTreeMap::from([
                (
                    "client_id".to_string(),
                    credential_store::FieldValue::Plain(bed.app.api_key.clone()),
                ),
                (
                    "client_secret".to_string(),
                    credential_store::FieldValue::Secret(bed.app.api_secret.clone().into()),
                ),
            ]),
        )
        .await
        .unwrap();
    let (acme, _, acme_key) = tenant(&bed, "Acme").await;
    let (_, _, globex_key) = tenant(&bed, "Globex").await;
    let acme_app = bed.x.register_app("Acme's app", &[], true);
    let apps = format!("/api/v1/tenants/{acme}/app-credentials/app_only");
    let app_only = |brand: Option<&str>, fields: Value| json!({"method": "app_only", "brand": brand, "fields": fields});

    let (set_status, set) = call(
        &bed,
        "PUT",
        &apps,
        ADMIN_KEY,
        Some(json!({"fields": {"client_id": acme_app.api_key, "client_secret": acme_app.api_secret}})),
    )
    .await;
    let (blue_status, _) = call(
        &bed,
        "PUT",
        &apps,
        ADMIN_KEY,
        Some(json!({"brand": "blue", "fields": {"client_id": "not-an-app", "client_secret": "wrong"}})),
    )
    .await;
    let (_, shown) = call(&bed, "GET", &format!("{apps}?brand=blue"), ADMIN_KEY, None).await;
    let (tenant_writes, _) = call(
        &bed,
        "PUT",
        &apps,
        &acme_key,
        Some(json!({"fields": {"client_id": "mine"}})),
    )
    .await;
    let (tenant_reads, _) = call(&bed, "GET", &apps, &acme_key, None).await;
    let (not_a_field, wrong_field) = call(
        &bed,
        "PUT",
        &apps,
        ADMIN_KEY,
        Some(json!({"fields": {"password": "x"}})),
    )
    .await;
    let (uses_its_app, connected) = call(
        &bed,
        "POST",
        "/api/v1/connections",
        &acme_key,
        Some(app_only(None, json!({}))),
    )
    .await;
    let (brand_app, brand_failed) = call(
        &bed,
        "POST",
        "/api/v1/connections",
        &acme_key,
        Some(app_only(Some("blue"), json!({}))),
    )
    .await;
    let (own_fields, _) = call(
        &bed,
        "POST",
        "/api/v1/connections",
        &acme_key,
        Some(app_only(
            Some("blue"),
            json!({"client_id": acme_app.api_key, "client_secret": acme_app.api_secret}),
        )),
    )
    .await;
    let (borrows, borrowed) = call(
        &bed,
        "POST",
        "/api/v1/connections",
        &globex_key,
        Some(app_only(None, json!({}))),
    )
    .await;

    assert_eq!(set_status, 200, "{set}");
    assert_eq!(set["fields"]["client_secret"], "(set, hidden)");
    assert_eq!(
        set["fields"]["client_id"],
        format!("{}…", &acme_app.api_key[..6]),
        "the Client ID shows by its first characters"
    );
    assert!(
        !set.to_string().contains(&acme_app.api_secret)
            && !set.to_string().contains(&acme_app.api_key)
    );
    assert_eq!(blue_status, 200);
    assert_eq!(shown["fields"]["client_id"], "not-an…");
    assert_eq!((tenant_writes, tenant_reads), (403, 403));
    assert_eq!(
        (not_a_field, wrong_field["field"].as_str()),
        (400, Some("fields.password"))
    );
    assert_eq!(uses_its_app, 201, "{connected}");
    assert_eq!(connected["status"], "connected");
    assert_eq!(
        brand_app, 502,
        "the brand's app was not used: {brand_failed}"
    );
    assert_eq!(own_fields, 201, "the connection's own fields did not win");
    assert_eq!(
        (borrows, borrowed["field"].as_str()),
        (400, Some("fields.client_id")),
        "a tenant without an app borrowed the operator's: {borrowed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_two_nodes_sharing_postgresql_a_key_made_on_one_works_and_stops_on_the_other() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let bytes: [u8; 32] = rand::random();
    let bed = AuthBed::on_store(
        dir,
        &database.location(),
        &credential_store::MasterKey::from_bytes(bytes),
        "http://127.0.0.1:8765/callback",
    )
    .await;
    let platform = Platform {
        database_url: Some(database.url.clone()),
        data_dir,
        master_key: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes),
        emulator: bed.x.base_url(),
        api_key: Some(DEFAULT_KEY.into()),
        admin_key: Some(ADMIN_KEY.into()),
    };
    platform.warm_up().await;
    let node = |name: &'static str| {
        let platform = &platform;
        async move {
            let port = free_port();
            Node::start(name, platform, port, &format!("http://127.0.0.1:{port}")).await
        }
    };
    let (a, b) = (node("A").await, node("B").await);
    let (admin_a, admin_b) = (
        a.client().with_key(ADMIN_KEY),
        b.client().with_key(ADMIN_KEY),
    );
    let make_tenant = |name: &'static str| {
        let admin = &admin_a;
        async move {
            let (_, tenant) = admin
                .request("POST", "/api/v1/tenants", Some(json!({"name": name})))
                .await;
            let id = tenant["id"].as_str().unwrap().to_string();
            let (_, key) = admin
                .request(
                    "POST",
                    &format!("/api/v1/tenants/{id}/api-keys"),
                    Some(json!({})),
                )
                .await;
            (
                id,
                key["id"].as_str().unwrap().to_string(),
                key["key"].as_str().unwrap().to_string(),
            )
        }
    };
    let (acme, acme_key_id, acme_key) = make_tenant("Acme").await;
    let (_, _, globex_key) = make_tenant("Globex").await;
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);

    // Made on A, used on B.
    let (made, created) = b
        .client()
        .with_key(&acme_key)
        .request(
            "POST",
            "/api/v1/connections",
            Some(json!({"method": "bearer", "fields": {"bearer_token": token}})),
        )
        .await;
    let connection = created["id"].as_str().unwrap_or_default().to_string();
    let (listed_on_a, listed) = a
        .client()
        .with_key(&acme_key)
        .request("GET", "/api/v1/connections", None)
        .await;
    let (globex_on_a, _) = a
        .client()
        .with_key(&globex_key)
        .request("GET", &format!("/api/v1/connections/{connection}"), None)
        .await;
    let (_, tenants_on_b) = admin_b.request("GET", "/api/v1/tenants", None).await;
    // Revoked on B, refused on A at once.
    let (revoked, _) = admin_b
        .request(
            "DELETE",
            &format!("/api/v1/tenants/{acme}/api-keys/{acme_key_id}"),
            None,
        )
        .await;
    let (after_revoke_on_a, _) = a
        .client()
        .with_key(&acme_key)
        .request("GET", "/api/v1/connections", None)
        .await;

    assert_eq!(made, 201, "{created}");
    assert_eq!(listed_on_a, 200);
    assert_eq!(listed["connections"][0]["id"], json!(connection));
    assert_eq!(globex_on_a, 404);
    assert_eq!(tenants_on_b["tenants"].as_array().unwrap().len(), 2);
    assert_eq!(revoked, 204);
    assert_eq!(
        after_revoke_on_a, 401,
        "a key revoked on one node still worked on the other"
    );
    for node in [&a, &b] {
        let log = node.log();
        for key in [&acme_key, &globex_key] {
            assert!(!log.contains(key.as_str()), "a tenant's key was logged");
        }
        assert!(!log.contains(ADMIN_KEY), "the admin key was logged");
    }
}
