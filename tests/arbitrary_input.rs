//! A property test: every action of the X connector, fed arbitrary input
//! through the real host and component against the emulator, answers with
//! a result that fits its output schema or with a typed error a workflow
//! can act on; never a panic, a trap or an internal error; and the host
//! goes on serving.
//!
//! Inputs are built from each action's published input schema: objects of
//! its own property names (and stray ones) with values of any JSON shape,
//! plus text that is not JSON at all. `PROPTEST_CASES` raises the number of
//! cases for a longer run.

mod support;

use host_harness::ActionError;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use support::{XBed, assert_fits_output_schema, oauth_connection};

/// Any JSON value, with a bias towards what inputs hold: ids, times, short
/// and long text, small and extreme numbers.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u32..1200).prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        "[0-9]{1,21}".prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        Just(json!("2026-11-20T09:30:00Z")),
        Just(json!("replies")),
        Just(json!("a".repeat(5000))),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_.]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value that an input named `name` plausibly holds, so that cases get
/// past the parser and reach the API: ids of real posts and users, short
/// texts, numbers near X's bounds, recent times.
fn plausible(name: &str, ids: &[String]) -> BoxedStrategy<Value> {
    let id = prop_oneof![
        3 => prop::sample::select(ids.to_vec()),
        1 => "[1-9][0-9]{0,18}",
    ];
    match name {
        n if n == "id" || n.ends_with("_id") => id.prop_map(Value::from).boxed(),
        n if n.ends_with("ids") => prop::collection::vec(id, 0..5)
            .prop_map(|v| json!(v))
            .boxed(),
        "text" | "alt_text" => "\\PC{0,60}".prop_map(Value::from).boxed(),
        "query" => prop_oneof![
            Just(json!("engine")),
            Just(json!("from:ada -is:retweet")),
            "[a-z ()\"-:]{1,30}".prop_map(Value::from),
        ]
        .boxed(),
        "max_results" | "limit" | "duration_minutes" => (0u32..1200).prop_map(Value::from).boxed(),
        "retry_budget_secs" => (0u32..3).prop_map(Value::from).boxed(),
        "usernames" => prop::collection::vec(
            prop_oneof![Just("grace".to_string()), "@?[A-Za-z_]{0,17}"],
            0..4,
        )
        .prop_map(|v| json!(v))
        .boxed(),
        "exclude" => prop::collection::vec(
            prop::sample::select(vec!["replies", "retweets", "quotes"]),
            0..3,
        )
        .prop_map(|v| json!(v))
        .boxed(),
        "start_time" | "end_time" => (60i64..900_000)
            .prop_map(|ago| {
                let at = chrono::Utc::now() - chrono::Duration::seconds(ago);
                json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            })
            .boxed(),
        "nullcast" | "for_super_followers_only" => any::<bool>().prop_map(Value::from).boxed(),
        _ => json_value().boxed(),
    }
}

/// An input for an action whose schema names `properties`.
fn input_for(properties: Vec<String>, ids: Vec<String>) -> BoxedStrategy<String> {
    let known = if properties.is_empty() {
        Just(String::from("anything")).boxed()
    } else {
        prop::sample::select(properties).boxed()
    };
    let name = prop_oneof![9 => known, 1 => "[a-z_]{1,12}"];
    let member = name.prop_flat_map(move |name| {
        let value = prop_oneof![3 => plausible(&name, &ids), 1 => json_value()];
        (Just(name), value)
    });
    let object = prop::collection::vec(member, 0..6).prop_map(|pairs| {
        let object: Map<String, Value> = pairs.into_iter().collect();
        Value::Object(object).to_string()
    });
    prop_oneof![
        10 => object,
        1 => any::<String>(),
        1 => json_value().prop_map(|v| v.to_string()),
    ]
    .boxed()
}

#[test]
fn every_action_answers_arbitrary_input_with_a_result_or_a_typed_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bed = runtime.block_on(XBed::start());
    let actions: Vec<(String, Vec<String>)> = bed
        .connector
        .descriptor()
        .actions
        .iter()
        .map(|a| {
            let properties = a.input_schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (a.id.clone(), properties)
        })
        .collect();
    // A connection granted every scope, so that cases reach X rather than
    // stop at a missing scope.
    let mut scopes: Vec<String> = bed
        .connector
        .descriptor()
        .actions
        .iter()
        .flat_map(|a| a.required_scopes.clone())
        .collect();
    scopes.sort();
    scopes.dedup();
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let ada = oauth_connection(&bed.x, "ada", &scopes);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(600);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let mut ids: Vec<String> = ["ada", "grace", "alan", "mary"]
        .iter()
        .filter_map(|u| bed.x.user_id(u))
        .collect();
    ids.extend(bed.x.posts_of("grace").into_iter().map(|p| p.id));
    ids.extend(bed.x.posts_of("ada").into_iter().map(|p| p.id));
    let strategy = prop::sample::select(actions)
        .prop_flat_map(move |(id, properties)| (Just(id), input_for(properties, ids.clone())));

    let tally = std::sync::Mutex::new(std::collections::BTreeMap::<&'static str, u32>::new());
    let outcome = runner.run(&strategy, |(action, input)| {
        let result = runtime.block_on(bed.connector.invoke(&ada, &action, &input));
        let kind = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        *tally.lock().unwrap().entry(kind).or_default() += 1;
        match result {
            Ok(output) => assert_fits_output_schema(&bed.connector, &action, &output),
            Err(ActionError::Internal { detail }) => {
                return Err(TestCaseError::fail(format!(
                    "{action} gave an internal error for {input:.200}: {detail}"
                )));
            }
            Err(_) => {}
        }
        Ok(())
    });

    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let tally = tally.into_inner().unwrap();
    eprintln!("outcomes: {tally:?}");
    // The inputs reach past the parser: some actions run to a result.
    assert!(tally.get("ok").copied().unwrap_or(0) > 0, "{tally:?}");
    // The host still serves after all of it.
    let me = runtime.block_on(bed.connector.invoke(
        &bed.ada,
        "post.validate",
        r#"{"text": "still here"}"#,
    ));
    assert_eq!(me.unwrap()["valid"], true);
}
