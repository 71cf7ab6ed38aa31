//! `serve` on a loopback port over the X connector and an emulator with a
//! registered app, and a real headless chromium driven through
//! chromedriver (WebDriver). A browser scenario that fails leaves a
//! screenshot and the page's HTML in `target/tmp/browser-failures/`.

use super::auth::AuthBed;
use credential_store::Store;
use fantoccini::{Client, ClientBuilder, Locator};
use host_harness::auth::http::HostHttp;
use host_harness::outgoing::HttpTimeouts;
use host_harness::web::{self, WebConfig};
use host_harness::{Origin, Routes};
use hyper_util::client::legacy::connect::HttpConnector;
use secrecy::SecretString;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use x_emulator::{AppKeys, Emulator};

pub struct ServeBed {
    pub x: Emulator,
    /// `http://127.0.0.1:PORT`, where `serve` listens.
    pub origin: String,
    /// A confidential app registered with `serve`'s callback URL.
    pub app: AppKeys,
    pub store: Arc<Store>,
    _dir: tempfile::TempDir,
}

impl ServeBed {
    pub async fn start(api_key: Option<&str>) -> ServeBed {
        ServeBed::start_with_keys(api_key, None).await
    }

    /// A server with the default tenant's key and the operator's admin key.
    pub async fn start_with_keys(api_key: Option<&str>, admin_key: Option<&str>) -> ServeBed {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let config = WebConfig {
            push: None,
            public_origin: origin.clone(),
            api_key: api_key.map(|k| SecretString::from(k.to_string())),
            admin_key: admin_key.map(|k| SecretString::from(k.to_string())),
            notice: None,
            triggers: None,
            // The tests' receivers and products listen on loopback.
            targets: host_harness::target_guard::TargetGuard::allowing(["127.0.0.0/8"
                .parse()
                .unwrap()]),
            shutdown: Default::default(),
        };
        let AuthBed {
            x,
            manager,
            store,
            app,
            dir,
        } = AuthBed::with_callback(&config.callback_url()).await;
        tokio::spawn(web::serve(
            listener,
            manager,
            config,
            std::future::pending(),
        ));
        ServeBed {
            x,
            origin,
            app,
            store,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The SQLite file the server keeps its store in.
    pub fn store_file(&self) -> std::path::PathBuf {
        self._dir.path().join("connections.db")
    }
}

/// Debian's chromium and its driver, where the browser tests look first.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";
const DEBIAN_CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Installs Debian's chromium and chromium-driver with apt-get the first
/// time a browser test needs them and they are missing (as root, or
/// through passwordless sudo), so that `cargo test --workspace` needs
/// nothing installed by hand. One test process installs at a time; the
/// others wait for it and find them there.
fn provision_browser() {
    static PROVISIONED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    PROVISIONED.get_or_init(|| {
        let present = || {
            std::path::Path::new(DEBIAN_CHROMIUM).exists()
                && std::path::Path::new(DEBIAN_CHROMEDRIVER).exists()
        };
        let chosen = std::env::var_os("CHROMIUM").is_some() || std::env::var_os("CHROMEDRIVER").is_some();
        if chosen || present() {
            return;
        }
        let lock_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-install.lock");
        let lock = std::fs::File::create(&lock_path).expect("the install lock file");
        lock.lock().expect("the install lock");
        if present() {
            return;
        }
        let sudo: &[&str] = if unsafe { libc::geteuid() } == 0 {
            &[]
        } else {
            &["sudo", "-n"]
        };
        eprintln!("installing Debian's chromium and chromium-driver for the browser tests (apt-get)");
        for apt in [
            &["apt-get", "update", "-qq"][..],
            &[
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "chromium",
                "chromium-driver",
            ][..],
        ] {
            let command: Vec<&str> = sudo.iter().chain(apt).copied().collect();
            let status = Command::new(command[0])
                .args(&command[1..])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status();
            assert!(
                status.as_ref().is_ok_and(|s| s.success()),
                "the browser tests need chromium and chromedriver: `{}` failed ({status:?}); install Debian's chromium and chromium-driver, or name others with CHROMIUM and CHROMEDRIVER",
                command.join(" ")
            );
        }
    });
}

/// The chromedriver and chromium to use: `CHROMEDRIVER` and `CHROMIUM`, or
/// Debian's, installed on first use.
fn tool(var: &str, default: &str) -> PathBuf {
    provision_browser();
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "the browser tests need {} ({var}); install Debian's chromium and chromium-driver, or name others with CHROMIUM and CHROMEDRIVER",
        path.display()
    );
    path
}

/// A headless chromium session.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Browser {
    pub async fn start() -> Browser {
        let driver_path = tool("CHROMEDRIVER", DEBIAN_CHROMEDRIVER);
        let chromium = tool("CHROMIUM", DEBIAN_CHROMIUM);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1200,1000",
                         "--no-first-run", "--disable-extensions"]
            }),
        );
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => return Browser { client, driver },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot open a chromium session through chromedriver: {last:?}");
    }

    /// Runs `scenario`; if it fails, keeps a screenshot and the page's HTML
    /// under `name`, then fails the same way.
    pub async fn run<F, Fut>(self, name: &str, scenario: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(scenario(self.client.clone())).await;
        if let Err(failure) = outcome {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-failures");
            std::fs::create_dir_all(&dir).ok();
            if let Ok(png) = self.client.screenshot().await {
                let path = dir.join(format!("{name}.png"));
                std::fs::write(&path, png).ok();
                eprintln!("screenshot of the failure: {}", path.display());
            }
            if let Ok(html) = self.client.source().await {
                std::fs::write(dir.join(format!("{name}.html")), html).ok();
            }
            self.close().await;
            std::panic::resume_unwind(failure.into_panic());
        }
        self.close().await;
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Answers the emulator's consent page as `account`: picks the account
/// and authorizes the app.
pub async fn consent_as(client: &Client, account: &str) {
    let select = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("account"))
        .await
        .expect("the emulator's consent page");
    let consent_page = client.current_url().await.unwrap();
    select.select_by_value(account).await.unwrap();
    click_button(client, "Authorize app").await;
    // The consent page has an `#account` of its own: what the test reads
    // next must be on the page the sign-in returns to, once the browser
    // has left the emulator.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.current_url().await.unwrap().origin() == consent_page.origin() {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser stayed on the consent page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fills the control `id`, once the page shows it.
pub async fn fill(client: &Client, id: &str, text: &str) {
    let field = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the button whose text is `label`.
pub async fn click_button(client: &Client, label: &str) {
    client
        .find(Locator::XPath(&format!(
            "//button[normalize-space(.)='{label}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("no button `{label}`: {e}"))
        .click()
        .await
        .unwrap();
}

/// The visible text of the element `css` selects, once the page shows it
/// (a page being replaced is read again).
pub async fn text_of(client: &Client, css: &str) -> String {
    let mut last = None;
    for _ in 0..100 {
        match client.find(Locator::Css(css)).await {
            Ok(element) => match element.text().await {
                Ok(text) => return text,
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no `{css}` on the page: {last:?}");
}

/// Waits until the page's main content says `text`.
pub async fn wait_for_text(client: &Client, text: &str) {
    let found = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!("//main[contains(., '{text}')]")))
        .await;
    if let Err(e) = found {
        panic!("the page never said `{text}`: {e}");
    }
}

pub async fn api(method: &str, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let response = HostHttp::new(Routes::default(), HttpTimeouts::default())
        .send(request.body(bytes).unwrap())
        .await
        .unwrap();
    (
        response.status().as_u16(),
        serde_json::from_slice(response.body()).unwrap_or(Value::Null),
    )
}

/// A request with the headers given, its URL's host sent to `bed` (as a
/// name re-pointed at the machine would be, keeping its `Host`); status,
/// headers and body.
pub async fn raw(
    bed: &ServeBed,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, String) {
    raw_at(&bed.origin, method, url, headers, body).await
}

/// The same, to the server at `origin`.
pub async fn raw_at(
    origin: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, String) {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let host = url
        .split("://")
        .nth(1)
        .unwrap()
        .split(['/', ':'])
        .next()
        .unwrap();
    let mut routes = Routes::default();
    routes.add(host, Origin::parse(origin).unwrap());
    let response = HostHttp::new(routes, HttpTimeouts::default())
        .send(request.body(body.as_bytes().to_vec()).unwrap())
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.headers().clone(),
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}
