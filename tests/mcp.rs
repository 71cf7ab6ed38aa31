//! An AI agent reaches the connector's actions as MCP tools, through the
//! official MCP Python SDK's client (installed from PyPI by the test):
//! over Streamable HTTP at `serve`'s `/mcp`, at the newest protocol version
//! and through the initialize handshake of the versions before it, and
//! over stdio with `host-harness mcp`, as a desktop client starts it. The
//! tools are the catalogue's, the calls run as API calls run, a refusal
//! comes back as the action's typed error, and one tenant's key reaches
//! no other tenant's connection.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use support::auth::AuthBed;
use support::nodes::{Node, Platform, free_port, sqlite_platform};

const DEFAULT_KEY: &str = "mcp-default-tenant-key-0123456789";
const ADMIN_KEY: &str = "mcp-operator-admin-key-0123456789";

/// A `serve` node on a SQLite store, with `ada` connected through OAuth
/// 2.0 with scopes to read and post but not to send direct messages.
struct Bed {
    bed: AuthBed,
    platform: Platform,
    node: Node,
    connection: String,
}

impl Bed {
    async fn start() -> Bed {
        let (bed, platform) = sqlite_platform(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
        let port = free_port();
        let node = Node::start("A", &platform, port, &format!("http://127.0.0.1:{port}")).await;
        // Signed in through X's consent page: the host knows what was
        // granted, and that direct messages were not.
        let connection = bed
            .connect_oauth2(
                &bed.oauth2_form("tweet.read tweet.write users.read media.write offline.access"),
                "ada",
            )
            .await;
        Bed {
            bed,
            platform,
            node,
            connection,
        }
    }

    /// The plan for the Python client over HTTP with `key`, at `path`.
    fn over_http(&self, key: &str, path: &str, mode: &str, calls: Value) -> Value {
        json!({
            "transport": "http",
            "url": format!("{}{path}", self.node.client().origin),
            "headers": {"Authorization": format!("Bearer {key}")},
            "mode": mode,
            "calls": calls,
        })
    }
}

/// An official MCP SDK's client.
#[derive(Clone, Copy, Debug)]
enum Sdk {
    /// `mcp` from PyPI.
    Python,
    /// `@modelcontextprotocol/sdk` from npm, on Node.js.
    TypeScript,
}

/// What `sdk`'s client saw, following `plan`.
async fn client(sdk: Sdk, plan: Value) -> Value {
    tokio::task::spawn_blocking(move || {
        let mut command = match sdk {
            Sdk::Python => {
                let python = support::python::venv("mcp-python", "mcp", "mcp/requirements.txt");
                let mut command = Command::new(python);
                command.arg(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp/python_client.py"),
                );
                command
            }
            Sdk::TypeScript => {
                let script = support::npm::script_with_packages(
                    "mcp-typescript",
                    "mcp/package.json",
                    "@modelcontextprotocol/sdk",
                    "mcp/ts_client.mjs",
                );
                let mut command = Command::new("node");
                command.arg(script);
                command
            }
        };
        let output = command
            .arg(plan.to_string())
            .output()
            .expect("the client runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "the {sdk:?} client failed: {stderr}"
        );
        serde_json::from_slice::<Value>(&output.stdout)
            .unwrap_or_else(|e| panic!("the {sdk:?} client printed no report ({e}): {stderr}"))
    })
    .await
    .unwrap()
}

/// What the official Python client saw, following `plan`.
async fn python_client(plan: Value) -> Value {
    client(Sdk::Python, plan).await
}

/// What the Python client saw calling `users.me` with `key` at `path`.
async fn users_me_with(bed: &Bed, key: &str, path: &str) -> Value {
    python_client(bed.over_http(
        key,
        path,
        "auto",
        json!([{"name": "users.me", "arguments": {}}]),
    ))
    .await
}

/// The call of `name` in a report.
fn call<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no call of {name} in {report}"))
}

/// The typed error a refused call's result carries: its text, which is
/// JSON, and the same in `_meta.error`.
fn refusal_of(result: &Value) -> Value {
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    let error: Value = serde_json::from_str(text).unwrap();
    assert_eq!(result["_meta"]["error"], error, "{result}");
    assert!(result.get("structuredContent").is_none(), "{result}");
    error
}

/// The tool `name` in a report's listing.
fn tool<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name} listed"))
}

/// The ids of the manifest's actions, in its order.
fn action_ids() -> Vec<String> {
    let manifest: Value = serde_json::from_str(support::X_MANIFEST).unwrap();
    manifest["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

/// The calls every client makes of the catalogue: a check that sends
/// nothing, a post, a page with a limit, a refusal for a missing scope and
/// one for a bad input.
fn catalogue_calls() -> Value {
    json!([
        {"name": "post.validate", "arguments": {"text": "Hello from an agent 👋"}},
        {"name": "post.create", "arguments": {"text": "Posted by an agent over MCP"}},
        {"name": "timeline.user", "arguments": {"limit": 5}},
        {"name": "dm.send", "arguments": {"user_id": "2244994945", "text": "hi"}},
        {"name": "users.lookup", "arguments": {"usernames": ["not a username!"]}},
    ])
}

/// What every client must have seen of [`catalogue_calls`]: every action
/// a tool with its schemas and hints, and each call's result as the
/// action's output or typed error.
fn assert_catalogue_and_calls(bed: &Bed, report: &Value) {
    let report = report.clone();
    assert!(report.get("failure").is_none(), "{report}");
    // Every action is a tool, in the catalogue's order, with its schemas.
    let names: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, action_ids());
    for listed in report["tools"].as_array().unwrap() {
        for schema in ["inputSchema", "outputSchema"] {
            assert_eq!(listed[schema]["type"], "object", "{}", listed["name"]);
            assert!(
                jsonschema::meta::is_valid(&listed[schema]),
                "{} publishes an invalid {schema}",
                listed["name"]
            );
        }
        assert!(listed["title"].is_string() && listed["description"].is_string());
    }
    // The hints come from the manifest.
    let hints = |name: &str| tool(&report, name)["annotations"].clone();
    assert_eq!(hints("users.me")["readOnlyHint"], true);
    assert_eq!(hints("users.me")["openWorldHint"], true);
    assert_eq!(hints("post.validate")["openWorldHint"], false);
    assert_eq!(hints("post.create")["readOnlyHint"], false);
    assert_eq!(hints("post.create")["destructiveHint"], false);
    assert_eq!(hints("post.create")["idempotentHint"], false);
    assert_eq!(hints("post.delete")["destructiveHint"], true);
    assert_eq!(hints("post.unlike")["destructiveHint"], true);
    assert_eq!(hints("post.like")["idempotentHint"], true);
    assert_eq!(tool(&report, "dm.send")["_meta"]["scopes"][0], "dm.write");

    // A check that sends nothing, exact as the action is.
    let validated = &call(&report, "post.validate")["result"];
    assert_eq!(validated["isError"], false, "{validated}");
    assert_eq!(validated["structuredContent"]["valid"], true, "{validated}");
    let text = validated["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        validated["structuredContent"],
        "the text is the same JSON"
    );
    // A post, made on X through the host's credentials, metered.
    let created = &call(&report, "post.create")["result"];
    assert_eq!(created["isError"], false, "{created}");
    let id = created["structuredContent"]["post"]["id"].as_str().unwrap();
    let posts = bed.bed.x.posts_of("ada");
    assert!(
        posts
            .iter()
            .any(|p| p.id == id && p.text == "Posted by an agent over MCP")
    );
    assert!(
        created["_meta"]["usage"].is_object(),
        "usage in the result's _meta: {created}"
    );
    // Paging with a limit.
    let timeline = &call(&report, "timeline.user")["result"];
    assert_eq!(timeline["isError"], false, "{timeline}");
    let listed = timeline["structuredContent"]["posts"].as_array().unwrap();
    assert!(!listed.is_empty() && listed.len() <= 5, "{timeline}");
    // The scope the connection lacks, typed, before anything is sent.
    let refused = refusal_of(&call(&report, "dm.send")["result"]);
    assert_eq!(refused["error"], "forbidden", "{refused}");
    assert_eq!(refused["reason"], "missing-scopes", "{refused}");
    assert_eq!(refused["missing_scopes"], json!(["dm.write"]), "{refused}");
    // The input check names the field.
    let invalid = refusal_of(&call(&report, "users.lookup")["result"]);
    assert_eq!(invalid["error"], "invalid-input", "{invalid}");
    assert!(
        invalid["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("usernames")),
        "{invalid}"
    );
    assert!(invalid["message"].is_string());
    let log = bed.node.log();
    for secret in [DEFAULT_KEY, ADMIN_KEY] {
        assert!(!log.contains(secret), "a key reached the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_lists_every_action_as_a_tool_and_runs_them_over_streamable_http() {
    let bed = Bed::start().await;
    let path = format!("/mcp?connection={}", bed.connection);

    let report = python_client(bed.over_http(DEFAULT_KEY, &path, "auto", catalogue_calls())).await;

    assert_eq!(
        report["protocol_version"], "2026-07-28",
        "the newest version: {report}"
    );
    assert_catalogue_and_calls(&bed, &report);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_client_runs_the_same_tools_over_streamable_http() {
    let bed = Bed::start().await;
    let path = format!("/mcp?connection={}", bed.connection);

    let report = client(
        Sdk::TypeScript,
        bed.over_http(DEFAULT_KEY, &path, "auto", catalogue_calls()),
    )
    .await;

    assert_eq!(
        report["protocol_version"], "2025-11-25",
        "its newest version: {report}"
    );
    assert_catalogue_and_calls(&bed, &report);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_and_a_thread_report_progress_and_a_cancelled_thread_stops_posting() {
    let bed = Bed::start().await;
    let path = format!("/mcp?connection={}", bed.connection);
    let thread = |texts: &[&str]| json!({"posts": texts.iter().map(|t| json!({"text": t})).collect::<Vec<_>>()});
    // The cancelled thread's first post hangs at X for 3 s.
    let report = python_client(bed.over_http(
        DEFAULT_KEY,
        &path,
        "auto",
        json!([
            {"name": "media.upload", "arguments": {"base64": support::tiny_png_base64()}, "progress": true},
            {"name": "post.thread", "arguments": thread(&["Progress, one.", "Progress, two.", "Progress, three."]), "progress": true},
        ]),
    ))
    .await;
    bed.bed.x.inject(
        x_emulator::Endpoint::CreatePost,
        x_emulator::Fault::Delay(std::time::Duration::from_secs(3)),
    );
    let cancelled = python_client(bed.over_http(
        DEFAULT_KEY,
        &path,
        "auto",
        json!([
            {"name": "post.thread", "arguments": thread(&["Cancelled, one.", "Cancelled, two.", "Cancelled, three."]), "cancel_after": 1.0},
        ]),
    ))
    .await;
    // Past the hung post's end, and time for two more.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;

    assert!(report.get("failure").is_none(), "{report}");
    let upload = call(&report, "media.upload");
    assert_eq!(upload["result"]["isError"], false, "{upload}");
    let thread_call = call(&report, "post.thread");
    assert_eq!(thread_call["result"]["structuredContent"]["complete"], true);
    for seen in [upload, thread_call] {
        let progress: Vec<f64> = seen["progress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["progress"].as_f64().unwrap())
            .collect();
        assert!(!progress.is_empty(), "no progress for {}", seen["name"]);
        assert!(
            progress.windows(2).all(|w| w[0] < w[1]),
            "progress only grows: {progress:?}"
        );
    }
    let posted: Vec<_> = thread_call["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["progress"].as_f64().unwrap(), p["total"].as_f64()))
        .collect();
    assert_eq!(
        posted,
        [(1.0, Some(3.0)), (2.0, Some(3.0)), (3.0, Some(3.0))]
    );

    assert!(cancelled.get("failure").is_none(), "{cancelled}");
    assert_eq!(call(&cancelled, "post.thread")["cancelled"], true);
    let texts: Vec<String> = bed
        .bed
        .x
        .posts_of("ada")
        .into_iter()
        .map(|p| p.text)
        .collect();
    assert!(
        !texts
            .iter()
            .any(|t| t == "Cancelled, two." || t == "Cancelled, three."),
        "the cancelled thread went on: {texts:?}"
    );
    assert!(bed.node.log().contains("the client cancelled a tool call"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_started_on_one_node_goes_on_through_another() {
    let bed = Bed::start().await;
    let port = free_port();
    let other = Node::start(
        "B",
        &bed.platform,
        port,
        &format!("http://127.0.0.1:{port}"),
    )
    .await;
    let path = format!("/mcp?connection={}", bed.connection);
    let headers = [
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let rpc = |id: u64, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});

    // The handshake on A, the call on B: no session ties them to a node.
    let (shaken, hello) = bed
        .node
        .client()
        .request_with_headers(
            "POST",
            &path,
            Some(rpc(1, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}))),
            &headers,
        )
        .await;
    let (called, answer) = other
        .client()
        .request_with_headers(
            "POST",
            &path,
            Some(rpc(
                2,
                "tools/call",
                json!({"name": "users.me", "arguments": {}}),
            )),
            &headers,
        )
        .await;

    assert_eq!(shaken, 200, "{hello}");
    assert_eq!(hello["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(called, 200, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["user"]["username"], "ada",
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_of_an_earlier_protocol_version_runs_the_same_tools_after_the_handshake() {
    let bed = Bed::start().await;
    let path = format!("/mcp?connection={}", bed.connection);

    let report = python_client(bed.over_http(
        DEFAULT_KEY,
        &path,
        "legacy",
        json!([{"name": "users.me", "arguments": {}}]),
    ))
    .await;

    assert!(report.get("failure").is_none(), "{report}");
    assert_eq!(report["protocol_version"], "2025-11-25");
    assert_eq!(
        report["tools"].as_array().unwrap().len(),
        action_ids().len()
    );
    let me = &call(&report, "users.me")["result"];
    assert_eq!(me["isError"], false, "{me}");
    assert_eq!(me["structuredContent"]["user"]["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desktop_client_starts_host_harness_mcp_on_a_stored_connection() {
    let bed = Bed::start().await;
    let command = bed.platform.command(&[
        "mcp",
        "--connection",
        &bed.connection,
        "--tools",
        "read-only",
    ]);
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env: serde_json::Map<String, Value> = command
        .get_envs()
        .filter_map(|(k, v)| {
            Some((
                k.to_string_lossy().into_owned(),
                json!(v?.to_string_lossy()),
            ))
        })
        .collect();

    let plan = json!({
        "transport": "stdio",
        "command": program,
        "args": args,
        "env": env,
        "calls": [
            {"name": "users.me", "arguments": {}},
            {"name": "post.create", "arguments": {"text": "not allowed here"}},
        ],
    });

    for sdk in [Sdk::Python, Sdk::TypeScript] {
        let report = client(sdk, plan.clone()).await;
        assert_read_only_session(&bed, &report);
    }
}

/// What a client of `--tools read-only` must have seen: the reads and no
/// tool that changes anything, and `post.create` refused as unknown.
fn assert_read_only_session(bed: &Bed, report: &Value) {
    assert!(report.get("failure").is_none(), "{report}");
    let names: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"users.me") && names.contains(&"timeline.user"));
    assert!(
        !names
            .iter()
            .any(|n| ["post.create", "post.delete", "dm.send"].contains(n)),
        "read-only lists no tool that changes anything: {names:?}"
    );
    let me = &call(report, "users.me")["result"];
    assert_eq!(me["structuredContent"]["user"]["username"], "ada", "{me}");
    // A tool outside the grant is no tool at all, and nothing is posted.
    let refused = call(report, "post.create");
    assert!(refused.get("result").is_none(), "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("post.create")
    );
    assert!(
        !bed.bed
            .x
            .posts_of("ada")
            .iter()
            .any(|p| p.text == "not allowed here")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_tenants_key_reaches_no_other_tenants_connection_and_refusals_say_why() {
    let bed = Bed::start().await;
    let admin = bed.node.client().with_key(ADMIN_KEY);
    let (status, tenant) = admin
        .request("POST", "/api/v1/tenants", Some(json!({"name": "Globex"})))
        .await;
    assert_eq!(status, 201, "{tenant}");
    let (status, key) = admin
        .request(
            "POST",
            &format!(
                "/api/v1/tenants/{}/api-keys",
                tenant["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let globex_key = key["key"].as_str().unwrap();
    // Globex's own connection, of another account.
    let token = bed
        .bed
        .x
        .issue_user_token("grace", &["tweet.read", "users.read"]);
    let (status, created) = bed
        .node
        .client()
        .with_key(globex_key)
        .request(
            "POST",
            "/api/v1/connections",
            Some(json!({"method": "bearer", "fields": {"bearer_token": token}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let globex_path = format!("/mcp?connection={}", created["id"].as_str().unwrap());
    let path = format!("/mcp?connection={}", bed.connection);

    let own = users_me_with(&bed, globex_key, &globex_path).await;
    let report = users_me_with(&bed, globex_key, &path).await;
    let crossed = users_me_with(&bed, DEFAULT_KEY, &globex_path).await;
    let client = bed.node.client();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"}}});
    let mcp_headers = [("accept", "application/json, text/event-stream")];
    let (other_tenant, answer) = client
        .with_key(globex_key)
        .request_with_headers("POST", &path, Some(initialize.clone()), &mcp_headers)
        .await;
    let (no_connection, missing) = client
        .request_with_headers("POST", "/mcp", Some(initialize.clone()), &mcp_headers)
        .await;
    let (bad_tools, unknown) = client
        .request_with_headers(
            "POST",
            &format!("{path}&tools=users.me,post.nope"),
            Some(initialize.clone()),
            &mcp_headers,
        )
        .await;
    let unauthenticated = bed
        .node
        .client()
        .raw_post(&path, &initialize.to_string(), &mcp_headers)
        .await;

    let me = &call(&own, "users.me")["result"];
    assert_eq!(
        me["structuredContent"]["user"]["username"], "grace",
        "{own}"
    );
    for refused in [&report, &crossed] {
        assert!(refused.get("failure").is_some(), "{refused}");
        assert!(
            refused.get("tools").is_none(),
            "a tenant listed another's tools: {refused}"
        );
    }
    assert_eq!(other_tenant, 404, "as if it did not exist: {answer}");
    assert_eq!(no_connection, 400);
    assert_eq!(missing["field"], "connection", "{missing}");
    assert_eq!(bad_tools, 400);
    assert_eq!(unknown["field"], "tools");
    assert!(unknown["message"].as_str().unwrap().contains("post.nope"));
    assert_eq!(unauthenticated, 401);
}

/// A subscription to `ada`'s mentions, kept to be fetched, once its first
/// poll has recorded what is there: a mention after it is an event.
async fn subscribe_to_mentions(bed: &Bed) -> String {
    let (status, subscription) = bed
        .node
        .request(
            "POST",
            &format!("/api/v1/connections/{}/subscriptions", bed.connection),
            Some(json!({"trigger": "mention.new", "configuration": {}, "interval_secs": 5})),
        )
        .await;
    assert_eq!(status, 201, "{subscription}");
    let mentions = format!("/2/users/{}/mentions", bed.bed.x.user_id("ada").unwrap());
    let polls = || bed.bed.x.arrivals(&mentions);
    let before = polls();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while polls() == before {
        assert!(std::time::Instant::now() < deadline, "no poll came");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    subscription["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_reads_the_connections_trigger_events_as_resources() {
    let bed = Bed::start().await;
    let sid = subscribe_to_mentions(&bed).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mention = bed.bed.x.post_as("grace", "@ada an event for the agent");
    loop {
        let (_, page) = bed
            .node
            .request(
                "GET",
                &format!("/api/v1/subscriptions/{sid}/events?after=0"),
                None,
            )
            .await;
        if page["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mention was not seen: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let path = format!("/mcp?connection={}", bed.connection);
    let uri = format!("host-harness://subscriptions/{sid}/events");
    let mut plan = bed.over_http(DEFAULT_KEY, &path, "auto", json!([]));
    plan["resources"] = json!(true);
    plan["read"] = json!([
        format!("{uri}?after=1000"),
        "host-harness://subscriptions/sub_someone_elses/events",
    ]);

    let report = python_client(plan).await;

    assert!(report.get("failure").is_none(), "{report}");
    let resources = report["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{report}");
    assert_eq!(resources[0]["uri"], uri.as_str());
    assert_eq!(resources[0]["mimeType"], "application/json");
    let reads = report["reads"].as_array().unwrap();
    let newest: Value =
        serde_json::from_str(reads[0]["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(newest["trigger"], "mention.new");
    let events = newest["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{newest}");
    assert_eq!(
        events[0]["data"]["post"]["id"],
        mention.as_str(),
        "{newest}"
    );
    let later: Value =
        serde_json::from_str(reads[1]["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(later["events"], json!([]), "nothing after a later sequence");
    assert!(
        reads[2].get("error").is_some(),
        "another's subscription: {}",
        reads[2]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_limits_a_connections_tools_for_every_client_of_it() {
    let bed = Bed::start().await;
    let api = bed.node.client();
    let limit_path = format!("/api/v1/connections/{}/mcp-tools", bed.connection);
    let (unlimited, before) = api.request("GET", &limit_path, None).await;
    let (set, limited) = api
        .request("PUT", &limit_path, Some(json!({"tools": "read-only"})))
        .await;
    let (refused, unknown) = api
        .request(
            "PUT",
            &limit_path,
            Some(json!({"tools": "users.me,post.nope"})),
        )
        .await;
    let path = format!("/mcp?connection={}", bed.connection);
    let report = python_client(bed.over_http(
        DEFAULT_KEY,
        &path,
        "auto",
        json!([{"name": "post.create", "arguments": {"text": "beyond the limit"}}]),
    ))
    .await;
    // A client asking for more than the limit gets only what both allow.
    let narrower = python_client(bed.over_http(
        DEFAULT_KEY,
        &format!("{path}&tools=users.me,post.create"),
        "auto",
        json!([]),
    ))
    .await;
    let (lifted, after) = api
        .request("PUT", &limit_path, Some(json!({"tools": "all"})))
        .await;
    let unlimited_again = python_client(bed.over_http(DEFAULT_KEY, &path, "auto", json!([]))).await;

    assert_eq!(unlimited, 200);
    assert_eq!(before["tools"], Value::Null);
    assert_eq!(set, 200);
    assert_eq!(limited["tools"], "read-only");
    assert_eq!(refused, 400);
    assert_eq!(unknown["field"], "tools", "{unknown}");
    let names = |report: &Value| -> Vec<String> {
        report["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{report}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    let listed = names(&report);
    assert!(listed.contains(&"users.me".to_string()));
    assert!(!listed.contains(&"post.create".to_string()), "{listed:?}");
    assert!(call(&report, "post.create").get("result").is_none());
    assert!(
        !bed.bed
            .x
            .posts_of("ada")
            .iter()
            .any(|p| p.text == "beyond the limit")
    );
    assert_eq!(names(&narrower), ["users.me"]);
    assert_eq!(lifted, 200);
    assert_eq!(after["tools"], Value::Null);
    assert_eq!(names(&unlimited_again).len(), action_ids().len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listening_agent_hears_of_new_events_whichever_node_found_them() {
    let bed = Bed::start().await;
    let port = free_port();
    let other = Node::start(
        "B",
        &bed.platform,
        port,
        &format!("http://127.0.0.1:{port}"),
    )
    .await;
    let sid = subscribe_to_mentions(&bed).await;
    let uri = format!("host-harness://subscriptions/{sid}/events");
    let ready = tempfile::tempdir().unwrap();
    let ready_file = ready.path().join("listening");
    let plan = json!({
        "transport": "http",
        "url": format!("{}/mcp?connection={}", other.client().origin, bed.connection),
        "headers": {"Authorization": format!("Bearer {DEFAULT_KEY}")},
        "listen": {"uris": [uri], "ready_file": ready_file, "events": 1, "timeout": 30},
    });

    // The agent listens on node B; a mention arrives once it listens.
    let listening = tokio::spawn(python_client(plan));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !ready_file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the client never listened"
        );
        assert!(
            !listening.is_finished(),
            "the client ended before listening"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bed.bed.x.post_as("grace", "@ada are you listening?");
    let report = listening.await.unwrap();

    assert!(report.get("failure").is_none(), "{report}");
    assert_eq!(report["listened"]["honored"], json!([uri]), "{report}");
    assert_eq!(
        report["listened"]["updated"],
        json!([{"type": "ResourceUpdated", "uri": uri}]),
        "{report}"
    );
}
