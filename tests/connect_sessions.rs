//! A tenant's product lets its end users connect their X accounts without
//! ever handing them a key: its backend asks for a connect session for
//! user-42 of organisation org-7, gets a link, and the end user opens it in
//! a real browser, sees only the connection form of the tenant's own X
//! app, signs in on X's consent page, and lands back in the product with
//! the new connection's id. The product then finds the connection by its
//! end user and tags. A used link, an expired one, or a made-up one gets a
//! page that says so, and makes nothing.
//!
//! The same product lets its users log in with X: a sign-in session asks
//! X for identity only, and the product's backend exchanges the one-time
//! code it gets back for the verified identity, once.

mod support;

use fantoccini::Locator;
use serde_json::{Value, json};
use support::web::{Browser, ServeBed, api, click_button, consent_as, raw, text_of};

const DEFAULT_KEY: &str = "the-default-tenants-key";
const ADMIN_KEY: &str = "the-operators-admin-key";

/// The tenant's product: the page its end users come back to.
async fn product() -> String {
    let app = axum::Router::new().route(
        "/x/connected",
        axum::routing::get(|| async {
            axum::response::Html(
                "<html><body><main><p id=\"back\">Welcome back</p></main></body></html>",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

/// A tenant with a key of every scope, its own X app for OAuth 2.0 and
/// the return URLs the operator allows it.
async fn tenant_with_app(bed: &ServeBed, name: &str, return_urls: &[String]) -> (String, String) {
    let admin = |method: &'static str, path: String, body: Value| {
        let url = bed.url(&path);
        async move { api(method, &url, Some(ADMIN_KEY), Some(body)).await }
    };
    let (status, tenant) = admin("POST", "/api/v1/tenants".into(), json!({"name": name})).await;
    assert_eq!(status, 201, "{tenant}");
    let id = tenant["id"].as_str().unwrap().to_string();
    let (status, key) = admin("POST", format!("/api/v1/tenants/{id}/api-keys"), json!({})).await;
    assert_eq!(status, 201, "{key}");
    let app = bed
        .x
        .register_app(&format!("{name}'s app"), &[&bed.url("/callback")], true);
    let (status, set) = admin(
        "PUT",
        format!("/api/v1/tenants/{id}/app-credentials/oauth2"),
        json!({"fields": {"client_id": app.client_id, "client_secret": app.client_secret}}),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    let (status, changed) = admin(
        "PATCH",
        format!("/api/v1/tenants/{id}"),
        json!({"return_urls": return_urls}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    (id, key["key"].as_str().unwrap().to_string())
}

/// A connect session for user-42, as the tenant's backend asks for it.
async fn session_for_user_42(bed: &ServeBed, key: &str, return_url: &str) -> Value {
    let (status, session) = api(
        "POST",
        &bed.url("/api/v1/connect-sessions"),
        Some(key),
        Some(json!({
            "end_user": "user-42",
            "organization": "org-7",
            "tags": {"plan": "pro"},
            "allowed_methods": ["oauth2"],
            "return_url": format!("{return_url}?from=settings"),
        })),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    session
}

fn query_of(url: &str) -> Vec<(String, String)> {
    support::browser::query_of(url)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_end_user_connects_through_a_connect_link_and_returns_to_the_product() {
    // Arrange: Acme brings its own X app and allows its product's page.
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    let product = product().await;
    let return_url = format!("{product}/x/connected");
    let (_, acme_key) = tenant_with_app(&bed, "Acme", std::slice::from_ref(&return_url)).await;
    let (_, globex_key) = tenant_with_app(&bed, "Globex", &[]).await;
    let session = session_for_user_42(&bed, &acme_key, &return_url).await;
    let connect_url = session["connect_url"].as_str().unwrap().to_string();
    assert!(
        connect_url.starts_with(&bed.url("/connect/")),
        "{connect_url}"
    );
    assert_eq!(session["end_user"], "user-42");

    // Act: the end user opens the link, connects, and consents as ada.
    let browser = Browser::start().await;
    let (link, back) = (connect_url.clone(), return_url.clone());
    browser
        .run("connect_session", move |b| async move {
            b.goto(&link).await.unwrap();
            let page = b.source().await.unwrap();
            // Only the tenant's form: no key asked, no app fields, no other connection.
            for absent in [
                "api_key",
                "field-client_id",
                "field-client_secret",
                "/connections",
                "id=\"callback\"",
            ] {
                assert!(!page.contains(absent), "the connect page shows `{absent}`");
            }
            assert!(b.find(Locator::Id("field-connection_name")).await.is_ok());
            click_button(&b, "Connect").await;
            consent_as(&b, "ada").await;

            // Assert: back in the product, with the connection's id.
            assert_eq!(text_of(&b, "#back").await, "Welcome back");
            let landed = b.current_url().await.unwrap().to_string();
            assert!(landed.starts_with(&back), "{landed}");
            let query = query_of(&landed);
            let get = |name: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(get("from").as_deref(), Some("settings"));
            assert_eq!(get("status").as_deref(), Some("connected"));
            assert!(get("connection_id").is_some_and(|id| id.starts_with("conn_")));
        })
        .await;

    // Assert: the product finds the connection by its end user and tags.
    let (status, listed) = api(
        "GET",
        &bed.url("/api/v1/connections?end_user=user-42&tag=plan:pro"),
        Some(&acme_key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let connections = listed["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{listed}");
    let connection = &connections[0];
    assert_eq!(connection["status"], "connected");
    assert_eq!(connection["account"], "ada");
    assert_eq!(connection["end_user"], "user-42");
    assert_eq!(connection["organization"], "org-7");
    assert_eq!(connection["tags"], json!({"plan": "pro"}));
    let id = connection["id"].as_str().unwrap();
    let (status, posted) = api(
        "POST",
        &bed.url(&format!("/api/v1/connections/{id}/actions/users.me")),
        Some(&acme_key),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{posted}");
    assert_eq!(posted["output"]["user"]["username"], "ada");
    for (key, query) in [
        (acme_key.as_str(), "end_user=user-9"),
        (acme_key.as_str(), "tag=plan:free"),
        (acme_key.as_str(), "organization=org-8"),
        (globex_key.as_str(), "end_user=user-42"),
    ] {
        let (_, listed) = api(
            "GET",
            &bed.url(&format!("/api/v1/connections?{query}")),
            Some(key),
            None,
        )
        .await;
        assert_eq!(listed["connections"], json!([]), "{query}: {listed}");
    }

    // Act and assert: the link works once.
    let (status, _, page) = support::browser::get(&connect_url).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("already been used"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_used_expired_or_unknown_link_is_refused_with_a_page_and_makes_nothing() {
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    let return_url = format!("{}/x/connected", product().await);
    let (acme, acme_key) = tenant_with_app(&bed, "Acme", std::slice::from_ref(&return_url)).await;

    // An expired link: its session's time is up.
    let expired = session_for_user_42(&bed, &acme_key, &return_url).await;
    let db = rusqlite::Connection::open(bed.store_file()).unwrap();
    db.execute(
        "UPDATE connect_sessions SET expires_at = 0 WHERE id = ?1",
        [expired["id"].as_str().unwrap()],
    )
    .unwrap();
    let (status, _, page) = support::browser::get(expired["connect_url"].as_str().unwrap()).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("expired"), "{page}");

    // A link nobody made.
    let made_up = bed.url(&format!("/connect/{}", "0".repeat(64)));
    let (status, _, page) = support::browser::get(&made_up).await;
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("not valid"), "{page}");

    // A link sent twice at once, as a double click would: one connection.
    let twice = session_for_user_42(&bed, &acme_key, &return_url).await;
    let link = twice["connect_url"].as_str().unwrap().to_string();
    let (status, _, form) = support::browser::get(&link).await;
    assert_eq!(status, 200, "{form}");
    let token = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries its CSRF token")
        .to_string();
    let cookie = format!("hh_csrf={token}");
    let body = format!("csrf={token}&method=oauth2&connection_name=Twice");
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("cookie", cookie.as_str()),
    ];
    let send = || raw(&bed, "POST", &link, &headers, &body);
    let (first, second) = tokio::join!(send(), send());
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [303, 410], "{first:?} {second:?}");
    let (_, listed) = api(
        "GET",
        &bed.url("/api/v1/connections"),
        Some(&acme_key),
        None,
    )
    .await;
    assert_eq!(
        listed["connections"].as_array().unwrap().len(),
        1,
        "{listed}"
    );

    // The tenant's backend is held to its allowed return URLs and its scopes.
    let (status, refused) = api(
        "POST",
        &bed.url("/api/v1/connect-sessions"),
        Some(&acme_key),
        Some(json!({"end_user": "user-42", "return_url": "https://elsewhere.example/x"})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["field"], "return_url");
    let (status, refused) = api(
        "POST",
        &bed.url("/api/v1/connect-sessions"),
        Some(&acme_key),
        Some(json!({"end_user": "", "allowed_methods": ["telepathy"]})),
    )
    .await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (400, Some("end_user")),
        "{refused}"
    );
    let (status, read_only) = api(
        "POST",
        &bed.url(&format!("/api/v1/tenants/{acme}/api-keys")),
        Some(ADMIN_KEY),
        Some(json!({"scopes": ["read"]})),
    )
    .await;
    assert_eq!(status, 201, "{read_only}");
    let (status, refused) = api(
        "POST",
        &bed.url("/api/v1/connect-sessions"),
        read_only["key"].as_str(),
        Some(json!({"end_user": "user-42"})),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, refused) = api(
        "PATCH",
        &bed.url(&format!("/api/v1/tenants/{acme}")),
        Some(ADMIN_KEY),
        Some(json!({"return_urls": ["http://example.com/x"]})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["field"], "return_urls[0]");
}

/// The product's backend exchanges a sign-in's code with `key`.
async fn exchange(bed: &ServeBed, key: &str, code: &str) -> (u16, Value) {
    api(
        "POST",
        &bed.url("/api/v1/sign-in-sessions/exchange"),
        Some(key),
        Some(json!({"code": code})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_with_x_and_the_product_exchanges_the_code_once() {
    // Arrange: Acme enables sign-in with its app; Globex has not.
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    let product = product().await;
    let return_url = format!("{product}/x/connected");
    let (acme, acme_key) = tenant_with_app(&bed, "Acme", std::slice::from_ref(&return_url)).await;
    let (_, globex_key) = tenant_with_app(&bed, "Globex", std::slice::from_ref(&return_url)).await;
    let (status, enabled) = api(
        "PATCH",
        &bed.url(&format!("/api/v1/tenants/{acme}")),
        Some(ADMIN_KEY),
        Some(json!({"sign_in": {"enabled": true}})),
    )
    .await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["sign_in"]["enabled"], true);
    let ask = |key: String, body: Value| {
        let url = bed.url("/api/v1/sign-in-sessions");
        async move { api("POST", &url, Some(&key), Some(body)).await }
    };
    let (status, refused) = ask(globex_key.clone(), json!({"return_url": return_url})).await;
    assert_eq!(
        (status, refused["reason"].as_str()),
        (403, Some("sign-in-disabled")),
        "{refused}"
    );
    let (status, session) = ask(
        acme_key.clone(),
        json!({"return_url": return_url, "email": true}),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(
        session["scopes"],
        json!(["tweet.read", "users.read", "users.email"])
    );
    let link = session["sign_in_url"].as_str().unwrap().to_string();

    // Act: the user signs in with X in the browser.
    let browser = Browser::start().await;
    let (landed_tx, landed_rx) = tokio::sync::oneshot::channel();
    browser
        .run("sign_in_with_x", move |b| async move {
            b.goto(&link).await.unwrap();
            click_button(&b, "Sign in with X (formerly Twitter)").await;
            consent_as(&b, "ada").await;
            assert_eq!(text_of(&b, "#back").await, "Welcome back");
            landed_tx
                .send(b.current_url().await.unwrap().to_string())
                .unwrap();
        })
        .await;
    let landed = landed_rx.await.unwrap();
    let query = query_of(&landed);
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("status").as_deref(), Some("signed_in"), "{landed}");
    let code = get("code").expect("the product got a code");

    // Assert: another tenant cannot use the code; Acme exchanges it once.
    let (status, _) = exchange(&bed, &globex_key, &code).await;
    assert_eq!(status, 404);
    let (status, identity) = exchange(&bed, &acme_key, &code).await;
    assert_eq!(status, 200, "{identity}");
    assert_eq!(identity["username"], "ada");
    assert_eq!(identity["id"], json!(bed.x.user_id("ada").unwrap()));
    assert!(
        identity["name"].is_string() && identity["profile_image_url"].is_string(),
        "{identity}"
    );
    assert_eq!(identity["confirmed_email"], "ada@example.com");
    assert!(identity.get("connection_id").is_none(), "{identity}");
    let (status, again) = exchange(&bed, &acme_key, &code).await;
    assert_eq!(status, 404, "{again}");
    // No tokens are kept.
    let (_, listed) = api(
        "GET",
        &bed.url("/api/v1/connections"),
        Some(&acme_key),
        None,
    )
    .await;
    assert_eq!(listed["connections"], json!([]), "{listed}");
    let (status, _, page) = support::browser::get(session["sign_in_url"].as_str().unwrap()).await;
    assert_eq!(status, 410, "{page}");

    // Act: a second sign-in that keeps its connection and asks no email.
    let (_, kept) = ask(
        acme_key.clone(),
        json!({"return_url": return_url, "keep_connection": true}),
    )
    .await;
    let link = kept["sign_in_url"].as_str().unwrap();
    let (status, _, page) = support::browser::get(link).await;
    assert_eq!(status, 200, "{page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let cookie = format!("hh_csrf={csrf}");
    let (status, headers, _) = raw(
        &bed,
        "POST",
        link,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", &cookie),
        ],
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(status, 303);
    let authorize = headers["location"].to_str().unwrap().to_string();
    let callback = support::browser::consent(&authorize, "grace", true).await;
    let (status, back, _) = support::browser::get(&callback).await;
    assert_eq!(status, 303);
    let query = query_of(&back.unwrap());
    let code = query.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let (status, identity) = exchange(&bed, &acme_key, &code).await;
    assert_eq!(status, 200, "{identity}");
    assert_eq!(identity["username"], "grace");
    assert!(identity.get("confirmed_email").is_none(), "{identity}");
    let connection = identity["connection_id"].as_str().unwrap();
    let (status, shown) = api(
        "GET",
        &bed.url(&format!("/api/v1/connections/{connection}")),
        Some(&acme_key),
        None,
    )
    .await;
    assert_eq!(
        (status, shown["status"].as_str()),
        (200, Some("connected")),
        "{shown}"
    );
}
