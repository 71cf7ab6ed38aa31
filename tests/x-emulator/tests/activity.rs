//! Webhooks and X Activity subscriptions, as an app written to X's
//! documentation uses them: it runs a receiver that answers X's CRC, registers
//! it, subscribes to a user's follows, and gets each follow pushed, signed
//! with its API Key Secret; a push it missed comes back with a replay, and a
//! receiver that stops answering the CRC stops getting events.
//!
//! Everything goes over real HTTP on loopback, and every exchange with the
//! emulator is checked against X's OpenAPI specification.

#[allow(dead_code)]
#[path = "../../support/openapi.rs"]
mod openapi;
mod support;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{Duration as Minutes, DurationRound};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{call, send};
use x_emulator::{AppKeys, Emulator};

/// The callback URL of the apps that sign users in with OAuth 1.0a.
const CALLBACK: &str = "http://127.0.0.1/callback";

/// Scopes ada grants the app in these stories.
const ADA_SCOPES: &[&str] = &["tweet.read", "dm.read", "users.read", "follows.read"];

// ---------------------------------------------------------------------------
// The stories.

#[tokio::test]
async fn registering_a_webhook_runs_a_crc_against_the_receiver() {
    // Arrange: an app and a receiver that knows its API Key Secret.
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let bearer = x.issue_app_token_for(&app);
    let receiver = Receiver::start(&app.api_secret).await;

    // Act
    let (status, created) = call(
        &x,
        "POST",
        "/2/webhooks",
        &bearer,
        Some(json!({ "url": receiver.url })),
    )
    .await;

    // Assert: X called the receiver once with a challenge, and answers the
    // new webhook both as its specification and as its guides show it.
    assert_eq!(status, 200, "{created}");
    assert_eq!(receiver.crcs(), 1);
    let id = created["id"].as_str().expect("an id").to_string();
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert_eq!(created["url"], json!(receiver.url));
    assert_eq!(created["valid"], json!(true));
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["data"]["id"], json!(id));
    assert_eq!(x.webhooks().len(), 1);
    assert!(x.webhooks()[0].valid);

    let (status, listed) = call(&x, "GET", "/2/webhooks", &bearer, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["meta"]["result_count"], json!(1));
    assert_eq!(listed["data"][0]["id"], json!(id));
    assert_eq!(listed["data"][0]["valid"], json!(true));

    // Another app sees none of it.
    let other = x.register_app("Other", &[], true);
    let (_, theirs) = call(
        &x,
        "GET",
        "/2/webhooks",
        &x.issue_app_token_for(&other),
        None,
    )
    .await;
    assert_eq!(theirs, json!({ "meta": { "result_count": 0 } }));
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn a_receiver_that_answers_the_crc_wrongly_gets_no_webhook() {
    // Arrange: a receiver signing with the wrong secret.
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let bearer = x.issue_app_token_for(&app);
    let receiver = Receiver::start("not the API Key Secret").await;

    // Act
    let (status, problem) = call(
        &x,
        "POST",
        "/2/webhooks",
        &bearer,
        Some(json!({ "url": receiver.url })),
    )
    .await;

    // Assert
    assert_eq!(status, 400, "{problem}");
    assert_eq!(receiver.crcs(), 1);
    assert!(
        problem.to_string().contains("CrcValidationFailed"),
        "{problem}"
    );
    assert!(x.webhooks().is_empty());
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn only_https_urls_without_a_port_and_loopback_receivers_are_taken() {
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let bearer = x.issue_app_token_for(&app);

    for url in [
        "http://example.com/webhooks/x",
        "https://example.com:5000/webhooks/x",
        "http://10.0.0.1:8080/webhooks/x",
    ] {
        let (status, problem) = call(
            &x,
            "POST",
            "/2/webhooks",
            &bearer,
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(status, 400, "{url}: {problem}");
        assert_eq!(
            problem["errors"][0]["parameters"]["url"],
            json!([url]),
            "{problem}"
        );
        assert!(
            problem.to_string().contains("UrlValidationFailed"),
            "{problem}"
        );
    }
    // A well-formed https URL is taken, and fails its CRC: the emulator
    // calls nothing beyond loopback.
    let (status, problem) = call(
        &x,
        "POST",
        "/2/webhooks",
        &bearer,
        Some(json!({ "url": "https://example.com/webhooks/x" })),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        problem.to_string().contains("CrcValidationFailed"),
        "{problem}"
    );
    assert!(x.webhooks().is_empty());
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn a_webhook_body_is_refused_naming_what_is_wrong_with_it() {
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let bearer = x.issue_app_token_for(&app);

    let (status, problem) = call(
        &x,
        "POST",
        "/2/webhooks",
        &bearer,
        Some(json!({ "url": "https://example.com/x", "secret": "s" })),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("$.secret:"),
        "{problem}"
    );

    let (status, problem) = call(&x, "POST", "/2/webhooks", &bearer, Some(json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["errors"][0]["message"],
        json!("$.url: is missing but it is required")
    );

    let long = format!("https://example.com/{}", "a".repeat(200));
    let (status, problem) = call(
        &x,
        "POST",
        "/2/webhooks",
        &bearer,
        Some(json!({ "url": long })),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("$.url: must be at most 200"),
        "{problem}"
    );
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn webhooks_are_managed_with_the_apps_own_credentials() {
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let receiver = Receiver::start(&app.api_secret).await;

    // An OAuth 2.0 user token may not register a webhook…
    let user = x.issue_user_token_for_app(&app, "ada", ADA_SCOPES);
    let (status, problem) = call(
        &x,
        "POST",
        "/2/webhooks",
        &user,
        Some(json!({ "url": receiver.url })),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        problem["type"],
        json!("https://api.twitter.com/2/problems/unsupported-authentication")
    );
    // …nor list them.
    let (status, _) = call(&x, "GET", "/2/webhooks", &user, None).await;
    assert_eq!(status, 403);
    // A bearer token of no registered app belongs to no one's webhooks.
    let (status, problem) = call(&x, "GET", "/2/webhooks", &x.issue_app_token(), None).await;
    assert_eq!(status, 403);
    assert_eq!(problem["reason"], json!("client-not-enrolled"));
    assert_eq!(receiver.crcs(), 0);
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn a_webhook_is_also_managed_with_oauth1_user_context() {
    // Arrange: ada signed in to the app with OAuth 1.0a.
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[CALLBACK], true);
    let receiver = Receiver::start(&app.api_secret).await;
    let (token, secret) = oauth1_sign_in(&x, &app, "ada").await;
    let signed =
        |method: &str, path: &str| oauth1(&x, method, path, &app, Some((&token, &secret)), &[]);

    // Act: a request signed with her access token registers the webhook.
    let body = Bytes::from(json!({ "url": receiver.url }).to_string());
    let (status, _, answer) = send(
        &x,
        "POST",
        "/2/webhooks",
        &signed("POST", "/2/webhooks"),
        Some("application/json"),
        body,
    )
    .await;

    // Assert: the webhook is the app's; listing stays app-only.
    assert_eq!(status, 200, "{answer:?}");
    assert_eq!(receiver.crcs(), 1);
    let (_, listed) = call(&x, "GET", "/2/webhooks", &x.issue_app_token_for(&app), None).await;
    assert_eq!(listed["meta"]["result_count"], json!(1));
    let (status, _, _) = send(
        &x,
        "GET",
        "/2/webhooks",
        &signed("GET", "/2/webhooks"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 403);
    // The sign-in pages are not part of the API.
    let api: Vec<_> = x
        .traffic()
        .into_iter()
        .filter(|e| e.path.starts_with("/2/"))
        .collect();
    openapi::assert_conforms_but_refused_requests(&api);
}

#[tokio::test]
async fn a_follow_of_ada_is_pushed_signed_to_the_webhook_her_subscription_names() {
    // Arrange: the app's webhook, and ada's follow.follow subscription,
    // made with the token she gave the app.
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let receiver = Receiver::start(&app.api_secret).await;
    let webhook = register_webhook(&x, &app, &receiver).await;
    let ada = x.user_id("ada").unwrap();
    let ada_token = x.issue_user_token_for_app(&app, "ada", ADA_SCOPES);
    let (status, created) = call(
        &x,
        "POST",
        "/2/activity/subscriptions",
        &ada_token,
        Some(json!({
            "event_type": "follow.follow",
            "filter": { "user_id": ada },
            "tag": "ada's new followers",
            "webhook_id": webhook,
        })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let subscription = &created["data"]["subscription"];
    assert_eq!(subscription["event_type"], json!("follow.follow"));
    assert_eq!(subscription["filter"], json!({ "user_id": ada }));
    assert_eq!(subscription["webhook_id"], json!(webhook));
    assert_eq!(
        created["data"]["total_subscriptions_for_instance_id"],
        json!(1)
    );
    assert_eq!(created["meta"]["total_subscriptions"], json!(1));

    // Act
    x.follow("grace", "ada");

    // Assert: one POST, signed over its exact bytes with the API Key Secret.
    let pushed = receiver.wait_for_posts(1).await;
    assert_eq!(pushed.len(), 1);
    let event = &pushed[0];
    assert_eq!(
        event.signature.as_deref(),
        Some(sign(&app.api_secret, &event.body).as_str())
    );
    assert_eq!(event.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&event.body).unwrap();
    let data = &body["data"];
    assert_eq!(data["event_type"], json!("follow.follow"));
    assert_eq!(data["filter"], json!({ "user_id": ada }));
    assert_eq!(data["tag"], json!("ada's new followers"));
    assert_eq!(data["payload"]["source"]["username"], json!("grace"));
    assert_eq!(data["payload"]["target"]["username"], json!("ada"));
    for user in [&data["payload"]["source"], &data["payload"]["target"]] {
        for field in [
            "id",
            "name",
            "username",
            "created_at",
            "protected",
            "description",
        ] {
            assert!(user.get(field).is_some(), "{field} missing from {user}");
        }
    }
    assert_fits("ActivityStreamingResponse", &body);
    let pushes = x.pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].event_uuid, data["event_uuid"].as_str().unwrap());
    assert_eq!(pushes[0].webhook_id, webhook);
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn follows_through_the_api_reach_both_users_subscriptions_in_order() {
    // Arrange: follow and unfollow subscriptions for ada, made with the
    // app's own token (ada has authorized the app).
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let receiver = Receiver::start(&app.api_secret).await;
    let webhook = register_webhook(&x, &app, &receiver).await;
    let ada = x.user_id("ada").unwrap();
    let alan = x.user_id("alan").unwrap();
    x.issue_user_token_for_app(&app, "ada", ADA_SCOPES);
    let bearer = x.issue_app_token_for(&app);
    for event_type in ["follow.follow", "follow.unfollow"] {
        let (status, answer) = call(
            &x,
            "POST",
            "/2/activity/subscriptions",
            &bearer,
            Some(json!({ "event_type": event_type, "filter": { "user_id": ada }, "webhook_id": webhook })),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
    let alan_token = x.issue_user_token("alan", &["follows.write", "tweet.read", "users.read"]);

    // Act: alan follows ada through the API, then stops; ada unfollows alan.
    let (status, _) = call(
        &x,
        "POST",
        &format!("/2/users/{alan}/following"),
        &alan_token,
        Some(json!({ "target_user_id": ada })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &x,
        "DELETE",
        &format!("/2/users/{alan}/following/{ada}"),
        &alan_token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    x.unfollow("ada", "alan");

    // Assert: three events, in the order they happened.
    let pushed = receiver.wait_for_posts(3).await;
    let seen: Vec<(String, String, String)> = pushed
        .iter()
        .map(|p| {
            let body: Value = serde_json::from_slice(&p.body).unwrap();
            let data = &body["data"];
            (
                data["event_type"].as_str().unwrap().to_string(),
                data["payload"]["source"]["username"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                data["payload"]["target"]["username"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let expected = [
        ("follow.follow", "alan", "ada"),
        ("follow.unfollow", "alan", "ada"),
        ("follow.unfollow", "ada", "alan"),
    ];
    assert_eq!(
        seen,
        expected.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn private_events_are_subscribed_only_with_the_users_consent() {
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let receiver = Receiver::start(&app.api_secret).await;
    let webhook = register_webhook(&x, &app, &receiver).await;
    let ada = x.user_id("ada").unwrap();
    let subscribe = json!({ "event_type": "follow.follow", "filter": { "user_id": ada }, "webhook_id": webhook });

    // grace's token cannot subscribe ada's follows.
    let grace = x.issue_user_token_for_app(&app, "grace", ADA_SCOPES);
    let (status, problem) = call(
        &x,
        "POST",
        "/2/activity/subscriptions",
        &grace,
        Some(subscribe.clone()),
    )
    .await;
    assert_eq!(status, 403, "{problem}");

    // Nor can the app, before ada has authorized it…
    let bearer = x.issue_app_token_for(&app);
    let (status, problem) = call(
        &x,
        "POST",
        "/2/activity/subscriptions",
        &bearer,
        Some(subscribe.clone()),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("authorized your application")
    );

    // …but a public event of hers needs no consent…
    let (status, _) = call(
        &x,
        "POST",
        "/2/activity/subscriptions",
        &bearer,
        Some(json!({ "event_type": "profile.update.bio", "filter": { "user_id": ada } })),
    )
    .await;
    assert_eq!(status, 200);

    // …and once she has, it can; a user token without dm.read cannot.
    let (status, _) = call(
        &x,
        "POST",
        "/2/activity/subscriptions",
        &x.issue_user_token_for_app(&app, "ada", &["tweet.read"]),
        Some(subscribe.clone()),
    )
    .await;
    assert_eq!(status, 403);
    x.issue_user_token_for_app(&app, "ada", ADA_SCOPES);
    let (status, _) = call(
        &x,
        "POST",
        "/2/activity/subscriptions",
        &bearer,
        Some(subscribe),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(x.activity_subscriptions().len(), 2);
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn a_subscription_body_is_refused_naming_what_is_wrong_with_it() {
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let bearer = x.issue_app_token_for(&app);
    let ada = x.user_id("ada").unwrap();
    let other_app = x.register_app("Other", &[], true);
    let receiver = Receiver::start(&other_app.api_secret).await;
    let their_webhook = register_webhook(&x, &other_app, &receiver).await;

    let cases = [
        (
            json!({ "event_type": "profile.update.bio", "filter": { "user_id": ada }, "colour": "red" }),
            "colour",
        ),
        (
            json!({ "event_type": "follow.everything", "filter": { "user_id": ada } }),
            "event_type",
        ),
        (
            json!({ "event_type": "profile.update.bio", "filter": { "user_id": ada, "screen_name": "ada" } }),
            "filter.screen_name",
        ),
        (
            json!({ "event_type": "profile.update.bio", "filter": { "user_id": "ada" } }),
            "filter.user_id",
        ),
        (
            json!({ "event_type": "profile.update.bio", "filter": { "user_id": ada }, "tag": "" }),
            "tag",
        ),
        (
            json!({ "event_type": "profile.update.bio", "filter": { "user_id": ada }, "webhook_id": their_webhook }),
            "webhook_id",
        ),
    ];
    for (request, named) in cases {
        let (status, problem) = call(
            &x,
            "POST",
            "/2/activity/subscriptions",
            &bearer,
            Some(request.clone()),
        )
        .await;
        assert_eq!(status, 400, "{request}: {problem}");
        assert!(
            problem["errors"][0]["parameters"].get(named).is_some(),
            "{request}: {problem}"
        );
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("$.{named}:")),
            "{problem}"
        );
    }
    let (status, problem) = call(
        &x,
        "POST",
        "/2/activity/subscriptions",
        &bearer,
        Some(json!({ "event_type": "follow.follow" })),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["errors"][0]["message"],
        json!("$.filter: is missing but it is required")
    );
    assert!(x.activity_subscriptions().is_empty());
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn a_push_the_receiver_missed_comes_again_with_a_replay() {
    // Arrange: a subscribed webhook whose receiver fails the next push.
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let receiver = Receiver::start(&app.api_secret).await;
    let webhook = register_webhook(&x, &app, &receiver).await;
    subscribe_ada_follows(&x, &app, &webhook).await;
    receiver.answer_posts_with(500);
    x.follow("grace", "ada");
    let missed = receiver.wait_for_posts(1).await.remove(0);
    wait_until(|| x.pushes().first().is_some_and(|p| p.attempts == 1)).await;
    assert!(!x.pushes()[0].delivered);

    // Act: the receiver is back, and asks for the last minutes again.
    receiver.answer_posts_with(200);
    let now = x.clock().now().duration_trunc(Minutes::minutes(1)).unwrap();
    let from = (now - Minutes::minutes(1)).format("%Y%m%d%H%M").to_string();
    let to = now.format("%Y%m%d%H%M").to_string();
    let bearer = x.issue_app_token_for(&app);
    let (status, job) = call(
        &x,
        "POST",
        "/2/webhooks/replay",
        &bearer,
        Some(json!({ "webhook_id": webhook, "from_date": from, "to_date": to })),
    )
    .await;

    // Assert: the same event, byte for byte, signed afresh.
    assert_eq!(status, 200, "{job}");
    assert!(
        job["job_id"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_digit())
    );
    assert!(job["created_at"].as_str().unwrap().ends_with('Z'));
    let again = receiver.wait_for_posts(2).await.remove(1);
    assert_eq!(again.body, missed.body);
    assert_eq!(
        again.signature.as_deref(),
        Some(sign(&app.api_secret, &again.body).as_str())
    );
    let uuid =
        |b: &Bytes| serde_json::from_slice::<Value>(b).unwrap()["data"]["event_uuid"].clone();
    assert_eq!(uuid(&again.body), uuid(&missed.body));
    wait_until(|| x.pushes()[0].delivered).await;
    assert_eq!(x.pushes()[0].attempts, 2);
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn a_replay_window_is_checked() {
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let receiver = Receiver::start(&app.api_secret).await;
    let webhook = register_webhook(&x, &app, &receiver).await;
    let bearer = x.issue_app_token_for(&app);
    let now = x.clock().now();
    let minute = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%d%H%M").to_string();
    let cases = [
        (
            json!({ "webhook_id": webhook, "from_date": "2025-04-24", "to_date": minute(now) }),
            "from_date",
        ),
        (
            json!({ "webhook_id": webhook, "from_date": minute(now - Minutes::hours(25)), "to_date": minute(now) }),
            "from_date",
        ),
        (
            json!({ "webhook_id": webhook, "from_date": minute(now), "to_date": minute(now - Minutes::minutes(5)) }),
            "from_date",
        ),
        (
            json!({ "webhook_id": webhook, "from_date": minute(now), "to_date": "202513010000" }),
            "to_date",
        ),
        (
            json!({ "webhook_id": "1", "from_date": minute(now), "to_date": minute(now) }),
            "webhook_id",
        ),
    ];
    for (request, named) in cases {
        let (status, problem) = call(
            &x,
            "POST",
            "/2/webhooks/replay",
            &bearer,
            Some(request.clone()),
        )
        .await;
        assert_eq!(status, 400, "{request}: {problem}");
        assert!(
            problem["errors"][0]["parameters"].get(named).is_some(),
            "{request}: {problem}"
        );
    }
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn a_webhook_that_fails_the_periodic_crc_gets_no_events_until_it_passes_again() {
    // Arrange: a subscribed webhook whose receiver now answers CRCs wrongly.
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let receiver = Receiver::start(&app.api_secret).await;
    let webhook = register_webhook(&x, &app, &receiver).await;
    subscribe_ada_follows(&x, &app, &webhook).await;
    receiver.answer_crcs_correctly(false);

    // Act
    x.recheck_webhooks().await;
    x.follow("grace", "ada");

    // Assert: invalid, and the follow went nowhere.
    assert_eq!(receiver.crcs(), 2);
    assert!(!x.webhooks()[0].valid);
    let bearer = x.issue_app_token_for(&app);
    let (_, listed) = call(&x, "GET", "/2/webhooks", &bearer, None).await;
    assert_eq!(listed["data"][0]["valid"], json!(false));
    assert!(x.pushes().is_empty());

    // Once the receiver answers again, a PUT makes the webhook valid, and
    // the next follow arrives — the first one never does.
    receiver.answer_crcs_correctly(true);
    let (status, answer) = call(&x, "PUT", &format!("/2/webhooks/{webhook}"), &bearer, None).await;
    assert_eq!(
        (status, answer),
        (200, json!({ "data": { "attempted": true } }))
    );
    assert!(x.webhooks()[0].valid);
    x.follow("alan", "ada");
    let pushed = receiver.wait_for_posts(1).await;
    let body: Value = serde_json::from_slice(&pushed[0].body).unwrap();
    assert_eq!(body["data"]["payload"]["source"]["username"], json!("alan"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.posts().len(), 1);
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn subscriptions_are_listed_a_page_at_a_time_and_go_with_their_webhook() {
    let x = Emulator::start().await.unwrap();
    let app = x.register_app("Bell", &[], true);
    let receiver = Receiver::start(&app.api_secret).await;
    let webhook = register_webhook(&x, &app, &receiver).await;
    let bearer = x.issue_app_token_for(&app);
    for user in ["ada", "grace", "alan"] {
        let id = x.user_id(user).unwrap();
        let (status, _) = call(
            &x,
            "POST",
            "/2/activity/subscriptions",
            &bearer,
            Some(json!({ "event_type": "profile.update.bio", "filter": { "user_id": id }, "webhook_id": webhook })),
        )
        .await;
        assert_eq!(status, 200);
    }

    let (status, first) = call(
        &x,
        "GET",
        "/2/activity/subscriptions?max_results=2",
        &bearer,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(first["meta"]["result_count"], json!(2));
    let next = first["meta"]["next_token"].as_str().unwrap();
    let (_, second) = call(
        &x,
        "GET",
        &format!("/2/activity/subscriptions?max_results=2&pagination_token={next}"),
        &bearer,
        None,
    )
    .await;
    assert_eq!(second["meta"]["result_count"], json!(1));
    assert!(second["meta"].get("next_token").is_none());
    assert_eq!(
        second["data"][0]["filter"]["user_id"],
        json!(x.user_id("alan").unwrap())
    );

    // One subscription ends on its own; the rest go with their webhook.
    let first_id = first["data"][0]["subscription_id"].as_str().unwrap();
    let (status, deleted) = call(
        &x,
        "DELETE",
        &format!("/2/activity/subscriptions/{first_id}"),
        &bearer,
        None,
    )
    .await;
    assert_eq!(
        (status, deleted),
        (
            200,
            json!({ "data": { "deleted": true }, "meta": { "total_subscriptions": 2 } })
        )
    );
    let (status, _) = call(
        &x,
        "DELETE",
        &format!("/2/activity/subscriptions/{first_id}"),
        &bearer,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, deleted) = call(
        &x,
        "DELETE",
        &format!("/2/webhooks/{webhook}"),
        &bearer,
        None,
    )
    .await;
    assert_eq!(
        (status, deleted),
        (200, json!({ "data": { "deleted": true } }))
    );
    assert!(x.webhooks().is_empty());
    assert!(x.activity_subscriptions().is_empty());
    let (status, _) = call(&x, "PUT", &format!("/2/webhooks/{webhook}"), &bearer, None).await;
    assert_eq!(status, 404);
    let (_, none) = call(&x, "GET", "/2/activity/subscriptions", &bearer, None).await;
    assert_eq!(none, json!({ "meta": { "result_count": 0 } }));
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

// ---------------------------------------------------------------------------
// The app's side: its receiver, and its calls to the emulator.

/// What a receiver got in one POST.
#[derive(Clone, Debug)]
struct Delivery {
    body: Bytes,
    signature: Option<String>,
    content_type: Option<String>,
}

struct ReceiverState {
    secret: String,
    crc_correct: AtomicBool,
    post_status: AtomicU16,
    crcs: AtomicUsize,
    posts: Mutex<Vec<Delivery>>,
}

/// A webhook receiver on loopback, written to X's guide: it answers CRCs
/// with the app's API Key Secret and keeps what is POSTed to it.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(secret: &str) -> Receiver {
        let state = Arc::new(ReceiverState {
            secret: secret.to_string(),
            crc_correct: AtomicBool::new(true),
            post_status: AtomicU16::new(200),
            crcs: AtomicUsize::new(0),
            posts: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/webhooks/x", get(answer_crc).post(take_event))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}/webhooks/x", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, state, task }
    }

    fn crcs(&self) -> usize {
        self.state.crcs.load(Ordering::SeqCst)
    }

    fn posts(&self) -> Vec<Delivery> {
        self.state.posts.lock().unwrap().clone()
    }

    fn answer_crcs_correctly(&self, correct: bool) {
        self.state.crc_correct.store(correct, Ordering::SeqCst);
    }

    fn answer_posts_with(&self, status: u16) {
        self.state.post_status.store(status, Ordering::SeqCst);
    }

    /// The POSTs so far, once there are at least `n`.
    async fn wait_for_posts(&self, n: usize) -> Vec<Delivery> {
        wait_until(|| self.posts().len() >= n).await;
        self.posts()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer_crc(
    State(state): State<Arc<ReceiverState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, StatusCode> {
    let token = query.get("crc_token").ok_or(StatusCode::BAD_REQUEST)?;
    state.crcs.fetch_add(1, Ordering::SeqCst);
    let response_token = if state.crc_correct.load(Ordering::SeqCst) {
        sign(&state.secret, token.as_bytes())
    } else {
        "sha256=not-the-right-token".to_string()
    };
    Ok(Json(json!({ "response_token": response_token })))
}

async fn take_event(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    state.posts.lock().unwrap().push(Delivery {
        body,
        signature: header("x-twitter-webhooks-signature"),
        content_type: header("content-type"),
    });
    StatusCode::from_u16(state.post_status.load(Ordering::SeqCst)).unwrap()
}

/// `sha256=` + base64(HMAC-SHA256(secret, message)), as X's guide computes
/// it, independently of the emulator.
fn sign(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    format!("sha256={}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Registers the receiver as the app's webhook; its id.
async fn register_webhook(x: &Emulator, app: &AppKeys, receiver: &Receiver) -> String {
    let bearer = x.issue_app_token_for(app);
    let (status, created) = call(
        x,
        "POST",
        "/2/webhooks",
        &bearer,
        Some(json!({ "url": receiver.url })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Subscribes ada's follows to `webhook`, with the token she gave the app.
async fn subscribe_ada_follows(x: &Emulator, app: &AppKeys, webhook: &str) {
    let token = x.issue_user_token_for_app(app, "ada", ADA_SCOPES);
    let ada = x.user_id("ada").unwrap();
    let (status, answer) = call(
        x,
        "POST",
        "/2/activity/subscriptions",
        &token,
        Some(json!({ "event_type": "follow.follow", "filter": { "user_id": ada }, "webhook_id": webhook })),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

/// An OAuth 1.0a `Authorization` header (RFC 5849, HMAC-SHA1) for a
/// request to the emulator, signed with the app's keys and, if given, a
/// token and its secret; `extra` adds `oauth_*` parameters.
fn oauth1(
    x: &Emulator,
    method: &str,
    path: &str,
    app: &AppKeys,
    token: Option<(&str, &str)>,
    extra: &[(&str, &str)],
) -> String {
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    let nonce = format!("{:032x}", rand::random::<u128>());
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let mut params: Vec<(String, String)> = [
        ("oauth_consumer_key", app.api_key.as_str()),
        ("oauth_nonce", &nonce),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", &timestamp),
        ("oauth_version", "1.0"),
    ]
    .into_iter()
    .chain(token.map(|(t, _)| ("oauth_token", t)))
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut encoded: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    encoded.sort();
    let base = format!(
        "{method}&{}&{}",
        encode(&format!("http://{}{path}", x.authority())),
        encode(&encoded.join("&"))
    );
    let key = format!(
        "{}&{}",
        encode(&app.api_secret),
        encode(token.map(|(_, s)| s).unwrap_or(""))
    );
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    params.push((
        "oauth_signature".into(),
        STANDARD.encode(mac.finalize().into_bytes()),
    ));
    let fields: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v)))
        .collect();
    format!("OAuth {}", fields.join(", "))
}

/// Signs `username` in to `app` with OAuth 1.0a's three legs; the access
/// token and its secret.
async fn oauth1_sign_in(x: &Emulator, app: &AppKeys, username: &str) -> (String, String) {
    let callback = CALLBACK.to_string();
    let form = |bytes: &Bytes| -> HashMap<String, String> {
        form_urlencoded::parse(bytes).into_owned().collect()
    };
    let header = oauth1(
        x,
        "POST",
        "/oauth/request_token",
        app,
        None,
        &[("oauth_callback", callback.as_str())],
    );
    let (status, _, answer) = send(
        x,
        "POST",
        "/oauth/request_token",
        &header,
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 200, "{answer:?}");
    let request = form(&answer);
    let (request_token, request_secret) = (&request["oauth_token"], &request["oauth_token_secret"]);

    let consent = form_urlencoded::Serializer::new(String::new())
        .append_pair("oauth_token", request_token)
        .append_pair("account", username)
        .append_pair("decision", "allow")
        .finish();
    let (status, headers, _) = send(
        x,
        "POST",
        "/oauth/authorize",
        "",
        Some("application/x-www-form-urlencoded"),
        Bytes::from(consent),
    )
    .await;
    assert_eq!(status, 302);
    let location = headers[header::LOCATION].to_str().unwrap();
    let redirect = form(&Bytes::from(
        location.split_once('?').unwrap().1.to_string(),
    ));

    let header = oauth1(
        x,
        "POST",
        "/oauth/access_token",
        app,
        Some((request_token, request_secret)),
        &[("oauth_verifier", redirect["oauth_verifier"].as_str())],
    );
    let (status, _, answer) = send(
        x,
        "POST",
        "/oauth/access_token",
        &header,
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 200, "{answer:?}");
    let access = form(&answer);
    (
        access["oauth_token"].clone(),
        access["oauth_token_secret"].clone(),
    )
}

/// Waits up to ten seconds for `condition`.
async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that `value` fits the schema `name` of X's specification.
fn assert_fits(name: &str, value: &Value) {
    let spec: Value = serde_json::from_str(include_str!("../../x-api/openapi.json")).unwrap();
    let root = json!({
        "allOf": [{ "$ref": format!("#/components/schemas/{name}") }],
        "components": spec["components"],
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&root)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{value}");
}
