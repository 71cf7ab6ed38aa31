//! An operator's security policy rotates the master key. The new key is
//! put first in every host's `HOST_HARNESS_MASTER_KEYS`, the old one kept
//! after it; `host-harness store rotate-key` re-seals every secret under
//! the new key while the nodes keep serving (and renewing tokens), and
//! says when the old key can be retired. Interrupted, it goes on where it
//! stopped. Once retired, the old key alone opens nothing, and the store
//! is refused before anything is written.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::auth::AuthBed;
use support::nodes::{Node, Platform, free_port};
use support::postgres::TestDatabase;

const DEFAULT_KEY: &str = "the-default-tenants-key";

/// The id `host-harness` gives a key (8 hex digits), as reports name it.
fn id_of(key: &[u8; 32]) -> String {
    credential_store::MasterKey::from_bytes(*key)
        .id()
        .to_string()
}

/// Runs a `host-harness` command of the platform; its exit code and stdout
/// (JSON when the command prints JSON).
async fn host_harness(platform: &Platform, args: &[&str]) -> (i32, Value, String) {
    let mut command = platform.command(args);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (
        output.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        format!("{stdout}{stderr}"),
    )
}

/// Makes a stored access token look expired, as a host holding `key` (the
/// store's active key) would write it.
async fn expire_access_token(database: &TestDatabase, key: &[u8; 32], id: &str) {
    let keys = credential_store::Keyring::single(credential_store::MasterKey::from_bytes(*key));
    let store = credential_store::Store::open_with_keys(&database.location(), &keys)
        .await
        .unwrap();
    let (mut tokens, version) = store.tokens(id).await.unwrap().unwrap();
    tokens.access_expires_at = Some(1);
    store.save_tokens(id, &tokens, Some(version)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_master_key_is_rotated_while_nodes_serve_and_the_old_key_is_then_retired() {
    // Arrange: a shared store whose OAuth connections (client secrets,
    // access and refresh tokens) were sealed with key A.
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let (a, b, c): ([u8; 32], [u8; 32], [u8; 32]) =
        (rand::random(), rand::random(), rand::random());
    let bed = AuthBed::on_store(
        dir,
        &database.location(),
        &credential_store::MasterKey::from_bytes(a),
        "http://127.0.0.1:8765/callback",
    )
    .await;
    let form = bed.oauth2_form("tweet.read users.read offline.access");
    let mut ids = Vec::new();
    for account in ["ada", "grace", "alan", "mary", "ada", "grace"] {
        ids.push(bed.connect_oauth2(&form, account).await);
    }
    let platform = |keys: &[&[u8; 32]]| Platform {
        database_url: Some(database.url.clone()),
        data_dir: data_dir.clone(),
        master_key: keys
            .iter()
            .map(|k| STANDARD.encode(k))
            .collect::<Vec<_>>()
            .join(","),
        emulator: bed.x.base_url(),
        api_key: Some(DEFAULT_KEY.into()),
        admin_key: None,
    };
    let new_and_old = platform(&[&b, &a]);
    new_and_old.warm_up().await;
    let port = free_port();
    let mut node = Node::start("A", &new_and_old, port, &format!("http://127.0.0.1:{port}")).await;

    // Act: the node serves actions, renewing an expired token under the
    // new key, while the rotation re-seals one secret at a time.
    bed.expire_access_token(&ids[0]).await;
    let serving = {
        let client = node.client();
        let ids = ids.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for round in 0..8 {
                let id = &ids[round % ids.len()];
                answers.push(
                    client
                        .request(
                            "POST",
                            &format!("/api/v1/connections/{id}/actions/users.me"),
                            Some(json!({})),
                        )
                        .await,
                );
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            answers
        })
    };
    let (code, report, output) = host_harness(
        &new_and_old,
        &[
            "store",
            "rotate-key",
            "--batch-size",
            "1",
            "--pause-ms",
            "20",
            "--json",
        ],
    )
    .await;
    let answers = serving.await.unwrap();

    // Assert: every action worked throughout, and A seals nothing now.
    for (status, body) in &answers {
        assert_eq!(*status, 200, "an action failed during the rotation: {body}");
    }
    assert_eq!(code, 0, "{output}");
    assert_eq!(report["active_key"], id_of(&b), "{output}");
    assert_eq!(report["complete"], true, "{output}");
    assert_eq!(report["retirable"], json!([id_of(&a)]), "{output}");
    assert_eq!(report["sealed_by"][id_of(&a)], 0, "{output}");
    // Six client secrets, an access and a refresh token each, the key
    // check: re-sealed, or sealed with B already by a renewal.
    assert_eq!(report["sealed_by"][id_of(&b)], 6 + 12 + 1, "{output}");
    assert!(report["resealed"].as_u64().unwrap() > 0, "{output}");
    assert!(
        bed.token_requests("refresh_token") >= 1,
        "no token was renewed meanwhile"
    );

    // Act: A is retired; the node restarts with B alone.
    node.terminate();
    node.exited(Duration::from_secs(40)).await;
    let new_only = platform(&[&b]);
    let mut node = Node::start("A", &new_only, port, &format!("http://127.0.0.1:{port}")).await;

    // Assert: every connection still works, refreshing included.
    expire_access_token(&database, &b, &ids[2]).await;
    let renewals = bed.token_requests("refresh_token");
    for id in &ids {
        let (status, body) = node
            .request(
                "POST",
                &format!("/api/v1/connections/{id}/actions/users.me"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(bed.token_requests("refresh_token"), renewals + 1);
    node.terminate();
    node.exited(Duration::from_secs(40)).await;
    let (code, census, output) = host_harness(&new_only, &["store", "keys", "--json"]).await;
    assert_eq!((code, &census["complete"]), (0, &json!(true)), "{output}");
    assert_eq!(census["unreadable"], json!([]), "{output}");

    // Assert: the old key alone opens nothing, and changes nothing.
    let before = database.dump().await;
    let (code, _, output) = host_harness(&platform(&[&a]), &["connections", "list"]).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("master key does not open"), "{output}");
    assert_eq!(
        database.dump().await,
        before,
        "a refused key changed the store"
    );

    // Act: the next rotation, to C, is interrupted part way.
    let next = platform(&[&c, &b]);
    let mut rotating = next
        .command(&[
            "store",
            "rotate-key",
            "--batch-size",
            "1",
            "--pause-ms",
            "400",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, census, output) = host_harness(&next, &["store", "keys", "--json"]).await;
        if census["sealed_by"][id_of(&c)].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotation never began: {output}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rotating.kill().unwrap();
    rotating.wait().unwrap();

    // Assert: half done, it says B cannot go yet; run again, it finishes.
    let (code, census, output) = host_harness(&next, &["store", "keys", "--json"]).await;
    assert_eq!(code, 1, "{output}");
    assert_eq!(census["complete"], false, "{output}");
    assert!(
        census["sealed_by"][id_of(&b)].as_u64().unwrap() > 0,
        "{output}"
    );
    assert_eq!(census["retirable"], json!([]), "{output}");
    let (code, report, output) = host_harness(&next, &["store", "rotate-key", "--json"]).await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(report["retirable"], json!([id_of(&b)]), "{output}");
    assert!(report["already_active"].as_u64().unwrap() > 0, "{output}");
    let (code, _, output) = host_harness(&platform(&[&c]), &["connections", "list"]).await;
    assert_eq!(code, 0, "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_whose_store_cannot_be_reached_exits_75_to_be_retried() {
    // Arrange: a database URL nothing answers at.
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform {
        database_url: Some("postgres://postgres@127.0.0.1:9/test?connect_timeout=2".into()),
        data_dir: dir.path().to_path_buf(),
        master_key: STANDARD.encode([7u8; 32]),
        emulator: "http://127.0.0.1:9".into(),
        api_key: None,
        admin_key: None,
    };

    // Act.
    let (listed, _, list_output) = host_harness(&platform, &["connections", "list"]).await;
    let (counted, _, keys_output) = host_harness(&platform, &["store", "keys"]).await;

    // Assert: EX_TEMPFAIL, and a message that says what is out of reach,
    // without a password.
    assert_eq!(listed, 75, "{list_output}");
    assert_eq!(counted, 75, "{keys_output}");
    assert!(list_output.contains("unavailable"), "{list_output}");
    assert!(list_output.contains("127.0.0.1:9"), "{list_output}");
}
