//! A platform prices a workflow run from what each action consumed at X:
//! every output carries `usage`, in the units of X's pricing page as the
//! manifest's usage table names them, and the counts are what really
//! crossed the wire.

mod support;

use serde_json::{Value, json};
use support::{XBed, oauth_connection};

fn unit(output: &Value, name: &str) -> u64 {
    output["usage"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("usage has no {name}: {}", output["usage"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_count_the_posts_and_users_x_returned_and_the_accounts_own_apart() {
    let bed = XBed::start().await;
    bed.x.add_numbered_posts("ada", 12);

    let own = bed
        .ok("timeline.user", json!({"max_results": 5, "limit": 10}))
        .await;
    let grace = bed.x.user_id("grace").unwrap();
    let theirs = bed
        .ok("timeline.user", json!({"user_id": grace, "max_results": 5}))
        .await;
    let search = bed.ok("search.recent", json!({"query": "from:ada"})).await;

    // Two pages of the account's own posts: owned reads, not post reads.
    let own_posts = own["posts"].as_array().unwrap().len() as u64;
    assert_eq!(own_posts, 10);
    assert_eq!(unit(&own, "owned_reads"), own_posts);
    assert_eq!(unit(&own, "posts_read"), 0);
    assert_eq!(unit(&own, "requests"), 2);
    // Another user's posts are post reads, and their authors user reads.
    let their_posts = theirs["posts"].as_array().unwrap().len() as u64;
    assert!(their_posts > 0);
    assert_eq!(unit(&theirs, "owned_reads"), 0);
    assert!(unit(&theirs, "posts_read") >= their_posts);
    assert!(unit(&theirs, "users_read") >= 1);
    let found = search["posts"].as_array().unwrap().len() as u64;
    assert!(unit(&search, "posts_read") >= found && found > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_with_a_url_is_priced_apart_and_every_output_has_every_unit() {
    let bed = XBed::start().await;

    let plain = bed.ok("post.create", json!({"text": "Plain words."})).await;
    let linked = bed
        .ok(
            "post.create",
            json!({"text": "Read example.com/notes today."}),
        )
        .await;
    let counted = bed.ok("post.validate", json!({"text": "no request"})).await;

    assert_eq!(unit(&plain, "posts_created"), 1);
    assert_eq!(unit(&plain, "posts_created_with_url"), 0);
    assert_eq!(unit(&linked, "posts_created"), 0);
    assert_eq!(unit(&linked, "posts_created_with_url"), 1);
    assert_eq!(unit(&counted, "requests"), 0);
    let descriptor = bed.connector.descriptor();
    let schema = &descriptor.action("post.create").unwrap().output_schema;
    assert_eq!(schema["properties"]["usage"]["$ref"], "#/$defs/Usage");
    let units: Vec<String> = schema["$defs"]["Usage"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    for output in [&plain, &linked, &counted] {
        let usage = output["usage"].as_object().unwrap();
        assert_eq!(usage.len(), units.len());
        assert!(units.iter().all(|u| usage.contains_key(u)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_those_that_reached_x() {
    let bed = XBed::start().await;
    bed.x.follow("grace", "alan");
    bed.x.follow("ada", "alan");
    let alan = bed.x.user_id("alan").unwrap();
    let before = bed.x.traffic().len();

    let ada = oauth_connection(&bed.x, "ada", &["tweet.read", "users.read", "follows.read"]);
    let out = bed
        .run_as(
            &ada,
            "user.followers",
            json!({"user_id": alan, "max_results": 1, "limit": 2}),
        )
        .await
        .unwrap();

    let sent = (bed.x.traffic().len() - before) as u64;
    assert_eq!(sent, 2);
    assert_eq!(unit(&out, "requests"), sent);
    assert_eq!(unit(&out, "graph_read"), 2);
    assert_eq!(out["users"].as_array().unwrap().len(), 2);
}
