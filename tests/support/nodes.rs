//! `host-harness` processes sharing one store, as a platform runs them:
//! `serve` nodes behind one public address, and one-shot `run` commands.
//! Each node's stderr is kept, to see which did what.

use host_harness::Routes;
use host_harness::auth::http::HostHttp;
use host_harness::outgoing::HttpTimeouts;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every process of one platform is given: the store, its key, the
/// routes to the emulator, and (for `serve`) the API key.
#[derive(Clone)]
pub struct Platform {
    /// `--database-url`, or none for the SQLite file in `data_dir`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    /// The master key, base64: `HOST_HARNESS_MASTER_KEY`; or several,
    /// comma-separated, the first active: `HOST_HARNESS_MASTER_KEYS`.
    pub master_key: String,
    /// The emulator's origin, for `api.x.com` and `x.com`.
    pub emulator: String,
    pub api_key: Option<String>,
    /// `HOST_HARNESS_ADMIN_KEY`, the operator's key for tenants.
    pub admin_key: Option<String>,
}

impl Platform {
    /// The command with the platform's settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_host-harness"));
        command
            .env(
                "HOST_HARNESS_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled"),
            )
            .env_remove("HOST_HARNESS_MASTER_KEY")
            .env_remove("HOST_HARNESS_MASTER_KEYS")
            .env(
                if self.master_key.contains(',') {
                    "HOST_HARNESS_MASTER_KEYS"
                } else {
                    "HOST_HARNESS_MASTER_KEY"
                },
                &self.master_key,
            )
            .env_remove("HOST_HARNESS_LOG")
            .env_remove("HOST_HARNESS_DATABASE_URL")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args([
                "--route",
                &format!("api.x.com={}", self.emulator),
                "--route",
                &format!("x.com={}", self.emulator),
            ]);
        if let Some(url) = &self.database_url {
            command.args(["--database-url", url]);
        }
        match &self.api_key {
            Some(key) => command.env("HOST_HARNESS_API_KEY", key),
            None => command.env_remove("HOST_HARNESS_API_KEY"),
        };
        match &self.admin_key {
            Some(key) => command.env("HOST_HARNESS_ADMIN_KEY", key),
            None => command.env_remove("HOST_HARNESS_ADMIN_KEY"),
        };
        command.args(args);
        command
    }

    /// Compiles the component into the shared cache once, so that the
    /// processes a test starts together do not all compile it.
    pub async fn warm_up(&self) {
        let mut command = self.command(&["actions"]);
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The emulator with the test app, and a platform whose processes share a
/// SQLite store in a fresh data directory, its master key known to the
/// test's own store handle too; the platform is warmed up.
#[allow(dead_code)]
pub async fn sqlite_platform(
    api_key: Option<&str>,
    admin_key: Option<&str>,
) -> (super::auth::AuthBed, Platform) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let bytes: [u8; 32] = rand::random();
    let location = credential_store::StoreLocation::Sqlite(data_dir.join("connections.db"));
    let bed = super::auth::AuthBed::on_store(
        dir,
        &location,
        &credential_store::MasterKey::from_bytes(bytes),
        super::auth::CALLBACK,
    )
    .await;
    let platform = Platform {
        database_url: None,
        data_dir,
        master_key: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes),
        emulator: bed.x.base_url(),
        api_key: api_key.map(str::to_string),
        admin_key: admin_key.map(str::to_string),
    };
    platform.warm_up().await;
    (bed, platform)
}

/// A running `host-harness serve`; its requests go through [`NodeClient`].
pub struct Node {
    client: NodeClient,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl std::ops::Deref for Node {
    type Target = NodeClient;

    fn deref(&self) -> &NodeClient {
        &self.client
    }
}

/// Requests to a node, as a workflow engine or a browser makes them.
#[derive(Clone)]
pub struct NodeClient {
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    api_key: Option<String>,
}

/// A port for a node to listen on. It is taken below the kernel's
/// ephemeral range (32768 and up on Linux), where the listeners tests bind
/// to port 0 and every outgoing connection get theirs, so that nothing
/// else takes it between now and the node's start; at random, checked
/// free, and never the same twice in one test process.
pub fn free_port() -> u16 {
    use rand::Rng;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = rand::rng().random_range(20_000..32_000);
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
}

impl Node {
    /// Starts `serve` on `port`, telling browsers it is reached at
    /// `public_origin` (the address every node stands behind), and waits
    /// until it answers.
    pub async fn start(
        name: &'static str,
        platform: &Platform,
        port: u16,
        public_origin: &str,
    ) -> Node {
        Node::start_with(name, platform, port, public_origin, &[]).await
    }

    /// The same, with more arguments for `serve`.
    pub async fn start_with(
        name: &'static str,
        platform: &Platform,
        port: u16,
        public_origin: &str,
        extra: &[&str],
    ) -> Node {
        // The tests' workflow engines listen on loopback.
        let mut with_loopback = vec!["--allow-private-targets", "127.0.0.0/8"];
        with_loopback.extend_from_slice(extra);
        Node::start_guarded(name, platform, port, public_origin, &with_loopback).await
    }

    /// A node that delivers to public addresses only, and to the ranges
    /// `extra` allows: what a server exposed to users runs.
    pub async fn start_guarded(
        name: &'static str,
        platform: &Platform,
        port: u16,
        public_origin: &str,
        extra: &[&str],
    ) -> Node {
        Node::start_in(name, platform, port, public_origin, extra, &[]).await
    }

    /// A node with `extra` arguments and `env` set in its environment
    /// (what an operator configures by variables only, such as OTLP).
    pub async fn start_in(
        name: &'static str,
        platform: &Platform,
        port: u16,
        public_origin: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Node {
        let bind = format!("127.0.0.1:{port}");
        let mut args = vec![
            "serve",
            "--bind",
            &bind,
            "--public-url",
            public_origin,
            "-v",
        ];
        args.extend_from_slice(extra);
        let mut child = platform
            .command(&args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("host-harness serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let node = Node {
            client: NodeClient {
                name,
                origin: format!("http://127.0.0.1:{port}"),
                api_key: platform.api_key.clone(),
            },
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok((200, _)) = node.try_request("GET", "/api/v1/actions", None).await {
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "node {name} did not start: {}",
                node.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything the node wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Kills the node at once (SIGKILL): no clean-up runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the node to stop, as an orchestrator does (SIGTERM).
    pub fn terminate(&self) {
        // SAFETY: kill(2) with the pid of a child this process started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Waits up to `within` for the node to exit; its status, if it did.
    pub async fn exited(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// A client of this node, to move into a task.
    pub fn client(&self) -> NodeClient {
        self.client.clone()
    }
}

impl NodeClient {
    /// The same client, sending `key` instead of the platform's.
    pub fn with_key(&self, key: &str) -> NodeClient {
        NodeClient {
            api_key: Some(key.to_string()),
            ..self.clone()
        }
    }

    /// An API request with the API key; the status and the JSON answer.
    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), String> {
        self.try_request_with_headers(method, path, body, &[]).await
    }

    /// The same, with more headers (a caller's `traceparent`, say).
    pub async fn try_request_with_headers(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, serde_json::Value), String> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.origin))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key);
        }
        let request = request
            .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
            .unwrap();
        let response = HostHttp::new(
            Routes::default(),
            HttpTimeouts {
                first_byte: Duration::from_secs(120),
                ..HttpTimeouts::default()
            },
        )
        .send(request)
        .await
        .map_err(|e| e.to_string())?;
        Ok((
            response.status().as_u16(),
            serde_json::from_slice(response.body()).unwrap_or_default(),
        ))
    }

    /// The same, expecting an answer.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.try_request(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("node {} did not answer {method} {path}: {e}", self.name))
    }

    /// An API request with more headers, expecting an answer.
    #[allow(dead_code)]
    pub async fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        self.try_request_with_headers(method, path, body, headers)
            .await
            .unwrap_or_else(|e| panic!("node {} did not answer {method} {path}: {e}", self.name))
    }

    /// A POST of `body` as an outside service sends it: JSON, these
    /// headers, no API key; the status.
    #[allow(dead_code)]
    pub async fn raw_post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> u16 {
        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.origin))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.as_bytes().to_vec()).unwrap();
        HostHttp::new(Routes::default(), HttpTimeouts::default())
            .send(request)
            .await
            .unwrap_or_else(|e| panic!("node {} did not answer POST {path}: {e}", self.name))
            .status()
            .as_u16()
    }

    /// A GET with the given cookies: status, headers and body.
    pub async fn get_page(&self, path: &str, cookies: &str) -> (u16, http::HeaderMap, String) {
        let request = http::Request::get(format!("{}{path}", self.origin))
            .header("cookie", cookies)
            .body(Vec::new())
            .unwrap();
        let response = HostHttp::new(Routes::default(), HttpTimeouts::default())
            .send(request)
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.headers().clone(),
            String::from_utf8_lossy(response.body()).into_owned(),
        )
    }

    /// The node's metrics, read with the operator's key.
    #[allow(dead_code)]
    pub async fn metrics(&self, admin_key: &str) -> String {
        let request = http::Request::get(format!("{}/metrics", self.origin))
            .header("authorization", format!("Bearer {admin_key}"))
            .body(Vec::new())
            .unwrap();
        let response = HostHttp::new(Routes::default(), HttpTimeouts::default())
            .send(request)
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "the metrics were refused");
        String::from_utf8_lossy(response.body()).into_owned()
    }

    /// A form POST with the given cookies: status and headers.
    pub async fn post_form(
        &self,
        path: &str,
        cookies: &str,
        form: &[(&str, &str)],
    ) -> (u16, http::HeaderMap, String) {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            body.append_pair(k, v);
        }
        let request = http::Request::post(format!("{}{path}", self.origin))
            .header("cookie", cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish().into_bytes())
            .unwrap();
        let response = HostHttp::new(Routes::default(), HttpTimeouts::default())
            .send(request)
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.headers().clone(),
            String::from_utf8_lossy(response.body()).into_owned(),
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
