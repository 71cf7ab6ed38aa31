//! A subscriber edits a recent post and gets its new version; every rule
//! X applies to edits comes back as a `forbidden` error naming the rule,
//! from X's own `edit_controls` before anything is sent where it can, and
//! from X's refusal otherwise.

mod support;

use host_harness::ActionError;
use serde_json::json;
use support::{XBed, oauth_connection, oauth_connection_with_facts};

/// The reason and rule of a refusal, or a panic.
fn rule_of(error: ActionError) -> (String, String) {
    match error {
        ActionError::Forbidden { reason, rule, .. } => (reason, rule.unwrap_or_default()),
        other => panic!("expected forbidden, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_edits_a_recent_post() {
    let bed = XBed::start().await;
    bed.x.set_subscription("ada", "Premium");
    let ada = oauth_connection(&bed.x, "ada", support::DEFAULT_SCOPES);
    let original = bed
        .run_as(
            &ada,
            "post.create",
            json!({"text": "The engine weaves algebraic patterns."}),
        )
        .await
        .unwrap()["post"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let edited = bed
        .run_as(
            &ada,
            "post.edit",
            json!({"post_id": original, "text": "The engine weaves algebraic patterns, as the loom weaves flowers."}),
        )
        .await
        .unwrap();

    let new_id = edited["post"]["id"].as_str().unwrap();
    assert_ne!(new_id, original);
    assert_eq!(edited["previous_post_id"], original.as_str());
    assert_eq!(edited["edit_history_post_ids"], json!([original, new_id]));
    assert_eq!(edited["usage"]["content_managed"], 1);
    let timeline = bed
        .run_as(&ada, "timeline.user", json!({"max_results": 5}))
        .await
        .unwrap();
    let listed: Vec<&str> = timeline["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&new_id) && !listed.contains(&original.as_str()));
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_of_xs_edit_rules_is_named() {
    let bed = XBed::start().await;
    bed.x.set_subscription("ada", "Premium");
    let ada = oauth_connection(&bed.x, "ada", support::DEFAULT_SCOPES);
    let create = |input| {
        let (bed, ada) = (&bed, &ada);
        async move {
            bed.run_as(ada, "post.create", input).await.unwrap()["post"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let edit = |id: String, text: &'static str| {
        let (bed, ada) = (&bed, &ada);
        async move {
            bed.run_as(ada, "post.edit", json!({"post_id": id, "text": text}))
                .await
                .unwrap_err()
        }
    };

    let poll = create(json!({"text": "Mill or store?", "poll": {"options": ["mill", "store"], "duration_minutes": 60}})).await;
    let theirs = bed.x.post_as("grace", "A post of Grace's.");
    let mut busy = create(json!({"text": "Edit me, version 0."})).await;
    for n in 1..=5 {
        let text = ["", "v1", "v2", "v3", "v4", "v5"][n];
        busy = bed
            .run_as(&ada, "post.edit", json!({"post_id": busy, "text": text}))
            .await
            .unwrap()["post"]["id"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let late = create(json!({"text": "Soon too late to edit."})).await;

    assert_eq!(
        rule_of(edit(poll, "Mill, store or both?").await),
        ("rule".into(), "edit-poll".into())
    );
    assert_eq!(
        rule_of(edit(theirs, "Not mine.").await),
        ("resource".into(), "edit-own-posts-only".into())
    );
    assert_eq!(
        rule_of(edit(busy, "v6").await),
        ("rule".into(), "edit-limit-reached".into())
    );
    // X's 30 minutes have passed by X's clock: X refuses, and the refusal
    // is named.
    bed.x
        .clock()
        .advance(std::time::Duration::from_secs(31 * 60));
    assert_eq!(
        rule_of(edit(late, "Too late.").await),
        ("rule".into(), "edit-window-passed".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_takes_a_subscription_whether_or_not_the_host_recorded_it() {
    let bed = XBed::start().await;
    let post = bed.ok("post.create", json!({"text": "Version one."})).await["post"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = bed.x.arrivals("/2/tweets");
    // The host recorded the account's subscription (None) at connect time.
    let recorded = bed
        .err(
            "post.edit",
            json!({"post_id": post, "text": "Version two."}),
        )
        .await;
    let nothing_sent = bed.x.arrivals("/2/tweets") == before;
    // A connection made before the host recorded it: X itself refuses.
    let unrecorded =
        oauth_connection_with_facts(&bed.x, "ada", support::DEFAULT_SCOPES, Default::default());
    let refused = bed
        .run_as(
            &unrecorded,
            "post.edit",
            json!({"post_id": post, "text": "Version two."}),
        )
        .await
        .unwrap_err();

    assert_eq!(
        rule_of(recorded),
        ("account-plan".into(), "edit-needs-subscription".into())
    );
    assert!(nothing_sent);
    assert_eq!(
        rule_of(refused),
        ("account-plan".into(), "edit-needs-subscription".into())
    );
    bed.assert_traffic_conforms();
}
