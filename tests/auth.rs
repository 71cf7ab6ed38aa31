//! A workflow builder connects X in each of the four ways integration
//! platforms offer, against the emulator; the connection survives token
//! expiry, rotation, concurrency and refusals, and a broken one says why.

mod support;

use base64::Engine;
use credential_store::{AppCredentialLevel, ConnectionStatus, FieldValue};
use host_harness::auth::http::HostHttp;
use host_harness::outgoing::HttpTimeouts;
use host_harness::{ActionError, ConnectError, ConnectRequest, Routes};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::auth::{AuthBed, CALLBACK};
use support::browser::{consent, get, query_of};

const SCOPES: &str = "tweet.read tweet.write users.read offline.access";

/// Posts a form to the emulator's token endpoint, as a client would.
async fn token_endpoint(
    bed: &AuthBed,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form {
        body.append_pair(k, v);
    }
    let mut request = http::Request::post(format!("{}/2/oauth2/token", bed.x.base_url()))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        request = request.header("authorization", format!("Basic {encoded}"));
    }
    let response = HostHttp::new(Routes::default(), HttpTimeouts::default())
        .send(request.body(body.finish().into_bytes()).unwrap())
        .await
        .unwrap();
    (
        response.status().as_u16(),
        serde_json::from_slice(response.body()).unwrap_or_default(),
    )
}

async fn run(bed: &AuthBed, id: &str, action: &str, input: Value) -> Result<Value, ActionError> {
    let connection = bed.manager.connection(id).await.unwrap();
    bed.manager
        .connector()
        .invoke(&connection, action, &input.to_string())
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth2_with_pkce_connects_a_confidential_client_and_its_actions_run() {
    let bed = AuthBed::start().await;

    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;

    let record = bed.store.connection(&id).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Connected);
    assert_eq!(record.account_name.as_deref(), Some("ada"));
    assert_eq!(record.account_id, bed.x.user_id("ada"));
    assert_eq!(
        record.granted_scopes.unwrap().join(" "),
        "offline.access tweet.read tweet.write users.read"
    );
    let me = run(&bed, &id, "users.me", json!({})).await.unwrap();
    assert_eq!(me["user"]["username"], "ada");
    run(
        &bed,
        &id,
        "post.create",
        json!({"text": "Connected through OAuth 2.0."}),
    )
    .await
    .unwrap();
    // The code went to the token URL with HTTP Basic client authentication, and a PKCE verifier.
    let exchange = bed
        .x
        .traffic()
        .into_iter()
        .find(|e| e.path == "/2/oauth2/token")
        .unwrap();
    assert!(
        exchange
            .request_headers
            .iter()
            .any(|(n, v)| n == "authorization" && v == "Basic")
    );
    assert!(String::from_utf8_lossy(&exchange.request_body).contains("code_verifier="));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_client_connects_without_a_secret() {
    let bed = AuthBed::start().await;
    let public = bed.x.register_app("Desktop app", &[CALLBACK], false);
    let form = ConnectRequest {
        method: "oauth2".into(),
        fields: BTreeMap::from([
            ("client_id".into(), public.client_id.clone()),
            ("scopes".into(), SCOPES.into()),
        ]),
        ..Default::default()
    };

    let id = bed.connect_oauth2(&form, "grace").await;

    assert_eq!(
        bed.store
            .connection(&id)
            .await
            .unwrap()
            .account_name
            .as_deref(),
        Some("grace")
    );
    let exchange = bed
        .x
        .traffic()
        .into_iter()
        .find(|e| e.path == "/2/oauth2/token")
        .unwrap();
    assert!(
        !exchange
            .request_headers
            .iter()
            .any(|(n, _)| n == "authorization")
    );
    assert!(
        String::from_utf8_lossy(&exchange.request_body)
            .contains(&format!("client_id={}", public.client_id))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorization_server_enforces_pkce_single_use_codes_and_the_exact_redirect() {
    let bed = AuthBed::start().await;
    let record = bed.manager.create(&bed.oauth2_form(SCOPES)).await.unwrap();
    let pending = bed
        .manager
        .begin_oauth2(&record.id, CALLBACK)
        .await
        .unwrap();
    let code = query_of(&consent(&pending.authorization_url, "ada", true).await)
        .into_iter()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1;
    let secret = bed.app.client_secret.clone().unwrap();
    let basic = Some((bed.app.client_id.as_str(), secret.as_str()));

    let wrong_verifier = token_endpoint(
        &bed,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            (
                "code_verifier",
                "not-the-verifier-not-the-verifier-not-the-verifier",
            ),
        ],
        basic,
    )
    .await;
    let forged_state = bed
        .manager
        .finish_oauth2(
            &record.id,
            pending,
            &[("state".into(), "forged".into()), ("code".into(), code)],
        )
        .await;

    assert_eq!(wrong_verifier.0, 400);
    assert_eq!(wrong_verifier.1["error"], "invalid_grant");
    // The state does not match: refused before any exchange.
    assert!(
        matches!(&forged_state, Err(ConnectError::Auth(e)) if e.to_string().contains("state")),
        "{forged_state:?}"
    );
    assert_eq!(
        bed.store.connection(&record.id).await.unwrap().status,
        ConnectionStatus::Pending
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_used_authorization_code_cannot_be_used_again() {
    let bed = AuthBed::start().await;
    let record = bed.manager.create(&bed.oauth2_form(SCOPES)).await.unwrap();
    let pending = bed
        .manager
        .begin_oauth2(&record.id, CALLBACK)
        .await
        .unwrap();
    let query = query_of(&consent(&pending.authorization_url, "ada", true).await);
    let code = query.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    bed.manager
        .finish_oauth2(&record.id, pending, &query)
        .await
        .unwrap();
    let secret = bed.app.client_secret.clone().unwrap();

    let again = token_endpoint(
        &bed,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", "anything"),
        ],
        Some((&bed.app.client_id, &secret)),
    )
    .await;

    assert_eq!(again.0, 400);
    assert_eq!(again.1["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_that_expired_before_its_exchange_is_explained_as_a_slow_sign_in() {
    let bed = AuthBed::start().await;
    let record = bed.manager.create(&bed.oauth2_form(SCOPES)).await.unwrap();
    let pending = bed
        .manager
        .begin_oauth2(&record.id, CALLBACK)
        .await
        .unwrap();
    let query = query_of(&consent(&pending.authorization_url, "ada", true).await);
    // The user left the page open: X's codes last thirty seconds.
    bed.x.clock().advance(std::time::Duration::from_secs(60));

    let failed = bed
        .manager
        .finish_oauth2(&record.id, pending, &query)
        .await
        .unwrap_err();
    bed.store
        .set_status(
            &record.id,
            ConnectionStatus::NeedsReconnect,
            Some(&failed.to_string()),
        )
        .await
        .unwrap();
    let report = bed.manager.test(&record.id).await.unwrap();

    assert!(
        failed.to_string().contains("authorization code"),
        "{failed}"
    );
    let advice = report.advice.join(" ");
    assert!(advice.contains("took too long"), "{advice}");
    assert!(!advice.contains("refresh token"), "{advice}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_that_names_another_provider_is_refused_before_the_code_is_used() {
    let bed = AuthBed::start().await;
    let mut outcomes = Vec::new();
    for issuer in ["https://login.evil.example", "https://x.com/"] {
        let record = bed.manager.create(&bed.oauth2_form(SCOPES)).await.unwrap();
        let pending = bed
            .manager
            .begin_oauth2(&record.id, CALLBACK)
            .await
            .unwrap();
        let mut query = query_of(&consent(&pending.authorization_url, "ada", true).await);
        query.push(("iss".into(), issuer.into()));
        outcomes.push(bed.manager.finish_oauth2(&record.id, pending, &query).await);
    }

    let mix_up = outcomes[0].as_ref().unwrap_err().to_string();
    assert!(mix_up.contains("login.evil.example"), "{mix_up}");
    assert!(mix_up.contains("mix-up"), "{mix_up}");
    assert_eq!(
        bed.token_requests("authorization_code"),
        1,
        "the refused code was sent"
    );
    // X's own name, the origin of its sign-in page, is accepted.
    assert!(outcomes[1].is_ok(), "{:?}", outcomes[1].as_ref().err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_url_that_is_not_registered_stops_the_sign_in_and_test_names_the_url_to_register()
 {
    let bed = AuthBed::start().await;
    let record = bed.manager.create(&bed.oauth2_form(SCOPES)).await.unwrap();
    let pending = bed
        .manager
        .begin_oauth2(&record.id, "http://127.0.0.1:9999/callback")
        .await
        .unwrap();

    let (status, _, page) = get(&pending.authorization_url).await;
    let report = bed.manager.test(&record.id).await.unwrap();

    assert_eq!(status, 400);
    assert!(page.contains("Something went wrong"));
    assert!(!report.ok);
    assert!(
        report.advice.iter().any(|a| a.contains("http://127.0.0.1:9999/callback") && a.contains("register exactly")),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_consent_leaves_the_connection_pending() {
    let bed = AuthBed::start().await;
    let record = bed.manager.create(&bed.oauth2_form(SCOPES)).await.unwrap();
    let pending = bed
        .manager
        .begin_oauth2(&record.id, CALLBACK)
        .await
        .unwrap();

    let location = consent(&pending.authorization_url, "ada", false).await;
    let result = bed
        .manager
        .finish_oauth2(&record.id, pending, &query_of(&location))
        .await;

    match result {
        Err(ConnectError::Auth(e)) => assert!(e.to_string().contains("access_denied"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        bed.store.connection(&record.id).await.unwrap().status,
        ConnectionStatus::Pending
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_access_token_is_refreshed_before_use_and_the_refresh_token_rotates() {
    let bed = AuthBed::start().await;
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    let first_refresh_token = bed.refresh_token(&id).await;
    bed.expire_access_token(&id).await;

    run(&bed, &id, "users.me", json!({})).await.unwrap();
    bed.expire_access_token(&id).await;
    run(&bed, &id, "users.me", json!({})).await.unwrap();

    assert_eq!(bed.token_requests("refresh_token"), 2);
    assert_eq!(bed.manager.token_stats().refreshes, 2);
    let rotated = bed.refresh_token(&id).await;
    assert_ne!(
        rotated, first_refresh_token,
        "the new refresh token was not stored"
    );
    assert_eq!(
        bed.x.reuses_detected(),
        0,
        "a used refresh token was sent again"
    );
    let stored = bed.stored_tokens(&id).await;
    let issued_at = stored.access_issued_at.expect("the issue time is kept");
    assert_eq!(stored.access_expires_at, Some(issued_at + 7200));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_used_refresh_token_presented_again_ends_the_authorization_and_the_host_says_so() {
    let bed = AuthBed::start().await;
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    let first_refresh_token = bed.refresh_token(&id).await;
    bed.expire_access_token(&id).await;
    run(&bed, &id, "users.me", json!({})).await.unwrap();

    // Someone presents the spent refresh token again: X, like every strict
    // provider, revokes the whole authorization, the rotated tokens too.
    let secret = bed.app.client_secret.clone().unwrap();
    let reused = token_endpoint(
        &bed,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh_token),
        ],
        Some((&bed.app.client_id, &secret)),
    )
    .await;
    let refused = run(&bed, &id, "users.me", json!({})).await.unwrap_err();

    assert_eq!(reused.0, 400);
    assert_eq!(reused.1["error"], "invalid_grant");
    assert_eq!(bed.x.reuses_detected(), 1);
    assert!(
        matches!(&refused, ActionError::Unauthorized { reason } if reason.contains("invalid_grant")),
        "{refused:?}"
    );
    assert_eq!(
        bed.store.connection(&id).await.unwrap().status,
        ConnectionStatus::NeedsReconnect
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_shorter_than_the_refresh_margin_is_refreshed_once_per_lifetime_not_per_action() {
    let bed = AuthBed::start().await;
    // A provider that issues four-second tokens, shorter than the two
    // minutes before expiry at which X's two-hour tokens are renewed.
    bed.x
        .set_access_token_lifetime(std::time::Duration::from_secs(4));
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;

    let started = std::time::Instant::now();
    let mut actions = 0;
    while started.elapsed() < std::time::Duration::from_secs(7) {
        run(&bed, &id, "users.me", json!({})).await.unwrap();
        actions += 1;
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }

    let refreshes = bed.manager.token_stats().refreshes;
    assert!(actions >= 20, "only {actions} actions ran");
    assert!(
        (1..=3).contains(&refreshes),
        "{refreshes} refreshes for {actions} actions over two token lifetimes"
    );
    assert_eq!(bed.token_requests("refresh_token") as u64, refreshes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_the_api_refuses_is_refreshed_and_the_request_sent_once_more() {
    let bed = AuthBed::start().await;
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    // Two hours pass at X: the access token expired there, not yet for the host.
    bed.x
        .clock()
        .advance(std::time::Duration::from_secs(2 * 3600 + 60));

    let out = run(
        &bed,
        &id,
        "post.create",
        json!({"text": "Sent after a refresh."}),
    )
    .await
    .unwrap();

    assert_eq!(out["post"]["text"], "Sent after a refresh.");
    assert_eq!(bed.token_requests("refresh_token"), 1);
    let posts: Vec<_> = bed
        .x
        .posts_of("ada")
        .into_iter()
        .filter(|p| p.text == "Sent after a refresh.")
        .collect();
    assert_eq!(posts.len(), 1, "the post was created {} times", posts.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_actions_on_an_expired_token_cause_one_refresh() {
    let bed = AuthBed::start().await;
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    bed.expire_access_token(&id).await;
    let connection = bed.manager.connection(&id).await.unwrap();

    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (connector, connection) = (bed.manager.connector().clone(), connection.clone());
        runs.spawn(async move { connector.invoke(&connection, "timeline.home", "{}").await });
    }
    let results = runs.join_all().await;

    assert_eq!(results.len(), 100);
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    assert_eq!(bed.token_requests("refresh_token"), 1);
    assert_eq!(bed.manager.token_stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_refresh_token_marks_the_connection_for_reconnection() {
    let bed = AuthBed::start().await;
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    // Another client used the refresh token: the stored one is spent.
    let secret = bed.app.client_secret.clone().unwrap();
    let stolen = bed.refresh_token(&id).await;
    let (status, _) = token_endpoint(
        &bed,
        &[("grant_type", "refresh_token"), ("refresh_token", &stolen)],
        Some((&bed.app.client_id, &secret)),
    )
    .await;
    assert_eq!(status, 200);
    bed.expire_access_token(&id).await;

    let first = run(&bed, &id, "users.me", json!({})).await.unwrap_err();
    let requests_before = bed.x.traffic().len();
    let second = run(&bed, &id, "users.me", json!({})).await.unwrap_err();
    let report = bed.manager.test(&id).await.unwrap();

    assert!(
        matches!(&first, ActionError::Unauthorized { reason } if reason.contains("invalid_grant")),
        "{first:?}"
    );
    assert!(matches!(second, ActionError::Unauthorized { .. }));
    assert_eq!(
        bed.x.traffic().len(),
        requests_before,
        "a connection that needs reconnecting still called X"
    );
    assert_eq!(
        bed.store.connection(&id).await.unwrap().status,
        ConnectionStatus::NeedsReconnect
    );
    assert!(!report.ok);
    assert!(
        report.advice.iter().any(|a| a.contains("reconnect")),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_client_secret_is_explained() {
    let bed = AuthBed::start().await;
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    bed.x.rotate_client_secret(&bed.app.client_id);

    let error = run(&bed, &id, "users.me", json!({})).await.unwrap_err();
    let report = bed.manager.test(&id).await.unwrap();

    assert!(
        matches!(&error, ActionError::Unauthorized { reason } if reason.contains("invalid_client")),
        "{error:?}"
    );
    assert_eq!(
        bed.store.connection(&id).await.unwrap().status,
        ConnectionStatus::NeedsReconnect
    );
    assert!(
        report
            .advice
            .iter()
            .any(|a| a.contains("Client ID or Client Secret is wrong, or the secret was rotated")),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_client_secret_fails_the_sign_in_with_its_explanation() {
    let bed = AuthBed::start().await;
    let mut form = bed.oauth2_form(SCOPES);
    form.fields
        .insert("client_secret".into(), "wrong-secret".into());
    let record = bed.manager.create(&form).await.unwrap();
    let pending = bed
        .manager
        .begin_oauth2(&record.id, CALLBACK)
        .await
        .unwrap();
    let location = consent(&pending.authorization_url, "ada", true).await;

    let error = bed
        .manager
        .finish_oauth2(&record.id, pending, &query_of(&location))
        .await
        .unwrap_err();

    match error {
        ConnectError::Auth(e) => assert_eq!(e.code(), Some("invalid_client"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_after_a_successful_connect_are_named() {
    let bed = AuthBed::start().await;
    let id = bed
        .connect_oauth2(
            &bed.oauth2_form("tweet.read users.read offline.access"),
            "ada",
        )
        .await;
    let id_without_users = {
        let record = bed
            .manager
            .create(&bed.oauth2_form("tweet.read offline.access"))
            .await
            .unwrap();
        let pending = bed
            .manager
            .begin_oauth2(&record.id, CALLBACK)
            .await
            .unwrap();
        let location = consent(&pending.authorization_url, "ada", true).await;
        let _ = bed
            .manager
            .finish_oauth2(&record.id, pending, &query_of(&location))
            .await;
        record.id
    };

    let reading = bed.manager.test(&id).await.unwrap();
    bed.store
        .set_status(&id_without_users, ConnectionStatus::Connected, None)
        .await
        .unwrap();
    let refused = bed.manager.test(&id_without_users).await.unwrap();

    assert!(reading.ok);
    assert_eq!(
        reading.actions_missing_scopes.get("post.create"),
        Some(&vec!["tweet.write".to_string()])
    );
    assert!(!refused.ok);
    assert!(
        refused
            .advice
            .iter()
            .any(|a| a.contains("Scopes are missing: users.read")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_forgets_the_tokens_and_x_no_longer_accepts_them() {
    let bed = AuthBed::start().await;
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    let refresh_token = bed.refresh_token(&id).await;

    bed.manager.revoke(&id).await.unwrap();

    assert_eq!(
        bed.store.connection(&id).await.unwrap().status,
        ConnectionStatus::Revoked
    );
    assert!(bed.store.tokens(&id).await.unwrap().is_none());
    let secret = bed.app.client_secret.clone().unwrap();
    let (status, _) = token_endpoint(
        &bed,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
        Some((&bed.app.client_id, &secret)),
    )
    .await;
    assert_eq!(status, 400);
    assert!(matches!(
        run(&bed, &id, "users.me", json!({})).await,
        Err(ActionError::Unauthorized { .. })
    ));
    bed.manager.delete(&id).await.unwrap();
    assert!(bed.manager.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn app_only_credentials_fetch_cache_and_renew_the_app_token() {
    let bed = AuthBed::start().await;
    let record = bed
        .manager
        .create(&ConnectRequest {
            method: "app_only".into(),
            fields: BTreeMap::from([
                ("client_id".into(), bed.app.api_key.clone()),
                ("client_secret".into(), bed.app.api_secret.clone()),
            ]),
            ..Default::default()
        })
        .await
        .unwrap();
    bed.manager.activate(&record.id).await.unwrap();

    run(
        &bed,
        &record.id,
        "search.recent",
        json!({"query": "engine"}),
    )
    .await
    .unwrap();
    run(&bed, &record.id, "search.recent", json!({"query": "ship"}))
        .await
        .unwrap();
    assert_eq!(
        bed.token_requests("client_credentials"),
        1,
        "the app token was not cached"
    );
    bed.x.invalidate_app_tokens(&bed.app.api_key);
    let renewed = run(
        &bed,
        &record.id,
        "search.recent",
        json!({"query": "engine"}),
    )
    .await;
    let user_action = run(&bed, &record.id, "post.create", json!({"text": "no"}))
        .await
        .unwrap_err();

    assert!(renewed.is_ok(), "{renewed:?}");
    assert_eq!(bed.token_requests("client_credentials"), 2);
    assert!(
        matches!(user_action, ActionError::Forbidden { .. }),
        "{user_action:?}"
    );
    assert!(bed.manager.test(&record.id).await.unwrap().ok);
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth1_signs_in_three_legged_and_signs_every_request() {
    let bed = AuthBed::start().await;
    let record = bed
        .manager
        .create(&ConnectRequest {
            method: "oauth1".into(),
            fields: BTreeMap::from([
                ("api_key".into(), bed.app.api_key.clone()),
                ("api_secret".into(), bed.app.api_secret.clone()),
            ]),
            ..Default::default()
        })
        .await
        .unwrap();

    let pending = bed
        .manager
        .begin_oauth1(&record.id, CALLBACK)
        .await
        .unwrap();
    let location = consent(&pending.authorization_url, "alan", true).await;
    let connected = bed
        .manager
        .finish_oauth1(&record.id, pending, &query_of(&location))
        .await
        .unwrap();
    let posted = run(
        &bed,
        &record.id,
        "post.create",
        json!({"text": "Signed with OAuth 1.0a."}),
    )
    .await
    .unwrap();
    let searched = run(
        &bed,
        &record.id,
        "search.recent",
        json!({"query": "from:alan signed"}),
    )
    .await
    .unwrap();

    assert_eq!(connected.account_name.as_deref(), Some("alan"));
    assert_eq!(posted["post"]["text"], "Signed with OAuth 1.0a.");
    assert_eq!(searched["result_count"], 1);
    let api_calls: Vec<_> = bed
        .x
        .traffic()
        .into_iter()
        .filter(|e| e.path.starts_with("/2/"))
        .collect();
    assert!(api_calls.iter().all(|e| {
        e.request_headers
            .iter()
            .any(|(n, v)| n == "authorization" && v == "OAuth")
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth1_with_a_wrong_api_secret_is_refused_and_explained() {
    let bed = AuthBed::start().await;
    let record = bed
        .manager
        .create(&ConnectRequest {
            method: "oauth1".into(),
            fields: BTreeMap::from([
                ("api_key".into(), bed.app.api_key.clone()),
                ("api_secret".into(), "wrong".into()),
            ]),
            ..Default::default()
        })
        .await
        .unwrap();

    let error = bed
        .manager
        .begin_oauth1(&record.id, CALLBACK)
        .await
        .unwrap_err();

    match error {
        ConnectError::Auth(e) => assert_eq!(e.code(), Some("invalid_client"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pasted_bearer_token_connects_and_records_its_account() {
    let bed = AuthBed::start().await;
    let token = bed.x.issue_user_token("grace", support::DEFAULT_SCOPES);
    let record = bed
        .manager
        .create(&ConnectRequest {
            method: "bearer".into(),
            fields: BTreeMap::from([("bearer_token".into(), token)]),
            ..Default::default()
        })
        .await
        .unwrap();

    let connected = bed.manager.activate(&record.id).await.unwrap();
    bed.x.revoke_token(&bed.stored_bearer(&record.id).await);
    let refused = run(&bed, &record.id, "users.me", json!({}))
        .await
        .unwrap_err();

    assert_eq!(connected.account_name.as_deref(), Some("grace"));
    assert!(matches!(refused, ActionError::Unauthorized { .. }));
    assert_eq!(
        bed.store.connection(&record.id).await.unwrap().status,
        ConnectionStatus::NeedsReconnect
    );
}

trait StoredBearer {
    async fn stored_bearer(&self, id: &str) -> String;
}

impl StoredBearer for AuthBed {
    async fn stored_bearer(&self, id: &str) -> String {
        use secrecy::ExposeSecret;
        match &self.store.connection(id).await.unwrap().fields["bearer_token"] {
            FieldValue::Secret(s) => s.expose_secret().to_string(),
            FieldValue::Plain(p) => p.clone(),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn app_credentials_set_once_are_used_by_connections_and_brands_override_them() {
    let bed = AuthBed::start().await;
    let other = bed.x.register_app("Acme brand app", &[CALLBACK], true);
    let set = async |level: AppCredentialLevel, keys: &x_emulator::AppKeys| {
        bed.store
            .set_app_credentials(
                "x",
                "oauth2",
                &level,
                &BTreeMap::from([
                    (
                        "client_id".into(),
                        FieldValue::Plain(keys.client_id.clone()),
                    ),
                    (
                        "client_secret".into(),
                        FieldValue::Secret(SecretString::from(keys.client_secret.clone().unwrap())),
                    ),
                ]),
            )
            .await
            .unwrap()
    };
    set(AppCredentialLevel::Default, &bed.app).await;
    set(AppCredentialLevel::Brand("acme".into()), &other).await;
    let blank_form = |brand: Option<&str>| ConnectRequest {
        method: "oauth2".into(),
        brand: brand.map(str::to_string),
        fields: BTreeMap::from([
            ("client_id".into(), "".into()),
            ("scopes".into(), SCOPES.into()),
        ]),
        ..Default::default()
    };

    bed.connect_oauth2(&blank_form(None), "ada").await;
    bed.connect_oauth2(&blank_form(Some("acme")), "grace").await;

    let client_ids: Vec<String> = bed
        .x
        .traffic()
        .iter()
        .filter(|e| e.path == "/i/oauth2/authorize" && e.method == "GET")
        .map(|e| {
            query_of(&format!("?{}", e.query.clone().unwrap()))
                .into_iter()
                .find(|(k, _)| k == "client_id")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(
        client_ids,
        vec![bed.app.client_id.clone(), other.client_id.clone()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_with_a_bad_field_is_refused_naming_it() {
    let bed = AuthBed::start().await;
    let mut unknown = bed.oauth2_form(SCOPES);
    unknown
        .fields
        .insert("favourite_colour".into(), "red".into());
    let mut fixed = bed.oauth2_form(SCOPES);
    fixed
        .fields
        .insert("token_url".into(), "https://evil.example/token".into());
    let mut bad_scope = bed.oauth2_form("tweet.read teleport.write");
    bad_scope.fields.remove("client_secret");
    let no_client = ConnectRequest {
        method: "oauth2".into(),
        ..Default::default()
    };
    let no_method = ConnectRequest {
        method: "carrier-pigeon".into(),
        ..Default::default()
    };

    let mut errors = Vec::new();
    for form in [unknown, fixed, bad_scope, no_client, no_method] {
        errors.push(bed.manager.create(&form).await.unwrap_err().to_string());
    }

    assert!(errors[0].contains("favourite_colour"), "{}", errors[0]);
    assert!(
        errors[1].contains("token_url") && errors[1].contains("fixed"),
        "{}",
        errors[1]
    );
    assert!(errors[2].contains("teleport.write"), "{}", errors[2]);
    assert!(errors[3].contains("client_id"), "{}", errors[3]);
    assert!(
        errors[4].contains("carrier-pigeon") && errors[4].contains("oauth2"),
        "{}",
        errors[4]
    );
    assert!(
        bed.manager.list().await.unwrap().is_empty(),
        "a refused form left a connection behind"
    );
}
