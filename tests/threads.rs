//! A workflow publishes a thread: every post checked first, then a chain
//! of replies; a long text split and numbered; a failure part way names
//! what was published and why, and running the same input again continues
//! the thread without publishing anything twice.

mod support;

use serde_json::{Value, json};
use support::XBed;
use x_emulator::Endpoint;

/// The id each post replies to, as the account's timeline says.
async fn replied_to(bed: &XBed, id: &str) -> Option<String> {
    let out = bed.ok("post.lookup", json!({"ids": [id]})).await;
    out["posts"][0]["referenced_tweets"]
        .as_array()
        .and_then(|refs| refs.iter().find(|r| r["type"] == "replied_to"))
        .map(|r| r["id"].as_str().unwrap().to_string())
}

fn ids(out: &Value) -> Vec<String> {
    out["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thread_is_published_as_a_chain_of_replies() {
    let bed = XBed::start().await;
    let start = bed
        .x
        .post_as("ada", "Notes on the Analytical Engine, a thread.");

    let out = bed
        .ok(
            "post.thread",
            json!({
                "reply_to_post_id": start,
                "posts": [
                    {"text": "First, the mill."},
                    {"text": "Then, the store."},
                    {"text": "Which matters more?", "poll": {"options": ["mill", "store"], "duration_minutes": 60}}
                ]
            }),
        )
        .await;

    assert_eq!(out["complete"], true);
    assert_eq!(out["resumed"], 0);
    assert!(out.get("failure").is_none());
    let ids = ids(&out);
    assert_eq!(ids.len(), 3);
    assert_eq!(
        replied_to(&bed, &ids[0]).await.as_deref(),
        Some(start.as_str())
    );
    assert_eq!(
        replied_to(&bed, &ids[1]).await.as_deref(),
        Some(ids[0].as_str())
    );
    assert_eq!(
        replied_to(&bed, &ids[2]).await.as_deref(),
        Some(ids[1].as_str())
    );
    assert_eq!(out["usage"]["posts_created"], 3);
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_text_is_split_at_words_and_numbered() {
    let bed = XBed::start().await;
    let text: String = (0..120).map(|i| format!("word{i} ")).collect();

    let out = bed
        .ok(
            "post.thread",
            json!({"text": text, "numbered": true, "resume": false}),
        )
        .await;

    let posts = out["posts"].as_array().unwrap();
    let n = posts.len();
    assert!(n >= 3, "{n} posts");
    let mut words = Vec::new();
    for (i, post) in posts.iter().enumerate() {
        let text = post["text"].as_str().unwrap();
        let checked = bed.ok("post.validate", json!({"text": text})).await;
        assert_eq!(checked["valid"], true, "{text}");
        let (body, number) = text.rsplit_once(' ').unwrap();
        assert_eq!(number, format!("{}/{n}", i + 1));
        words.extend(body.split_whitespace().map(str::to_string));
    }
    assert_eq!(
        words,
        text.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_part_way_is_named_and_a_second_run_continues_the_thread() {
    let bed = XBed::start().await;
    let thread = json!({"posts": [
        {"text": "One: the loom."},
        {"text": "Two: the cards."},
        {"text": "Three: the pattern."},
        {"text": "Four: the cloth."}
    ]});
    // X accepts two more posts in this window, then answers 429.
    bed.x.set_rate_limit(Endpoint::CreatePost, 2);

    let first = bed.ok("post.thread", thread.clone()).await;
    bed.x.set_rate_limit(Endpoint::CreatePost, 100);
    let second = bed.ok("post.thread", thread).await;

    assert_eq!(first["complete"], false);
    assert_eq!(ids(&first).len(), 2);
    assert_eq!(first["failure"]["index"], 2);
    assert_eq!(first["failure"]["error"], "rate-limited");
    assert!(first["failure"]["reset_at"].as_u64().is_some());
    assert_eq!(second["complete"], true);
    assert_eq!(second["resumed"], 2);
    let all = ids(&second);
    assert_eq!(all[..2], ids(&first)[..]);
    assert_eq!(
        replied_to(&bed, &all[2]).await.as_deref(),
        Some(all[1].as_str())
    );
    // Each post of the thread is published once.
    let texts: Vec<String> = bed.x.posts_of("ada").into_iter().map(|p| p.text).collect();
    for text in [
        "One: the loom.",
        "Two: the cards.",
        "Three: the pattern.",
        "Four: the cloth.",
    ] {
        assert_eq!(texts.iter().filter(|t| *t == text).count(), 1, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_post_anywhere_is_refused_before_any_is_published() {
    let bed = XBed::start().await;
    let before = bed.x.arrivals("/2/tweets");

    let refused = bed
        .err(
            "post.thread",
            json!({"posts": [
                {"text": "Fine."},
                {"text": "Also fine.", "poll": {"options": ["only one"], "duration_minutes": 60}}
            ]}),
        )
        .await;

    match refused {
        host_harness::ActionError::InvalidInput { field, reason } => {
            assert_eq!(field, "posts[1].poll.options", "{reason}")
        }
        other => panic!("expected invalid-input, got {other:?}"),
    }
    assert_eq!(bed.x.arrivals("/2/tweets"), before);
}
