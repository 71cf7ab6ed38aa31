//! The connector this binary ships with: the X connector component, its
//! manifest and demo workflow from `manifests/`, and the local X API
//! emulator it runs against when no real credentials are given.
//!
//! This is the only place the command line names a particular connector; the
//! host library behind it knows none.

use host_harness::ConnectionFacts;
use host_harness::manifest::AuthKind;
use secrecy::SecretString;

/// The X connector's manifest.
pub const MANIFEST: &str = include_str!("../../../manifests/x.json");

/// The demo workflow.
pub const DEMO: &str = include_str!("../../../manifests/x.demo.json");

/// The X connector component.
pub fn component() -> &'static [u8] {
    component_artifacts::x_connector()
}

/// The emulator account the demo connects as.
pub const DEMO_ACCOUNT: &str = "ada";

/// Scopes the demo connection is granted: those of the manifest's OAuth 2.0
/// defaults that the demo's actions need.
const DEMO_SCOPES: &[&str] = &[
    "tweet.read",
    "tweet.write",
    "users.read",
    "offline.access",
    "media.write",
];

/// A running emulator and a connection to its demo account.
pub struct LocalX {
    pub emulator: x_emulator::Emulator,
    pub facts: ConnectionFacts,
    pub token: SecretString,
}

/// Starts the emulator and connects its demo account as an OAuth 2.0 user.
pub async fn start_emulator() -> std::io::Result<LocalX> {
    let emulator = x_emulator::Emulator::start().await?;
    let token = SecretString::from(emulator.issue_user_token(DEMO_ACCOUNT, DEMO_SCOPES));
    let facts = ConnectionFacts {
        id: "local-x-demo".into(),
        auth_kind: AuthKind::Oauth2AuthorizationCode,
        granted_scopes: Some(DEMO_SCOPES.iter().map(|s| s.to_string()).collect()),
        account_id: emulator.user_id(DEMO_ACCOUNT),
        account_facts: Default::default(),
    };
    Ok(LocalX {
        emulator,
        facts,
        token,
    })
}

/// An emulator for `serve`: a developer app registered with `callback_url`,
/// its keys set as the host's default app credentials so that the form's
/// Client ID and Secret may be left blank.
pub async fn start_for_serve(
    store: &credential_store::Store,
    manifest: &host_harness::Manifest,
    callback_url: &str,
) -> std::io::Result<(x_emulator::Emulator, host_harness::Routes)> {
    use credential_store::{AppCredentialLevel, FieldValue};
    use std::collections::BTreeMap;

    let emulator = x_emulator::Emulator::start().await?;
    let app = emulator.register_app("host-harness serve", &[callback_url], true);
    let origin = host_harness::Origin::parse(&emulator.base_url())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Every host of the manifest: the API, and the sign-in pages and token
    // endpoints its auth methods name.
    let routes = host_harness::Routes::all_hosts_of(manifest, &origin);
    let secret = |s: &str| FieldValue::Secret(SecretString::from(s.to_string()));
    let plain = |s: &str| FieldValue::Plain(s.to_string());
    let presets: [(&str, BTreeMap<String, FieldValue>); 3] = [
        (
            "oauth2",
            BTreeMap::from([
                ("client_id".into(), plain(&app.client_id)),
                (
                    "client_secret".into(),
                    secret(app.client_secret.as_deref().unwrap_or_default()),
                ),
            ]),
        ),
        (
            "app_only",
            BTreeMap::from([
                ("client_id".into(), plain(&app.api_key)),
                ("client_secret".into(), secret(&app.api_secret)),
            ]),
        ),
        (
            "oauth1",
            BTreeMap::from([
                ("api_key".into(), plain(&app.api_key)),
                ("api_secret".into(), secret(&app.api_secret)),
            ]),
        ),
    ];
    for (method, fields) in presets {
        store
            .set_app_credentials(&manifest.id, method, &AppCredentialLevel::Default, &fields)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok((emulator, routes))
}
