//! A newcomer uses the `host-harness` command: the demo, the action list, and
//! single actions, with typed errors on stderr and exit codes a script can test.

use serde_json::Value;
use std::process::{Command, Output};

/// The compile cache the tests share, inside the build directory.
fn shared_cache() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled")
}

fn host_harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .args(args)
        .env_remove("HOST_HARNESS_LOG")
        .env("HOST_HARNESS_CACHE_DIR", shared_cache())
        .output()
        .expect("host-harness runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON document at the end of stderr (after any notice lines).
fn error_json(o: &Output) -> Value {
    let text = stderr(o);
    let start = text
        .find('{')
        .unwrap_or_else(|| panic!("no JSON on stderr: {text}"));
    serde_json::from_str(&text[start..])
        .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {text}"))
}

#[test]
fn the_demo_runs_every_step_with_no_credentials() {
    let out = host_harness(&["demo"]);

    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    for step in [
        "[1/6] Who am I",
        "[2/6] Upload a picture",
        "[3/6] Post",
        "[4/6] Read my timeline",
        "[5/6] Search recent posts",
        "[6/6] Delete the post",
    ] {
        assert!(text.contains(step), "missing {step} in:\n{text}");
    }
    assert!(text.contains("connected as @ada"));
    assert!(text.contains("uploaded image/png as media"));
    assert!(text.contains("All 6 steps succeeded."));
    // And a trigger: a mention made after subscribing is reported, once.
    assert!(
        text.contains("[trigger] New mention — mention.new"),
        "{text}"
    );
    assert!(text.contains("1 new mention(s)"), "{text}");
    assert!(text.contains("@ada the demo mentions you"), "{text}");
}

#[test]
fn run_prints_the_output_as_json() {
    let out = host_harness(&["run", "users.me"]);

    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    assert_eq!(json["user"]["username"], "ada");
}

#[test]
fn run_reads_input_from_a_file() {
    let dir = std::env::temp_dir().join(format!("host-harness-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("input.json");
    std::fs::write(&file, r#"{"query": "from:grace -is:retweet"}"#).unwrap();

    let out = host_harness(&[
        "run",
        "search.recent",
        "--input",
        &format!("@{}", file.display()),
    ]);

    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["result_count"], 2);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_failed_action_exits_1_with_the_typed_error_on_stderr() {
    let empty = host_harness(&["run", "post.create", "--input", r#"{"text": ""}"#]);
    let unknown = host_harness(&["run", "post.teleport"]);
    let malformed = host_harness(&["run", "post.create", "--input", "{not json"]);

    assert_eq!(empty.status.code(), Some(1));
    assert_eq!(error_json(&empty)["error"], "invalid-input");
    assert_eq!(error_json(&empty)["field"], "text");
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(error_json(&unknown)["field"], "action");
    assert_eq!(malformed.status.code(), Some(1));
    assert_eq!(error_json(&malformed)["error"], "invalid-input");
    assert!(stdout(&empty).is_empty());
}

#[test]
fn actions_lists_ids_titles_and_schemas() {
    let text = host_harness(&["actions"]);
    let json = host_harness(&["actions", "--json"]);

    assert!(text.status.success());
    for id in [
        "users.me",
        "users.lookup",
        "user.followers",
        "user.following",
        "post.validate",
        "post.create",
        "post.delete",
        "post.lookup",
        "post.liking_users",
        "post.reposted_by",
        "media.upload",
        "post.like",
        "post.unlike",
        "post.repost",
        "post.unrepost",
        "post.bookmark",
        "post.unbookmark",
        "user.follow",
        "user.unfollow",
        "timeline.user",
        "timeline.home",
        "timeline.mentions",
        "timeline.reposts_of_me",
        "timeline.bookmarks",
        "user.mute",
        "user.unmute",
        "user.muting",
        "post.hide_reply",
        "post.quotes",
        "search.recent",
        "dm.send",
        "dm.events",
    ] {
        assert!(stdout(&text).contains(id), "{id} missing");
    }
    assert!(stdout(&text).contains("text: string (required)"));
    // Objects show their members, choices their values: none is a `string`.
    let listed = stdout(&text);
    assert!(
        listed.contains(
            "poll: object {duration_minutes: integer (required), options: array of string (required)}"
        ),
        "{listed}"
    );
    assert!(
        listed.contains(r#"reply_settings: one of "following", "mentionedUsers""#),
        "{listed}"
    );
    assert!(
        listed.contains("fields: object {expansions: array of (one of"),
        "{listed}"
    );
    assert!(
        !listed.contains("poll: string") && !listed.contains("fields: string"),
        "{listed}"
    );
    // What X refuses on its self-serve access, as the manifest lists it.
    assert!(
        listed.contains("restricted on Pay-per-use (self-serve) (not-in-access-level): X's self-serve pay-per-use access does not include liking posts"),
        "{listed}"
    );
    let listing: Value = serde_json::from_str(&stdout(&json)).unwrap();
    let actions = &listing["actions"];
    assert_eq!(actions.as_array().unwrap().len(), 34);
    assert_eq!(actions[5]["input_schema"]["required"][0], "text");
    assert_eq!(
        listing["restrictions"]["post.like"][0]["rule"],
        "not-in-access-level"
    );
    assert_eq!(listing["access_levels"][0]["id"], "pay-per-use");
}

#[test]
fn serve_refuses_a_concurrency_of_zero_naming_the_flag() {
    let out = host_harness(&["serve", "--max-concurrent-actions", "0"]);

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--max-concurrent-actions"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_keeps_the_emulator_away_from_a_shared_database() {
    let out = host_harness(&[
        "serve",
        "--emulator",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        "postgres://nobody:pw-not-shown@127.0.0.1:1/none",
    ]);

    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--database-url"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("pw-not-shown"), "{}", stderr(&out));
}

#[test]
fn a_missing_token_variable_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .args([
            "run",
            "users.me",
            "--bearer-token-env",
            "HOST_HARNESS_TEST_NO_SUCH_VAR",
        ])
        .env_remove("HOST_HARNESS_TEST_NO_SUCH_VAR")
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("HOST_HARNESS_TEST_NO_SUCH_VAR"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_second_run_loads_the_compiled_connector_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_host-harness"))
            .args(["-vv", "actions"])
            .env_remove("HOST_HARNESS_LOG")
            .env("HOST_HARNESS_CACHE_DIR", cache.path())
            .output()
            .expect("host-harness runs")
    };

    let first = run();
    let second = run();
    let uncached = Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .args(["-vv", "--no-compile-cache", "actions"])
        .env_remove("HOST_HARNESS_LOG")
        .env("HOST_HARNESS_CACHE_DIR", cache.path())
        .output()
        .expect("host-harness runs");

    assert!(first.status.success() && second.status.success());
    assert!(!stderr(&first).contains("taken from the cache"));
    assert!(
        stderr(&second).contains("taken from the cache"),
        "{}",
        stderr(&second)
    );
    assert_eq!(stdout(&first), stdout(&second));
    assert!(!stderr(&uncached).contains("taken from the cache"));
}

#[test]
fn under_json_logs_a_failed_action_prints_its_error_on_one_line() {
    let out = host_harness(&[
        "--log-format",
        "json",
        "run",
        "post.create",
        "--input",
        r#"{"text": ""}"#,
    ]);

    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = stderr(&out)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let error = lines.last().unwrap();
    assert_eq!(error["error"], "invalid-input");
    assert_eq!(error["field"], "text");
}

#[test]
fn each_action_logs_one_span_with_its_outcome_and_latency_as_json() {
    let out = host_harness(&["-v", "--log-format", "json", "run", "users.me"]);

    assert!(out.status.success(), "{}", stderr(&out));
    // Every line is a JSON object, the run's notice for people included.
    let events: Vec<Value> = stderr(&out)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        events.iter().any(|e| e["target"] == "notice"
            && e["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("local X API emulator"))),
        "{events:?}"
    );
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "action succeeded")
        .collect();
    assert_eq!(done.len(), 1, "{events:?}");
    let span = &done[0]["span"];
    assert_eq!(span["name"], "action");
    assert_eq!(span["connector"], "x");
    assert_eq!(span["action"], "users.me");
    assert_eq!(span["outcome"], "ok");
    assert!(span["connection"].is_string());
    assert!(span["latency_ms"].is_u64());
}

/// A directory holding a FIFO, `pipe`, that nothing ever writes to.
#[cfg(unix)]
fn directory_with_a_fifo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = std::ffi::CString::new(dir.path().join("pipe").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    dir
}

/// Runs the command, killing it if it has not exited after `limit`; its
/// output, and whether it exited by itself.
fn run_within(command: &mut Command, limit: std::time::Duration) -> (Output, bool) {
    let mut child = command
        .env_remove("HOST_HARNESS_LOG")
        .env("HOST_HARNESS_CACHE_DIR", shared_cache())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let exited = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    (child.wait_with_output().unwrap(), exited)
}

#[cfg(unix)]
#[test]
fn a_fifo_offered_as_media_is_refused_as_not_a_file_and_the_run_ends() {
    let dir = directory_with_a_fifo();

    let (out, exited) = run_within(
        Command::new(env!("CARGO_BIN_EXE_host-harness")).args([
            "run",
            "media.upload",
            "--files",
            dir.path().to_str().unwrap(),
            "--deadline",
            "20",
            "--input",
            r#"{"file": "pipe"}"#,
        ]),
        std::time::Duration::from_secs(60),
    );

    assert!(exited, "the run never ended: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = error_json(&out);
    assert_eq!(error["error"], "invalid-input");
    assert_eq!(error["field"], "file");
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn a_component_blocked_opening_a_fifo_still_ends_at_its_deadline_and_the_run_exits() {
    let dir = directory_with_a_fifo();

    let started = std::time::Instant::now();
    let (out, exited) = run_within(
        Command::new(env!("CARGO_BIN_EXE_host-harness"))
            .args([
                "run",
                "fs.read",
                "--component",
                component_artifacts::HOSTILE_COMPONENT_PATH,
                "--manifest",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../tests/fixtures/hostile-component/manifest.json"
                ),
                "--bearer-token-env",
                "UNUSED_TOKEN",
                "--files",
                dir.path().to_str().unwrap(),
                "--deadline",
                "2",
                "--input",
                r#"{"file": "pipe"}"#,
            ])
            .env("UNUSED_TOKEN", "not-used"),
        std::time::Duration::from_secs(60),
    );

    assert!(exited, "the run never exited: {}", stderr(&out));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(error_json(&out)["error"], "timeout", "{}", stderr(&out));
}
