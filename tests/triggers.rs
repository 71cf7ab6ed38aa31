//! A workflow starts when something happens on X: a subscription to a
//! trigger reports nothing that happened before it, then each new event
//! once, oldest first, with the same post, user and message shapes as the
//! actions; its place is kept in the store, so a watcher that stops and
//! starts again goes on where it stopped.

mod support;

use base64::Engine;
use credential_store::{Delivery, MasterKey, StoreLocation};
use host_harness::TriggerEvent;
use host_harness::triggers::{poll_once, subscribe};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use support::auth::AuthBed;
use support::nodes::Platform;

const SCOPES: &str =
    "tweet.read tweet.write users.read offline.access follows.read dm.read like.read";
const CALLBACK: &str = "http://127.0.0.1:8765/callback";

/// `ada` connected with every scope the triggers need, in a store the
/// command can open too.
async fn connected() -> (AuthBed, String, Platform) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let bytes: [u8; 32] = rand::random();
    let bed = AuthBed::on_store(
        dir,
        &StoreLocation::Sqlite(data_dir.join("connections.db")),
        &MasterKey::from_bytes(bytes),
        CALLBACK,
    )
    .await;
    let id = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    let platform = Platform {
        database_url: None,
        data_dir,
        master_key: base64::engine::general_purpose::STANDARD.encode(bytes),
        emulator: bed.x.base_url(),
        api_key: None,
        admin_key: None,
    };
    (bed, id, platform)
}

/// Polls once, collecting what is handed on.
async fn poll(bed: &AuthBed, subscription: &str) -> Vec<TriggerEvent> {
    let mut events = Vec::new();
    poll_once(&bed.manager, subscription, |e| {
        events.push(e.clone());
        Ok(())
    })
    .await
    .unwrap();
    events
}

fn assert_fits_event_schema(bed: &AuthBed, trigger: &str, event: &Value) {
    let schema = &bed
        .manager
        .connector()
        .descriptor()
        .trigger(trigger)
        .unwrap()
        .event_schema;
    let validator = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(event)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{trigger}: {errors:?}\n{event:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_trigger_starts_now_then_reports_each_new_event_once() {
    let (bed, id, _) = connected().await;
    let ada_id = bed.x.user_id("ada").unwrap();
    let triggers = [
        ("mention.new", json!({})),
        ("post.new", json!({"exclude": ["replies"]})),
        ("post.matching", json!({"query": "lighthouse"})),
        ("follower.new", json!({})),
        ("dm.new", json!({})),
        ("like.new", json!({})),
    ];
    let mut subscriptions = Vec::new();
    for (trigger, configuration) in &triggers {
        let subscription = subscribe(
            &bed.manager,
            &id,
            trigger,
            &configuration.to_string(),
            Delivery::Poll,
        )
        .await
        .unwrap();
        // What already exists is not reported.
        assert!(poll(&bed, &subscription.id).await.is_empty(), "{trigger}");
        subscriptions.push(subscription.id);
    }

    let first = bed.x.post_as("grace", "@ada the lighthouse is lit");
    let second = bed.x.post_as("alan", "@ada see the lighthouse too");
    let own = bed.x.post_as("ada", "Notes on the lighthouse engine");
    bed.x.follow("grace", "ada");
    let message = bed.x.send_dm("grace", "ada", "Are you coming?");
    bed.x.send_dm("ada", "grace", "Yes.");
    bed.x.like("alan", &own);
    let mut found = Vec::new();
    for subscription in &subscriptions {
        found.push(poll(&bed, subscription).await);
    }
    let mut again = Vec::new();
    for subscription in &subscriptions {
        again.push(poll(&bed, subscription).await);
    }

    let ids = |events: &Vec<TriggerEvent>| events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&found[0]),
        vec![first.clone(), second.clone()],
        "mentions, oldest first"
    );
    assert_eq!(found[0][0].data["post"]["author"]["username"], "grace");
    assert_eq!(ids(&found[1]), vec![own.clone()], "ada's own post");
    assert_eq!(
        ids(&found[2]),
        vec![first, second, own.clone()],
        "the search"
    );
    let grace_id = bed.x.user_id("grace").unwrap();
    assert_eq!(ids(&found[3]), vec![format!("{ada_id}:{grace_id}")]);
    assert_eq!(found[3][0].data["follower"]["username"], "grace");
    assert_eq!(ids(&found[4]), vec![message], "only what others sent");
    assert_eq!(found[4][0].data["message"]["text"], "Are you coming?");
    let alan_id = bed.x.user_id("alan").unwrap();
    assert_eq!(ids(&found[5]), vec![format!("{own}:{alan_id}")]);
    assert_eq!(found[5][0].data["liking_user"]["username"], "alan");
    for ((trigger, _), events) in triggers.iter().zip(&found) {
        for event in events {
            assert_fits_event_schema(&bed, trigger, &event.data);
        }
    }
    assert!(again.iter().all(Vec::is_empty), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_is_checked_before_any_request_naming_the_field() {
    let (bed, id, _) = connected().await;
    let before = bed.x.traffic().len();

    let missing = subscribe(&bed.manager, &id, "post.matching", "{}", Delivery::Poll)
        .await
        .unwrap_err()
        .to_string();
    let unknown = subscribe(
        &bed.manager,
        &id,
        "mention.new",
        r#"{"user": "1"}"#,
        Delivery::Poll,
    )
    .await
    .unwrap_err()
    .to_string();
    let no_trigger = subscribe(&bed.manager, &id, "weather.rain", "{}", Delivery::Poll)
        .await
        .unwrap_err()
        .to_string();

    assert!(missing.contains("query"), "{missing}");
    assert!(unknown.contains("user"), "{unknown}");
    assert!(
        no_trigger.contains("weather.rain") && no_trigger.contains("mention.new"),
        "{no_trigger}"
    );
    assert_eq!(bed.x.traffic().len(), before, "a request was sent");
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The JSON lines a command printed.
fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn run(platform: &Platform, args: &[&str]) -> Output {
    let mut command = platform.command(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_prints_each_new_mention_once_across_restarts() {
    let (bed, id, platform) = connected().await;
    let watch = ["watch", "mention.new", "--connection", &id, "--once"];

    let start = run(&platform, &watch).await;
    let first = bed.x.post_as("grace", "@ada first");
    let second = bed.x.post_as("alan", "@ada second");
    let both = run(&platform, &watch).await;
    let none = run(&platform, &watch).await;
    let third = bed.x.post_as("grace", "@ada third");
    let last = run(&platform, &watch).await;

    for output in [&start, &both, &none, &last] {
        assert!(output.status.success(), "{}", text(output));
    }
    assert!(lines(&start).is_empty(), "{}", text(&start));
    let printed: Vec<Value> = lines(&both).iter().map(|l| l["id"].clone()).collect();
    assert_eq!(printed, vec![json!(first), json!(second)]);
    assert_eq!(lines(&both)[0]["trigger"], "mention.new");
    assert_eq!(lines(&both)[0]["data"]["post"]["text"], "@ada first");
    assert!(lines(&none).is_empty(), "{}", text(&none));
    assert_eq!(lines(&last).len(), 1);
    assert_eq!(lines(&last)[0]["id"], json!(third));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_watch_killed_between_polls_and_started_again_misses_and_repeats_nothing() {
    let (bed, id, platform) = connected().await;
    platform.warm_up().await;
    let start = |platform: &Platform| {
        let mut child = platform
            .command(&[
                "watch",
                "mention.new",
                "--connection",
                &id,
                "--interval",
                "5",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (sender, receiver) = std::sync::mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        (child, receiver)
    };
    let next_line = |receiver: &std::sync::mpsc::Receiver<String>| -> Value {
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the watch printed an event");
        serde_json::from_str(&line).unwrap()
    };
    let mentions = format!("/2/users/{}/mentions", bed.x.user_id("ada").unwrap());
    let a_poll_after = |bed: &AuthBed, before: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while bed.x.arrivals(&format!(
            "/2/users/{}/mentions",
            bed.x.user_id("ada").unwrap()
        )) == before
        {
            assert!(Instant::now() < deadline, "the watch never polled");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (mut watcher, printed) = start(&platform);
    a_poll_after(&bed, 0);
    let one = bed.x.post_as("grace", "@ada while watching");
    let seen_one = next_line(&printed);
    // Killed once that poll has finished (recorded, cursor moved): the next
    // one has begun. Killed in the middle of a poll, a watcher may print an
    // event again after a restart (at least once), never lose one.
    a_poll_after(&bed, bed.x.arrivals(&mentions));
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    let two = bed.x.post_as("alan", "@ada while stopped");
    let polls_before = bed.x.arrivals(&mentions);
    let (mut watcher, printed_again) = start(&platform);
    a_poll_after(&bed, polls_before);
    let seen_two = next_line(&printed_again);
    let three = bed.x.post_as("grace", "@ada after the restart");
    let seen_three = next_line(&printed_again);
    watcher.kill().unwrap();
    watcher.wait().unwrap();

    assert_eq!(seen_one["id"], json!(one));
    assert_eq!(seen_two["id"], json!(two), "the mention made while stopped");
    assert_eq!(seen_three["id"], json!(three));
    assert!(
        printed_again.try_recv().is_err(),
        "something was printed twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_builder_sees_a_real_sample_and_the_triggers_are_listed_beside_the_actions() {
    let (bed, id, platform) = connected().await;
    let latest = bed.x.post_as("grace", "@ada a sample mention");

    let sample = run(
        &platform,
        &["watch", "mention.new", "--connection", &id, "--sample"],
    )
    .await;
    let listed = run(&platform, &["actions", "--json"]).await;
    let text_listing = run(&platform, &["actions"]).await;

    assert!(sample.status.success(), "{}", text(&sample));
    assert_eq!(lines(&sample)[0]["id"], json!(latest));
    let listing: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let triggers: Vec<&str> = listing["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        triggers,
        [
            "mention.new",
            "post.new",
            "post.matching",
            "follower.new",
            "dm.new",
            "like.new"
        ]
    );
    assert_eq!(listing["triggers"][3]["pushable"], true);
    assert_eq!(listing["actions"].as_array().unwrap().len(), 34);
    let said = String::from_utf8_lossy(&text_listing.stdout);
    assert!(
        said.contains("6 triggers") && said.contains("delivery: poll, push"),
        "{said}"
    );
    assert!(said.contains("query: string (required)"), "{said}");
}
