//! X's official Python SDK (`xdk`, generated from X's OpenAPI specification)
//! works against the emulator unchanged, for every endpoint the connector
//! uses; and everything it sent and got back fits the specification.
//!
//! The SDK is installed from PyPI into a virtual environment under cargo's
//! temporary target directory on first run (`tests/xdk/requirements.txt`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use x_emulator::Emulator;

fn venv() -> PathBuf {
    support::python::venv("xdk-venv", "xdk", "xdk/requirements.txt")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_x_sdk_works_against_the_emulator() {
    let python = tokio::task::spawn_blocking(venv).await.unwrap();
    let x = Emulator::start().await.unwrap();
    x.set_media_processing(x_emulator::MediaProcessing {
        polls: 1,
        check_after_secs: 1,
        fail: None,
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/xdk/conformance.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .env("X_API_BASE_URL", x.base_url())
        .env(
            "X_USER_TOKEN",
            x.issue_user_token("ada", support::DEFAULT_SCOPES),
        )
        .env("X_APP_TOKEN", x.issue_app_token())
        .env(
            "X_READ_ONLY_TOKEN",
            x.issue_user_token("ada", &["tweet.read", "users.read"]),
        );

    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the xdk checks failed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all xdk checks passed"), "{stdout}");
    // Some requests are invalid on purpose (max_results out of bounds).
    support::openapi::assert_conforms_but_refused_requests(&x.traffic());
}
