//! A user connects X from the command line and manages the connection: the
//! OAuth consent happens in a browser (played by the test), the store is
//! encrypted, nothing secret is ever printed, and a bad key, a damaged store
//! or a crash mid-refresh loses nothing.

mod support;

use secrecy::ExposeSecret;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::browser::{consent, get};
use x_emulator::{AppKeys, Emulator, Endpoint, Fault};

/// A data directory, an emulator with a registered app, and the command.
struct Cli {
    x: Emulator,
    app: AppKeys,
    dir: tempfile::TempDir,
    port: u16,
    /// Every line the command printed, to check for secrets.
    transcript: std::sync::Mutex<String>,
    verbose: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cli {
    async fn start(verbose: bool) -> Cli {
        let x = Emulator::start().await.unwrap();
        let port = free_port();
        let app = x.register_app(
            "Command line",
            &[&format!("http://127.0.0.1:{port}/callback")],
            true,
        );
        Cli {
            x,
            app,
            dir: tempfile::tempdir().unwrap(),
            port,
            transcript: Default::default(),
            verbose,
        }
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_host-harness"));
        let origin = self.x.base_url();
        command
            .env(
                "HOST_HARNESS_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled"),
            )
            .arg("--data-dir")
            .arg(self.data_dir())
            .args([
                "--route",
                &format!("api.x.com={origin}"),
                "--route",
                &format!("x.com={origin}"),
            ])
            .args(args)
            .env_remove("HOST_HARNESS_MASTER_KEY")
            .env("CLIENT_SECRET", self.app.client_secret.clone().unwrap())
            .env("API_SECRET", &self.app.api_secret);
        command.env_remove("HOST_HARNESS_LOG");
        if self.verbose {
            command.arg("-vvv");
        }
        command
    }

    fn record(&self, output: &Output) {
        let mut t = self.transcript.lock().unwrap();
        t.push_str(&String::from_utf8_lossy(&output.stdout));
        t.push_str(&String::from_utf8_lossy(&output.stderr));
    }

    /// Runs the command to completion, off the async executor.
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        self.record(&output);
        output
    }

    /// `connect --method oauth2`, with the test as the user's browser.
    async fn connect_oauth2(&self, account: &str) -> String {
        let port = self.port.to_string();
        let mut child = self
            .command(&[
                "connect",
                "--method",
                "oauth2",
                "--name",
                "Marketing",
                "--field",
                &format!("client_id={}", self.app.client_id),
                "--field-env",
                "client_secret=CLIENT_SECRET",
                "--callback-port",
                &port,
                "--timeout",
                "60",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Drain stderr all along: with tracing on, a full pipe would stall the command.
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut all = Vec::new();
            std::io::Read::read_to_end(&mut stderr, &mut all).ok();
            all
        });
        let (url, rest) = sign_in_url(&mut child).await;
        let location = consent(&url, account, true).await;
        let (status, _, page) = get(&location).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Connected"));
        let mut output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        output.stdout = tokio::task::spawn_blocking(move || rest.join().unwrap())
            .await
            .unwrap()
            .into_bytes();
        output.stderr = tokio::task::spawn_blocking(move || stderr.join().unwrap())
            .await
            .unwrap();
        self.record(&output);
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "connect failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        connection_id(&stdout)
    }
}

/// Reads the child's stdout until it prints the sign-in URL; the rest of
/// its stdout is read on by a thread, whose result is everything it printed.
async fn sign_in_url(child: &mut Child) -> (String, std::thread::JoinHandle<String>) {
    let stdout = child.stdout.take().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = String::new();
        loop {
            let line = lines
                .next()
                .expect("connect printed no sign-in URL")
                .unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if let Some(url) = line.strip_prefix("Sign in at: ") {
                let url = url.to_string();
                let rest = std::thread::spawn(move || {
                    for line in lines.map_while(Result::ok) {
                        seen.push_str(&line);
                        seen.push('\n');
                    }
                    seen
                });
                return (url, rest);
            }
        }
    })
    .await
    .unwrap()
}

fn connection_id(text: &str) -> String {
    let start = text
        .find("conn_")
        .unwrap_or_else(|| panic!("no connection id in: {text}"));
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_run_and_manage_a_connection_from_the_command_line() {
    let cli = Cli::start(false).await;

    let id = cli.connect_oauth2("ada").await;
    let me = cli.run(&["run", "users.me", "--connection", &id]).await;
    let list = cli.run(&["connections", "list"]).await;
    let show = cli.run(&["connections", "show", &id, "--json"]).await;
    let test = cli.run(&["connections", "test", &id]).await;

    assert!(me.status.success(), "{}", text(&me));
    let me: serde_json::Value = serde_json::from_slice(&me.stdout).unwrap();
    assert_eq!(me["user"]["username"], "ada");
    let listing = text(&list);
    assert!(
        listing.contains(&id) && listing.contains("connected") && listing.contains("ada"),
        "{listing}"
    );
    let preview: String = cli.app.client_id.chars().take(6).collect();
    assert!(listing.contains(&format!("{preview}…")), "{listing}");
    assert!(
        !listing.contains(&cli.app.client_id),
        "the listing shows the whole Client ID"
    );
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["fields"]["client_secret"], "(set, hidden)");
    assert_eq!(shown["status"], "connected");
    assert!(test.status.success(), "{}", text(&test));
    assert!(text(&test).contains("acts for ada"), "{}", text(&test));

    let revoke = cli.run(&["connections", "revoke", &id]).await;
    let after = cli.run(&["run", "users.me", "--connection", &id]).await;
    let delete = cli.run(&["connections", "delete", &id]).await;
    let gone = cli.run(&["connections", "list"]).await;

    assert!(revoke.status.success(), "{}", text(&revoke));
    assert_eq!(after.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&after.stderr).contains("\"error\": \"unauthorized\""),
        "{}",
        text(&after)
    );
    assert!(delete.status.success());
    assert!(text(&gone).contains("No connections"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_keeps_secrets_out_of_its_output_even_when_tracing_everything() {
    let cli = Cli::start(true).await;
    let grace_token = cli.x.issue_user_token("grace", support::DEFAULT_SCOPES);

    let oauth2 = cli.connect_oauth2("ada").await;
    cli.run(&[
        "run",
        "post.create",
        "--connection",
        &oauth2,
        "--input",
        r#"{"text": "Traced."}"#,
    ])
    .await;
    cli.run(&["connections", "list"]).await;
    cli.run(&["connections", "show", &oauth2]).await;
    cli.run(&["connections", "show", &oauth2, "--json"]).await;
    cli.run(&["connections", "test", &oauth2]).await;
    {
        // The access token expires: the next action refreshes it.
        let store = open_store(cli.data_dir()).await;
        let (mut tokens, version) = store.tokens(&oauth2).await.unwrap().unwrap();
        tokens.access_expires_at = Some(1);
        store
            .save_tokens(&oauth2, &tokens, Some(version))
            .await
            .unwrap();
    }
    let refreshed = cli
        .run(&["run", "timeline.home", "--connection", &oauth2])
        .await;
    assert!(refreshed.status.success(), "{}", text(&refreshed));
    let bearer = {
        let mut command = cli.command(&[
            "connect",
            "--method",
            "bearer",
            "--field-env",
            "bearer_token=GRACE_TOKEN",
        ]);
        command.env("GRACE_TOKEN", &grace_token);
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        cli.record(&output);
        assert!(output.status.success(), "{}", text(&output));
        connection_id(&String::from_utf8_lossy(&output.stdout))
    };
    cli.run(&["run", "users.me", "--connection", &bearer]).await;
    let app_only = cli
        .run(&[
            "connect",
            "--method",
            "app_only",
            "--field",
            &format!("client_id={}", cli.app.api_key),
            "--field-env",
            "client_secret=API_SECRET",
        ])
        .await;
    assert!(app_only.status.success(), "{}", text(&app_only));
    let app_only = connection_id(&String::from_utf8_lossy(&app_only.stdout));
    cli.run(&[
        "run",
        "search.recent",
        "--connection",
        &app_only,
        "--input",
        r#"{"query": "engine"}"#,
    ])
    .await;
    cli.run(&[
        "app-credentials",
        "set",
        "--method",
        "oauth2",
        "--field",
        &format!("client_id={}", cli.app.client_id),
        "--field-env",
        "client_secret=CLIENT_SECRET",
    ])
    .await;
    cli.run(&["app-credentials", "show", "--method", "oauth2"])
        .await;
    cli.run(&["connections", "revoke", &oauth2]).await;

    let transcript = cli.transcript.lock().unwrap().clone();
    assert!(
        transcript.contains("TRACE") || transcript.contains("DEBUG"),
        "tracing was not on"
    );
    let key = std::fs::read_to_string(cli.data_dir().join("master.key")).unwrap();
    let mut secrets = cli.x.secrets_issued();
    secrets.push(cli.app.client_secret.clone().unwrap());
    secrets.push(cli.app.api_secret.clone());
    secrets.push(grace_token);
    secrets.push(key.trim().to_string());
    assert!(secrets.len() > 8);
    for secret in &secrets {
        assert!(
            !transcript.contains(secret.as_str()),
            "a secret appeared in the output: {}…",
            &secret[..6]
        );
    }
}

async fn open_store(dir: &Path) -> credential_store::Store {
    let key = credential_store::MasterKey::read_file(&dir.join("master.key"))
        .unwrap()
        .unwrap();
    credential_store::Store::open_file(&dir.join("connections.db"), &key)
        .await
        .unwrap()
}

/// The store's main file and every row of every table, to tell whether
/// anything was written.
fn store_state(dir: &Path) -> (Vec<u8>, Vec<String>) {
    let file = std::fs::read(dir.join("connections.db")).unwrap();
    let db = rusqlite::Connection::open_with_flags(
        dir.join("connections.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut rows = Vec::new();
    for table in [
        "meta",
        "app_credentials",
        "connections",
        "connection_fields",
        "tokens",
    ] {
        let mut stmt = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let mut query = stmt.query([]).unwrap();
        while let Some(row) = query.next().unwrap() {
            let values: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get::<_, rusqlite::types::Value>(i).unwrap()))
                .collect();
            rows.push(format!("{table}: {}", values.join(", ")));
        }
    }
    (file, rows)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_typed_on_the_command_line_is_warned_about_and_never_echoed() {
    let cli = Cli::start(false).await;
    let secret = cli.app.client_secret.clone().unwrap();

    let typed = cli
        .run(&[
            "app-credentials",
            "set",
            "--method",
            "oauth2",
            "--field",
            &format!("client_id={}", cli.app.client_id),
            "--field",
            &format!("client_secret={secret}"),
        ])
        .await;
    let from_env = cli
        .run(&[
            "app-credentials",
            "set",
            "--method",
            "oauth2",
            "--field-env",
            "client_secret=CLIENT_SECRET",
        ])
        .await;

    assert!(typed.status.success(), "{}", text(&typed));
    let said = text(&typed);
    assert!(
        said.contains("warning: `client_secret` is a secret") && said.contains("--field-env"),
        "{said}"
    );
    assert!(!said.contains("`client_id` is a secret"), "{said}");
    assert!(!said.contains(&secret), "the secret was echoed");
    assert!(from_env.status.success(), "{}", text(&from_env));
    assert!(!text(&from_env).contains("warning"), "{}", text(&from_env));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_missing_master_key_is_refused_and_nothing_is_overwritten() {
    let cli = Cli::start(false).await;
    let id = cli.connect_oauth2("ada").await;
    let before = store_state(cli.data_dir());

    let wrong = {
        let mut command = cli.command(&["connections", "list"]);
        command.env(
            "HOST_HARNESS_MASTER_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        );
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    };
    let malformed = {
        let mut command = cli.command(&["connections", "list"]);
        command.env("HOST_HARNESS_MASTER_KEY", "not-a-key");
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    };
    let key_file = cli.data_dir().join("master.key");
    let kept_aside = cli.data_dir().join("master.key.kept");
    std::fs::rename(&key_file, &kept_aside).unwrap();
    let missing = cli.run(&["run", "users.me", "--connection", &id]).await;
    let key_recreated = key_file.exists();
    std::fs::rename(&kept_aside, &key_file).unwrap();

    assert_eq!(wrong.status.code(), Some(3), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("master key does not open"),
        "{}",
        text(&wrong)
    );
    assert_eq!(malformed.status.code(), Some(3));
    assert!(
        text(&malformed).contains("HOST_HARNESS_MASTER_KEY"),
        "{}",
        text(&malformed)
    );
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        text(&missing).contains("no master key"),
        "{}",
        text(&missing)
    );
    assert!(
        !key_recreated,
        "a new key was created for an existing store"
    );
    let after = store_state(cli.data_dir());
    assert!(after.0 == before.0, "the store file changed");
    assert_eq!(after.1, before.1, "the stored rows changed");
    for output in [&wrong, &malformed, &missing] {
        assert!(!text(output).contains("panicked"), "{}", text(output));
    }
    // With the right key, all is as it was.
    let me = cli.run(&["run", "users.me", "--connection", &id]).await;
    assert!(me.status.success(), "{}", text(&me));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_secret_is_a_clear_error() {
    let cli = Cli::start(false).await;
    let id = cli.connect_oauth2("ada").await;
    {
        let db = rusqlite::Connection::open(cli.data_dir().join("connections.db")).unwrap();
        let mut sealed: Vec<u8> = db
            .query_row(
                "SELECT refresh_token FROM tokens WHERE connection_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 0x01;
        db.execute(
            "UPDATE tokens SET refresh_token = ?2 WHERE connection_id = ?1",
            rusqlite::params![id, sealed],
        )
        .unwrap();
    }

    let output = cli.run(&["run", "users.me", "--connection", &id]).await;

    assert_ne!(output.status.code(), Some(0));
    let said = text(&output);
    assert!(
        said.contains("does not decrypt") && said.contains("refresh_token"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_killed_during_a_refresh_leaves_a_refresh_token_that_still_works() {
    let cli = Cli::start(false).await;
    let id = cli.connect_oauth2("ada").await;
    let stored_before = {
        let store = open_store(cli.data_dir()).await;
        let (mut tokens, version) = store.tokens(&id).await.unwrap().unwrap();
        tokens.access_expires_at = Some(1);
        store
            .save_tokens(&id, &tokens, Some(version))
            .await
            .unwrap();
        tokens.refresh_token.unwrap().expose_secret().to_string()
    };
    let token_requests = cli.x.arrivals("/2/oauth2/token");
    cli.x
        .inject(Endpoint::OAuth2Token, Fault::Delay(Duration::from_secs(30)));

    // The host refreshes, and is killed while the token request is in flight.
    let mut child = cli
        .command(&["run", "users.me", "--connection", &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while cli.x.arrivals("/2/oauth2/token") == token_requests {
        assert!(
            Instant::now() < deadline,
            "the host never asked for a token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let stored_after = open_store(cli.data_dir())
        .await
        .tokens(&id)
        .await
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(
        stored_after.refresh_token.unwrap().expose_secret(),
        stored_before.as_str()
    );
    let again = cli.run(&["run", "users.me", "--connection", &id]).await;
    assert!(again.status.success(), "{}", text(&again));
    let stored_now = open_store(cli.data_dir())
        .await
        .tokens(&id)
        .await
        .unwrap()
        .unwrap()
        .0;
    assert_ne!(
        stored_now.refresh_token.unwrap().expose_secret(),
        stored_before.as_str(),
        "the refresh did not rotate"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn at_a_terminal_connect_asks_for_the_method_and_each_field_and_never_echoes_a_secret() {
    let cli = Cli::start(false).await;
    let api_key = cli.app.api_key.clone();
    let api_secret = cli.app.api_secret.clone();
    let command = with_terminal_echo(cli.command(&["connect", "--name", "Typed in"]));

    // A user at a terminal: picks app-only from the list, types the API Key
    // (echoed) and the API Key Secret (not echoed).
    let screen = tokio::task::spawn_blocking(move || {
        let mut session = rexpect::session::spawn_command(command, Some(30_000)).unwrap();
        let mut screen = session.exp_string("Choose 1-4: ").unwrap();
        session.send_line("3").unwrap();
        screen.push_str(
            &session
                .exp_string("API Key (required unless set as an app credential): ")
                .unwrap(),
        );
        session.send_line(&api_key).unwrap();
        screen.push_str(
            &session
                .exp_string("API Key Secret (required unless set as an app credential): ")
                .unwrap(),
        );
        session.send_line(&api_secret).unwrap();
        screen.push_str(&session.exp_eof().unwrap());
        screen
    })
    .await
    .unwrap();

    assert!(screen.contains("App-only (Client Credentials)"), "{screen}");
    assert!(
        screen.contains(&cli.app.api_key),
        "the API Key was not echoed: {screen}"
    );
    assert!(
        !screen.contains(&cli.app.api_secret),
        "the secret was echoed"
    );
    let id = connection_id(&screen);
    let search = cli
        .run(&[
            "run",
            "search.recent",
            "--connection",
            &id,
            "--input",
            r#"{"query": "engine"}"#,
        ])
        .await;
    assert!(search.status.success(), "{}", text(&search));
}

/// `command` behind `stty echo`, so that the terminal echoes what is typed
/// as a user's would (the test's pseudo-terminal starts with echo off).
fn with_terminal_echo(command: Command) -> Command {
    let mut shell = Command::new("sh");
    shell
        .args(["-c", "stty echo && exec \"$0\" \"$@\""])
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(name, value),
            None => shell.env_remove(name),
        };
    }
    shell
}

#[tokio::test(flavor = "multi_thread")]
async fn no_name_reaches_the_operators_terminal_as_a_control_sequence() {
    let cli = Cli::start(false).await;
    let token = cli.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let field = format!("bearer_token={token}");
    let forged_row = "Ada\r\nconn_fake0             Forged             bearer    pending";
    let refused = cli
        .run(&[
            "connect", "--method", "bearer", "--name", forged_row, "--field", &field,
        ])
        .await;
    let made = cli
        .run(&[
            "connect", "--method", "bearer", "--name", "Ada", "--field", &field,
        ])
        .await;
    // A name kept from before names were checked.
    let kept = open_store(cli.data_dir())
        .await
        .create_connection(&support::hostile_connection())
        .await
        .unwrap();
    let list = cli.run(&["connections", "list"]).await;
    let show = cli.run(&["connections", "show", &kept.id]).await;

    assert!(!refused.status.success());
    assert!(text(&refused).contains("`name`"), "{}", text(&refused));
    assert!(made.status.success(), "{}", text(&made));
    for output in [&list, &show] {
        assert!(output.status.success(), "{}", text(output));
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            !printed.chars().any(|c| c.is_control() && c != '\n'),
            "a control character reached the terminal: {printed:?}"
        );
        assert!(!printed.contains("conn_fake0             Forged"));
        assert!(printed.contains("Ada\\u{1b}]8;;"), "{printed}");
    }
    let listing = String::from_utf8_lossy(&list.stdout);
    assert_eq!(
        listing.lines().count(),
        3,
        "one line for the heading and one for each connection: {listing}"
    );
    assert!(String::from_utf8_lossy(&show.stdout).contains("acme\\u{1b}[2J"));
}
