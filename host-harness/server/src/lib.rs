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
//! callback accepts only a sign-in started through the store (its state, or
//! its OAuth 1.0a request token); with an API key, the API requires it and
//! the pages require a session opened with it. [`serve`] refuses to listen
//! beyond loopback without an API key.
//!
//! Several servers can stand behind one address, on one machine or many:
//! sign-ins in flight and sessions live in the store they share, and the
//! CSRF check needs nothing but the request, so any of them can serve any
//! request.

mod api;
mod connect;
mod events;
mod health;
mod mcp;
mod mcp_oauth;
mod metrics;
mod openapi;
mod pages;
mod schema_form;
mod security;
mod sign_in;
mod tenancy;
mod tenants;
mod traces;
mod usage;
mod views;
mod webhooks;

use axum::Router;
use axum::routing::{get, post};
use credential_store::ConnectionRecord;
use host_auth::connections::{ConnectError, ConnectionManager};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The path of the OAuth callback, under the server's origin.
pub const CALLBACK_PATH: &str = host_auth::callback::CALLBACK_PATH;

/// How the server presents itself and whom it lets in.
#[derive(Clone)]
pub struct WebConfig {
    /// The origin a browser reaches the server at, such as
    /// `http://127.0.0.1:8765`. The callback URL to register with the API's
    /// developer portal is this origin followed by [`CALLBACK_PATH`].
    pub public_origin: String,
    /// The default tenant's key. When set, every API request must carry
    /// a key (`Authorization: Bearer` or `X-API-Key`), and the pages ask
    /// for this one once per browser session.
    pub api_key: Option<SecretString>,
    /// The operator's key: creates tenants and their API keys, and reaches
    /// no tenant's connections. When set, every API request must carry a
    /// key.
    pub admin_key: Option<SecretString>,
    /// A line shown at the top of every page, such as which API the server
    /// talks to.
    pub notice: Option<String>,
    /// When set, the server runs the subscriptions in the store: polls
    /// them and sends their events (with other servers sharing the store).
    pub triggers: Option<host_triggers::runner::RunnerConfig>,
    /// When set, the API pushes pushable triggers' events to this server's
    /// webhook, registered through an app-level connection.
    pub push: Option<host_triggers::push::PushSetup>,
    /// Where URLs that users give this server (delivery targets) may
    /// lead: public addresses, and the private ranges the operator allows.
    pub targets: host_core::target_guard::TargetGuard,
    /// How the server stops.
    pub shutdown: ShutdownTerms,
}

/// How a server stops once told to: it says it is not ready and takes no
/// new work, keeps answering for `delay` (so a load balancer sees it),
/// then lets what is in flight finish for up to `grace`, and gives back
/// what it held so other servers take it at once.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownTerms {
    pub delay: std::time::Duration,
    pub grace: std::time::Duration,
}

impl Default for ShutdownTerms {
    fn default() -> Self {
        ShutdownTerms {
            delay: std::time::Duration::from_secs(2),
            grace: std::time::Duration::from_secs(30),
        }
    }
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

/// What every handler shares. Nothing here outlives a request but the
/// configuration: sign-ins in flight and page sessions are in the store,
/// where every host serving the same connections finds them.
pub(crate) struct AppState {
    manager: Arc<ConnectionManager>,
    config: WebConfig,
    /// The names requests may address the server by.
    reached_at: security::ReachedAt,
    /// The API's id of the webhook, once push is set up.
    webhook_id: std::sync::OnceLock<String>,
    /// Set once the server is stopping: it is no longer ready.
    draining: std::sync::atomic::AtomicBool,
    /// The MCP endpoint's authorization server.
    authorizer: host_mcp::Authorizer,
}

impl AppState {
    fn new(manager: ConnectionManager, config: WebConfig, reached_at: security::ReachedAt) -> Self {
        let authorizer = host_mcp::Authorizer::new(
            manager.shared_store(),
            &config.public_origin,
            mcp_oauth::MCP_PATH,
        )
        .with_metadata_documents(mcp_oauth::document_client(&config.targets));
        AppState {
            manager: Arc::new(manager),
            config,
            reached_at,
            webhook_id: std::sync::OnceLock::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
            authorizer,
        }
    }

    /// The keys this server knows beside its tenants'.
    fn keys(&self) -> tenancy::ServerKeys {
        tenancy::ServerKeys {
            api_key: self.config.api_key.clone(),
            admin_key: self.config.admin_key.clone(),
        }
    }

    /// Starts connection `id`'s browser sign-in; returns the URL to send
    /// the user to, or `None` for a method that signs in without a browser.
    async fn begin_sign_in(&self, id: &str) -> Result<Option<String>, ConnectError> {
        self.manager
            .start_sign_in(id, &self.config.callback_url())
            .await
    }

    /// The API's id of this server's webhook: known once push has
    /// started here, or already registered by another server on the store
    /// while this one is still starting.
    async fn webhook_id(&self) -> Option<String> {
        if let Some(id) = self.webhook_id.get() {
            return Some(id.clone());
        }
        let setup = self.config.push.as_ref()?;
        match self.manager.store().webhook(&setup.connection_id).await {
            Ok(Some(webhook)) if webhook.url == setup.url => webhook.remote_id,
            _ => None,
        }
    }

    /// Asks the API to push a new subscription's events when its trigger
    /// can be pushed; why it stays polled, when it does.
    async fn start_push(&self, subscription_id: &str, trigger: &str) -> Option<String> {
        let pushable = self
            .manager
            .manifest()
            .trigger(trigger)
            .is_some_and(|t| t.delivery.contains(&host_core::manifest::Delivery::Push));
        if !pushable {
            return None;
        }
        let Some(webhook_id) = self.webhook_id().await else {
            return Some(
                "push is not set up on this server (serve --push-connection with --public-url); the trigger is polled"
                    .into(),
            );
        };
        match host_triggers::push::push_subscription(&self.manager, &webhook_id, subscription_id)
            .await
        {
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(subscription = %subscription_id, error = %e, "the API does not push this subscription; it is polled");
                Some(format!("{e}; the trigger is polled"))
            }
        }
    }

    /// Ends a subscription: at the API first when the API pushes it (a
    /// failure there is logged, and the subscription ends here anyway).
    async fn end_subscription(&self, id: &str) -> Result<(), credential_store::StoreError> {
        let store = self.manager.store();
        if let (Ok(Some(push_id)), Ok(subscription), Some(setup)) = (
            store.push_id(id).await,
            store.subscription(id).await,
            self.config.push.as_ref(),
        ) && let Err(e) =
            host_triggers::push::end_push(&self.manager, setup, &subscription.trigger, &push_id)
                .await
        {
            tracing::warn!(subscription = %id, error = %e, "cannot end the push subscription at the API");
        }
        store.delete_subscription(id).await
    }

    /// Completes the sign-in a redirect names, whichever host started it.
    async fn finish_sign_in(
        &self,
        query: &[(String, String)],
    ) -> Result<Option<(String, Result<ConnectionRecord, ConnectError>)>, ConnectError> {
        self.manager.complete_sign_in(query).await
    }
}

type Shared = Arc<AppState>;

/// The pages, the callback and the API, over `manager`'s connector,
/// answering to the public origin's host and the loopback names.
pub fn router(manager: ConnectionManager, config: WebConfig) -> Router {
    router_on(manager, config, None)
}

/// The same, also answering to the address the server listens on.
fn router_on(
    manager: ConnectionManager,
    config: WebConfig,
    listening: Option<SocketAddr>,
) -> Router {
    let reached_at = security::ReachedAt::new(&config.public_origin, listening);
    let state: Shared = Arc::new(AppState::new(manager, config, reached_at));
    routes(state)
}

fn routes(state: Shared) -> Router {
    // Health answers whatever name a load balancer uses for the node.
    let health = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .with_state(state.clone());
    let app = Router::new()
        .nest("/api/v1", api::router(state.clone()))
        .merge(mcp::router(state.clone()))
        .merge(mcp_oauth::router())
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
        .route("/connections/{id}/subscriptions", post(pages::subscribe))
        .route(
            "/connections/{id}/subscriptions/{subscription}/delete",
            post(pages::unsubscribe),
        )
        .route(
            "/connections/{id}/run",
            get(pages::runner).post(pages::run_action),
        )
        .route(CALLBACK_PATH, get(pages::callback))
        .route(
            "/connect/{token}",
            get(connect::connect_page).post(connect::connect_submit),
        )
        .route(
            "/sign-in/{token}",
            get(sign_in::sign_in_page).post(sign_in::sign_in_submit),
        )
        .route(
            "/webhooks/{id}",
            get(webhooks::challenge).post(webhooks::delivery),
        )
        .route(views::STYLESHEET_PATH, get(pages::stylesheet))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::default_tenant_only,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
        // A load balancer's probes would bury the work in traces.
        .route_layer(axum::middleware::from_fn(traces::span));
    health
        .merge(app)
        .route_layer(axum::middleware::from_fn(metrics::count))
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
    if !addr.ip().is_loopback() && config.api_key.is_none() && config.admin_key.is_none() {
        return Err(ServeError::ExposedWithoutKey { addr });
    }
    let reached_at = security::ReachedAt::new(&config.public_origin, Some(addr));
    let state: Shared = Arc::new(AppState::new(manager, config, reached_at));
    // What stops with the server: the loops check `stop` and return; the
    // push registration and the retention sweep are simply ended.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let host_runner = host_triggers::runner::RunnerConfig {
        stop: stop.clone(),
        ..state.config.triggers.clone().unwrap_or_default()
    };
    let mut runners = tokio::task::JoinSet::new();
    let mut background = tokio::task::JoinSet::new();
    if let (Some(setup), true) = (state.config.push.clone(), state.config.triggers.is_some()) {
        let (state, runner) = (state.clone(), host_runner.clone());
        // The API challenges the URL while it registers it: this runs once
        // the listener below answers, and tries again until it works.
        background.spawn(async move {
            let mut wait = std::time::Duration::from_secs(1);
            loop {
                match host_triggers::push::start(&state.manager, &setup, &runner.host).await {
                    Ok(id) => {
                        let _ = state.webhook_id.set(id);
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "push is not set up; pushable triggers are polled");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(std::time::Duration::from_secs(300));
                    }
                }
            }
        });
    }
    {
        // Every server sends platform events and removes what outlived the
        // retention window, with or without triggers.
        let (events, runner) = (state.clone(), host_runner.clone());
        runners.spawn(async move {
            host_triggers::platform_events::run_platform_events(
                events.manager.store(),
                &runner,
                &events.config.targets,
            )
            .await
        });
        let (pruning, runner) = (state.clone(), host_runner.clone());
        background.spawn(async move {
            host_triggers::runner::run_retention(pruning.manager.store(), &runner).await
        });
    }
    if state.config.triggers.is_some() {
        let (polls, deliveries) = (state.clone(), state.clone());
        let (for_polls, runner) = (host_runner.clone(), host_runner.clone());
        runners.spawn(
            async move { host_triggers::runner::run_polls(&polls.manager, &for_polls).await },
        );
        runners.spawn(async move {
            host_triggers::runner::run_deliveries(
                &deliveries.manager,
                &runner,
                &deliveries.config.targets,
            )
            .await
        });
    }
    let terms = state.config.shutdown;
    let (drained, mut draining) = tokio::sync::watch::channel(false);
    let stopping = (state.clone(), stop.clone());
    let shutdown = async move {
        shutdown.await;
        tracing::info!(
            delay_secs = terms.delay.as_secs(),
            grace_secs = terms.grace.as_secs(),
            "stopping: not ready, no new work; what is in flight finishes"
        );
        stopping
            .0
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        stopping.1.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(terms.delay).await;
        let _ = drained.send(true);
    };
    let server = axum::serve(listener, routes(state.clone())).with_graceful_shutdown(shutdown);
    tokio::select! {
        served = server => served?,
        _ = async move {
            let _ = draining.wait_for(|done| *done).await;
            tokio::time::sleep(terms.grace).await;
        } => tracing::warn!("the grace period ended with requests in flight; stopping anyway"),
    }
    background.abort_all();
    let finished = tokio::time::timeout(terms.grace, async {
        while runners.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!("polls or deliveries were still running when the grace period ended");
    }
    runners.abort_all();
    match state.manager.store().release_host(&host_runner.host).await {
        Ok(released) => tracing::info!(released, "gave back this server's leases and claims"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot give back this server's leases and claims; they expire")
        }
    }
    Ok(())
}
