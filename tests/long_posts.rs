//! A subscriber publishes a long post and every read gives it back whole,
//! with X's preview kept apart; a standard account is told its limit before
//! anything is sent. The account's limit is learnt once, when it connects.

mod support;

use serde_json::{Value, json};
use support::auth::AuthBed;
use support::{XBed, oauth_connection_with_facts};

const SCOPES: &str = "tweet.read tweet.write users.read offline.access";

/// A text of `n` words, the last one marked so a cut would show.
fn long_text(n: usize) -> String {
    let mut words: Vec<String> = (0..n).map(|i| format!("word{i}")).collect();
    words.push("THE-END".into());
    words.join(" ")
}

async fn run(bed: &AuthBed, id: &str, action: &str, input: Value) -> Value {
    let connection = bed.manager.connection(id).await.unwrap();
    let output = bed
        .manager
        .connector()
        .invoke(&connection, action, &input.to_string())
        .await
        .unwrap_or_else(|e| panic!("{action} failed: {e:?}"));
    support::assert_fits_output_schema(bed.manager.connector(), action, &output);
    output
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscribers_long_post_is_published_and_read_back_whole() {
    let bed = AuthBed::start().await;
    bed.x.set_subscription("ada", "Premium");
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    let text = long_text(500);

    let record = bed.store.connection(&id).await.unwrap();
    let checked = run(&bed, &id, "post.validate", json!({"text": text})).await;
    let created = run(&bed, &id, "post.create", json!({"text": text})).await;
    let post_id = created["post"]["id"].as_str().unwrap().to_string();
    let looked_up = run(&bed, &id, "post.lookup", json!({"ids": [post_id]})).await;
    let timeline = run(&bed, &id, "timeline.user", json!({"max_results": 5})).await;

    // The subscription was recorded at connect time, so nothing asks again.
    assert_eq!(record.account_facts["subscription_type"], "Premium");
    assert_eq!(checked["max_weighted_length"], 25_000);
    assert_eq!(checked["valid"], true);
    assert_eq!(created["usage"]["requests"], 1);
    let read = &looked_up["posts"][0];
    assert_eq!(read["text"], text.as_str());
    let preview = read["preview_text"].as_str().unwrap();
    assert!(preview.chars().count() <= 280 && !preview.contains("THE-END"));
    assert!(text.starts_with(preview.trim_end_matches('…')));
    let listed = timeline["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == post_id.as_str())
        .unwrap();
    assert_eq!(listed["text"], text.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standard_account_is_told_its_limit_before_anything_is_published() {
    let bed = XBed::start().await;
    let before = bed.x.arrivals("/2/tweets");

    let refused = bed.err("post.create", json!({"text": long_text(60)})).await;
    let short = bed
        .ok("post.create", json!({"text": "Short and sweet."}))
        .await;
    let checked = bed
        .ok("post.validate", json!({"text": long_text(60)}))
        .await;

    match refused {
        host_harness::ActionError::InvalidInput { field, reason } => {
            assert_eq!(field, "text");
            assert!(reason.contains("may post at most 280"), "{reason}");
        }
        other => panic!("expected invalid-input, got {other:?}"),
    }
    // Only the short post reached X's create endpoint.
    assert_eq!(bed.x.arrivals("/2/tweets") - before, 1);
    assert_eq!(short["post"]["text"], "Short and sweet.");
    assert!(short["post"].get("preview_text").is_none());
    assert_eq!(checked["max_weighted_length"], 280);
    assert_eq!(checked["valid"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_recorded_subscription_the_limit_is_asked_once_when_it_matters() {
    let bed = XBed::start().await;
    bed.x.set_subscription("ada", "Basic");
    // A connection whose host recorded nothing of the account.
    let ada =
        oauth_connection_with_facts(&bed.x, "ada", support::DEFAULT_SCOPES, Default::default());
    let text = long_text(100);

    let created = bed
        .run_as(&ada, "post.create", json!({"text": text}))
        .await
        .unwrap();

    assert_eq!(created["usage"]["requests"], 2);
    assert_eq!(created["usage"]["users_read"], 1);
    assert_eq!(created["post"]["text"], text.as_str());
    bed.assert_traffic_conforms();
}
