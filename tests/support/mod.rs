//! What the end-to-end tests share: the X connector loaded once per test
//! process, a fresh emulator per test, connections to its accounts, and the
//! checks every test makes of outputs and traffic.

#![allow(dead_code)]

pub mod auth;
pub mod browser;
pub mod nodes;
pub mod npm;
pub mod openapi;
pub mod postgres;
pub mod proxy;
pub mod python;
pub mod web;

use host_harness::manifest::AuthKind;
use host_harness::{
    ActionError, Connection, ConnectionFacts, HostConfig, LoadedConnector, Manifest, Origin,
    Runtime,
};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::OnceCell;
use x_emulator::Emulator;

/// The X connector's manifest, as installed.
pub const X_MANIFEST: &str = include_str!("../../manifests/x.json");

/// Scopes the manifest's OAuth 2.0 method asks for by default.
pub const DEFAULT_SCOPES: &[&str] = &[
    "tweet.read",
    "tweet.write",
    "users.read",
    "offline.access",
    "media.write",
];

/// The X connector, compiled and described once per test process.
pub async fn x_connector() -> LoadedConnector {
    static LOADED: OnceCell<LoadedConnector> = OnceCell::const_new();
    LOADED
        .get_or_init(|| async {
            let runtime = Runtime::new(HostConfig::default()).expect("the runtime starts");
            let manifest = Manifest::from_json(X_MANIFEST).expect("the X manifest is valid");
            runtime
                .load(component_artifacts::x_connector(), manifest)
                .await
                .expect("the X connector loads")
        })
        .await
        .clone()
}

/// The X connector on `transport` (a test CA, a proxy), its API hosts
/// routed to the emulator.
pub async fn x_connector_on(
    x: &Emulator,
    transport: host_harness::transport::Transport,
) -> (LoadedConnector, host_harness::Routes) {
    let manifest = Manifest::from_json(X_MANIFEST).unwrap();
    let routes =
        host_harness::Routes::all_hosts_of(&manifest, &Origin::parse(&x.base_url()).unwrap());
    let mut connector = x_connector().await.with_config(HostConfig {
        transport: std::sync::Arc::new(transport),
        ..HostConfig::default()
    });
    connector.set_routes(routes.clone());
    (connector, routes)
}

/// An emulator and the connector routed to it.
pub struct XBed {
    pub x: Emulator,
    pub connector: LoadedConnector,
    /// `ada`, connected with OAuth 2.0 and the default scopes.
    pub ada: Connection,
}

impl XBed {
    pub async fn start() -> XBed {
        let x = Emulator::start().await.expect("the emulator starts");
        let mut connector = x_connector().await;
        connector.route_api_hosts(&Origin::parse(&x.base_url()).unwrap());
        let ada = oauth_connection(&x, "ada", DEFAULT_SCOPES);
        XBed { x, connector, ada }
    }

    /// Runs `action` as `ada`; a successful output must fit the action's
    /// output schema.
    pub async fn run(&self, action: &str, input: Value) -> Result<Value, ActionError> {
        self.run_as(&self.ada, action, input).await
    }

    /// Runs `action` on `connection`; a successful output must fit the
    /// action's output schema.
    pub async fn run_as(
        &self,
        connection: &Connection,
        action: &str,
        input: Value,
    ) -> Result<Value, ActionError> {
        let result = self
            .connector
            .invoke(connection, action, &input.to_string())
            .await;
        if let Ok(output) = &result {
            assert_fits_output_schema(&self.connector, action, output);
        }
        result
    }

    /// Runs `action` and expects it to succeed.
    pub async fn ok(&self, action: &str, input: Value) -> Value {
        match self.run(action, input).await {
            Ok(v) => v,
            Err(e) => panic!("{action} failed: {e:?}"),
        }
    }

    /// Runs `action` and expects it to fail.
    pub async fn err(&self, action: &str, input: Value) -> ActionError {
        match self.run(action, input).await {
            Ok(v) => panic!("{action} succeeded where it should fail: {v}"),
            Err(e) => e,
        }
    }

    /// Every exchange so far fits X's OpenAPI specification.
    pub fn assert_traffic_conforms(&self) {
        openapi::assert_conforms(&self.x.traffic());
    }
}

/// A user-context OAuth 2.0 connection to `username` with `scopes`, with
/// what a host records at connect time (the account's id and
/// subscription).
pub fn oauth_connection(x: &Emulator, username: &str, scopes: &[&str]) -> Connection {
    let subscription = x.subscription_type(username).unwrap_or_default();
    let facts = [("subscription_type".to_string(), subscription)];
    oauth_connection_with_facts(x, username, scopes, facts.into_iter().collect())
}

/// The same, with `account_facts` as the host recorded them (none, for a
/// connection made before the host recorded facts).
pub fn oauth_connection_with_facts(
    x: &Emulator,
    username: &str,
    scopes: &[&str],
    account_facts: std::collections::BTreeMap<String, String>,
) -> Connection {
    let token = x.issue_user_token(username, scopes);
    Connection::bearer(
        ConnectionFacts {
            id: format!("oauth-{username}"),
            auth_kind: AuthKind::Oauth2AuthorizationCode,
            granted_scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
            account_id: x.user_id(username),
            account_facts,
        },
        SecretString::from(token),
    )
}

/// A pasted bearer token: the host knows neither its scopes nor its account.
pub fn pasted_token_connection(token: String) -> Connection {
    Connection::bearer(
        ConnectionFacts {
            id: "pasted".into(),
            auth_kind: AuthKind::BearerToken,
            granted_scopes: None,
            account_id: None,
            account_facts: Default::default(),
        },
        SecretString::from(token),
    )
}

pub fn assert_fits_output_schema(connector: &LoadedConnector, action: &str, output: &Value) {
    let schema = &connector
        .descriptor()
        .action(action)
        .unwrap_or_else(|| panic!("no action {action}"))
        .output_schema;
    let validator = jsonschema::validator_for(schema).expect("the output schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(output)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{action} output does not fit its schema: {errors:?}\n{output:#}"
    );
}

/// A 256-byte file that starts as a PNG does, base64-encoded: enough for
/// `media.upload` to take it as an image.
pub fn tiny_png_base64() -> String {
    use base64::Engine;
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(256, 7);
    base64::engine::general_purpose::STANDARD.encode(png)
}

/// A name as one could be stored before names were checked: a terminal
/// hyperlink (OSC 8), a forged listing row after CR LF, NUL, BEL and
/// backspace.
pub const HOSTILE_NAME: &str =
    "Ada\u{1b}]8;;https://evil.example\u{7}click\u{1b}]8;;\u{7}\r\nconn_fake0  pending\0\u{8}";

/// A bearer connection with [`HOSTILE_NAME`] and a brand that clears the
/// screen, written to the store directly, past every check.
pub fn hostile_connection() -> credential_store::NewConnection {
    credential_store::NewConnection {
        connector: "x".into(),
        method: "bearer".into(),
        auth_kind: "bearer-token".into(),
        name: HOSTILE_NAME.into(),
        brand: Some("acme\u{1b}[2J".into()),
        fields: Default::default(),
        tenant_id: None,
        end_user: None,
        quiet: false,
    }
}
