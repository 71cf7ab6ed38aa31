//! Where client libraries written to X's documentation rely on how X
//! behaves, the emulator behaves so:
//!
//! - a client asks for `expansions` without naming the linking fields in
//!   `tweet.fields`, and joins each post to `includes` by the field X
//!   returns anyway (docs.x.com, "Expansions": `expansions=author_id` alone
//!   answers `data.author_id` beside `includes.users`);
//! - following a protected account makes a follow request: X answers
//!   `following: false, pending_follow: true`, and the follow happens only
//!   when the account approves it (the X API reference of
//!   `POST /2/users/{id}/following`).
//!
//! Every exchange is checked against X's OpenAPI specification.

#[allow(dead_code)]
#[path = "../../support/openapi.rs"]
mod openapi;
mod support;

use serde_json::{Value, json};
use support::call;
use x_emulator::Emulator;

#[tokio::test]
async fn an_expansion_alone_brings_the_field_that_links_a_post_to_its_includes() {
    // Arrange: grace posts, ada replies to it quoting nothing else.
    let x = Emulator::start().await.unwrap();
    let grace_post = x.post_as("grace", "Compilers are translators.");
    let ada = x.issue_user_token("ada", &["tweet.read", "tweet.write", "users.read"]);
    let (status, created) = call(
        &x,
        "POST",
        "/2/tweets",
        &ada,
        Some(json!({"text": "So are we.", "reply": {"in_reply_to_tweet_id": grace_post}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let reply = created["data"]["id"].as_str().unwrap().to_string();

    // Act: expansions, and no tweet.fields at all.
    let (status, expanded) = call(
        &x,
        "GET",
        &format!("/2/tweets/{reply}?expansions=author_id,in_reply_to_user_id,referenced_tweets.id"),
        &ada,
        None,
    )
    .await;
    let (_, plain) = call(&x, "GET", &format!("/2/tweets/{reply}"), &ada, None).await;

    // Assert: each linking field is there and joins to `includes`.
    assert_eq!(status, 200, "{expanded}");
    let post = &expanded["data"];
    let users = expanded["includes"]["users"].as_array().unwrap();
    let user = |id: &Value| users.iter().find(|u| u["id"] == *id).cloned();
    assert_eq!(user(&post["author_id"]).unwrap()["username"], "ada");
    assert_eq!(
        user(&post["in_reply_to_user_id"]).unwrap()["username"],
        "grace"
    );
    assert_eq!(
        post["referenced_tweets"],
        json!([{"type": "replied_to", "id": grace_post}])
    );
    let included = expanded["includes"]["tweets"].as_array().unwrap();
    assert!(included.iter().any(|p| p["id"] == json!(grace_post)));
    // Without expansions, only X's default fields.
    let mut keys: Vec<&str> = plain["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["edit_history_tweet_ids", "id", "text"]);
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

#[tokio::test]
async fn following_a_protected_account_waits_for_its_approval() {
    // Arrange: mary's account is protected and nobody follows it.
    let x = Emulator::start().await.unwrap();
    let ada = x.issue_user_token(
        "ada",
        &["follows.write", "follows.read", "tweet.read", "users.read"],
    );
    let ada_id = x.user_id("ada").unwrap();
    let mary_id = x.user_id("mary").unwrap();
    let grace_id = x.user_id("grace").unwrap();
    // Act
    let (status, asked) = call(
        &x,
        "POST",
        &format!("/2/users/{ada_id}/following"),
        &ada,
        Some(json!({"target_user_id": mary_id})),
    )
    .await;
    let (_, public) = call(
        &x,
        "POST",
        &format!("/2/users/{ada_id}/following"),
        &ada,
        Some(json!({"target_user_id": grace_id})),
    )
    .await;

    // Assert: a request, not a follow, until mary approves it.
    assert_eq!(status, 200, "{asked}");
    assert_eq!(
        asked["data"],
        json!({"following": false, "pending_follow": true})
    );
    assert_eq!(
        public["data"],
        json!({"following": true, "pending_follow": false})
    );
    assert!(x.follow_request_pending("ada", "mary"));
    assert!(
        !following(&x, &ada, &ada_id)
            .await
            .contains(&"mary".to_string())
    );

    assert!(x.approve_follow_request("mary", "ada"));
    assert!(
        following(&x, &ada, &ada_id)
            .await
            .contains(&"mary".to_string())
    );
    assert!(!x.follow_request_pending("ada", "mary"));
    openapi::assert_conforms_but_refused_requests(&x.traffic());
}

/// The usernames `user_id` follows, as `token` reads them.
async fn following(x: &Emulator, token: &str, user_id: &str) -> Vec<String> {
    let (_, listed) = call(
        x,
        "GET",
        &format!("/2/users/{user_id}/following"),
        token,
        None,
    )
    .await;
    listed["data"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}
