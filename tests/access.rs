//! A workflow builder on X's self-serve pay-per-use access runs into what X
//! refuses there, and each refusal says which rule it is, in words to act
//! on, with X's own problem type and detail; the same actions work on
//! Enterprise access. The manifest lists the same restrictions.

mod support;

use host_harness::ActionError;
use serde_json::json;
use support::{XBed, oauth_connection};
use x_emulator::AccessLevel;

/// The refusal's reason, rule, problem type and detail, or a panic.
fn refusal(error: ActionError) -> (String, Option<String>, Option<String>, String) {
    match error {
        ActionError::Forbidden {
            reason,
            rule,
            problem_type,
            detail,
            ..
        } => (reason, rule, problem_type, detail),
        other => panic!("expected forbidden, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn likes_follows_and_quotes_are_refused_for_the_apps_access_level_and_say_so() {
    let bed = XBed::start().await;
    bed.x.set_access_level(AccessLevel::PayPerUse);
    let post = bed.x.post_as("grace", "Notes on the engine.");
    let babbage = bed.x.add_user("babbage");
    let ada = oauth_connection(
        &bed.x,
        "ada",
        &[
            "tweet.read",
            "tweet.write",
            "users.read",
            "like.write",
            "follows.write",
        ],
    );

    let like = bed
        .run_as(&ada, "post.like", json!({"post_id": post}))
        .await
        .unwrap_err();
    let follow = bed
        .run_as(&ada, "user.follow", json!({"user_id": babbage}))
        .await
        .unwrap_err();
    let quote = bed
        .err(
            "post.create",
            json!({"text": "Worth it.", "quote_post_id": post}),
        )
        .await;

    for (action, error) in [
        ("post.like", like),
        ("user.follow", follow),
        ("post.create", quote),
    ] {
        let (reason, rule, problem_type, detail) = refusal(error);
        assert_eq!(reason, "access-level", "{action}");
        assert_eq!(rule.as_deref(), Some("not-in-access-level"), "{action}");
        assert_eq!(
            problem_type.as_deref(),
            Some("https://api.twitter.com/2/problems/client-forbidden"),
            "{action}"
        );
        // The manifest's words for the action, then X's own.
        assert!(
            detail.contains("pay-per-use") && detail.contains("Enterprise"),
            "{action}: {detail}"
        );
        assert!(detail.contains("X said: X refused this for the app's access level: You currently have access to a subset"), "{action}: {detail}");
    }
    assert!(!bed.x.engaged("ada", "like", &post));
    assert!(!bed.x.is_following("ada", "babbage"));
    bed.assert_traffic_conforms();

    // The same actions on Enterprise access.
    bed.x.set_access_level(AccessLevel::Enterprise);
    bed.run_as(&ada, "post.like", json!({"post_id": post}))
        .await
        .unwrap();
    bed.run_as(&ada, "user.follow", json!({"user_id": babbage}))
        .await
        .unwrap();
    assert!(bed.x.engaged("ada", "like", &post));
    assert!(bed.x.is_following("ada", "babbage"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_goes_only_where_the_account_was_summoned() {
    let bed = XBed::start().await;
    bed.x.set_access_level(AccessLevel::PayPerUse);
    let unsummoned = bed.x.post_as("grace", "A note on looms.");
    let mention = bed.x.post_as("grace", "What do you think, @ada?");
    let own = bed.ok("post.create", json!({"text": "A thought."})).await["post"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let refused = bed
        .err(
            "post.create",
            json!({"text": "Indeed.", "reply_to_post_id": unsummoned}),
        )
        .await;
    let to_mention = bed
        .ok(
            "post.create",
            json!({"text": "I agree.", "reply_to_post_id": mention}),
        )
        .await;
    let to_own = bed
        .ok(
            "post.create",
            json!({"text": "And another.", "reply_to_post_id": own}),
        )
        .await;

    let (reason, rule, _, detail) = refusal(refused);
    assert_eq!(reason, "rule");
    assert_eq!(rule.as_deref(), Some("summoned-replies-only"));
    assert!(
        detail.contains("mentions the connected account"),
        "{detail}"
    );
    assert!(
        detail.contains("X said: Reply to this conversation is not allowed"),
        "{detail}"
    );
    assert!(to_mention["post"]["id"].is_string() && to_own["post"]["id"].is_string());
    let texts: Vec<String> = bed.x.posts_of("ada").into_iter().map(|p| p.text).collect();
    assert!(!texts.contains(&"Indeed.".to_string()));
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_names_the_restricted_actions_and_their_access_level() {
    let bed = XBed::start().await;
    let manifest = bed.connector.manifest();

    let restricted: Vec<(&str, &str, &str)> = manifest
        .actions
        .iter()
        .flat_map(|a| {
            a.restrictions
                .iter()
                .map(move |r| (a.id.as_str(), r.access_level.as_str(), r.rule.as_str()))
        })
        .collect();

    assert_eq!(
        restricted,
        vec![
            ("post.create", "pay-per-use", "not-in-access-level"),
            ("post.create", "pay-per-use", "summoned-replies-only"),
            ("post.thread", "pay-per-use", "summoned-replies-only"),
            ("post.like", "pay-per-use", "not-in-access-level"),
            ("user.follow", "pay-per-use", "not-in-access-level"),
        ]
    );
    for (id, _, _) in &restricted {
        let description = &manifest.action(id).unwrap().description;
        assert!(description.contains("pay-per-use"), "{id}: {description}");
    }
}
