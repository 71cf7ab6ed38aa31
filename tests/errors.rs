//! Every way an action can fail reaches the workflow as the typed error it can
//! act on, and bad input is refused before any request, naming the field.

mod support;

use host_harness::manifest::AuthKind;
use host_harness::{ActionError, Connection, ConnectionFacts, HostConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;
use support::{XBed, oauth_connection, pasted_token_connection};
use x_emulator::{Endpoint, Fault};

fn field(e: &ActionError) -> &str {
    match e {
        ActionError::InvalidInput { field, .. } => field,
        other => panic!("expected invalid-input, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_naming_the_field_before_any_request() {
    let bed = XBed::start().await;
    let cases: &[(&str, &str, &str)] = &[
        ("post.create", r#"{"text": "#, ""),
        ("post.create", r#"["text"]"#, ""),
        ("post.create", r#"{}"#, "text"),
        ("post.create", r#"{"text": 5}"#, "text"),
        ("post.create", r#"{"text": ""}"#, "text"),
        ("post.create", r#"{"text": "   "}"#, "text"),
        (
            "post.create",
            r#"{"text": "hi", "colour": "red"}"#,
            "colour",
        ),
        (
            "post.create",
            r#"{"text": "hi", "reply_to_post_id": "12ab"}"#,
            "reply_to_post_id",
        ),
        ("post.delete", r#"{"id": "not-a-number"}"#, "id"),
        ("post.delete", r#"{"id": 123}"#, "id"),
        ("timeline.user", r#"{"max_results": 4}"#, "max_results"),
        ("timeline.user", r#"{"max_results": "ten"}"#, "max_results"),
        ("timeline.home", r#"{"max_results": 101}"#, "max_results"),
        ("search.recent", r#"{"query": ""}"#, "query"),
        (
            "search.recent",
            r#"{"query": "a", "max_results": 9}"#,
            "max_results",
        ),
        (
            "search.recent",
            r#"{"query": "a", "since_id": "yesterday"}"#,
            "since_id",
        ),
        ("users.me", r#"{"verbose": true}"#, "verbose"),
        ("post.teleport", r#"{}"#, "action"),
    ];
    for (action, input, expected) in cases {
        let error = bed
            .connector
            .invoke(&bed.ada, action, input)
            .await
            .expect_err(&format!("{action} {input} should fail"));
        assert_eq!(field(&error), *expected, "{action} {input}: {error:?}");
    }
    let over_long = "a".repeat(281);
    let error = bed.err("post.create", json!({"text": over_long})).await;
    assert_eq!(field(&error), "text");
    assert!(error.to_string().contains("281"), "{error}");

    assert!(
        bed.x.traffic().is_empty(),
        "bad input reached X: {:?}",
        bed.x.traffic()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_x_refuses_in_an_input_comes_back_as_invalid_input() {
    let bed = XBed::start().await;

    let bad_operator = bed.err("search.recent", json!({"query": "bogus:1"})).await;
    let too_long = bed
        .err("search.recent", json!({"query": "a ".repeat(300)}))
        .await;

    assert_eq!(field(&bad_operator), "query");
    assert!(bad_operator.to_string().contains("bogus"), "{bad_operator}");
    assert_eq!(field(&too_long), "query");
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_or_expired_token_means_reconnect() {
    let bed = XBed::start().await;
    let token = bed.x.issue_user_token("ada", support::DEFAULT_SCOPES);
    bed.x.revoke_token(&token);
    let revoked = bed
        .run_as(&pasted_token_connection(token), "users.me", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(revoked, ActionError::Unauthorized { .. }),
        "{revoked:?}"
    );

    bed.ok("users.me", json!({})).await;
    bed.x.clock().advance(Duration::from_secs(2 * 3600 + 60));
    let expired = bed.err("users.me", json!({})).await;
    assert!(
        matches!(expired, ActionError::Unauthorized { ref reason } if reason.contains("reconnect")),
        "{expired:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named_and_x_refusals_are_forbidden() {
    let bed = XBed::start().await;

    // Known grants: refused before any request, naming the missing scope.
    let read_only = oauth_connection(&bed.x, "ada", &["tweet.read", "users.read"]);
    let known = bed
        .run_as(&read_only, "post.create", json!({"text": "hi"}))
        .await
        .unwrap_err();
    match &known {
        ActionError::Forbidden { missing_scopes, .. } => {
            assert_eq!(missing_scopes, &vec!["tweet.write".to_string()])
        }
        other => panic!("{other:?}"),
    }
    assert!(bed.x.traffic().is_empty());

    // Unknown grants: X refuses.
    let pasted =
        pasted_token_connection(bed.x.issue_user_token("ada", &["tweet.read", "users.read"]));
    let refused = bed
        .run_as(&pasted, "post.create", json!({"text": "hi"}))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ActionError::Forbidden { .. }),
        "{refused:?}"
    );

    // An app-only token cannot act for a user.
    let app = pasted_token_connection(bed.x.issue_app_token());
    let app_me = bed.run_as(&app, "users.me", json!({})).await.unwrap_err();
    assert!(
        matches!(app_me, ActionError::Forbidden { ref detail, .. } if detail.contains("Application-Only")),
        "{app_me:?}"
    );
    let app_search = bed
        .run_as(&app, "search.recent", json!({"query": "engine"}))
        .await
        .unwrap();
    assert!(app_search["result_count"].as_u64().unwrap() > 0);

    // A connection the host knows is app-only is refused before any request.
    let before = bed.x.traffic().len();
    let client_credentials = Connection::bearer(
        ConnectionFacts {
            id: "app".into(),
            auth_kind: AuthKind::Oauth2ClientCredentials,
            granted_scopes: None,
            account_id: None,
            account_facts: Default::default(),
        },
        SecretString::from(bed.x.issue_app_token()),
    );
    let app_post = bed
        .run_as(&client_credentials, "post.create", json!({"text": "hi"}))
        .await
        .unwrap_err();
    assert!(
        matches!(app_post, ActionError::Forbidden { ref detail, .. } if detail.contains("app-only")),
        "{app_post:?}"
    );
    assert_eq!(bed.x.traffic().len(), before);

    // Another account's post cannot be deleted.
    let grace_post = bed.x.posts_of("grace")[0].id.clone();
    let theirs = bed.err("post.delete", json!({"id": grace_post})).await;
    assert!(
        matches!(theirs, ActionError::Forbidden { .. }),
        "{theirs:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn what_does_not_exist_is_not_found() {
    let bed = XBed::start().await;

    let no_post = bed.err("post.delete", json!({"id": "1234567890123"})).await;
    let no_user = bed
        .err("timeline.user", json!({"user_id": "987654321"}))
        .await;

    assert!(
        matches!(no_post, ActionError::NotFound { .. }),
        "{no_post:?}"
    );
    assert!(
        matches!(no_user, ActionError::NotFound { ref detail } if detail.contains("987654321")),
        "{no_user:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_account_s_posts_are_forbidden_with_x_s_detail() {
    let bed = XBed::start().await;
    let mary = bed.x.user_id("mary").unwrap();

    let error = bed.err("timeline.user", json!({"user_id": mary})).await;
    let found = bed.ok("users.lookup", json!({"usernames": ["mary"]})).await;
    let searched = bed
        .ok("search.recent", json!({"query": "mechanism heavens"}))
        .await;

    match error {
        ActionError::Forbidden { detail, .. } => {
            assert!(
                detail.contains("not authorized to see the user"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(found["users"][0]["protected"], true);
    assert_eq!(searched["result_count"], 0, "{searched}");
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_window_is_rate_limited_with_its_reset_time() {
    let bed = XBed::start().await;
    bed.x.set_rate_limit(Endpoint::UsersMe, 1);

    let first = bed.ok("users.me", json!({})).await;
    let second = bed.err("users.me", json!({})).await;

    assert_eq!(first["rate_limit"]["remaining"], 0);
    match second {
        ActionError::RateLimited {
            reset_at,
            limit,
            remaining,
            ..
        } => {
            assert_eq!(limit, Some(1));
            assert_eq!(remaining, Some(0));
            assert_eq!(reset_at, first["rate_limit"]["reset_at"].as_u64());
        }
        other => panic!("{other:?}"),
    }
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_post_is_a_conflict() {
    let bed = XBed::start().await;
    bed.ok("post.create", json!({"text": "Once only."})).await;

    let again = bed.err("post.create", json!({"text": "Once only."})).await;

    assert!(
        matches!(again, ActionError::Conflict { ref detail } if detail.contains("duplicate")),
        "{again:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_is_upstream_with_the_status_and_detail() {
    let bed = XBed::start().await;
    // Once for the first attempt, once for the attempt after the connector
    // found the post was not published.
    bed.x.inject(Endpoint::CreatePost, Fault::Status(503));
    bed.x.inject(Endpoint::CreatePost, Fault::Status(503));

    let error = bed
        .err("post.create", json!({"text": "During an outage."}))
        .await;

    match error {
        ActionError::Upstream {
            status,
            title,
            detail,
            problem_type,
        } => {
            assert_eq!(status, 503);
            assert_eq!(title, "Service Unavailable");
            assert_eq!(detail, "Injected failure");
            assert_eq!(problem_type.as_deref(), Some("about:blank"));
        }
        other => panic!("{other:?}"),
    }
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_or_unreachable_api_is_a_timeout() {
    let bed = XBed::start().await;
    let config = HostConfig {
        http: host_harness::outgoing::HttpTimeouts {
            first_byte: Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut impatient = XBed::start().await;
    impatient.connector = impatient.connector.with_config(config);
    impatient
        .x
        .inject(Endpoint::UsersMe, Fault::Delay(Duration::from_secs(3)));
    let slow = impatient
        .err("users.me", json!({"retry_budget_secs": 0}))
        .await;
    assert!(matches!(slow, ActionError::Timeout { .. }), "{slow:?}");

    // Nothing listens on the route's port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut unreachable = bed.connector.clone();
    unreachable.route_api_hosts(
        &host_harness::Origin::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
    );
    let error = unreachable
        .invoke(&bed.ada, "users.me", r#"{"retry_budget_secs": 0}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ActionError::Timeout { ref detail } if detail.contains("could not reach")),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_server_is_given_up_by_the_component_itself_within_the_action_s_deadline() {
    // A server that takes connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let bed = XBed::start().await;
    // A host whose HTTP would wait an hour: only the timeouts the component
    // passes with its request end it before the action's deadline.
    let hour = Duration::from_secs(3600);
    let patient = HostConfig {
        http: host_harness::outgoing::HttpTimeouts {
            connect: hour,
            first_byte: hour,
            between_bytes: hour,
        },
        action_deadline: Duration::from_secs(4),
        ..Default::default()
    };
    let mut connector = bed.connector.clone().with_config(patient);
    connector.route_api_hosts(&host_harness::Origin::parse(&origin).unwrap());

    let started = std::time::Instant::now();
    let error = connector
        .invoke(&bed.ada, "users.me", r#"{"retry_budget_secs": 0}"#)
        .await
        .unwrap_err();

    assert!(
        matches!(error, ActionError::Timeout { ref detail } if detail.contains("did not answer in time")),
        "the host's deadline, not the request's timeout, ended it: {error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_sent_again_within_the_callers_budget() {
    let bed = XBed::start().await;
    let path = format!("/2/users/{}/tweets", bed.x.user_id("ada").unwrap());
    bed.x.inject(Endpoint::UserPosts, Fault::Status(503));
    bed.x.inject(Endpoint::UserPosts, Fault::Status(502));

    let recovered = bed.ok("timeline.user", json!({})).await;
    let after_two_failures = bed.x.arrivals(&path);
    bed.x.inject(Endpoint::UserPosts, Fault::Status(503));
    let no_budget = bed
        .err("timeline.user", json!({"retry_budget_secs": 0}))
        .await;
    let after_no_budget = bed.x.arrivals(&path);
    let bad_budget = bed
        .err("timeline.user", json!({"retry_budget_secs": 601}))
        .await;
    bed.x.set_rate_limit(Endpoint::UsersMe, 1);
    bed.ok("users.me", json!({})).await;
    let started = std::time::Instant::now();
    let limited = bed.err("users.me", json!({"retry_budget_secs": 30})).await;
    let waited = started.elapsed();

    assert!(!recovered["posts"].as_array().unwrap().is_empty());
    assert_eq!(after_two_failures, 3, "two failures, then the answer");
    assert!(matches!(
        no_budget,
        ActionError::Upstream { status: 503, .. }
    ));
    assert_eq!(after_no_budget, 4, "sent once");
    assert!(
        matches!(&bad_budget, ActionError::InvalidInput { field, .. } if field == "retry_budget_secs"),
        "{bad_budget:?}"
    );
    // The window resets in fifteen minutes, beyond the budget: no waiting.
    assert!(
        matches!(limited, ActionError::RateLimited { .. }),
        "{limited:?}"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_whose_answer_was_lost_is_found_not_posted_twice() {
    let bed = XBed::start().await;
    bed.x.inject(Endpoint::CreatePost, Fault::LoseAnswer(503));
    bed.x.inject(Endpoint::CreatePost, Fault::Status(503));

    let found = bed
        .ok(
            "post.create",
            json!({"text": "Published, though the answer was lost: https://example.com/a/long/path"}),
        )
        .await;
    let resent = bed
        .ok(
            "post.create",
            json!({"text": "Not published the first time."}),
        )
        .await;

    let texts: Vec<String> = bed.x.posts_of("ada").into_iter().map(|p| p.text).collect();
    let count = |t: &str| texts.iter().filter(|x| x.starts_with(t)).count();
    assert_eq!(found["recovered"], true);
    assert_eq!(count("Published, though the answer was lost"), 1);
    assert_eq!(
        found["post"]["id"].as_str(),
        bed.x
            .posts_of("ada")
            .iter()
            .find(|p| p.text.starts_with("Published, though"))
            .map(|p| p.id.as_str())
    );
    assert_eq!(resent["recovered"], false);
    assert_eq!(count("Not published the first time."), 1);
    assert_eq!(
        bed.x.arrivals("/2/tweets"),
        3,
        "one for the first post, two for the second"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_limits_stop_an_action_with_a_typed_error() {
    let limited = |traffic: host_harness::outgoing::TrafficLimits, memory: usize| async move {
        let mut bed = XBed::start().await;
        bed.x.add_numbered_posts("ada", 230);
        bed.connector = bed.connector.with_config(HostConfig {
            traffic,
            max_memory_bytes: memory,
            ..Default::default()
        });
        bed
    };
    let defaults = host_harness::outgoing::TrafficLimits::default();
    let big_memory = HostConfig::default().max_memory_bytes;
    let png = {
        use base64::Engine;
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bytes.resize(70_000, 7);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };

    let few_requests = limited(
        host_harness::outgoing::TrafficLimits {
            max_requests: 2,
            ..defaults
        },
        big_memory,
    )
    .await;
    let pages = few_requests
        .err("timeline.user", json!({"limit": 300}))
        .await;
    let small_answers = limited(
        host_harness::outgoing::TrafficLimits {
            max_response_bytes: 2_000,
            ..defaults
        },
        big_memory,
    )
    .await;
    let big_page = small_answers
        .err("timeline.user", json!({"max_results": 100}))
        .await;
    let small_uploads = limited(
        host_harness::outgoing::TrafficLimits {
            max_request_bytes: 10_000,
            ..defaults
        },
        big_memory,
    )
    .await;
    let upload = small_uploads
        .err("media.upload", json!({"base64": png}))
        .await;
    let little_memory = limited(defaults, 1024 * 1024).await;
    let starved = little_memory
        .err("media.upload", json!({"base64": png}))
        .await;

    let limit_of = |e: &ActionError| match e {
        ActionError::LimitExceeded { limit, .. } => limit.clone(),
        other => panic!("expected limit-exceeded, got {other:?}"),
    };
    assert_eq!(limit_of(&pages), "requests");
    assert_eq!(
        few_requests.x.arrivals(&format!(
            "/2/users/{}/tweets",
            few_requests.x.user_id("ada").unwrap()
        )),
        2,
        "the third page never left the sandbox"
    );
    assert_eq!(limit_of(&big_page), "response-bytes");
    assert_eq!(
        small_answers.x.arrivals(&format!(
            "/2/users/{}/tweets",
            small_answers.x.user_id("ada").unwrap()
        )),
        1,
        "not retried past the limit"
    );
    assert_eq!(limit_of(&upload), "request-bytes");
    assert_eq!(limit_of(&starved), "memory");
    assert_eq!(pages.kind(), "limit-exceeded");
    // The host goes on serving with its usual limits.
    let bed = XBed::start().await;
    bed.ok("users.me", json!({})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_without_data_is_an_internal_error() {
    let bed = XBed::start().await;
    bed.x.inject(
        Endpoint::UsersMe,
        Fault::Raw {
            status: 200,
            body: "{}".into(),
        },
    );
    bed.x.inject(
        Endpoint::UsersMe,
        Fault::Raw {
            status: 200,
            body: "<html>".into(),
        },
    );

    let empty = bed.err("users.me", json!({})).await;
    let garbled = bed.err("users.me", json!({})).await;

    assert!(
        matches!(empty, ActionError::Internal { ref detail } if detail.contains("without `data`")),
        "{empty:?}"
    );
    assert!(
        matches!(garbled, ActionError::Upstream { status: 200, .. }),
        "{garbled:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn strange_inputs_never_crash_the_host() {
    let bed = XBed::start().await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let inputs: Vec<String> = vec![
        String::new(),
        "null".into(),
        "\u{0}".into(),
        deep,
        format!(r#"{{"text": "{}"}}"#, "é".repeat(100_000)),
        r#"{"text": "\ud800"}"#.into(),
        r#"{"text": "🙂🙂🙂", "reply_to_post_id": null}"#.into(),
        r#"{"query": "((((((((((a))))))))))"}"#.into(),
        r#"{"text": "x", "text": "y"}"#.into(),
    ];
    for action in [
        "post.create",
        "search.recent",
        "users.me",
        "post.delete",
        "timeline.user",
    ] {
        for input in &inputs {
            let result: Result<Value, ActionError> =
                bed.connector.invoke(&bed.ada, action, input).await;
            if let Err(e) = result {
                assert!(
                    !matches!(e, ActionError::Internal { .. }),
                    "{action} {:.40}: {e:?}",
                    input
                );
            }
        }
    }
    // The host still serves.
    bed.ok("users.me", json!({})).await;
}
