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
use crate::connections::{ConnectError, ConnectionManager};
use crate::manifest::AuthKind;
use axum::Router;
use axum::routing::{get, post};
use credential_store::ConnectionRecord;
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
        "{addr} is reachable beyond this machine; set an API key or listen on a loopback address"
    )]
    ExposedWithoutKey { addr: SocketAddr },
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A sign-in started by this server, waiting for its redirect.
struct PendingSignIn {
    connection: String,
    flow: SignInFlow,
    started: Instant,
}

enum SignInFlow {
    OAuth2(oauth2::PendingAuthorization),
    OAuth1(oauth1::PendingAuthorization),
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
    /// Starts connection `id`'s browser sign-in and keeps it for the
    /// callback. Returns the URL to send the user to, or `None` for a method
    /// that signs in without a browser.
    async fn begin_sign_in(&self, id: &str) -> Result<Option<String>, ConnectError> {
        let record = self.manager.store().connection(id)?;
        let kind = self
            .manager
            .manifest()
            .auth_method(&record.method)
            .map(|m| m.kind);
        let callback = self.config.callback_url();
        let (key, url, flow) = match kind {
            Some(AuthKind::Oauth2AuthorizationCode) => {
                let p = self.manager.begin_oauth2(id, &callback)?;
                (
                    p.state().to_string(),
                    p.authorization_url.clone(),
                    SignInFlow::OAuth2(p),
                )
            }
            Some(AuthKind::Oauth1) => {
                let p = self.manager.begin_oauth1(id, &callback).await?;
                (
                    p.request_token().to_string(),
                    p.authorization_url.clone(),
                    SignInFlow::OAuth1(p),
                )
            }
            _ => return Ok(None),
        };
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.started.elapsed() < SIGN_IN_WINDOW);
        pending.insert(
            key,
            PendingSignIn {
                connection: id.to_string(),
                flow,
                started: Instant::now(),
            },
        );
        Ok(Some(url))
    }

    /// Completes the sign-in `key` names (each is used once) from the
    /// redirect's query. `None` when this server did not start it, or it
    /// is too old.
    async fn finish_sign_in(
        &self,
        key: &str,
        query: &[(String, String)],
    ) -> Option<(String, Result<ConnectionRecord, ConnectError>)> {
        let sign_in = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending
                .remove(key)
                .filter(|p| p.started.elapsed() < SIGN_IN_WINDOW)?
        };
        let id = sign_in.connection;
        let done = match sign_in.flow {
            SignInFlow::OAuth2(p) => self.manager.finish_oauth2(&id, p, query).await,
            SignInFlow::OAuth1(p) => self.manager.finish_oauth1(&id, p, query).await,
        };
        Some((id, done))
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
