//! A remote MCP client authorizes itself the way the MCP specification
//! asks: `/mcp` answers 401 with its resource metadata (RFC 9728), whose
//! authorization server (RFC 8414) registers the client (RFC 7591), lets
//! the user choose a connection and the tools on a consent page, and
//! exchanges a PKCE-bound code for the host's own tokens, bound to that
//! connection and those tools. First step by step over HTTP, then with the
//! official TypeScript SDK's own OAuth flow and the user's choice made in
//! a real browser.

mod support;

use base64::Engine;
use fantoccini::Locator;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::BufRead;
use std::process::{Command, Stdio};
use support::web::{Browser, ServeBed, api, click_button, consent_as, fill, raw_at, wait_for_text};

const KEY: &str = "mcp-oauth-default-tenant-key-0123456789";
const VERIFIER: &str = "a-pkce-code-verifier-of-forty-three-or-more-characters-0123";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A connection of the default tenant made through the API with a token
/// X issued to `account`.
async fn connect(bed: &ServeBed, name: &str, account: &str) -> String {
    let token = bed.x.issue_user_token(
        account,
        &["tweet.read", "tweet.write", "users.read", "offline.access"],
    );
    let (status, created) = api(
        "POST",
        &bed.url("/api/v1/connections"),
        Some(KEY),
        Some(json!({"method": "bearer", "name": name, "fields": {"bearer_token": token}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// The value of the cookie `name` a response sets.
fn set_cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The query parameter `name` of `url`.
fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    form.finish()
}

/// A browser of the pages, signed in with the key, talking plain HTTP.
struct Pages {
    origin: String,
    cookies: String,
}

impl Pages {
    async fn signed_in(origin: &str) -> Pages {
        let (status, headers, _) = raw_at(
            origin,
            "POST",
            &format!("{origin}/login"),
            &[("content-type", "application/x-www-form-urlencoded")],
            &form(&[("api_key", KEY)]),
        )
        .await;
        assert_eq!(status, 303);
        let session = set_cookie(&headers, "hh_session").expect("a page session");
        Pages {
            origin: origin.to_string(),
            cookies: format!("hh_session={session}"),
        }
    }

    async fn get(&mut self, path: &str) -> (u16, http::HeaderMap, String) {
        let answer = raw_at(
            &self.origin,
            "GET",
            &format!("{}{path}", self.origin),
            &[("cookie", &self.cookies)],
            "",
        )
        .await;
        if let Some(csrf) = set_cookie(&answer.1, "hh_csrf") {
            self.cookies.push_str(&format!("; hh_csrf={csrf}"));
        }
        answer
    }

    /// Answers the consent form of `consent` (a page's HTML) by allowing
    /// `connection` with `tools`; the status and the headers.
    async fn allow(&self, consent: &str, connection: &str, tools: &str) -> (u16, http::HeaderMap) {
        let mut fields = hidden_fields(consent);
        fields.extend([
            ("connection".to_string(), connection.to_string()),
            ("tools".to_string(), tools.to_string()),
            ("decision".to_string(), "allow".to_string()),
        ]);
        let answer: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (status, headers, _) = self.post("/oauth/authorize", &form(&answer)).await;
        (status, headers)
    }

    async fn post(&self, path: &str, body: &str) -> (u16, http::HeaderMap, String) {
        raw_at(
            &self.origin,
            "POST",
            &format!("{}{path}", self.origin),
            &[
                ("cookie", &self.cookies),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            body,
        )
        .await
    }
}

/// The hidden fields and the CSRF token of the consent form in `page`.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split("name=\"").nth(1)?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((
                name.to_string(),
                value.replace("&amp;", "&").replace("&quot;", "\""),
            ))
        })
        .collect()
}

async fn token_request(origin: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = raw_at(
        origin,
        "POST",
        &format!("{origin}/oauth/token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        &form(pairs),
    )
    .await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn mcp_initialize(origin: &str, path: &str, token: &str) -> (u16, http::HeaderMap, String) {
    raw_at(
        origin,
        "POST",
        &format!("{origin}{path}"),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "step-by-step", "version": "1"}}})
        .to_string(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_registers_is_granted_one_connection_and_its_tokens_are_used_once_and_bound() {
    // Arrange: a keyed server with two of the default tenant's connections.
    let bed = ServeBed::start(Some(KEY)).await;
    let ada = connect(&bed, "Ada's account", "ada").await;
    let grace = connect(&bed, "Grace's account", "grace").await;
    let redirect = "http://127.0.0.1:9/callback";

    // Act: what a client finds from the 401.
    let origin = bed.origin.as_str();
    let (unauthorized, headers, _) = raw_at(origin, "POST", &bed.url("/mcp"), &[], "{}").await;
    let challenge_header = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (_, resource) = api(
        "GET",
        &bed.url("/.well-known/oauth-protected-resource/mcp"),
        None,
        None,
    )
    .await;
    let (_, server) = api(
        "GET",
        &bed.url("/.well-known/oauth-authorization-server"),
        None,
        None,
    )
    .await;

    // Assert: the resource and its authorization server describe themselves.
    assert_eq!(unauthorized, 401);
    assert!(
        challenge_header.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            bed.origin
        )),
        "{challenge_header}"
    );
    assert_eq!(resource["resource"], bed.url("/mcp"));
    assert_eq!(resource["authorization_servers"], json!([bed.origin]));
    assert_eq!(server["issuer"], bed.origin.as_str());
    assert_eq!(server["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(server["registration_endpoint"], bed.url("/oauth/register"));
    assert_eq!(
        server["authorization_response_iss_parameter_supported"],
        true
    );

    // Act: registrations, a wrong one and a right one.
    let register = |body: Value| {
        let bed = &bed;
        async move {
            let (status, _, text) = raw_at(
                &bed.origin,
                "POST",
                &bed.url("/oauth/register"),
                &[("content-type", "application/json")],
                &body.to_string(),
            )
            .await;
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let (no_uri, no_uri_error) = register(json!({"client_name": "Agent"})).await;
    let (plain_http, plain_http_error) =
        register(json!({"redirect_uris": ["http://agent.example/cb"]})).await;
    let (created, client) =
        register(json!({"client_name": "Step agent", "redirect_uris": [redirect]})).await;
    let client_id = client["client_id"].as_str().unwrap_or_default().to_string();

    assert_eq!(no_uri, 400);
    assert_eq!(no_uri_error["error"], "invalid_redirect_uri");
    assert!(
        no_uri_error["error_description"]
            .as_str()
            .unwrap()
            .starts_with("redirect_uris")
    );
    assert_eq!(plain_http, 400, "{plain_http_error}");
    assert_eq!(created, 201, "{client}");
    assert_eq!(client["token_endpoint_auth_method"], "none");
    assert!(client.get("client_secret").is_none());

    // Act: the user, signed in, opens the consent page.
    let mut pages = Pages::signed_in(origin).await;
    let authorize = |redirect_uri: &str, with_challenge: bool| {
        let mut pairs = vec![
            ("client_id", client_id.clone()),
            ("redirect_uri", redirect_uri.to_string()),
            ("response_type", "code".to_string()),
            ("state", "s-1".to_string()),
            ("scope", "mcp".to_string()),
            ("resource", bed.url("/mcp")),
            ("code_challenge_method", "S256".to_string()),
        ];
        if with_challenge {
            pairs.push(("code_challenge", challenge(VERIFIER)));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        format!("/oauth/authorize?{}", form(&pairs))
    };
    let (foreign, foreign_headers, _) = pages
        .get(&authorize("http://127.0.0.1:9/other", true))
        .await;
    let (no_pkce, no_pkce_headers, _) = pages.get(&authorize(redirect, false)).await;
    let (shown, _, consent) = pages.get(&authorize(redirect, true)).await;

    assert_eq!(
        foreign, 400,
        "a redirect URI not registered is never redirected to"
    );
    assert!(foreign_headers.get("location").is_none());
    assert_eq!(no_pkce, 303);
    let back = no_pkce_headers["location"].to_str().unwrap();
    assert_eq!(param(back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(back, "state").as_deref(), Some("s-1"));
    assert_eq!(shown, 200, "{consent}");
    assert!(consent.contains("Step agent") && consent.contains("127.0.0.1:9"));
    assert!(consent.contains(&format!("id=\"connection-{ada}\"")));
    assert!(consent.contains(&format!("id=\"connection-{grace}\"")));

    // Act: the user grants Ada's connection, read-only.
    let (granted, granted_headers) = pages.allow(&consent, &ada, "read-only").await;
    let back = granted_headers["location"].to_str().unwrap().to_string();
    let code = param(&back, "code").unwrap_or_default();

    assert_eq!(granted, 303);
    assert!(back.starts_with(redirect), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("s-1"));
    assert_eq!(param(&back, "iss").as_deref(), Some(bed.origin.as_str()));

    // Act: the code exchanged, twice.
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("client_id", client_id.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (exchanged, tokens) = token_request(origin, &exchange).await;
    let (again, again_error) = token_request(origin, &exchange).await;

    assert_eq!(exchanged, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "mcp:read-only");
    assert_eq!(again, 400);
    assert_eq!(again_error["error"], "invalid_grant", "a code is used once");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    // Act: the token at the MCP endpoint, at the API, and for Grace's connection.
    let (at_mcp, _, _) = mcp_initialize(origin, "/mcp", &access).await;
    let (other_connection, _, _) =
        mcp_initialize(origin, &format!("/mcp?connection={grace}"), &access).await;
    let (at_api, _) = api("GET", &bed.url("/api/v1/connections"), Some(&access), None).await;
    let altered = format!("{}x", &access[..access.len() - 1]);
    let (altered_status, altered_headers, _) = mcp_initialize(origin, "/mcp", &altered).await;

    assert_eq!(at_mcp, 200);
    assert_eq!(
        other_connection, 404,
        "the token reaches its own connection only"
    );
    assert_eq!(at_api, 401, "an MCP token is not an API key");
    assert_eq!(altered_status, 401);
    assert!(
        altered_headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    // Act: a wrong verifier, a refresh, and the old refresh token again.
    let (_, _, second) = pages.get(&authorize(redirect, true)).await;
    let (_, headers) = pages.allow(&second, &grace, "all").await;
    let second_code = param(headers["location"].to_str().unwrap(), "code").unwrap();
    let (wrong_verifier, wrong_verifier_error) = token_request(
        origin,
        &[
            ("grant_type", "authorization_code"),
            ("code", &second_code),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            (
                "code_verifier",
                "another-verifier-of-forty-three-or-more-characters-000",
            ),
        ],
    )
    .await;
    let refresh_with = |token: String| {
        let client_id = client_id.clone();
        async move {
            token_request(
                origin,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", &client_id),
                ],
            )
            .await
        }
    };
    let (refreshed, new_tokens) = refresh_with(refresh.clone()).await;
    let (replayed, replay_error) = refresh_with(refresh.clone()).await;

    assert_eq!(wrong_verifier, 400);
    assert_eq!(wrong_verifier_error["error"], "invalid_grant");
    assert!(
        wrong_verifier_error["error_description"]
            .as_str()
            .unwrap()
            .starts_with("code_verifier")
    );
    assert_eq!(refreshed, 200, "{new_tokens}");
    assert_eq!(
        new_tokens["scope"], "mcp:read-only",
        "a refresh keeps the grant"
    );
    assert_ne!(
        new_tokens["refresh_token"],
        refresh.as_str(),
        "refresh tokens rotate"
    );
    assert_eq!(replayed, 400);
    assert_eq!(replay_error["error"], "invalid_grant");

    // Act: the tenant deletes Ada's connection.
    let (deleted, _) = api(
        "DELETE",
        &bed.url(&format!("/api/v1/connections/{ada}")),
        Some(KEY),
        None,
    )
    .await;
    let new_access = new_tokens["access_token"].as_str().unwrap();
    let (after_delete, _, _) = mcp_initialize(origin, "/mcp", new_access).await;
    let (refresh_after_delete, refresh_error) =
        refresh_with(new_tokens["refresh_token"].as_str().unwrap().to_string()).await;

    // Assert: nothing granted on it works any more.
    assert_eq!(deleted, 204);
    assert_eq!(after_delete, 401);
    assert_eq!(refresh_after_delete, 400);
    assert_eq!(refresh_error["error"], "invalid_grant");
}

/// The TypeScript SDK's OAuth client, started on `plan`: its first line
/// (where to send the user) and the rest of what it prints.
fn start_ts_client(plan: Value) -> (String, std::thread::JoinHandle<Value>) {
    let script = support::npm::script_with_packages(
        "mcp-typescript",
        "mcp/package.json",
        "@modelcontextprotocol/sdk",
        "mcp/ts_oauth_client.mjs",
    );
    // The SDK's warnings go to a file, read when the client fails.
    let stderr_path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-oauth-client.stderr");
    let mut child = Command::new("node")
        .arg(script)
        .arg(plan.to_string())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("node runs");
    let stderr = move || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = lines
        .next()
        .and_then(Result::ok)
        .and_then(|line| serde_json::from_str(&line).ok())
        .unwrap_or_else(|| panic!("the client printed no JSON line: {}", stderr()));
    let authorize = first["authorize"]
        .as_str()
        .unwrap_or_else(|| panic!("the client did not ask for authorization: {first}"))
        .to_string();
    let rest = std::thread::spawn(move || {
        let report = lines
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
            .find_map(|line| line.get("report").cloned())
            .unwrap_or_else(|| panic!("the client printed no report: {}", stderr()));
        let _ = child.wait();
        report
    });
    (authorize, rest)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_authorizes_in_the_browser_connecting_an_account_and_refreshes() {
    // Arrange: a keyed server with no connection yet; the SDK's client.
    let bed = ServeBed::start(Some(KEY)).await;
    let (client_id, secret) = (
        bed.app.client_id.clone(),
        bed.app.client_secret.clone().unwrap(),
    );
    let (authorize, report) = tokio::task::spawn_blocking({
        let plan = json!({
            "url": bed.url("/mcp"),
            "calls": [{"name": "users.me", "arguments": {}}],
            "probes": [{"url": bed.url("/api/v1/connections"), "method": "GET"}],
        });
        move || start_ts_client(plan)
    })
    .await
    .unwrap();
    assert!(
        authorize.starts_with(&bed.url("/oauth/authorize?")),
        "{authorize}"
    );
    let browser = Browser::start().await;

    // Act: the user signs in to the pages, connects ada from the consent
    // page, comes back to it and grants the read-only tools.
    browser
        .run("mcp_oauth_consent", move |b| async move {
            b.goto(&authorize).await.unwrap();
            fill(&b, "api_key", KEY).await;
            click_button(&b, "Sign in").await;
            wait_for_text(&b, "You have no connected account yet").await;
            b.find(Locator::Id("connect-another"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            fill(&b, "field-connection_name", "Agent account").await;
            fill(&b, "field-client_id", &client_id).await;
            fill(&b, "field-client_secret", &secret).await;
            click_button(&b, "Connect").await;
            consent_as(&b, "ada").await;
            wait_for_text(&b, "asks to use tools").await;
            let chosen = b
                .find(Locator::Css("input[name=connection]:checked"))
                .await
                .expect("the new connection is chosen");
            assert!(
                chosen
                    .attr("id")
                    .await
                    .unwrap()
                    .unwrap()
                    .starts_with("connection-"),
                "a connection radio is checked"
            );
            b.find(Locator::Id("tools-read-only"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            click_button(&b, "Allow").await;
            wait_for_text(&b, "Authorized").await;
        })
        .await;
    let report = tokio::task::spawn_blocking(move || report.join().unwrap())
        .await
        .unwrap();

    // Assert: the SDK was sent to authorize once, got the host's tokens,
    // and its tools are the read-only ones acting as ada.
    assert_eq!(report.get("failure"), None, "{report}");
    assert_eq!(report["unauthorized"], true, "{report}");
    assert_eq!(report["redirect"]["state"], "state-from-the-agent");
    assert_eq!(report["redirect"]["iss"], bed.origin.as_str());
    assert_eq!(report["client_id_prefix"], "hhmcpc");
    assert_eq!(report["tokens"]["access_prefix"], "hhmcp_");
    assert_eq!(report["tokens"]["scope"], "mcp:read-only");
    assert_eq!(report["tokens"]["has_refresh"], true);
    let tools: Vec<&str> = report["session"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"users.me") && tools.contains(&"timeline.user"),
        "{tools:?}"
    );
    assert!(
        !tools.contains(&"post.create") && !tools.contains(&"post.delete"),
        "{tools:?}"
    );
    let me = &report["session"]["calls"][0]["result"];
    assert_eq!(me["structuredContent"]["user"]["username"], "ada", "{me}");
    assert_eq!(
        report["probes"][0]["status"], 401,
        "the token is no API key"
    );
    // The access token replaced by one the server refuses: the SDK
    // refreshed it and carried on, without the user.
    let again = &report["after_refresh"]["calls"][0]["result"];
    assert_eq!(
        again["structuredContent"]["user"]["username"], "ada",
        "{report}"
    );
    assert_eq!(report["refresh_rotated"], true);
    assert_eq!(report["replayed_refresh"]["status"], 400);
    assert_eq!(report["replayed_refresh"]["body"]["error"], "invalid_grant");
    assert_eq!(report["authorizations"], 1, "the user was asked once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_known_by_its_metadata_document_url_is_granted_a_connection() {
    // Arrange: two metadata documents on an https site the server trusts
    // (its CA in HOST_HARNESS_CA_CERT), one of them naming another client.
    let redirect = "http://127.0.0.1:9/callback";
    let site = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let app = {
        let (agent, impostor) = (site.clone(), site.clone());
        axum::Router::new()
            .route(
                "/agent.json",
                axum::routing::get(move || async move {
                    axum::Json(json!({
                        "client_id": format!("{}/agent.json", agent.get().unwrap()),
                        "client_name": "Document agent",
                        "redirect_uris": [redirect],
                        "token_endpoint_auth_method": "none",
                    }))
                }),
            )
            .route(
                "/impostor.json",
                axum::routing::get(move || async move {
                    let _ = impostor.get();
                    axum::Json(json!({
                        "client_id": "https://agent.example/agent.json",
                        "client_name": "Impostor",
                        "redirect_uris": [redirect],
                    }))
                }),
            )
    };
    let (port, ca_pem) = x_emulator::serve_site(app).await;
    site.set(format!("https://127.0.0.1:{port}")).unwrap();
    let agent_url = format!("https://127.0.0.1:{port}/agent.json");
    let (bed, platform) = support::nodes::sqlite_platform(Some(KEY), None).await;
    let ca_file = platform.data_dir.join("site-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let connection = bed
        .connect_oauth2(
            &bed.oauth2_form("tweet.read users.read offline.access"),
            "ada",
        )
        .await;
    let node_port = support::nodes::free_port();
    let origin = format!("http://127.0.0.1:{node_port}");
    let _node = support::nodes::Node::start_in(
        "A",
        &platform,
        node_port,
        &origin,
        &["--allow-private-targets", "127.0.0.0/8"],
        &[("HOST_HARNESS_CA_CERT", ca_file.to_str().unwrap())],
    )
    .await;
    let authorize = |client_id: &str| {
        format!(
            "/oauth/authorize?{}",
            form(&[
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("response_type", "code"),
                ("code_challenge", &challenge(VERIFIER)),
                ("code_challenge_method", "S256"),
                ("state", "s-2"),
            ])
        )
    };

    // Act: the server's metadata, then the user's consent for each client.
    let (_, server) = api(
        "GET",
        &format!("{origin}/.well-known/oauth-authorization-server"),
        None,
        None,
    )
    .await;
    let mut pages = Pages::signed_in(&origin).await;
    let (impostor, impostor_headers, impostor_page) = pages
        .get(&authorize(&format!(
            "https://127.0.0.1:{port}/impostor.json"
        )))
        .await;
    let (plain, _, plain_page) = pages
        .get(&authorize(&format!("http://127.0.0.1:{port}/agent.json")))
        .await;
    let (shown, _, consent) = pages.get(&authorize(&agent_url)).await;
    let (granted, granted_headers) = pages.allow(&consent, &connection, "all").await;
    let code = granted_headers
        .get("location")
        .and_then(|l| param(l.to_str().unwrap(), "code"))
        .unwrap_or_default();
    let (exchanged, tokens) = token_request(
        &origin,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &agent_url),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap_or_default();
    let (at_mcp, _, _) = mcp_initialize(&origin, "/mcp", access).await;

    // Assert: the document's client is shown and granted; the others are
    // refused to the user, never redirected to.
    assert_eq!(server["client_id_metadata_document_supported"], true);
    assert_eq!(impostor, 400, "{impostor_page}");
    assert!(impostor_headers.get("location").is_none());
    assert!(
        impostor_page.contains("another client_id than its own URL"),
        "{impostor_page}"
    );
    assert_eq!(
        plain, 400,
        "a client id over plain http is not a document's"
    );
    assert!(plain_page.contains("client_id"), "{plain_page}");
    assert_eq!(shown, 200, "{consent}");
    assert!(consent.contains("Document agent"));
    assert_eq!(granted, 303);
    assert_eq!(exchanged, 200, "{tokens}");
    assert_eq!(tokens["scope"], "mcp");
    assert_eq!(at_mcp, 200);
}
