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
//!   `POST /2/users/{id}/following`);
//! - a client reads a whole thread by searching `conversation_id:` with
//!   the first post's id (docs.x.com, "Conversation ID"), and sees a
//!   post's earlier versions with `expansions=edit_history_tweet_ids`
//!   (docs.x.com, "Edit Posts").
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

#[tokio::test]
async fn a_thread_is_read_by_searching_its_conversation_id() {
    // Arrange: grace starts a conversation, ada replies, grace answers
    // ada; a post elsewhere says the same words.
    let x = Emulator::start().await.unwrap();
    let root = x.post_as("grace", "Who wrote the first compiler?");
    let ada = x.issue_user_token("ada", &["tweet.read", "tweet.write", "users.read"]);
    let grace = x.issue_user_token("grace", &["tweet.read", "tweet.write", "users.read"]);
    let reply = |token: &str, to: &str, text: &str| {
        let (x, token, to, text) = (&x, token.to_string(), to.to_string(), text.to_string());
        async move {
            let (status, created) = call(
                x,
                "POST",
                "/2/tweets",
                &token,
                Some(json!({"text": text, "reply": {"in_reply_to_tweet_id": to}})),
            )
            .await;
            assert_eq!(status, 201, "{created}");
            created["data"]["id"].as_str().unwrap().to_string()
        }
    };
    let first = reply(&ada, &root, "You did, in 1952.").await;
    let second = reply(&grace, &first, "The A-0, yes.").await;
    x.post_as("alan", "Who wrote the first compiler? Not me.");

    // Act: the conversation, then a refused operator value.
    let (status, thread) = call(
        &x,
        "GET",
        &format!(
            "/2/tweets/search/recent?query=conversation_id:{root}&tweet.fields=conversation_id,in_reply_to_user_id"
        ),
        &ada,
        None,
    )
    .await;
    let (refused, problem) = call(
        &x,
        "GET",
        "/2/tweets/search/recent?query=conversation_id:first",
        &ada,
        None,
    )
    .await;

    // Assert: the thread's posts, each of the conversation, and nothing
    // else.
    assert_eq!(status, 200, "{thread}");
    let posts = thread["data"].as_array().unwrap();
    let mut ids: Vec<&str> = posts.iter().map(|p| p["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut expected = vec![root.as_str(), first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(posts.iter().all(|p| p["conversation_id"] == root.as_str()));
    assert_eq!(refused, 400, "{problem}");
}

#[tokio::test]
async fn an_edited_post_brings_its_earlier_versions_with_the_edit_history_expansion() {
    // Arrange: ada, a subscriber, posts and edits it twice.
    let x = Emulator::start().await.unwrap();
    x.set_subscription("ada", "Premium");
    let ada = x.issue_user_token("ada", &["tweet.read", "tweet.write", "users.read"]);
    let mut versions = vec![x.post_as("ada", "Teh first version")];
    for text in ["The first version", "The first version, fixed"] {
        let (status, edited) = call(
            &x,
            "POST",
            "/2/tweets",
            &ada,
            Some(json!({"text": text, "edit_options": {"previous_post_id": versions.last().unwrap()}})),
        )
        .await;
        assert_eq!(status, 201, "{edited}");
        versions.push(edited["data"]["id"].as_str().unwrap().to_string());
    }
    let latest = versions.last().unwrap().clone();

    // Act: the latest version, with and without the expansion.
    let (status, expanded) = call(
        &x,
        "GET",
        &format!("/2/tweets/{latest}?expansions=edit_history_tweet_ids"),
        &ada,
        None,
    )
    .await;
    let (_, plain) = call(&x, "GET", &format!("/2/tweets/{latest}"), &ada, None).await;

    // Assert: the history names every version, and the earlier ones come
    // in `includes.tweets` with their own text.
    assert_eq!(status, 200, "{expanded}");
    assert_eq!(expanded["data"]["edit_history_tweet_ids"], json!(versions));
    let earlier = expanded["includes"]["tweets"].as_array().unwrap();
    let text_of = |id: &str| {
        earlier
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["text"].as_str().unwrap().to_string())
    };
    assert_eq!(earlier.len(), 2, "{expanded}");
    assert_eq!(text_of(&versions[0]).as_deref(), Some("Teh first version"));
    assert_eq!(text_of(&versions[1]).as_deref(), Some("The first version"));
    assert!(plain.get("includes").is_none(), "{plain}");
}
