//! The store contract, run against both backends: a SQLite file in a fresh
//! directory, and a fresh schema of the PostgreSQL server on this machine
//! (`HOST_HARNESS_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test opens its stores
//! the way hosts do; several `Store` values on one place stand for several
//! hosts sharing it.

use credential_store::{
    AppCredentialLevel, ClaimedDelivery, ConnectionStatus, Delivery, DeliveryOutcome,
    DeliveryStatus, Destination, FieldValue, KeyRotation, Keyring, LeaseTerms, MasterKey,
    NewConnection, NewSubscription, PendingSignIn, Store, StoreError, StoreLocation, Tokens,
};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::time::Duration;

mod place;
use place::Place;

/// Declares each contract test once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(super::Place::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(super::Place::postgres().await).await
                }
            )*
        }
    };
}

contract!(
    connections_round_trip_and_no_secret_is_stored_in_the_clear,
    a_connections_tool_limit_is_kept_replaced_and_lifted_by_any_host,
    an_oauth_grant_is_taken_once_by_any_host_and_goes_with_its_connection,
    a_sealed_bearer_opens_on_any_host_for_its_purpose_only,
    a_wrong_key_is_refused_and_nothing_is_written,
    a_tampered_ciphertext_is_a_clear_error,
    a_ciphertext_moved_to_another_row_does_not_decrypt,
    token_saves_are_versioned,
    app_credentials_are_kept_per_level_and_blank_removes,
    deleting_a_connection_removes_everything_kept_for_it,
    a_sign_in_started_by_one_host_is_taken_once_by_another,
    sign_ins_expire_and_are_swept,
    sessions_are_shared_expire_and_close,
    a_cursor_moves_once_per_version_whoever_moves_it,
    two_hosts_recording_the_same_events_each_get_every_key_once_between_them,
    old_seen_events_are_forgotten,
    the_refresh_lease_admits_one_holder_at_a_time,
    a_lease_released_without_commit_writes_nothing,
    hosts_opening_a_new_store_at_once_agree_on_it,
    a_store_from_a_newer_release_is_refused_without_writing,
    a_server_subscription_is_polled_by_one_host_at_a_time_and_its_events_queue_once,
    deliveries_are_claimed_by_one_host_retried_and_end_as_dead_letters,
    a_subscriptions_events_are_claimed_in_order_whichever_host_sends_them,
    a_pushed_subscription_is_not_polled_and_its_pushed_events_queue_once,
    a_webhook_is_registered_by_one_host_and_remembers_its_last_event,
    a_spent_rate_limit_holds_back_the_connections_polls_of_that_trigger,
    requests_are_counted_per_key_in_one_window_for_every_host,
    tenants_keep_their_keys_by_hash_and_their_connections_apart,
    a_connect_session_is_used_once_whichever_host_uses_it,
    an_identity_code_is_taken_once_by_its_tenant_only,
    platform_events_are_queued_with_the_change_that_makes_them_once,
    an_attempt_a_dead_host_never_settled_still_counts,
    events_past_the_retention_window_go_and_dead_letters_and_sequences_stay,
    a_stopping_host_gives_back_its_leases_and_claims,
    the_master_key_rotates_online_and_the_old_one_can_then_be_retired,
    a_rotation_loses_no_token_a_host_writes_while_it_runs,
);

fn secret(s: &str) -> FieldValue {
    FieldValue::Secret(SecretString::from(s.to_string()))
}

fn new_connection() -> NewConnection {
    NewConnection {
        connector: "x".into(),
        method: "oauth2".into(),
        auth_kind: "oauth2-authorization-code".into(),
        name: "Marketing".into(),
        brand: Some("acme".into()),
        fields: BTreeMap::from([
            (
                "client_id".to_string(),
                FieldValue::Plain("client-123456".into()),
            ),
            ("client_secret".to_string(), secret("very-secret-value")),
        ]),
        tenant_id: None,
        end_user: None,
        quiet: false,
    }
}

fn tokens(access: &str, refresh: &str) -> Tokens {
    Tokens {
        access_token: Some(SecretString::from(access.to_string())),
        access_expires_at: Some(1_900_000_000),
        access_issued_at: Some(1_899_992_800),
        refresh_token: Some(SecretString::from(refresh.to_string())),
        token_secret: None,
        scope: Some("tweet.read users.read".into()),
    }
}

fn lease_terms(wait_ms: u64) -> LeaseTerms {
    LeaseTerms {
        wait: Duration::from_millis(wait_ms),
        hold: Duration::from_secs(30),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn connections_round_trip_and_no_secret_is_stored_in_the_clear(place: Place) {
    let key = MasterKey::generate();
    let store = place.open(&key).await;
    let created = store.create_connection(&new_connection()).await.unwrap();
    store
        .save_tokens(&created.id, &tokens("access-AAAA", "refresh-RRRR"), None)
        .await
        .unwrap();
    store
        .begin_sign_in(&PendingSignIn {
            key: SecretString::from("state-SSSS"),
            connection_id: created.id.clone(),
            flow: "oauth2".into(),
            payload: SecretString::from("verifier-VVVV"),
            expires_at: now() + 900,
        })
        .await
        .unwrap();
    drop(store);

    let store = place.open(&key).await;
    let read = store.connection(&created.id).await.unwrap();

    assert_eq!(read.status, ConnectionStatus::Pending);
    assert_eq!(read.brand.as_deref(), Some("acme"));
    match &read.fields["client_secret"] {
        FieldValue::Secret(s) => assert_eq!(s.expose_secret(), "very-secret-value"),
        other => panic!("{other:?}"),
    }
    let (t, version) = store.tokens(&created.id).await.unwrap().unwrap();
    assert_eq!(version, 1);
    assert_eq!(t.refresh_token.unwrap().expose_secret(), "refresh-RRRR");
    assert_eq!(t.access_issued_at, Some(1_899_992_800));
    let everything = place.dump().await;
    for needle in [
        "very-secret-value",
        "access-AAAA",
        "refresh-RRRR",
        "state-SSSS",
        "verifier-VVVV",
    ] {
        assert!(
            !everything
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "{needle} is stored in the clear"
        );
    }
}

async fn a_wrong_key_is_refused_and_nothing_is_written(place: Place) {
    let store = place.open(&MasterKey::generate()).await;
    let id = store.create_connection(&new_connection()).await.unwrap().id;
    store
        .save_tokens(&id, &tokens("a", "r"), None)
        .await
        .unwrap();
    drop(store);
    let before = place.dump().await;

    let err = Store::open(&place.location, &MasterKey::generate())
        .await
        .unwrap_err();

    assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains("master key"), "{err}");
    assert_eq!(place.dump().await, before, "the store changed");
}

async fn a_tampered_ciphertext_is_a_clear_error(place: Place) {
    let store = place.open(&MasterKey::generate()).await;
    let id = store.create_connection(&new_connection()).await.unwrap().id;
    store
        .save_tokens(&id, &tokens("a", "r"), None)
        .await
        .unwrap();

    place.flip_a_bit_of_the_refresh_token(&id).await;
    let err = store.tokens(&id).await.unwrap_err();

    assert!(matches!(err, StoreError::Tampered { .. }), "{err}");
    assert!(err.to_string().contains("refresh_token"), "{err}");
}

async fn a_ciphertext_moved_to_another_row_does_not_decrypt(place: Place) {
    let store = place.open(&MasterKey::generate()).await;
    let a = store.create_connection(&new_connection()).await.unwrap().id;
    let b = store.create_connection(&new_connection()).await.unwrap().id;

    place.copy_client_secret(&a, &b).await;

    assert!(matches!(
        store.connection(&b).await,
        Err(StoreError::Tampered { .. })
    ));
    assert!(store.connection(&a).await.is_ok());
}

async fn token_saves_are_versioned(place: Place) {
    let store = place.open(&MasterKey::generate()).await;
    let id = store.create_connection(&new_connection()).await.unwrap().id;

    let v1 = store
        .save_tokens(&id, &tokens("a1", "r1"), None)
        .await
        .unwrap();
    let v2 = store
        .save_tokens(&id, &tokens("a2", "r2"), Some(v1))
        .await
        .unwrap();

    assert!(matches!(
        store.save_tokens(&id, &tokens("a3", "r3"), Some(v1)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.save_tokens(&id, &tokens("a3", "r3"), None).await,
        Err(StoreError::Conflict(_))
    ));
    let (t, v) = store.tokens(&id).await.unwrap().unwrap();
    assert_eq!(v, v2);
    assert_eq!(t.refresh_token.unwrap().expose_secret(), "r2");
    assert!(matches!(
        store
            .save_tokens("conn_missing", &tokens("a", "r"), None)
            .await,
        Err(StoreError::NoSuchConnection(_))
    ));
}

async fn app_credentials_are_kept_per_level_and_blank_removes(place: Place) {
    let store = place.open(&MasterKey::generate()).await;
    let default = AppCredentialLevel::Default;
    let brand = AppCredentialLevel::Brand("acme".into());
    store
        .set_app_credentials(
            "x",
            "oauth2",
            &default,
            &BTreeMap::from([
                ("client_id".into(), FieldValue::Plain("default-id".into())),
                ("client_secret".into(), secret("default-secret")),
            ]),
        )
        .await
        .unwrap();
    store
        .set_app_credentials(
            "x",
            "oauth2",
            &brand,
            &BTreeMap::from([("client_id".into(), FieldValue::Plain("brand-id".into()))]),
        )
        .await
        .unwrap();

    let defaults = store
        .app_credentials("x", "oauth2", &default)
        .await
        .unwrap();
    assert_eq!(defaults.len(), 2);
    assert!(
        matches!(&defaults["client_secret"], FieldValue::Secret(s) if s.expose_secret() == "default-secret")
    );
    assert_eq!(
        store
            .app_credentials("x", "oauth2", &brand)
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .set_app_credentials(
            "x",
            "oauth2",
            &brand,
            &BTreeMap::from([("client_id".into(), FieldValue::Plain(" ".into()))]),
        )
        .await
        .unwrap();
    assert!(
        store
            .app_credentials("x", "oauth2", &brand)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_connections_tool_limit_is_kept_replaced_and_lifted_by_any_host(place: Place) {
    let key = MasterKey::generate();
    let (one, other) = (place.open(&key).await, place.open(&key).await);
    let id = one.create_connection(&new_connection()).await.unwrap().id;
    let unlimited = one.mcp_tools(&id).await.unwrap();

    one.set_mcp_tools(&id, Some("read-only")).await.unwrap();
    let limited = other.mcp_tools(&id).await.unwrap();
    other
        .set_mcp_tools(&id, Some("users.me,post.create"))
        .await
        .unwrap();
    let replaced = one.mcp_tools(&id).await.unwrap();
    one.set_mcp_tools(&id, None).await.unwrap();
    let lifted = other.mcp_tools(&id).await.unwrap();
    let nowhere = one.set_mcp_tools("con_missing", Some("read-only")).await;

    assert_eq!(unlimited, None);
    assert_eq!(limited.as_deref(), Some("read-only"));
    assert_eq!(replaced.as_deref(), Some("users.me,post.create"));
    assert_eq!(lifted, None);
    assert!(matches!(nowhere, Err(StoreError::NoSuchConnection(_))));
    assert_eq!(one.mcp_tools("con_missing").await.unwrap(), None);
}

async fn an_oauth_grant_is_taken_once_by_any_host_and_goes_with_its_connection(place: Place) {
    let key = MasterKey::generate();
    let (one, other) = (place.open(&key).await, place.open(&key).await);
    let id = one.create_connection(&new_connection()).await.unwrap().id;
    let minute = Duration::from_secs(60);
    let code = one
        .create_oauth_grant("code", &id, r#"{"tools":"all"}"#, minute)
        .await
        .unwrap();
    let refresh = one
        .create_oauth_grant("refresh", &id, "{}", minute)
        .await
        .unwrap();
    let expired = one
        .create_oauth_grant("code", &id, "{}", Duration::ZERO)
        .await
        .unwrap();

    let as_another_kind = other
        .take_oauth_grant("refresh", code.expose_secret())
        .await
        .unwrap();
    let taken = other
        .take_oauth_grant("code", code.expose_secret())
        .await
        .unwrap();
    let again = one
        .take_oauth_grant("code", code.expose_secret())
        .await
        .unwrap();
    let late = one
        .take_oauth_grant("code", expired.expose_secret())
        .await
        .unwrap();
    let nowhere = one
        .create_oauth_grant("code", "con_missing", "{}", minute)
        .await;
    one.delete_connection(&id).await.unwrap();
    let after_delete = other
        .take_oauth_grant("refresh", refresh.expose_secret())
        .await
        .unwrap();

    assert_eq!(as_another_kind, None);
    assert_eq!(taken.as_deref(), Some(r#"{"tools":"all"}"#));
    assert_eq!(again, None, "a grant is used once");
    assert_eq!(late, None, "an expired grant is refused");
    assert!(matches!(nowhere, Err(StoreError::NoSuchConnection(_))));
    assert_eq!(after_delete, None, "a grant goes with its connection");
}

async fn a_sealed_bearer_opens_on_any_host_for_its_purpose_only(place: Place) {
    let key = MasterKey::generate();
    let (one, other) = (place.open(&key).await, place.open(&key).await);

    let bearer = one.seal_bearer("mcp-access", r#"{"connection":"con_1"}"#);
    let mut altered = bearer.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();

    assert!(!bearer.contains("con_1"), "the text is sealed, not encoded");
    assert_eq!(
        other.open_bearer("mcp-access", &bearer).as_deref(),
        Some(r#"{"connection":"con_1"}"#)
    );
    assert_eq!(other.open_bearer("mcp-client", &bearer), None);
    assert_eq!(other.open_bearer("mcp-access", &altered), None);
    assert_eq!(other.open_bearer("mcp-access", "not base64!"), None);
}

async fn deleting_a_connection_removes_everything_kept_for_it(place: Place) {
    let store = place.open(&MasterKey::generate()).await;
    let id = store.create_connection(&new_connection()).await.unwrap().id;
    store
        .save_tokens(&id, &tokens("a", "r"), None)
        .await
        .unwrap();
    store
        .begin_sign_in(&PendingSignIn {
            key: SecretString::from("state-1"),
            connection_id: id.clone(),
            flow: "oauth2".into(),
            payload: SecretString::from("verifier"),
            expires_at: now() + 900,
        })
        .await
        .unwrap();
    let subscription = store
        .create_subscription(&NewSubscription {
            connection_id: id.clone(),
            trigger: "mention.new".into(),
            configuration: "{}".into(),
            delivery: Delivery::Poll,
            destination: Destination::Watch,
            interval_secs: 60,
            signing_secret: None,
        })
        .await
        .unwrap();
    store
        .record_events(&subscription.id, &["1".into()])
        .await
        .unwrap();
    store.set_mcp_tools(&id, Some("read-only")).await.unwrap();
    store
        .create_oauth_grant("refresh", &id, "{}", Duration::from_secs(60))
        .await
        .unwrap();

    store.delete_connection(&id).await.unwrap();

    assert!(matches!(
        store.connection(&id).await,
        Err(StoreError::NoSuchConnection(_))
    ));
    assert!(store.tokens(&id).await.unwrap().is_none());
    assert!(store.take_sign_in("state-1").await.unwrap().is_none());
    assert!(store.subscriptions(Some(&id)).await.unwrap().is_empty());
    assert_eq!(place.rows_left_of(&id).await, 0);
    assert!(matches!(
        store.delete_connection(&id).await,
        Err(StoreError::NoSuchConnection(_))
    ));
}

async fn a_sign_in_started_by_one_host_is_taken_once_by_another(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = a.create_connection(&new_connection()).await.unwrap().id;
    a.begin_sign_in(&PendingSignIn {
        key: SecretString::from("the-state"),
        connection_id: id.clone(),
        flow: "oauth2".into(),
        payload: SecretString::from("{\"verifier\":\"v\"}"),
        expires_at: now() + 900,
    })
    .await
    .unwrap();

    let (first, second) = tokio::join!(b.take_sign_in("the-state"), a.take_sign_in("the-state"));
    let taken: Vec<PendingSignIn> = [first.unwrap(), second.unwrap()]
        .into_iter()
        .flatten()
        .collect();

    assert_eq!(taken.len(), 1, "a sign-in was taken {} times", taken.len());
    assert_eq!(taken[0].connection_id, id);
    assert_eq!(taken[0].flow, "oauth2");
    assert_eq!(taken[0].payload.expose_secret(), "{\"verifier\":\"v\"}");
    assert!(b.take_sign_in("another-state").await.unwrap().is_none());
    assert!(matches!(
        a.begin_sign_in(&PendingSignIn {
            key: SecretString::from("x"),
            connection_id: "conn_missing".into(),
            flow: "oauth2".into(),
            payload: SecretString::from("p"),
            expires_at: now() + 900,
        })
        .await,
        Err(StoreError::NoSuchConnection(_))
    ));
}

async fn sign_ins_expire_and_are_swept(place: Place) {
    let store = place.open(&MasterKey::generate()).await;
    let id = store.create_connection(&new_connection()).await.unwrap().id;
    for (key, expires_at) in [("expired", now() - 1), ("also-expired", now() - 60)] {
        store
            .begin_sign_in(&PendingSignIn {
                key: SecretString::from(key),
                connection_id: id.clone(),
                flow: "oauth1".into(),
                payload: SecretString::from("secret"),
                expires_at,
            })
            .await
            .unwrap();
    }

    assert!(store.take_sign_in("expired").await.unwrap().is_none());
    assert_eq!(store.sweep().await.unwrap(), 1, "the other expired one");
    assert_eq!(store.sweep().await.unwrap(), 0);
}

async fn sessions_are_shared_expire_and_close(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);

    let token = a.open_session(Duration::from_secs(3600)).await.unwrap();
    let short = a.open_session(Duration::ZERO).await.unwrap();

    assert!(b.session_is_open(&token).await.unwrap());
    assert!(!b.session_is_open(&short).await.unwrap());
    assert!(!b.session_is_open("not-a-session").await.unwrap());
    assert!(
        !place
            .dump()
            .await
            .windows(token.len())
            .any(|w| w == token.as_bytes())
    );
    b.close_session(&token).await.unwrap();
    assert!(!a.session_is_open(&token).await.unwrap());
    assert_eq!(a.sweep().await.unwrap(), 1);
}

async fn a_cursor_moves_once_per_version_whoever_moves_it(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = a.create_connection(&new_connection()).await.unwrap().id;
    let subscription = a
        .create_subscription(&NewSubscription {
            connection_id: id,
            trigger: "post.matching".into(),
            configuration: "{\"query\":\"rust\"}".into(),
            delivery: Delivery::Poll,
            destination: Destination::Watch,
            interval_secs: 60,
            signing_secret: None,
        })
        .await
        .unwrap();
    assert_eq!(subscription.cursor, None);

    let (first, second) = tokio::join!(
        a.move_cursor(&subscription.id, Some("100"), 0),
        b.move_cursor(&subscription.id, Some("200"), 0)
    );

    let moved: Vec<_> = [&first, &second]
        .into_iter()
        .filter(|r| r.is_ok())
        .collect();
    assert_eq!(moved.len(), 1, "{first:?} {second:?}");
    assert!(
        [&first, &second]
            .iter()
            .any(|r| matches!(r, Err(StoreError::Conflict(_))))
    );
    let read = b.subscription(&subscription.id).await.unwrap();
    assert_eq!(read.cursor_version, 1);
    assert!(matches!(read.cursor.as_deref(), Some("100" | "200")));
    assert_eq!(read.configuration, "{\"query\":\"rust\"}");
    assert!(matches!(
        a.move_cursor("sub_missing", None, 0).await,
        Err(StoreError::NoSuchSubscription(_))
    ));
    a.delete_subscription(&subscription.id).await.unwrap();
    assert!(a.subscriptions(None).await.unwrap().is_empty());
}

async fn two_hosts_recording_the_same_events_each_get_every_key_once_between_them(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = a.create_connection(&new_connection()).await.unwrap().id;
    let subscription = a
        .create_subscription(&NewSubscription {
            connection_id: id,
            trigger: "mention.new".into(),
            configuration: "{}".into(),
            delivery: Delivery::Push,
            destination: Destination::Watch,
            interval_secs: 60,
            signing_secret: None,
        })
        .await
        .unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("18{i:05}")).collect();
    let (evens, odds): (Vec<String>, Vec<String>) = keys
        .iter()
        .cloned()
        .partition(|k| k.ends_with(['0', '2', '4', '6', '8']));
    // One host sees every key, the other the even ones and some again.
    let mut some_again = evens.clone();
    some_again.extend(evens.iter().take(10).cloned());

    let (from_a, from_b) = tokio::join!(
        a.record_events(&subscription.id, &keys),
        b.record_events(&subscription.id, &some_again)
    );
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    let probe = vec![
        "new-one".to_string(),
        keys[0].clone(),
        "new-one".to_string(),
    ];
    assert_eq!(
        b.unseen_events(&subscription.id, &probe).await.unwrap(),
        vec!["new-one".to_string()]
    );

    let mut all: Vec<String> = from_a.iter().chain(&from_b).cloned().collect();
    all.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(all, expected, "each key new exactly once");
    assert!(odds.iter().all(|k| from_a.contains(k)));
    assert!(
        a.record_events(&subscription.id, &keys)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        a.record_events("sub_missing", &keys).await,
        Err(StoreError::NoSuchSubscription(_))
    ));
}

async fn old_seen_events_are_forgotten(place: Place) {
    let store = place.open(&MasterKey::generate()).await;
    let id = store.create_connection(&new_connection()).await.unwrap().id;
    let subscription = store
        .create_subscription(&NewSubscription {
            connection_id: id,
            trigger: "follower.new".into(),
            configuration: "{}".into(),
            delivery: Delivery::Poll,
            destination: Destination::Watch,
            interval_secs: 60,
            signing_secret: None,
        })
        .await
        .unwrap();
    store
        .record_events(&subscription.id, &["1".into(), "2".into()])
        .await
        .unwrap();

    let kept = store
        .forget_events_older_than(&subscription.id, Duration::from_secs(3600))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let forgotten = store
        .forget_events_older_than(&subscription.id, Duration::ZERO)
        .await
        .unwrap();

    assert_eq!((kept, forgotten), (0, 2));
    assert_eq!(
        store
            .record_events(&subscription.id, &["1".into()])
            .await
            .unwrap(),
        vec!["1".to_string()]
    );
}

async fn the_refresh_lease_admits_one_holder_at_a_time(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = a.create_connection(&new_connection()).await.unwrap().id;
    let v1 = a.save_tokens(&id, &tokens("a1", "r1"), None).await.unwrap();

    let mut held = a.refresh_lease(&id, lease_terms(5000)).await.unwrap();
    let refused = b.refresh_lease(&id, lease_terms(300)).await.unwrap_err();
    let waiting = {
        let b = place.open(&key).await;
        let id = id.clone();
        tokio::spawn(async move {
            let mut lease = b.refresh_lease(&id, lease_terms(10_000)).await.unwrap();
            let seen = lease.tokens().await.unwrap().unwrap();
            lease.commit().await.unwrap();
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (current, version) = held.tokens().await.unwrap().unwrap();
    assert_eq!(version, v1);
    assert_eq!(current.refresh_token.unwrap().expose_secret(), "r1");
    held.save_tokens(&tokens("a2", "r2")).await.unwrap();
    held.set_status(ConnectionStatus::Connected, None)
        .await
        .unwrap();
    assert!(!waiting.is_finished(), "the waiter did not wait");
    held.commit().await.unwrap();
    let (seen, seen_version) = waiting.await.unwrap();

    assert!(matches!(refused, StoreError::LeaseBusy { .. }), "{refused}");
    assert!(refused.to_string().contains(&id), "{refused}");
    assert_eq!(seen.refresh_token.unwrap().expose_secret(), "r2");
    assert_eq!(seen_version, v1 + 1);
    assert_eq!(
        b.status(&id).await.unwrap(),
        (ConnectionStatus::Connected, None)
    );
    assert!(matches!(
        b.status("conn_missing").await,
        Err(StoreError::NoSuchConnection(_))
    ));
    // Other connections' leases are not held up by this one.
    let other = a.create_connection(&new_connection()).await.unwrap().id;
    if place.is_postgres() {
        let _held = a.refresh_lease(&id, lease_terms(1000)).await.unwrap();
        b.refresh_lease(&other, lease_terms(1000)).await.unwrap();
    }
}

async fn a_lease_released_without_commit_writes_nothing(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = a.create_connection(&new_connection()).await.unwrap().id;
    a.save_tokens(&id, &tokens("a1", "r1"), None).await.unwrap();

    {
        let mut lease = a.refresh_lease(&id, lease_terms(1000)).await.unwrap();
        lease.save_tokens(&tokens("a2", "r2")).await.unwrap();
        lease
            .set_status(ConnectionStatus::NeedsReconnect, Some("lost"))
            .await
            .unwrap();
    }
    let mut next = b.refresh_lease(&id, lease_terms(5000)).await.unwrap();
    let (current, version) = next.tokens().await.unwrap().unwrap();
    next.commit().await.unwrap();

    assert_eq!(current.refresh_token.unwrap().expose_secret(), "r1");
    assert_eq!(version, 1);
    assert_eq!(
        b.connection(&id).await.unwrap().status,
        ConnectionStatus::Pending
    );
}

async fn hosts_opening_a_new_store_at_once_agree_on_it(place: Place) {
    let key = MasterKey::from_bytes([7; 32]);
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let location = place.location.clone();
        let key = MasterKey::from_bytes([7; 32]);
        opening.spawn(async move { Store::open(&location, &key).await.map(|_| ()) });
    }
    let opened = opening.join_all().await;
    let other_key = Store::open(&place.location, &MasterKey::generate()).await;

    assert!(opened.iter().all(Result::is_ok), "{opened:?}");
    assert!(matches!(other_key, Err(StoreError::WrongKey { .. })));
    let store = place.open(&key).await;
    assert!(store.connection_ids().await.unwrap().is_empty());
    assert!(Store::exists(&place.location).await.unwrap());
}

async fn a_store_from_a_newer_release_is_refused_without_writing(place: Place) {
    let key = MasterKey::generate();
    place.open(&key).await;
    place.set_schema_version(99).await;
    let before = place.dump().await;

    let err = Store::open(&place.location, &key).await.unwrap_err();

    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
    assert_eq!(place.dump().await, before);
}

async fn served_subscription(store: &Store, secret: Option<&str>) -> String {
    let id = store.create_connection(&new_connection()).await.unwrap().id;
    store
        .create_subscription(&NewSubscription {
            connection_id: id,
            trigger: "mention.new".into(),
            configuration: "{}".into(),
            delivery: Delivery::Poll,
            destination: Destination::Url("https://engine.example/hooks/x".into()),
            interval_secs: 30,
            signing_secret: secret.map(|s| SecretString::from(s.to_string())),
        })
        .await
        .unwrap()
        .id
}

fn events(ids: &[&str]) -> Vec<(String, String)> {
    ids.iter()
        .map(|id| (id.to_string(), format!("{{\"post\":{{\"id\":\"{id}\"}}}}")))
        .collect()
}

async fn a_server_subscription_is_polled_by_one_host_at_a_time_and_its_events_queue_once(
    place: Place,
) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = served_subscription(&a, Some("whsec-SIGNING-KEY")).await;
    let lease = Duration::from_secs(30);

    let (first, second) =
        tokio::join!(a.claim_poll("host-a", lease), b.claim_poll("host-b", lease));
    let winners: Vec<&str> = [("host-a", first.unwrap()), ("host-b", second.unwrap())]
        .into_iter()
        .filter(|(_, claimed)| claimed.as_ref().is_some_and(|s| s.id == id))
        .map(|(host, _)| host)
        .collect();
    assert_eq!(winners.len(), 1, "both hosts took the poll: {winners:?}");
    let owner = winners[0];
    let other = if owner == "host-a" {
        "host-b"
    } else {
        "host-a"
    };

    let refused = a
        .finish_poll(&id, other, &events(&["9"]), None, "9", 0, 0)
        .await;
    let new = a
        .finish_poll(
            &id,
            owner,
            &events(&["101", "102", "101"]),
            None,
            "102",
            0,
            0,
        )
        .await;
    let again = b.claim_poll(other, lease).await.unwrap().unwrap();
    let stale = b
        .finish_poll(&id, other, &events(&["9"]), None, "9", 0, 0)
        .await;
    let repeated = b
        .finish_poll(
            &id,
            other,
            &events(&["102", "103"]),
            None,
            "103",
            1,
            i64::MAX,
        )
        .await;
    let none_due = a.claim_poll(owner, lease).await.unwrap();

    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(new.unwrap(), 2, "101 once, 102 once");
    assert_eq!(again.cursor.as_deref(), Some("102"));
    assert_eq!(repeated.unwrap(), 1, "only 103 is new");
    assert!(none_due.is_none(), "polled before its time");
    let queued = b.deliveries(&id, 0, None, 10).await.unwrap();
    let order: Vec<(u64, &str)> = queued
        .iter()
        .map(|d| (d.sequence, d.event_id.as_str()))
        .collect();
    assert_eq!(order, vec![(1, "101"), (2, "102"), (3, "103")]);
    assert!(queued.iter().all(|d| d.status == DeliveryStatus::Pending));
    assert_eq!(b.deliveries(&id, 2, None, 10).await.unwrap().len(), 1);
    assert_eq!(
        b.signing_secret(&id)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "whsec-SIGNING-KEY"
    );
    let dump = place.dump().await;
    assert!(
        !dump.windows(11).any(|w| w == b"SIGNING-KEY"),
        "the signing key is stored in the clear"
    );
}

/// A W3C trace context, as a traced poll keeps it with its events.
const POLL_TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn deliveries_are_claimed_by_one_host_retried_and_end_as_dead_letters(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = served_subscription(&a, None).await;
    a.claim_poll("host-a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    a.finish_poll(
        &id,
        "host-a",
        &events(&["1", "2"]),
        Some(POLL_TRACE),
        "2",
        0,
        i64::MAX,
    )
    .await
    .unwrap();
    let claim = Duration::from_secs(30);
    let waiting_since = b.oldest_pending_delivery().await.unwrap();

    let (mine, theirs) = tokio::join!(
        a.claim_deliveries("host-a", claim, 10),
        b.claim_deliveries("host-b", claim, 10)
    );
    let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
    assert_eq!(mine.len() + theirs.len(), 2, "each delivery claimed once");
    let all: Vec<_> = mine.iter().chain(&theirs).collect();
    assert!(
        all.iter()
            .all(|c| c.target_url == "https://engine.example/hooks/x")
    );
    assert!(
        all.iter()
            .all(|c| c.delivery.trace_context.as_deref() == Some(POLL_TRACE)),
        "a delivery continues the trace of the poll that found it"
    );
    a.settle_delivery(&id, "1", &DeliveryOutcome::Delivered)
        .await
        .unwrap();
    a.settle_delivery(
        &id,
        "2",
        &DeliveryOutcome::Retry {
            at: 0,
            error: "status 500".into(),
        },
    )
    .await
    .unwrap();
    let retried = b.claim_deliveries("host-b", claim, 10).await.unwrap();
    b.settle_delivery(
        &id,
        "2",
        &DeliveryOutcome::Dead {
            error: "status 503".into(),
        },
    )
    .await
    .unwrap();
    let dead = a
        .deliveries(&id, 0, Some(DeliveryStatus::Dead), 10)
        .await
        .unwrap();
    let none_waiting = b.oldest_pending_delivery().await.unwrap();
    let nothing_due = a.claim_deliveries("host-a", claim, 10).await.unwrap();
    let requeued = a.requeue_dead(&id).await.unwrap();

    // What an operator's backlog gauge reads: queued just now, then none
    // once the last one is settled (a dead letter waits for nobody).
    assert!(
        waiting_since.is_some_and(|t| (now() - t).abs() <= 5),
        "{waiting_since:?}"
    );
    assert_eq!(none_waiting, None);
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].delivery.event_id, "2");
    assert_eq!(retried[0].delivery.attempts, 2, "this attempt included");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].last_error.as_deref(), Some("status 503"));
    assert!(nothing_due.is_empty());
    assert_eq!(requeued, 1);
    let delivered = a
        .deliveries(&id, 0, Some(DeliveryStatus::Delivered), 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].settled_at.is_some());
}

async fn a_subscriptions_events_are_claimed_in_order_whichever_host_sends_them(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = served_subscription(&a, None).await;
    a.claim_poll("host-a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    a.finish_poll(
        &id,
        "host-a",
        &events(&["1", "2", "3"]),
        None,
        "3",
        0,
        i64::MAX,
    )
    .await
    .unwrap();
    let claim = Duration::from_secs(30);
    let ids = |claimed: Vec<ClaimedDelivery>| -> Vec<String> {
        claimed.into_iter().map(|c| c.delivery.event_id).collect()
    };

    let first = ids(a.claim_deliveries("host-a", claim, 1).await.unwrap());
    let while_first_is_out = ids(b.claim_deliveries("host-b", claim, 10).await.unwrap());
    a.settle_delivery(
        &id,
        "1",
        &DeliveryOutcome::Retry {
            at: i64::MAX,
            error: "status 500".into(),
        },
    )
    .await
    .unwrap();
    let while_first_waits = ids(b.claim_deliveries("host-b", claim, 10).await.unwrap());
    a.settle_delivery(
        &id,
        "1",
        &DeliveryOutcome::Dead {
            error: "status 500".into(),
        },
    )
    .await
    .unwrap();
    let after_the_dead_letter = ids(b.claim_deliveries("host-b", claim, 10).await.unwrap());
    let while_b_holds_them = ids(a.claim_deliveries("host-a", claim, 10).await.unwrap());
    b.release_deliveries("host-b", &id).await.unwrap();
    let given_back = ids(a.claim_deliveries("host-a", claim, 10).await.unwrap());

    assert_eq!(first, ["1"]);
    assert!(while_first_is_out.is_empty(), "{while_first_is_out:?}");
    assert!(while_first_waits.is_empty(), "{while_first_waits:?}");
    assert_eq!(after_the_dead_letter, ["2", "3"]);
    assert!(while_b_holds_them.is_empty(), "{while_b_holds_them:?}");
    assert_eq!(given_back, ["2", "3"]);
}

async fn a_pushed_subscription_is_not_polled_and_its_pushed_events_queue_once(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = served_subscription(&a, None).await;

    a.set_push(&id, Some("1146654567674912769")).await.unwrap();
    let polled = b
        .claim_poll("host-b", Duration::from_secs(30))
        .await
        .unwrap();
    let (seven_eight, eight_seven_nine) = (events(&["7", "8"]), events(&["8", "7", "9"]));
    let (first, again) = tokio::join!(
        a.queue_events(&id, &seven_eight, None),
        b.queue_events(&id, &eight_seven_nine, None)
    );
    let pushed = b.push_subscriptions().await.unwrap();
    let push_id = b.push_id(&id).await.unwrap();
    let traced = a
        .queue_events(&id, &events(&["10"]), Some(POLL_TRACE))
        .await;
    let unknown = a.queue_events("sub_none", &events(&["1"]), None).await;
    b.set_push(&id, None).await.unwrap();
    let polled_again = b
        .claim_poll("host-b", Duration::from_secs(30))
        .await
        .unwrap();

    assert!(polled.is_none(), "a pushed subscription was polled");
    assert_eq!(first.unwrap() + again.unwrap(), 3, "7, 8 and 9, each once");
    assert_eq!(traced.unwrap(), 1);
    let queued = a.deliveries(&id, 0, None, 10).await.unwrap();
    let traces: Vec<Option<&str>> = queued.iter().map(|d| d.trace_context.as_deref()).collect();
    assert_eq!(
        traces,
        [None, None, None, Some(POLL_TRACE)],
        "the push's trace is kept with its events"
    );
    let queued: Vec<String> = queued.into_iter().map(|d| d.event_id).collect();
    assert_eq!(queued.len(), 4);
    assert!(queued.contains(&"9".to_string()));
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].delivery, Delivery::Push);
    assert_eq!(push_id.as_deref(), Some("1146654567674912769"));
    assert!(
        matches!(unknown, Err(StoreError::NoSuchSubscription(_))),
        "{unknown:?}"
    );
    assert_eq!(polled_again.map(|s| s.id), Some(id));
}

async fn a_webhook_is_registered_by_one_host_and_remembers_its_last_event(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let app = a.create_connection(&new_connection()).await.unwrap().id;
    let url = "https://hooks.example/webhooks/app";
    let lease = Duration::from_secs(60);

    let (mine, theirs) = tokio::join!(
        a.claim_webhook(&app, url, "host-a", lease),
        b.claim_webhook(&app, url, "host-b", lease)
    );
    let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
    let while_registering = b.webhook(&app).await.unwrap().unwrap();
    let winner = if mine { &a } else { &b };
    winner
        .save_webhook(&app, "1146654567674912769")
        .await
        .unwrap();
    let registered_again = a.claim_webhook(&app, url, "host-a", lease).await.unwrap();
    a.touch_webhook(&app).await.unwrap();
    let saved = b.webhook(&app).await.unwrap().unwrap();
    let moved = b
        .claim_webhook(&app, "https://new.example/webhooks/app", "host-b", lease)
        .await
        .unwrap();

    assert!(mine ^ theirs, "exactly one registers");
    assert_eq!(while_registering.remote_id, None);
    assert!(!registered_again, "registered twice at the same URL");
    assert_eq!(saved.remote_id.as_deref(), Some("1146654567674912769"));
    assert_eq!(saved.url, url);
    assert!(saved.registered_at.is_some() && saved.last_event_at.is_some());
    assert!(moved, "a new URL is registered anew");
    assert!(b.webhook("conn_none").await.unwrap().is_none());
}

async fn a_spent_rate_limit_holds_back_the_connections_polls_of_that_trigger(place: Place) {
    let key = MasterKey::generate();
    let store = place.open(&key).await;
    let connection = store.create_connection(&new_connection()).await.unwrap().id;
    let other_connection = store.create_connection(&new_connection()).await.unwrap().id;
    let subscribe = |connection: String, trigger: &str| NewSubscription {
        connection_id: connection,
        trigger: trigger.into(),
        configuration: "{}".into(),
        delivery: Delivery::Poll,
        destination: Destination::Pull,
        interval_secs: 30,
        signing_secret: None,
    };
    let mut ids = Vec::new();
    for (c, t) in [
        (&connection, "mention.new"),
        (&connection, "mention.new"),
        (&connection, "dm.new"),
        (&other_connection, "mention.new"),
    ] {
        ids.push(
            store
                .create_subscription(&subscribe(c.clone(), t))
                .await
                .unwrap()
                .id,
        );
    }
    let reset = i64::MAX / 2;

    let held = store
        .defer_polls(&connection, "mention.new", reset)
        .await
        .unwrap();

    assert_eq!(held, 2, "both mention subscriptions of the connection");
    let next = |i: usize| {
        let store = &store;
        let id = ids[i].clone();
        async move { store.subscription(&id).await.unwrap().next_poll_at }
    };
    assert_eq!(next(0).await, reset);
    assert_eq!(next(1).await, reset);
    assert!(next(2).await < reset, "another endpoint was held back");
    assert!(next(3).await < reset, "another connection was held back");
}

// ---- One backend only ---------------------------------------------------

async fn requests_are_counted_per_key_in_one_window_for_every_host(place: Place) {
    let key = MasterKey::generate();
    let one = std::sync::Arc::new(place.open(&key).await);
    let other = std::sync::Arc::new(place.open(&key).await);
    // A day's window turns at midnight UTC only: not within this test.
    let window = Duration::from_secs(24 * 3600);

    let mut counts = Vec::new();
    for store in [&one, &other, &one] {
        counts.push(store.count_request("crc:app", window).await.unwrap());
    }
    let elsewhere = other.count_request("crc:another", window).await.unwrap();
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = if i % 2 == 0 {
            one.clone()
        } else {
            other.clone()
        };
        burst.spawn(async move {
            store
                .count_request("crc:burst", window)
                .await
                .unwrap()
                .count
        });
    }
    let mut burst: Vec<u64> = burst.join_all().await;
    burst.sort();

    let seen: Vec<u64> = counts.iter().map(|c| c.count).collect();
    assert_eq!(seen, [1, 2, 3], "both hosts count in one window");
    assert!(
        counts
            .iter()
            .all(|c| (1..=24 * 3600).contains(&c.resets_in_secs))
    );
    assert_eq!(elsewhere.count, 1, "each key counts apart");
    assert_eq!(
        burst,
        (1..=10).collect::<Vec<u64>>(),
        "every concurrent request counted once"
    );
}

async fn tenants_keep_their_keys_by_hash_and_their_connections_apart(place: Place) {
    let key = MasterKey::generate();
    let (one, other) = (place.open(&key).await, place.open(&key).await);
    let acme = one.create_tenant("Acme").await.unwrap();
    let globex = other.create_tenant("Globex").await.unwrap();
    let read_only = vec!["read".to_string()];
    let (acme_key, acme_text) = one.create_api_key(&acme.id, &read_only).await.unwrap();
    let (_, globex_text) = other
        .create_api_key(&globex.id, &["read".into(), "actions".into()])
        .await
        .unwrap();
    let owned = one
        .create_connection(&NewConnection {
            tenant_id: Some(acme.id.clone()),
            ..new_connection()
        })
        .await
        .unwrap();

    let found = other
        .authenticate_api_key(acme_text.expose_secret())
        .await
        .unwrap();
    let wrong = one
        .authenticate_api_key(&format!("{}x", acme_text.expose_secret()))
        .await
        .unwrap();
    let (rotated, rotated_text) = other
        .rotate_api_key(&acme.id, &acme_key.id, Duration::from_secs(3600))
        .await
        .unwrap();
    let old_in_overlap = one
        .authenticate_api_key(acme_text.expose_secret())
        .await
        .unwrap();
    let new_works = one
        .authenticate_api_key(rotated_text.expose_secret())
        .await
        .unwrap();
    one.rotate_api_key(&acme.id, &rotated.id, Duration::ZERO)
        .await
        .unwrap();
    let rotated_without_overlap = one
        .authenticate_api_key(rotated_text.expose_secret())
        .await
        .unwrap();
    one.revoke_api_key(&globex.id, "no-such-key")
        .await
        .unwrap_err();
    let cross = other.revoke_api_key(&globex.id, &acme_key.id).await;
    other.revoke_api_key(&acme.id, &acme_key.id).await.unwrap();
    let revoked = one
        .authenticate_api_key(acme_text.expose_secret())
        .await
        .unwrap();
    let listed = one.api_keys(&acme.id).await.unwrap();

    assert_eq!(
        found.as_ref().map(|k| k.tenant_id.as_str()),
        Some(acme.id.as_str())
    );
    assert_eq!(found.unwrap().scopes, read_only);
    assert!(wrong.is_none());
    assert!(
        old_in_overlap.is_some(),
        "the old key stopped before its overlap ended"
    );
    assert_eq!(
        new_works.unwrap().scopes,
        read_only,
        "a rotated key keeps its scopes"
    );
    assert!(rotated_without_overlap.is_none());
    assert!(
        matches!(cross, Err(credential_store::StoreError::NoSuchApiKey(_))),
        "one tenant revoked another's key"
    );
    assert!(revoked.is_none());
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|k| k.prefix().starts_with("hhk_")));
    assert!(
        other
            .authenticate_api_key(globex_text.expose_secret())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        other.connection(&owned.id).await.unwrap().tenant_id,
        Some(acme.id.clone())
    );
    assert_eq!(one.tenants().await.unwrap().len(), 2);
    assert_eq!(
        other.tenant_connection_ids(Some(&acme.id)).await.unwrap(),
        vec![owned.id.clone()]
    );
    assert!(
        other
            .tenant_connection_ids(Some(&globex.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !one.tenant_connection_ids(None)
            .await
            .unwrap()
            .contains(&owned.id)
    );
    assert!(matches!(
        one.tenant("ten_nobody").await,
        Err(credential_store::StoreError::NoSuchTenant(_))
    ));
}

async fn a_connect_session_is_used_once_whichever_host_uses_it(place: Place) {
    let key = MasterKey::generate();
    let (one, other) = (place.open(&key).await, place.open(&key).await);
    let acme = one.create_tenant("Acme").await.unwrap();
    let mut settings = serde_json::Map::new();
    settings.insert(
        "return_urls".into(),
        serde_json::json!(["https://app.example/x"]),
    );
    one.set_tenant_settings(&acme.id, &settings).await.unwrap();
    let details =
        serde_json::Map::from_iter([("end_user".to_string(), serde_json::json!("user-42"))]);
    let (session, token) = one
        .create_connect_session(&acme.id, "connect", &details, Duration::from_secs(600))
        .await
        .unwrap();
    let user = credential_store::EndUser {
        id: "user-42".into(),
        organization: Some("org-7".into()),
        tags: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
    };
    let made = one
        .create_connection(&NewConnection {
            tenant_id: Some(acme.id.clone()),
            end_user: Some(user.clone()),
            ..new_connection()
        })
        .await
        .unwrap();

    // Both hosts see the session open; one of them uses it.
    let seen = other
        .connect_session(token.expose_secret())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, session);
    assert!(seen.is_open(now()) && seen.details["end_user"] == "user-42");
    let (a, b) = tokio::join!(
        one.use_connect_session(token.expose_secret(), Some(&made.id)),
        other.use_connect_session(token.expose_secret(), Some(&made.id)),
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|used| **used)
            .count(),
        1
    );
    let used = one
        .connect_session(token.expose_secret())
        .await
        .unwrap()
        .unwrap();
    assert!(used.used_at.is_some() && !used.is_open(now()));
    assert_eq!(
        other
            .connect_session_of(&made.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        session.id
    );
    assert!(one.connect_session("not-a-token").await.unwrap().is_none());

    // The connection carries its end user, found by the tenant's index.
    assert_eq!(
        other.connection(&made.id).await.unwrap().end_user,
        Some(user)
    );
    assert_eq!(
        other
            .end_user_connection_ids(&acme.id, "user-42")
            .await
            .unwrap(),
        vec![made.id.clone()]
    );
    assert!(
        other
            .end_user_connection_ids(&acme.id, "user-9")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(other.tenant(&acme.id).await.unwrap().settings, settings);

    // An expired session cannot be used.
    let (_, short) = one
        .create_connect_session(&acme.id, "connect", &details, Duration::from_secs(0))
        .await
        .unwrap();
    assert!(
        !other
            .use_connect_session(short.expose_secret(), None)
            .await
            .unwrap()
    );
    assert!(matches!(
        one.create_connect_session("ten_nobody", "connect", &details, Duration::from_secs(60))
            .await,
        Err(credential_store::StoreError::NoSuchTenant(_))
    ));
}

async fn an_identity_code_is_taken_once_by_its_tenant_only(place: Place) {
    let key = MasterKey::generate();
    let (one, other) = (place.open(&key).await, place.open(&key).await);
    let acme = one.create_tenant("Acme").await.unwrap();
    let globex = one.create_tenant("Globex").await.unwrap();
    let identity =
        SecretString::from(r#"{"username":"ada","email":"ada@example.com"}"#.to_string());
    let code = one
        .create_identity_code(&acme.id, &identity, Duration::from_secs(300))
        .await
        .unwrap();

    assert!(
        other
            .take_identity_code(&globex.id, code.expose_secret())
            .await
            .unwrap()
            .is_none()
    );
    let taken = other
        .take_identity_code(&acme.id, code.expose_secret())
        .await
        .unwrap();
    assert_eq!(taken.unwrap().expose_secret(), identity.expose_secret());
    assert!(
        one.take_identity_code(&acme.id, code.expose_secret())
            .await
            .unwrap()
            .is_none()
    );
    let stale = one
        .create_identity_code(&acme.id, &identity, Duration::from_secs(0))
        .await
        .unwrap();
    assert!(
        one.take_identity_code(&acme.id, stale.expose_secret())
            .await
            .unwrap()
            .is_none()
    );
}

async fn platform_events_are_queued_with_the_change_that_makes_them_once(place: Place) {
    use credential_store::{ConnectionStatus, ReconnectCause};
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let kinds = |events: Vec<credential_store::PlatformEventRecord>| {
        let mut kinds: Vec<String> = events.into_iter().map(|e| e.kind).collect();
        kinds.reverse();
        kinds
    };
    // Before a webhook is set, nothing is queued.
    let quiet = a.create_connection(&new_connection()).await.unwrap().id;
    a.set_status(&quiet, ConnectionStatus::Connected, None)
        .await
        .unwrap();
    assert!(a.platform_events(None, 10).await.unwrap().is_empty());

    let signing = a
        .set_tenant_webhook(None, "https://platform.example/hooks")
        .await
        .unwrap();
    assert!(signing.expose_secret().starts_with("whsec_"));
    let id = served_subscription(&a, None).await;
    let connection = a.subscription(&id).await.unwrap().connection_id;
    // A sign-in in progress changes the status unannounced, then announces.
    a.set_status_unannounced(&connection, ConnectionStatus::Connected, None)
        .await
        .unwrap();
    a.announce(&connection, "connection.created").await.unwrap();
    // Two hosts notice the same broken connection: one event.
    let (one, two) = tokio::join!(
        a.needs_reconnect(&connection, "refused", ReconnectCause::RefreshRefused),
        b.needs_reconnect(&connection, "refused", ReconnectCause::RefreshRefused),
    );
    one.unwrap();
    two.unwrap();
    // A dead letter, settled dead twice: one event.
    a.finish_poll(&id, "host-a", &events(&["1"]), None, "1", 0, i64::MAX)
        .await
        .ok();
    a.claim_poll("host-a", Duration::from_secs(30))
        .await
        .unwrap();
    a.finish_poll(&id, "host-a", &events(&["1"]), None, "1", 0, i64::MAX)
        .await
        .unwrap();
    let dead = DeliveryOutcome::Dead {
        error: "status 500".into(),
    };
    a.settle_delivery(&id, "1", &dead).await.unwrap();
    b.settle_delivery(&id, "1", &dead).await.unwrap();
    a.delete_connection(&connection).await.unwrap();

    assert_eq!(
        kinds(b.platform_events(None, 10).await.unwrap()),
        [
            "connection.created",
            "connection.needs_reconnect",
            "subscription.dead_letter",
            "connection.deleted"
        ]
    );
    let events = b.platform_events(None, 10).await.unwrap();
    let payload = |kind: &str| -> serde_json::Value {
        serde_json::from_str(&events.iter().find(|e| e.kind == kind).unwrap().payload).unwrap()
    };
    assert_eq!(
        payload("connection.needs_reconnect")["data"]["cause"],
        "refresh_refused"
    );
    assert_eq!(
        payload("subscription.dead_letter")["data"]["subscription"]["id"],
        id.as_str()
    );
    assert_eq!(
        payload("subscription.dead_letter")["data"]["error"],
        "status 500"
    );
    assert_eq!(
        payload("connection.deleted")["data"]["connection"]["id"],
        connection.as_str()
    );

    // Each is claimed by one host, with the webhook's key, and settles.
    let claim = Duration::from_secs(30);
    let (mine, theirs) = tokio::join!(
        a.claim_platform_events("host-a", claim, 10),
        b.claim_platform_events("host-b", claim, 10)
    );
    let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
    assert_eq!(mine.len() + theirs.len(), 4);
    let claimed = mine.iter().chain(&theirs).next().unwrap();
    assert_eq!(claimed.url, "https://platform.example/hooks");
    assert_eq!(
        claimed.signing_secret.expose_secret(),
        signing.expose_secret()
    );
    for c in mine.iter().chain(&theirs) {
        a.settle_platform_event(&c.event.id, &DeliveryOutcome::Delivered)
            .await
            .unwrap();
    }
    assert!(
        a.claim_platform_events("host-a", claim, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        b.platform_events(None, 10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.status == DeliveryStatus::Delivered)
    );
    // Another tenant's list is its own.
    let acme = a.create_tenant("Acme").await.unwrap();
    assert!(
        a.platform_events(Some(&acme.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(a.delete_tenant_webhook(None).await.unwrap());
    assert!(a.tenant_webhook(None).await.unwrap().is_none());
}

async fn an_attempt_a_dead_host_never_settled_still_counts(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = served_subscription(&a, None).await;
    a.claim_poll("host-a", Duration::from_secs(30))
        .await
        .unwrap();
    a.finish_poll(&id, "host-a", &events(&["1", "2"]), None, "2", 0, i64::MAX)
        .await
        .unwrap();

    // Host A takes both, sends the first and dies before recording it.
    let first = a
        .claim_deliveries("host-a", Duration::from_secs(0), 10)
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|c| c.delivery.attempts)
            .collect::<Vec<_>>(),
        [1, 1]
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Host B takes them over: its sends are the second attempts.
    let again = b
        .claim_deliveries("host-b", Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(
        again
            .iter()
            .map(|c| c.delivery.attempts)
            .collect::<Vec<_>>(),
        [2, 2]
    );
    // B's first send fails; the second, given back unsent, is not an attempt.
    b.settle_delivery(
        &id,
        "1",
        &DeliveryOutcome::Retry {
            at: 0,
            error: "status 500".into(),
        },
    )
    .await
    .unwrap();
    b.release_deliveries("host-b", &id).await.unwrap();
    let listed = a.deliveries(&id, 0, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.attempts).collect::<Vec<_>>(),
        [2, 1]
    );
}

async fn events_past_the_retention_window_go_and_dead_letters_and_sequences_stay(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let sent = served_subscription(&a, None).await;
    let connection = a.subscription(&sent).await.unwrap().connection_id;
    let fetched = a
        .create_subscription(&NewSubscription {
            connection_id: connection.clone(),
            trigger: "mention.new".into(),
            configuration: "{}".into(),
            delivery: Delivery::Poll,
            destination: Destination::Pull,
            interval_secs: 30,
            signing_secret: None,
        })
        .await
        .unwrap()
        .id;
    a.queue_events(&sent, &events(&["1", "2", "3"]), None)
        .await
        .unwrap();
    a.queue_events(&fetched, &events(&["a", "b"]), None)
        .await
        .unwrap();
    a.claim_deliveries("host-a", Duration::from_secs(30), 10)
        .await
        .unwrap();
    a.settle_delivery(&sent, "1", &DeliveryOutcome::Delivered)
        .await
        .unwrap();
    a.settle_delivery(
        &sent,
        "2",
        &DeliveryOutcome::Dead {
            error: "status 500".into(),
        },
    )
    .await
    .unwrap();
    a.settle_delivery(&sent, "3", &DeliveryOutcome::Delivered)
        .await
        .unwrap();
    a.set_tenant_webhook(None, "https://platform.example/hooks")
        .await
        .unwrap();
    a.announce(&connection, "connection.created").await.unwrap();
    let claimed = a
        .claim_platform_events("host-a", Duration::from_secs(30), 10)
        .await
        .unwrap();
    a.settle_platform_event(&claimed[0].event.id, &DeliveryOutcome::Delivered)
        .await
        .unwrap();
    a.announce(&connection, "connection.reconnected")
        .await
        .unwrap();

    // Nothing is old enough within a week.
    assert_eq!(
        b.prune_events(Duration::from_secs(7 * 24 * 3600))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let removed = b.prune_events(Duration::ZERO).await.unwrap();

    // Gone: the delivered "1", the fetchable "a", the delivered platform
    // event. Kept: the dead letter, each subscription's newest, the pending.
    assert_eq!(removed, 3);
    let ids = |list: Vec<credential_store::DeliveryRecord>| {
        list.into_iter().map(|d| d.event_id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(a.deliveries(&sent, 0, None, 10).await.unwrap()),
        ["2", "3"]
    );
    assert_eq!(
        ids(a.deliveries(&fetched, 0, None, 10).await.unwrap()),
        ["b"]
    );
    assert_eq!(a.oldest_sequence(&sent).await.unwrap(), Some(2));
    let platform = a.platform_events(None, 10).await.unwrap();
    assert_eq!(platform.len(), 1);
    assert_eq!(platform[0].kind, "connection.reconnected");
    // The sequence goes on from the newest kept.
    a.queue_events(&fetched, &events(&["c"]), None)
        .await
        .unwrap();
    let after = a.deliveries(&fetched, 0, None, 10).await.unwrap();
    assert_eq!(after.last().map(|d| d.sequence), Some(3));
}

async fn a_stopping_host_gives_back_its_leases_and_claims(place: Place) {
    let key = MasterKey::generate();
    let (a, b) = (place.open(&key).await, place.open(&key).await);
    let id = served_subscription(&a, None).await;
    a.queue_events(&id, &events(&["1"]), None).await.unwrap();
    let long = Duration::from_secs(600);
    assert!(a.claim_poll("host-a", long).await.unwrap().is_some());
    assert_eq!(
        a.claim_deliveries("host-a", long, 10).await.unwrap().len(),
        1
    );
    // Held: another host gets neither.
    assert!(b.claim_poll("host-b", long).await.unwrap().is_none());
    assert!(
        b.claim_deliveries("host-b", long, 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(a.release_host("host-a").await.unwrap(), 2);

    // Taken over at once, not in ten minutes.
    assert!(b.claim_poll("host-b", long).await.unwrap().is_some());
    assert_eq!(
        b.claim_deliveries("host-b", long, 10).await.unwrap().len(),
        1
    );
}

/// A field's value, secret or not, as text.
fn text_of(value: &FieldValue) -> &str {
    match value {
        FieldValue::Plain(v) => v,
        FieldValue::Secret(s) => s.expose_secret(),
    }
}

fn keyring(keys: &[[u8; 32]]) -> Keyring {
    Keyring::new(
        keys.iter().map(|k| MasterKey::from_bytes(*k)).collect(),
        "test",
    )
    .unwrap()
}

async fn the_master_key_rotates_online_and_the_old_one_can_then_be_retired(place: Place) {
    // A store sealed with key A, with a secret in every kind of place.
    let (a, b) = ([0xa1; 32], [0xb2; 32]);
    let old = place.open(&MasterKey::from_bytes(a)).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = old.create_connection(&new_connection()).await.unwrap().id;
        let mut t = tokens(&format!("access-{n}"), &format!("refresh-{n}"));
        t.token_secret = Some(SecretString::from(format!("token-secret-{n}")));
        old.save_tokens(&id, &t, None).await.unwrap();
        ids.push(id);
    }
    old.set_app_credentials(
        "x",
        "oauth2",
        &AppCredentialLevel::Default,
        &BTreeMap::from([("client_secret".to_string(), secret("app-secret"))]),
    )
    .await
    .unwrap();
    let subscription = served_subscription(&old, Some("whsec_subscription")).await;
    old.set_tenant_webhook(None, "https://platform.example/events")
        .await
        .unwrap();
    old.begin_sign_in(&PendingSignIn {
        key: SecretString::from("state-1".to_string()),
        connection_id: ids[0].clone(),
        flow: "oauth2".into(),
        payload: SecretString::from("pkce-verifier".to_string()),
        expires_at: now() + 600,
    })
    .await
    .unwrap();
    let tenant = old.create_tenant("Acme").await.unwrap();
    let code = old
        .create_identity_code(
            &tenant.id,
            &SecretString::from("{\"id\":\"1\"}".to_string()),
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    drop(old);

    // Act: hosts take B as their active key, keeping A to read with; one
    // writes, then the rotation runs in small batches.
    let both = Store::open_with_keys(&place.location, &keyring(&[b, a]))
        .await
        .unwrap();
    let written_under_b = both.create_connection(&new_connection()).await.unwrap().id;
    assert_eq!(
        text_of(&both.connection(&ids[1]).await.unwrap().fields["client_secret"]),
        "very-secret-value",
        "a value sealed with the old key did not open"
    );
    let report = both
        .rotate_keys(&KeyRotation {
            batch_size: 2,
            ..KeyRotation::default()
        })
        .await
        .unwrap();

    // Assert: everything but what B sealed already was re-sealed, and A
    // seals nothing now.
    let (id_a, id_b) = (MasterKey::from_bytes(a).id(), MasterKey::from_bytes(b).id());
    assert_eq!(report.active, Some(id_b));
    // 6 client secrets (the subscription's connection has one), 15 tokens,
    // the app secret, the subscription's and the webhook's keys, the
    // sign-in, the identity and the key check.
    assert_eq!(
        report.resealed,
        6 + 15 + 1 + 1 + 1 + 1 + 1 + 1,
        "{report:?}"
    );
    assert_eq!(report.already_active, 1, "{report:?}");
    assert_eq!(report.sealed_by[&id_a], 0, "{report:?}");
    assert_eq!(report.sealed_by[&id_b], report.resealed + 1, "{report:?}");
    assert_eq!(report.retirable, vec![id_a]);
    assert!(report.complete(), "{report:?}");
    let again = both.rotate_keys(&KeyRotation::default()).await.unwrap();
    assert_eq!(
        (again.resealed, again.already_active),
        (0, report.sealed_by[&id_b])
    );
    drop(both);

    // B alone opens the store and every secret in it; A alone no longer
    // opens it, and that refusal writes nothing.
    let new = Store::open_with_keys(&place.location, &keyring(&[b]))
        .await
        .unwrap();
    let census = new.rotate_keys(&KeyRotation::default()).await.unwrap();
    assert!(census.unreadable.is_empty(), "{census:?}");
    assert_eq!(census.sealed_by[&id_b], report.sealed_by[&id_b]);
    let (t, _) = new.tokens(&ids[4]).await.unwrap().unwrap();
    assert_eq!(t.refresh_token.unwrap().expose_secret(), "refresh-4");
    assert_eq!(t.token_secret.unwrap().expose_secret(), "token-secret-4");
    assert_eq!(
        new.signing_secret(&subscription)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "whsec_subscription"
    );
    let app = new
        .app_credentials("x", "oauth2", &AppCredentialLevel::Default)
        .await
        .unwrap();
    assert_eq!(text_of(&app["client_secret"]), "app-secret");
    let sign_in = new.take_sign_in("state-1").await.unwrap().unwrap();
    assert_eq!(sign_in.payload.expose_secret(), "pkce-verifier");
    let identity = new
        .take_identity_code(&tenant.id, code.expose_secret())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.expose_secret(), "{\"id\":\"1\"}");
    assert!(new.connection(&written_under_b).await.is_ok());
    drop(new);
    let before = place.dump().await;
    let err = Store::open(&place.location, &MasterKey::from_bytes(a))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    let err = Store::open_with_keys(&place.location, &keyring(&[[0xc3; 32], [0xd4; 32]]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    assert_eq!(
        place.dump().await,
        before,
        "a refused key changed the store"
    );
}

async fn a_rotation_loses_no_token_a_host_writes_while_it_runs(place: Place) {
    // Arrange: connections whose tokens a host keeps renewing, under the
    // new key, while another host rotates one value at a time.
    let (a, b) = ([0x11; 32], [0x22; 32]);
    let old = place.open(&MasterKey::from_bytes(a)).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let id = old.create_connection(&new_connection()).await.unwrap().id;
        let version = old
            .save_tokens(&id, &tokens(&format!("a{n}-0"), &format!("r{n}-0")), None)
            .await
            .unwrap();
        ids.push((id, version));
    }
    drop(old);
    let renewer = std::sync::Arc::new(
        Store::open_with_keys(&place.location, &keyring(&[b, a]))
            .await
            .unwrap(),
    );
    let rotator = Store::open_with_keys(&place.location, &keyring(&[b, a]))
        .await
        .unwrap();

    // Act.
    let renewing = {
        let renewer = renewer.clone();
        let mut ids = ids.clone();
        tokio::spawn(async move {
            for round in 1..=20 {
                for (n, (id, version)) in ids.iter_mut().enumerate() {
                    // Versioned as a renewal writes: a re-sealing meanwhile
                    // must not count as a change of the tokens.
                    *version = renewer
                        .save_tokens(
                            id,
                            &tokens(&format!("a{n}-{round}"), &format!("r{n}-{round}")),
                            Some(*version),
                        )
                        .await
                        .unwrap();
                }
            }
        })
    };
    let report = rotator
        .rotate_keys(&KeyRotation {
            batch_size: 1,
            pause: Duration::from_millis(2),
        })
        .await
        .unwrap();
    renewing.await.unwrap();

    // Assert: the last tokens written are the ones kept, and open with the
    // new key alone.
    assert!(report.unreadable.is_empty(), "{report:?}");
    drop((renewer, rotator));
    let new = Store::open_with_keys(&place.location, &keyring(&[b]))
        .await
        .unwrap();
    for (n, (id, _)) in ids.iter().enumerate() {
        let (t, _) = new.tokens(id).await.unwrap().unwrap();
        assert_eq!(t.access_token.unwrap().expose_secret(), format!("a{n}-20"));
        assert_eq!(t.refresh_token.unwrap().expose_secret(), format!("r{n}-20"));
    }
}

#[tokio::test]
async fn a_database_url_is_shown_without_its_password() {
    let location =
        StoreLocation::from_database_url("postgres://app:hunter2-pw@db.internal:6432/platform")
            .unwrap();

    let shown = format!("{location} {location:?}");

    assert!(!shown.contains("hunter2-pw"), "{shown}");
    assert!(shown.contains("db.internal:6432/platform"), "{shown}");
    let refused = StoreLocation::from_database_url("mysql://app@db/platform").unwrap_err();
    assert!(refused.to_string().contains("postgres://"), "{refused}");
}

#[tokio::test]
async fn an_unreachable_database_is_an_unavailable_store_not_a_missing_one() {
    let location =
        StoreLocation::from_database_url("postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
            .unwrap();

    let exists = Store::exists(&location).await;
    let opened = Store::open(&location, &MasterKey::generate()).await;

    // A later try may work: said as such, naming where, so the command
    // line can exit for a retry.
    assert!(
        exists.as_ref().is_err_and(StoreError::is_unavailable),
        "{exists:?}"
    );
    let err = opened.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_store_file_is_an_error_and_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connections.db");
    std::fs::write(&path, b"").unwrap();

    let err = Store::open_file(&path, &MasterKey::generate())
        .await
        .unwrap_err();

    assert!(matches!(err, StoreError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("empty"), "{err}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    assert!(Store::exists(&StoreLocation::Sqlite(path)).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_a_store_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, b"not a database at all").unwrap();

    for path in [other, text] {
        let before = std::fs::read(&path).unwrap();
        let err = Store::open_file(&path, &MasterKey::generate())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_new_store_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").join("host-harness");
    let path = data.join("connections.db");

    let store = Store::open_file(&path, &MasterKey::generate())
        .await
        .unwrap();
    store.create_connection(&new_connection()).await.unwrap();

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&path), 0o600);
    for extra in ["connections.db-wal", "connections.db-shm"] {
        let p = data.join(extra);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{extra}");
        }
    }
    assert!(
        std::fs::read_dir(&data).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".new")),
        "a temporary file was left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_of_the_first_schema_is_migrated_and_keeps_its_data() {
    let place = Place::sqlite().await;
    let key = MasterKey::generate();
    let id = {
        let store = place.open(&key).await;
        let id = store.create_connection(&new_connection()).await.unwrap().id;
        store
            .save_tokens(&id, &tokens("a", "r"), None)
            .await
            .unwrap();
        id
    };
    // Take the store back to what the first release wrote.
    rusqlite::Connection::open(place.path())
        .unwrap()
        .execute_batch(
            "DROP TABLE oauth_grants; DROP TABLE mcp_tool_limits; DROP TABLE tenant_events; DROP TABLE tenant_webhooks; DROP TABLE usage_ledger;
             DROP TABLE identity_codes; DROP TABLE connect_sessions; DROP INDEX connections_by_end_user;
             ALTER TABLE connections DROP COLUMN end_user_id; ALTER TABLE connections DROP COLUMN end_user;
             ALTER TABLE connections DROP COLUMN quiet;
             DROP TABLE api_keys; DROP TABLE tenants; DROP TABLE request_counts; DROP TABLE push_webhooks;
             DROP TABLE trigger_deliveries; DROP TABLE trigger_events_seen; DROP TABLE trigger_subscriptions;
             DROP TABLE sessions; DROP TABLE sign_ins;
             ALTER TABLE tokens DROP COLUMN access_issued_at;
             DROP INDEX connections_by_tenant; ALTER TABLE connections DROP COLUMN tenant_id;
             ALTER TABLE connections DROP COLUMN account_facts;
             UPDATE meta SET value = 1 WHERE key = 'schema_version';",
        )
        .unwrap();

    let store = place.open(&key).await;

    let (t, _) = store.tokens(&id).await.unwrap().unwrap();
    assert_eq!(t.refresh_token.unwrap().expose_secret(), "r");
    assert_eq!(t.access_issued_at, None);
    assert_eq!(
        store.connection(&id).await.unwrap().fields.len(),
        2,
        "the fields survived"
    );
    let session = store.open_session(Duration::from_secs(60)).await.unwrap();
    assert!(store.session_is_open(&session).await.unwrap());
    // The account's facts, a later column, start empty and can be set.
    assert!(
        store
            .connection(&id)
            .await
            .unwrap()
            .account_facts
            .is_empty()
    );
    let facts = std::collections::BTreeMap::from([("plan".to_string(), "gold".to_string())]);
    store
        .set_account(&id, Some("42"), Some("ada"), &facts, None)
        .await
        .unwrap();
    assert_eq!(store.connection(&id).await.unwrap().account_facts, facts);
    assert_eq!(store.connection(&id).await.unwrap().tenant_id, None);
    place.assert_schema_version(13);
}
