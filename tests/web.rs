//! A workflow builder meets the X connector through `serve`: fills the
//! connection form in a real headless browser, signs in on the emulator's
//! consent page, runs actions from generated forms, and reads plain-worded
//! explanations when something is wrong. A workflow engine does the same
//! through the JSON API.

mod support;

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use host_harness::auth::http::HostHttp;
use host_harness::outgoing::HttpTimeouts;
use host_harness::web::{self, WebConfig};
use host_harness::{ConnectionManager, Routes};
use serde_json::{Value, json};
use std::time::Duration;
use support::web::{
    Browser, ServeBed, api, click_button, consent_as, fill, raw, text_of, wait_for_text,
};

/// Controls a person cannot name: no `<label for>`, not inside a label.
async fn unlabelled_controls(client: &Client) -> Vec<Value> {
    let found = client
        .execute(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
                .filter(e => !(e.labels && e.labels.length))
                .map(e => e.name || e.id);",
            vec![],
        )
        .await
        .unwrap();
    found.as_array().cloned().unwrap_or_default()
}

/// Every resource the page loaded, and every `src` or stylesheet it names.
async fn outside_references(client: &Client, origin: &str) -> Vec<Value> {
    let found = client
        .execute(
            "const own = arguments[0];
             const named = Array.from(document.querySelectorAll('[src], link[href]'))
                 .map(e => e.src || e.href);
             const loaded = performance.getEntriesByType('resource').map(r => r.name);
             return named.concat(loaded).filter(u => !u.startsWith(own));",
            vec![json!(origin)],
        )
        .await
        .unwrap();
    found.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_connects_through_the_form_and_posts_from_the_browser() {
    let bed = ServeBed::start(None).await;
    let (origin, client_id, secret) = (
        bed.origin.clone(),
        bed.app.client_id.clone(),
        bed.app.client_secret.clone().unwrap(),
    );
    let browser = Browser::start().await;

    browser
        .run("connect_and_post", move |b| async move {
            // Arrange: the connection form, rendered from the manifest.
            b.goto(&format!("{origin}/connections/new")).await.unwrap();
            let callback = text_of(&b, "#callback code").await;
            assert_eq!(callback, format!("{origin}/callback"));
            assert!(unlabelled_controls(&b).await.is_empty());
            assert!(outside_references(&b, &origin).await.is_empty());
            let fixed = b.find(Locator::Id("field-token_url")).await.unwrap();
            assert_eq!(
                fixed.attr("readonly").await.unwrap().as_deref(),
                Some("true")
            );

            // Act: fill it, connect, consent as ada.
            fill(&b, "field-connection_name", "Marketing").await;
            fill(&b, "field-client_id", &client_id).await;
            fill(&b, "field-client_secret", &secret).await;
            click_button(&b, "Connect").await;
            consent_as(&b, "ada").await;

            // Assert: back on the connection's page, connected as ada.
            assert_eq!(text_of(&b, "#status").await, "connected");
            assert_eq!(text_of(&b, "#account").await, "ada");
            let page = b.source().await.unwrap();
            assert!(
                !page.contains(&secret),
                "the Client Secret came back to the browser"
            );

            // Act: run post.create from its generated form.
            b.find(Locator::LinkText("Run an action on this connection"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            b.find(Locator::Id("action"))
                .await
                .unwrap()
                .select_by_value("post.create")
                .await
                .unwrap();
            click_button(&b, "Choose").await;
            fill(&b, "input-text", "Launched from the connection screen").await;
            click_button(&b, "Run post.create").await;

            // Assert: the post is in the result.
            assert_eq!(text_of(&b, "#result").await, "post.create succeeded.");
            let output: Value = serde_json::from_str(&text_of(&b, "#output").await).unwrap();
            assert_eq!(
                output["post"]["text"],
                "Launched from the connection screen"
            );
        })
        .await;

    let posts = bed.x.posts_of("ada");
    assert!(
        posts
            .iter()
            .any(|p| p.text == "Launched from the connection screen"),
        "the emulator has the post"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_client_secret_is_explained_in_plain_words() {
    let bed = ServeBed::start(None).await;
    let (origin, client_id) = (bed.origin.clone(), bed.app.client_id.clone());
    let browser = Browser::start().await;

    browser
        .run("wrong_secret", move |b| async move {
            b.goto(&format!("{origin}/connections/new?method=oauth2"))
                .await
                .unwrap();
            fill(&b, "field-client_id", &client_id).await;
            fill(&b, "field-client_secret", "not-the-secret").await;
            click_button(&b, "Connect").await;
            consent_as(&b, "ada").await;

            let report = text_of(&b, "#test-report").await;
            assert!(
                report.contains("Client ID or Client Secret is wrong"),
                "{report}"
            );
            assert_eq!(text_of(&b, "#status").await, "needs reconnect");
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn switching_the_auth_method_shows_its_fields_and_a_bad_form_names_the_field() {
    let bed = ServeBed::start(None).await;
    let origin = bed.origin.clone();
    let browser = Browser::start().await;

    browser
        .run("switch_method", move |b| async move {
            b.goto(&format!("{origin}/connections/new?method=oauth3"))
                .await
                .unwrap();
            let error = text_of(&b, "[role=alert]").await;
            assert!(error.contains("no auth method `oauth3`"), "{error}");
            assert!(b.find(Locator::Id("field-client_id")).await.is_ok());

            b.find(Locator::LinkText("Bearer Token"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let token = b.find(Locator::Id("field-bearer_token")).await.unwrap();
            assert_eq!(
                token.attr("type").await.unwrap().as_deref(),
                Some("password")
            );
            assert!(b.find(Locator::Id("field-client_id")).await.is_err());
            assert!(unlabelled_controls(&b).await.is_empty());

            // A Client ID is required: submitting without it names the field.
            b.find(Locator::LinkText(
                "OAuth 2.0 (Authorization Code with PKCE)",
            ))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
            b.execute(
                "document.getElementById('field-client_id').removeAttribute('required');",
                vec![],
            )
            .await
            .unwrap();
            fill(&b, "field-client_secret", "typed-secret").await;
            click_button(&b, "Connect").await;
            let error = text_of(&b, "[role=alert]").await;
            assert!(error.contains("client_id"), "{error}");
            let secret = b.find(Locator::Id("field-client_secret")).await.unwrap();
            assert_eq!(secret.attr("value").await.unwrap(), None);
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_keyboard_alone_fills_and_sends_the_form() {
    let bed = ServeBed::start(None).await;
    let origin = bed.origin.clone();
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let browser = Browser::start().await;

    browser
        .run("keyboard", move |b| async move {
            b.goto(&format!("{origin}/connections/new?method=bearer"))
                .await
                .unwrap();
            let name = b.find(Locator::Id("field-connection_name")).await.unwrap();
            name.clear().await.unwrap();

            // Type the name, Tab past the read-only endpoint to the token,
            // type it, and press Enter.
            let keys = format!(
                "Keyboard{tab}{tab}{token}{enter}",
                tab = Key::Tab,
                enter = Key::Enter
            );
            name.send_keys(&keys).await.unwrap();

            assert_eq!(text_of(&b, "#status").await, "connected");
            assert_eq!(text_of(&b, "#account").await, "ada");
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_action_runs_from_its_generated_form() {
    // Arrange: ada connected through the API with every scope the actions
    // need, a post to act on and one to delete.
    let bed = ServeBed::start(None).await;
    let descriptor = support::x_connector().await.descriptor().clone();
    let mut scopes: Vec<&str> = descriptor
        .actions
        .iter()
        .flat_map(|a| a.required_scopes.iter().map(String::as_str))
        .collect();
    scopes.sort();
    scopes.dedup();
    let token = bed.x.issue_user_token("ada", &scopes);
    // A subscriber, recorded as such when connected, so that `post.edit` may edit.
    bed.x.set_subscription("ada", "Premium");
    let id = connect_with_bearer(&bed, "Every action", &token).await;
    let run = bed.url(&format!("/api/v1/connections/{id}/actions/post.create"));
    let (_, target) = api("POST", &run, None, Some(json!({"text": "To act on."}))).await;
    let (_, doomed) = api("POST", &run, None, Some(json!({"text": "To delete."}))).await;
    let (_, editable) = api("POST", &run, None, Some(json!({"text": "To edit."}))).await;
    let (_, reply) = api(
        "POST",
        &run,
        None,
        Some(json!({"text": "To hide.", "reply_to_post_id": target["output"]["post"]["id"]})),
    )
    .await;
    let reply_id = reply["output"]["post"]["id"].clone();
    let (post_id, doomed_id, editable_id) = (
        target["output"]["post"]["id"].clone(),
        doomed["output"]["post"]["id"].clone(),
        editable["output"]["post"]["id"].clone(),
    );
    let grace = bed.x.user_id("grace").unwrap();
    let sample = move |action: &str| -> Value {
        match action {
            "users.lookup" => json!({"usernames": ["grace", "nobody_here"]}),
            "post.validate" => json!({"text": "Counting 🧮 https://example.com"}),
            "post.create" => json!({"text": "From the runner."}),
            "post.thread" => json!({"text": "From the runner, a thread of one."}),
            "post.edit" => json!({"post_id": editable_id, "text": "Edited from the runner."}),
            "post.delete" => json!({"id": doomed_id}),
            "post.lookup" => json!({"ids": [post_id, "1"]}),
            "post.quotes" | "post.liking_users" | "post.reposted_by" | "post.like"
            | "post.unlike" | "post.repost" | "post.unrepost" | "post.bookmark"
            | "post.unbookmark" => json!({"post_id": post_id}),
            "post.hide_reply" => json!({"post_id": reply_id}),
            "user.follow" | "user.unfollow" | "user.mute" | "user.unmute" => {
                json!({"user_id": grace})
            }
            "media.upload" => json!({"base64": support::tiny_png_base64()}),
            "search.recent" => json!({"query": "engine OR loom"}),
            "dm.send" => json!({"user_id": grace, "text": "From the runner."}),
            _ => json!({}),
        }
    };
    let (origin, actions): (String, Vec<String>) = (
        bed.origin.clone(),
        descriptor.actions.iter().map(|a| a.id.clone()).collect(),
    );
    let browser = Browser::start().await;

    browser
        .run("every_action", move |b| async move {
            for action in &actions {
                // Act: open the action's form, fill each sampled field, run it.
                b.goto(&format!("{origin}/connections/{id}/run?action={action}"))
                    .await
                    .unwrap();
                let unlabelled = unlabelled_controls(&b).await;
                assert!(unlabelled.is_empty(), "{action}: {unlabelled:?}");
                for (field, value) in sample(action).as_object().unwrap() {
                    let typed = match value {
                        Value::Array(items) => items
                            .iter()
                            .map(|i| i.as_str().unwrap().to_string())
                            .collect::<Vec<_>>()
                            .join("\n"),
                        other => other.as_str().unwrap().to_string(),
                    };
                    fill(&b, &format!("input-{field}"), &typed).await;
                }
                click_button(&b, &format!("Run {action}")).await;

                // Assert: it succeeded, and said so.
                let result = text_of(&b, "#result").await;
                assert_eq!(result, format!("{action} succeeded."), "{action}");
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_and_the_fields_to_return_are_filled_in_as_their_own_controls() {
    // Arrange: ada connected through the API.
    let bed = ServeBed::start(None).await;
    let token = bed.x.issue_user_token(
        "ada",
        &["tweet.read", "tweet.write", "users.read", "offline.access"],
    );
    let id = connect_with_bearer(&bed, "Polls", &token).await;
    let origin = bed.origin.clone();
    let browser = Browser::start().await;

    browser
        .run("nested_controls", move |b| async move {
            // Act: a post with a poll, its options and duration in the
            // poll's own fields.
            b.goto(&format!("{origin}/connections/{id}/run?action=post.create"))
                .await
                .unwrap();
            assert!(unlabelled_controls(&b).await.is_empty());
            fill(&b, "input-text", "Tea or coffee?").await;
            fill(&b, "input-poll-options", "Tea\nCoffee").await;
            fill(&b, "input-poll-duration_minutes", "60").await;
            click_button(&b, "Run post.create").await;

            // Assert: the post carries the poll.
            assert_eq!(text_of(&b, "#result").await, "post.create succeeded.");
            let output: Value = serde_json::from_str(&text_of(&b, "#output").await).unwrap();
            let post_id = output["post"]["id"].as_str().unwrap().to_string();

            // Act: look the post up asking, by ticking one box, for its
            // creation time alone among the post fields.
            b.goto(&format!("{origin}/connections/{id}/run?action=post.lookup"))
                .await
                .unwrap();
            fill(&b, "input-ids", &post_id).await;
            b.find(Locator::Css(
                "input[name='fields.tweet'][value='created_at']",
            ))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
            click_button(&b, "Run post.lookup").await;

            // Assert: the post has its poll joined, its creation time, and
            // none of the default fields that were not ticked.
            assert_eq!(text_of(&b, "#result").await, "post.lookup succeeded.");
            let output: Value = serde_json::from_str(&text_of(&b, "#output").await).unwrap();
            let post = &output["posts"][0];
            assert_eq!(post["id"], post_id.as_str(), "{output}");
            assert!(post["created_at"].is_string(), "{output}");
            assert!(post.get("lang").is_none(), "{output}");
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connections_list_shows_each_status_and_revokes_and_deletes() {
    let bed = ServeBed::start(None).await;
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    connect_with_bearer(&bed, "Support desk", &token).await;
    let origin = bed.origin.clone();
    let browser = Browser::start().await;

    browser
        .run("list", move |b| async move {
            b.goto(&format!("{origin}/connections")).await.unwrap();
            assert_eq!(text_of(&b, "td.status").await, "connected");

            click_button(&b, "Revoke").await;
            assert_eq!(text_of(&b, "#status").await, "revoked");
            b.goto(&format!("{origin}/connections")).await.unwrap();
            assert_eq!(text_of(&b, "td.status").await, "revoked");

            click_button(&b, "Delete").await;
            wait_for_text(&b, "No connections yet").await;
        })
        .await;

    assert!(bed.store.connection_ids().await.unwrap().is_empty());
}

/// `host-harness serve --emulator` on a free port; killed when dropped.
struct ServeCommand {
    child: std::process::Child,
    origin: String,
}

impl ServeCommand {
    async fn start() -> ServeCommand {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_host-harness"))
            .args(["serve", "--emulator", "--bind", "127.0.0.1:0"])
            .env(
                "HOST_HARNESS_CACHE_DIR",
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled"),
            )
            .env_remove("HOST_HARNESS_API_KEY")
            .env_remove("HOST_HARNESS_LOG")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("host-harness starts");
        // Keep draining stderr: a closed pipe would fail the server's next line.
        let stderr = child.stderr.take().unwrap();
        let (first, rest) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = first.send(line);
            }
        });
        let first_line = tokio::task::spawn_blocking(move || {
            loop {
                let line = rest
                    .recv_timeout(Duration::from_secs(120))
                    .expect("host-harness serve says where it listens");
                if line.starts_with("Serving on") {
                    return line;
                }
            }
        })
        .await
        .unwrap();
        let origin = first_line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in `{first_line}`"))
            .to_string();
        ServeCommand { child, origin }
    }
}

impl Drop for ServeCommand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_command_serves_the_emulator_and_a_form_left_blank_connects() {
    // Arrange: the newcomer's one command.
    let server = ServeCommand::start().await;
    let origin = server.origin.clone();
    let browser = Browser::start().await;

    browser
        .run("one_command", move |b| async move {
            // Act: open the page, leave the app credentials blank, connect.
            b.goto(&origin).await.unwrap();
            b.find(Locator::LinkText("New connection"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let notice = text_of(&b, "[role=note]").await;
            assert!(notice.contains("emulator"), "{notice}");
            click_button(&b, "Connect").await;
            consent_as(&b, "grace").await;

            // Assert: connected as grace, and an action runs.
            assert_eq!(text_of(&b, "#account").await, "grace");
            let mut page = b.current_url().await.unwrap();
            page.set_query(None);
            b.goto(&format!("{page}/run?action=users.me"))
                .await
                .unwrap();
            click_button(&b, "Run users.me").await;
            assert_eq!(text_of(&b, "#result").await, "users.me succeeded.");
        })
        .await;
}

/// A small client for the JSON API.
/// Creates a connection `name` with a pasted bearer token through the JSON
/// API; returns its id.
async fn connect_with_bearer(bed: &ServeBed, name: &str, token: &str) -> String {
    let (status, created) = api(
        "POST",
        &bed.url("/api/v1/connections"),
        None,
        Some(json!({"method": "bearer", "name": name, "fields": {"bearer_token": token}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_engine_creates_a_connection_runs_actions_and_deletes_it_through_the_api() {
    let bed = ServeBed::start(None).await;
    let token = bed
        .x
        .issue_user_token("ada", &["tweet.read", "tweet.write", "users.read"]);

    let (status, created) = api(
        "POST",
        &bed.url("/api/v1/connections"),
        None,
        Some(json!({"method": "bearer", "name": "Engine", "fields": {"bearer_token": token}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "connected");
    assert_eq!(created["account"], "ada");
    assert!(!created.to_string().contains(&token), "the token came back");
    let id = created["id"].as_str().unwrap().to_string();

    let (status, listed) = api("GET", &bed.url("/api/v1/connections"), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["connections"][0]["id"], id.as_str());

    let run = bed.url(&format!("/api/v1/connections/{id}/actions/post.create"));
    let (status, posted) = api("POST", &run, None, Some(json!({"text": "From the engine"}))).await;
    assert_eq!(status, 200, "{posted}");
    assert_eq!(posted["output"]["post"]["text"], "From the engine");

    let (status, refused) = api("POST", &run, None, Some(json!({"text": ""}))).await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"], "invalid-input");
    assert_eq!(refused["field"], "text");

    let (status, refused) = api(
        "POST",
        &bed.url("/api/v1/connections"),
        None,
        Some(json!({"method": "oauth2", "fields": {"client_idd": "x"}})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"], "invalid-input");
    assert_eq!(refused["field"], "fields.client_idd");

    let connection = bed.url(&format!("/api/v1/connections/{id}"));
    assert_eq!(api("DELETE", &connection, None, None).await.0, 204);
    assert_eq!(api("GET", &connection, None, None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_api_key_the_api_and_the_pages_require_it() {
    let bed = ServeBed::start(Some("engine-key")).await;
    let list = bed.url("/api/v1/connections");

    assert_eq!(api("GET", &list, None, None).await.0, 401);
    assert_eq!(api("GET", &list, Some("wrong-key"), None).await.0, 401);
    assert_eq!(api("GET", &list, Some("engine-key"), None).await.0, 200);

    let (status, location, _) = support::browser::get(&bed.url("/connections")).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/login"));
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_form_posts_and_unknown_sign_in_redirects_are_refused() {
    let bed = ServeBed::start(None).await;

    // A form posted without the page's CSRF token changes nothing.
    let (status, _) = {
        let request = http::Request::post(bed.url("/connections"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b"method=bearer&bearer_token=abc".to_vec())
            .unwrap();
        let response = HostHttp::new(Routes::default(), HttpTimeouts::default())
            .send(request)
            .await
            .unwrap();
        (response.status().as_u16(), ())
    };
    assert_eq!(status, 403);
    assert!(bed.store.connection_ids().await.unwrap().is_empty());

    // A redirect whose state this server never issued is refused.
    let (status, _, page) =
        support::browser::get(&bed.url("/callback?code=stolen&state=made-up")).await;
    assert_eq!(status, 400);
    assert!(page.contains("not started here"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_another_site_cannot_use_the_server_through_a_rebound_name() {
    let bed = ServeBed::start(None).await;
    let token = bed
        .x
        .issue_user_token("ada", &["tweet.read", "tweet.write", "users.read"]);
    let id = connect_with_bearer(&bed, "Existing", &token).await;
    let posts_before = bed.x.posts_of("ada").len();
    let json = ("content-type", "application/json");
    let create = r#"{"method": "bearer", "fields": {"bearer_token": "stolen"}}"#;
    let post = r#"{"text": "Sent by another site"}"#;
    let action = bed.url(&format!("/api/v1/connections/{id}/actions/post.create"));
    let port = bed.origin.rsplit(':').next().unwrap();
    let rebound = |path: &str| format!("http://evil.example:{port}{path}");

    // evil.example re-pointed at 127.0.0.1: the browser sends its own name.
    let (listed, _, listing) = raw(&bed, "GET", &rebound("/api/v1/connections"), &[], "").await;
    let (created, _, _) = raw(
        &bed,
        "POST",
        &rebound("/api/v1/connections"),
        &[json],
        create,
    )
    .await;
    let (page, page_headers, _) = raw(&bed, "GET", &rebound("/connections"), &[], "").await;
    // Another origin posting to the right name, as fetch() from a page would.
    let cross = [("origin", "http://evil.example"), json];
    let (posted, _, _) = raw(&bed, "POST", &action, &cross, post).await;
    let fetched = [("sec-fetch-site", "cross-site"), json];
    let (fetched_post, _, _) = raw(&bed, "POST", &action, &fetched, post).await;
    // A test without the JSON type, as a cross-site form can send it.
    let test = bed.url(&format!("/api/v1/connections/{id}/test"));
    let (form_test, _, _) = raw(
        &bed,
        "POST",
        &test,
        &[("content-type", "application/x-www-form-urlencoded")],
        "",
    )
    .await;
    let (json_test, _, _) = raw(&bed, "POST", &test, &[json], "").await;
    // The server's own names and origin still work.
    let own = [("origin", bed.origin.as_str()), json];
    let by_name = format!("http://localhost:{port}/api/v1/connections/{id}/actions/post.create");
    let (own_post, own_headers, _) =
        raw(&bed, "POST", &by_name, &own, r#"{"text": "Sent here"}"#).await;
    let (own_page, headers, html) = raw(&bed, "GET", &bed.url("/connections"), &[], "").await;
    let (css, css_headers, _) = raw(&bed, "GET", &bed.url("/style.css"), &[], "").await;

    assert_eq!((listed, created, page), (421, 421, 421));
    assert!(!listing.contains(&id), "the list leaked: {listing}");
    assert_eq!((posted, fetched_post), (403, 403));
    assert_eq!(form_test, 415);
    assert_eq!(json_test, 200);
    assert_eq!(own_post, 200);
    assert_eq!(own_page, 200);
    assert_eq!(bed.store.connection_ids().await.unwrap(), vec![id.clone()]);
    assert_eq!(
        bed.x.posts_of("ada").len(),
        posts_before + 1,
        "only the server's own request posted"
    );
    for headers in [&headers, &own_headers, &page_headers] {
        assert_eq!(
            headers["content-security-policy"],
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
    }
    assert!(
        !html.contains("<style"),
        "inline style the policy would block"
    );
    assert!(html.contains("href=\"/style.css\""));
    assert_eq!(css, 200);
    assert!(
        css_headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_to_listen_beyond_loopback_without_an_api_key() {
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let bed = ServeBed::start(None).await;
    let manager = ConnectionManager::new(
        bed.store.clone(),
        support::x_connector().await,
        Routes::default(),
        HttpTimeouts::default(),
    );
    let config = WebConfig {
        push: None,
        public_origin: "http://example.invalid".into(),
        api_key: None,
        admin_key: None,
        notice: None,
        triggers: None,
        targets: host_harness::target_guard::TargetGuard::public_only(),
        shutdown: Default::default(),
    };

    let refused = web::serve(listener, manager, config, std::future::ready(())).await;

    assert!(matches!(
        refused,
        Err(web::ServeError::ExposedWithoutKey { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connection_page_subscribes_a_workflow_lists_it_and_unsubscribes_it() {
    let bed = ServeBed::start(None).await;
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let id = connect_with_bearer(&bed, "Watched", &token).await;
    let page = bed.url(&format!("/connections/{id}"));
    let (_, headers, _) = raw(&bed, "GET", &page, &[], "").await;
    let cookie = headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = cookie.trim_start_matches("hh_csrf=").to_string();
    let form = |pairs: &[(&str, &str)]| {
        let mut body = form_urlencoded::Serializer::new(String::new());
        body.append_pair("csrf", &csrf);
        for (k, v) in pairs {
            body.append_pair(k, v);
        }
        body.finish()
    };
    let posting = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];

    let (created, _, shown) = raw(
        &bed,
        "POST",
        &bed.url(&format!("/connections/{id}/subscriptions")),
        &posting,
        &form(&[
            ("trigger", "post.matching"),
            ("configuration", r#"{"query": "lighthouse"}"#),
            ("target_url", "https://engine.example/hooks/x"),
            ("interval_secs", "30"),
        ]),
    )
    .await;
    let (refused, _, explained) = raw(
        &bed,
        "POST",
        &bed.url(&format!("/connections/{id}/subscriptions")),
        &posting,
        &form(&[("trigger", "post.matching"), ("configuration", "{}")]),
    )
    .await;
    let subscription = bed.store.subscriptions(Some(&id)).await.unwrap()[0].clone();
    let (_, _, listed) = raw(&bed, "GET", &page, &[("cookie", cookie.as_str())], "").await;
    let (unsubscribed, after, _) = raw(
        &bed,
        "POST",
        &bed.url(&format!(
            "/connections/{id}/subscriptions/{}/delete",
            subscription.id
        )),
        &posting,
        &form(&[]),
    )
    .await;

    assert_eq!(created, 201, "{shown}");
    assert!(shown.contains("whsec_"), "the signing key is shown once");
    assert_eq!(refused, 400);
    assert!(explained.contains("configuration.query"), "{explained}");
    assert!(listed.contains("post.matching") && listed.contains("https://engine.example/hooks/x"));
    assert!(
        !listed.contains("whsec_"),
        "the signing key was shown again"
    );
    assert_eq!(unsubscribed, 303);
    assert_eq!(after["location"], format!("/connections/{id}"));
    assert!(bed.store.subscriptions(Some(&id)).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_name_is_plain_text_and_one_stored_before_is_shown_escaped() {
    let bed = ServeBed::start(None).await;
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let create = |name: String, brand: Option<&str>| {
        let url = bed.url("/api/v1/connections");
        let body = json!({"method": "bearer", "name": name, "brand": brand,
            "fields": {"bearer_token": token}});
        async move { api("POST", &url, None, Some(body)).await }
    };
    // A name kept from before names were checked.
    let kept = bed
        .store
        .create_connection(&support::hostile_connection())
        .await
        .unwrap();

    let refusals = [
        create(support::HOSTILE_NAME.to_string(), None).await,
        create("row\r\nconn_fake0 pending".into(), None).await,
        create("nul\0".into(), None).await,
        create("rtl\u{202e}gnp.exe".into(), None).await,
        create("a".repeat(1_000_000), None).await,
    ];
    let (brand_status, brand) = create("Marketing".into(), Some("acme\u{7}")).await;
    let (fine_status, fine) = create("Ada's account — 📣".into(), Some("acme")).await;
    let (_, _, list_page) = raw(&bed, "GET", &bed.url("/connections"), &[], "").await;
    let (_, _, kept_page) = raw(
        &bed,
        "GET",
        &bed.url(&format!("/connections/{}", kept.id)),
        &[],
        "",
    )
    .await;

    for (status, refused) in &refusals {
        assert_eq!(
            (*status, refused["field"].as_str()),
            (400, Some("name")),
            "{refused}"
        );
    }
    assert_eq!(
        (brand_status, brand["field"].as_str()),
        (400, Some("brand"))
    );
    assert_eq!(fine_status, 201, "{fine}");
    for page in [&list_page, &kept_page] {
        assert!(
            !page.contains(['\u{1b}', '\0', '\u{7}']),
            "a control character reached the page"
        );
        assert!(
            page.contains("Ada\\u{1b}]8;;"),
            "the name is not shown escaped"
        );
    }
}
