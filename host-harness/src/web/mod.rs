//! `serve`: an integration platform's connection screen and workflow API
//! for one connector, built from its manifest and its action schemas alone.
//!
//! The pages (server-rendered HTML, no script, nothing fetched from
//! elsewhere) let a person fill the connection form, sign in, test, reconnect,
//! revoke and delete connections, and run actions from forms generated from
//! their input schemas. The JSON API under `/api/v1` does the same for
//! workflow engines. Secrets go in and never come out.
//!
//! Protection: page forms carry a CSRF token bound to a cookie; the OAuth
//! callback accepts only a sign-in this server started (its state, or its
//! OAuth 1.0a request token); with an API key, the API requires it and the
//! pages require a session opened with it. [`serve`] refuses to listen
//! beyond loopback without an API key.

mod api;
mod pages;
mod schema_form;
mod security;
mod views;

use crate::auth::{oauth1, oauth2};
use crate::connections::ConnectionManager;
use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// The path of the OAuth callback, under the server's origin.
pub const CALLBACK_PATH: &str = crate::auth::callback::CALLBACK_PATH;

/// How long a started sign-in waits for its redirect.
const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// How the server presents itself and whom it lets in.
#[derive(Clone)]
pub struct WebConfig {
    /// The origin a browser reaches the server at, such as
    /// `http://127.0.0.1:8765`. The callback URL to register with the API's
    /// developer portal is this origin followed by [`CALLBACK_PATH`].
    pub public_origin: String,
    /// When set, every API request must carry it (`Authorization: Bearer`
    /// or `X-API-Key`), and the pages ask for it once per browser session.
    pub api_key: Option<SecretString>,
    /// A line shown at the top of every page, such as which API the server
    /// talks to.
    pub notice: Option<String>,
}

impl WebConfig {
    /// The exact callback URL sign-ins redirect to.
    pub fn callback_url(&self) -> String {
        format!(
            "{}{CALLBACK_PATH}",
            self.public_origin.trim_end_matches('/')
        )
    }
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "{addr} is reachable beyond this machine; set an API key (HOST_HARNESS_API_KEY) or bind to 127.0.0.1"
    )]
    ExposedWithoutKey { addr: SocketAddr },
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A sign-in started by this server, waiting for its redirect.
enum PendingSignIn {
    OAuth2 {
        connection: String,
        pending: oauth2::PendingAuthorization,
        started: Instant,
    },
    OAuth1 {
        connection: String,
        pending: oauth1::PendingAuthorization,
        started: Instant,
    },
}

impl PendingSignIn {
    fn started(&self) -> Instant {
        match self {
            PendingSignIn::OAuth2 { started, .. } | PendingSignIn::OAuth1 { started, .. } => {
                *started
            }
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    manager: ConnectionManager,
    config: WebConfig,
    /// Started sign-ins by their state (OAuth 2.0) or request token (OAuth 1.0a).
    pending: Mutex<HashMap<String, PendingSignIn>>,
    sessions: security::Sessions,
}

impl AppState {
    fn remember(&self, key: String, sign_in: PendingSignIn) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.started().elapsed() < SIGN_IN_WINDOW);
        pending.insert(key, sign_in);
    }

    /// Takes the sign-in `key` names: each is used once.
    fn take(&self, key: &str) -> Option<PendingSignIn> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .remove(key)
            .filter(|p| p.started().elapsed() < SIGN_IN_WINDOW)
    }
}

type Shared = Arc<AppState>;

/// The pages, the callback and the API, over `manager`'s connector.
pub fn router(manager: ConnectionManager, config: WebConfig) -> Router {
    let state: Shared = Arc::new(AppState {
        manager,
        config,
        pending: Mutex::new(HashMap::new()),
        sessions: security::Sessions::default(),
    });
    Router::new()
        .nest("/api/v1", api::router(state.clone()))
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route(
            "/connections",
            get(pages::connections).post(pages::create_connection),
        )
        .route("/connections/new", get(pages::new_connection))
        .route("/connections/{id}", get(pages::connection))
        .route("/connections/{id}/test", post(pages::test_connection))
        .route("/connections/{id}/reconnect", post(pages::reconnect))
        .route("/connections/{id}/revoke", post(pages::revoke))
        .route("/connections/{id}/delete", post(pages::delete))
        .route(
            "/connections/{id}/run",
            get(pages::runner).post(pages::run_action),
        )
        .route(CALLBACK_PATH, get(pages::callback))
        .with_state(state)
}

/// Serves the pages and the API on `listener` until `shutdown` completes.
/// Refuses a listener reachable beyond loopback when no API key is
/// configured.
pub async fn serve(
    listener: TcpListener,
    manager: ConnectionManager,
    config: WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && config.api_key.is_none() {
        return Err(ServeError::ExposedWithoutKey { addr });
    }
    axum::serve(listener, router(manager, config))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
