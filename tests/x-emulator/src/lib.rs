//! A local X API v2 emulator: a real HTTP server on 127.0.0.1 that behaves like
//! `api.x.com` for the endpoints the X connector uses.
//!
//! It checks bearer tokens and their scopes, keeps users and posts in memory,
//! answers in X's v2 shapes (`data` / `includes` / `meta` / `errors`) and
//! problem documents, sends `x-rate-limit-*` headers and answers 429 when a
//! window is spent, refuses duplicate posts as X does, and searches with X's
//! basic operators. X's official SDK (the `xdk` Python package) works against
//! it unchanged; the conformance tests drive it with that SDK.
//!
//! Every exchange is recorded, so tests can check each request and answer
//! against X's OpenAPI specification.
//!
//! Apps can register webhooks (`/2/webhooks`, checked with a real CRC) and
//! subscribe to X Activity events (`/2/activity/subscriptions`); follows and
//! unfollows are then pushed to the webhooks, signed as X signs them, and
//! can be replayed (`/2/webhooks/replay`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let x = x_emulator::Emulator::start().await?;
//! let token = x.issue_user_token("ada", &["tweet.read", "users.read"]);
//! println!("GET {}/2/users/me with Bearer {token}", x.base_url());
//! # Ok(()) }
//! ```

// Handlers return an early answer as the error of a `Result`; answers are
// large, and boxing them would only add noise to a test fixture.
#![allow(clippy::result_large_err)]

mod activity;
mod auth;
mod body;
mod clock;
mod faults;
mod fields;
mod ids;
mod media;
mod oauth1_signature;
mod params;
mod problem;
mod rate_limit;
mod routes;
mod search_query;
mod tls;
mod traffic;
mod webhook_client;
mod world;

pub use clock::Clock;
pub use faults::Fault;
pub use media::Processing as MediaProcessing;
pub use rate_limit::Endpoint;
pub use tls::{TlsConnection, serve_site};
pub use traffic::Exchange;
pub use webhook_client::SIGNATURE_HEADER;
pub use world::PostSnapshot;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The keys X shows for a registered app.
#[derive(Debug, Clone)]
pub struct AppKeys {
    /// OAuth 2.0 Client ID.
    pub client_id: String,
    /// OAuth 2.0 Client Secret (confidential clients only).
    pub client_secret: Option<String>,
    /// API Key (Consumer Key), for OAuth 1.0a and app-only tokens.
    pub api_key: String,
    /// API Key Secret (Consumer Secret).
    pub api_secret: String,
}

/// The access X sells an app, which decides what X refuses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccessLevel {
    /// Negotiated access: nothing below is refused. The emulator's default,
    /// so that every action can be tried.
    #[default]
    Enterprise,
    /// X's self-serve pay-per-use access since April 2026: likes, follows
    /// and quote posts are refused as `client-forbidden`, and a reply only
    /// goes to a post that mentions the replying account, quotes one of its
    /// posts, or is its own.
    PayPerUse,
}

/// State shared by every request handler.
pub(crate) struct Shared {
    /// The access level of every app calling this emulator.
    pub access: Mutex<AccessLevel>,
    pub world: Mutex<world::World>,
    pub clock: Clock,
    pub traffic: Mutex<Vec<Exchange>>,
    pub media: Mutex<media::Uploads>,
    pub limits: rate_limit::Limits,
    pub faults: faults::Faults,
    /// Requests that arrived, by path, counted before they are handled.
    pub arrivals: Mutex<std::collections::HashMap<String, usize>>,
    /// Events waiting to be pushed to webhooks, in the order they happened.
    pub pusher: webhook_client::Pusher,
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// The task that pushes events to webhooks.
    pusher: Option<JoinHandle<()>>,
    /// The test CA's certificate, when serving HTTPS.
    ca_pem: Option<String>,
    /// The TLS connections made, when serving HTTPS.
    connections: Arc<Mutex<Vec<tls::TlsConnection>>>,
}

impl Emulator {
    /// Starts an emulator seeded with the demo accounts (`ada`, `grace`,
    /// `alan`) and their recent posts, on an ephemeral loopback port.
    pub async fn start() -> std::io::Result<Emulator> {
        Emulator::start_serving(None).await
    }

    /// The same, serving HTTPS as api.x.com does: a certificate for
    /// `api.x.com`, `localhost` and `127.0.0.1` from a CA made now
    /// ([`Emulator::ca_pem`]), HTTP/2 and HTTP/1.1 offered by ALPN.
    pub async fn start_tls() -> std::io::Result<Emulator> {
        Emulator::start_serving(Some(tls::test_ca())).await
    }

    async fn start_serving(tls: Option<tls::TestCa>) -> std::io::Result<Emulator> {
        let clock = Clock::system();
        let world = world::World::seeded(&clock);
        let (pusher, jobs) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            access: Mutex::new(AccessLevel::default()),
            world: Mutex::new(world),
            clock,
            traffic: Mutex::new(Vec::new()),
            media: Mutex::new(media::Uploads::default()),
            limits: rate_limit::Limits::default(),
            faults: faults::Faults::default(),
            arrivals: Mutex::new(Default::default()),
            pusher,
        });
        // The pusher holds the state weakly, so that it ends with the emulator.
        let pusher = webhook_client::start(Arc::downgrade(&shared), jobs);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let app = routes::router(shared.clone());
        let (shutdown, stop) = oneshot::channel::<()>();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let task = match tls {
            None => tokio::spawn(async move {
                let server = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = stop.await;
                });
                if let Err(e) = server.await {
                    tracing::error!("x-emulator stopped: {e}");
                }
            }),
            Some(ca) => tokio::spawn(tls::serve(listener, app, ca.config, connections.clone())),
        };
        Ok(Emulator {
            addr,
            shared,
            shutdown: Some(shutdown),
            task: Some(task),
            pusher: Some(pusher),
            ca_pem,
            connections,
        })
    }

    /// Serves every app as having `access`, from the next request on.
    pub fn set_access_level(&self, access: AccessLevel) {
        *self.shared.access.lock().unwrap() = access;
    }

    /// `http://127.0.0.1:PORT`, the emulator's origin.
    pub fn base_url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The PEM certificate of the CA that issued the emulator's, when it
    /// serves HTTPS: what a client must trust to reach it.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The TLS connections clients made so far: the server name each sent
    /// and the protocol ALPN settled on.
    pub fn tls_connections(&self) -> Vec<tls::TlsConnection> {
        self.connections.lock().unwrap().clone()
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Issues a two-hour user-context access token for `username` with `scopes`.
    ///
    /// # Panics
    /// If no such user exists: tests name users of the seed.
    pub fn issue_user_token(&self, username: &str, scopes: &[&str]) -> String {
        let now = self.shared.clock.now();
        let mut world = self.shared.world.lock().unwrap();
        let user = world
            .user_by_username(username)
            .unwrap_or_else(|| panic!("no user @{username} in the emulator"))
            .id;
        world.issue_user_token(user, scopes, now)
    }

    /// Issues an app-only bearer token (no user context).
    pub fn issue_app_token(&self) -> String {
        self.shared.world.lock().unwrap().issue_app_token()
    }

    /// Issues an app-only bearer token of the app `app`, as `POST
    /// /oauth2/token` does with its API Key and Secret. The endpoints that
    /// belong to an app (webhooks, activity subscriptions) need one.
    pub fn issue_app_token_for(&self, app: &AppKeys) -> String {
        self.shared
            .world
            .lock()
            .unwrap()
            .issue_app_token_for(Some(app.api_key.clone()))
    }

    /// Issues a two-hour OAuth 2.0 user token of the app `app` for
    /// `username` with `scopes`, as if the user had authorized the app. An
    /// app may subscribe to the private activity events of such a user.
    ///
    /// # Panics
    /// If no such user exists: tests name users of the seed.
    pub fn issue_user_token_for_app(
        &self,
        app: &AppKeys,
        username: &str,
        scopes: &[&str],
    ) -> String {
        let now = self.shared.clock.now();
        let mut world = self.shared.world.lock().unwrap();
        let user = world
            .user_by_username(username)
            .unwrap_or_else(|| panic!("no user @{username} in the emulator"))
            .id;
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        world.issue_access_token(
            user,
            scopes,
            Some(app.client_id.clone()),
            Some(now + world::ACCESS_TOKEN_LIFETIME),
            None,
        )
    }

    /// Registers a developer app with its callback URLs. A confidential app
    /// (Web App, Automated App or Bot) gets a Client Secret; a public one
    /// (Native App) does not. Every app has an API Key and Secret for OAuth
    /// 1.0a and app-only tokens.
    pub fn register_app(&self, name: &str, callback_urls: &[&str], confidential: bool) -> AppKeys {
        let keys = AppKeys {
            client_id: world::random_token(),
            client_secret: confidential.then(world::random_token),
            api_key: world::random_token(),
            api_secret: world::random_token(),
        };
        self.shared.world.lock().unwrap().apps.push(world::App {
            name: name.to_string(),
            client_id: keys.client_id.clone(),
            client_secret: keys.client_secret.clone(),
            callback_urls: callback_urls.iter().map(|u| u.to_string()).collect(),
            consumer_key: keys.api_key.clone(),
            consumer_secret: keys.api_secret.clone(),
        });
        keys
    }

    /// Replaces an app's Client Secret, as "Regenerate" in the developer
    /// portal does: the old secret stops working and every token issued to
    /// the app is revoked. Returns the new secret.
    pub fn rotate_client_secret(&self, client_id: &str) -> String {
        let secret = world::random_token();
        let mut world = self.shared.world.lock().unwrap();
        if let Some(app) = world.apps.iter_mut().find(|a| a.client_id == client_id) {
            app.client_secret = Some(secret.clone());
        }
        world.revoke_tokens_of(client_id);
        secret
    }

    /// Revokes every app-only token of the app with API Key `api_key`.
    pub fn invalidate_app_tokens(&self, api_key: &str) {
        self.shared.world.lock().unwrap().revoke_tokens_of(api_key);
    }

    /// Makes `token` invalid, as when a user revokes the app.
    pub fn revoke_token(&self, token: &str) {
        self.shared.world.lock().unwrap().revoke_token(token);
    }

    /// The id of `username`, if the user exists.
    pub fn user_id(&self, username: &str) -> Option<String> {
        let world = self.shared.world.lock().unwrap();
        world.user_by_username(username).map(|u| u.id.to_string())
    }

    /// Publishes `n` numbered posts by `username` ("Numbered post 0" is the
    /// oldest), for tests of paging.
    pub fn add_numbered_posts(&self, username: &str, n: usize) {
        let now = self.shared.clock.now();
        let mut world = self.shared.world.lock().unwrap();
        let user = world.user_by_username(username).expect("a seeded user").id;
        world.add_numbered_posts(user, n, now);
    }

    /// `username` publishes `text`, as if from X's own apps; the post's id.
    /// What triggers see happen: a mention when the text names `@ada`.
    /// The replies hidden by their conversation's author, by id.
    pub fn hidden_replies(&self) -> Vec<String> {
        let world = self.shared.world.lock().unwrap();
        world.hidden_replies.iter().map(u64::to_string).collect()
    }

    pub fn post_as(&self, username: &str, text: &str) -> String {
        let now = self.shared.clock.now();
        let mut world = self.shared.world.lock().unwrap();
        let author = world.user_by_username(username).expect("a seeded user").id;
        world
            .create_post(author, text, None, None, now)
            .unwrap_or_else(|e| panic!("{username} cannot post {text:?}: {e:?}"))
            .to_string()
    }

    /// `follower` starts following `followed`, as if from X's own apps;
    /// the `follow.follow` subscriptions of either get the event.
    pub fn follow(&self, follower: &str, followed: &str) {
        self.set_follow(follower, followed, true);
    }

    /// `follower` stops following `followed`; the `follow.unfollow`
    /// subscriptions of either get the event.
    pub fn unfollow(&self, follower: &str, followed: &str) {
        self.set_follow(follower, followed, false);
    }

    /// `followed`, a protected account, approves `follower`'s request:
    /// the follow happens then. False if there was no such request.
    pub fn approve_follow_request(&self, followed: &str, follower: &str) -> bool {
        let mut world = self.shared.world.lock().unwrap();
        let a = world.user_by_username(follower).expect("a seeded user").id;
        let b = world.user_by_username(followed).expect("a seeded user").id;
        if !world.follow_requests.remove(&(a, b)) {
            return false;
        }
        activity::follow(&self.shared, &mut world, a, b, true);
        true
    }

    /// Whether `follower` has asked to follow `followed` and waits.
    pub fn follow_request_pending(&self, follower: &str, followed: &str) -> bool {
        let world = self.shared.world.lock().unwrap();
        let id = |name: &str| world.user_by_username(name).expect("a seeded user").id;
        world
            .follow_requests
            .contains(&(id(follower), id(followed)))
    }

    fn set_follow(&self, follower: &str, followed: &str, on: bool) {
        let mut world = self.shared.world.lock().unwrap();
        let a = world.user_by_username(follower).expect("a seeded user").id;
        let b = world.user_by_username(followed).expect("a seeded user").id;
        activity::follow(&self.shared, &mut world, a, b, on);
    }

    /// Every registered webhook, oldest first.
    pub fn webhooks(&self) -> Vec<WebhookSnapshot> {
        let world = self.shared.world.lock().unwrap();
        world
            .activity
            .webhooks
            .iter()
            .map(|w| WebhookSnapshot {
                id: w.id.to_string(),
                url: w.url.clone(),
                valid: w.valid,
            })
            .collect()
    }

    /// Every X Activity subscription, oldest first.
    pub fn activity_subscriptions(&self) -> Vec<ActivitySubscriptionSnapshot> {
        let world = self.shared.world.lock().unwrap();
        world
            .activity
            .subscriptions
            .iter()
            .map(|s| ActivitySubscriptionSnapshot {
                id: s.id.to_string(),
                event_type: s.event_type.clone(),
                user_id: s.filter.user_id.map(|u| u.to_string()),
                webhook_id: s.webhook_id.map(|w| w.to_string()),
                tag: s.tag.clone(),
            })
            .collect()
    }

    /// Every event pushed or queued for a webhook in the last 24 hours, in
    /// the order the events happened. An event is listed as soon as it
    /// happens; `attempts` and `delivered` change as the pusher sends it.
    pub fn pushes(&self) -> Vec<PushSnapshot> {
        let kept_since = self.shared.clock.now() - activity::REPLAY_WINDOW;
        let world = self.shared.world.lock().unwrap();
        world
            .activity
            .pushes
            .iter()
            .filter(|p| p.at > kept_since)
            .map(|p| PushSnapshot {
                webhook_id: p.webhook_id.to_string(),
                event_type: p.event_type.clone(),
                event_uuid: p.event_uuid.to_string(),
                attempts: p.attempts,
                delivered: p.delivered,
            })
            .collect()
    }

    /// Runs the CRC of every webhook now, as X's periodic check does: a
    /// webhook that fails it becomes invalid and receives no more events
    /// until a CRC passes again (here or through `PUT /2/webhooks/:id`).
    pub async fn recheck_webhooks(&self) {
        webhook_client::recheck_all(&self.shared).await;
    }

    /// `username` likes the post `post_id`.
    pub fn like(&self, username: &str, post_id: &str) {
        let mut world = self.shared.world.lock().unwrap();
        let user = world.user_by_username(username).expect("a seeded user").id;
        let post = post_id.parse().expect("a post id");
        world.engagements.insert(("like", user, post));
    }

    /// `from` sends `to` a direct message; its event id.
    pub fn send_dm(&self, from: &str, to: &str, text: &str) -> String {
        let now = self.shared.clock.now();
        let mut world = self.shared.world.lock().unwrap();
        let a = world.user_by_username(from).expect("a seeded user").id;
        let b = world.user_by_username(to).expect("a seeded user").id;
        let id = world.new_id(now);
        world.dm_events.push(world::DmEvent {
            id,
            conversation_id: format!("{}-{}", a.min(b), a.max(b)),
            sender_id: a,
            participants: [a.min(b), a.max(b)],
            text: text.to_string(),
            created_at: now,
        });
        id.to_string()
    }

    /// The posts `username` has published and not deleted, newest first.
    pub fn posts_of(&self, username: &str) -> Vec<PostSnapshot> {
        let world = self.shared.world.lock().unwrap();
        match world.user_by_username(username) {
            Some(u) => world.posts_of(u.id),
            None => Vec::new(),
        }
    }

    /// Sets the requests allowed per 15-minute window for `endpoint`, for
    /// every caller, so a test can spend a window quickly.
    pub fn set_rate_limit(&self, endpoint: Endpoint, limit: u32) {
        self.shared.limits.set(endpoint, limit);
    }

    /// Makes every rate-limit window last `length` instead of X's 15
    /// minutes, so a test sees a spent limit reset in seconds.
    pub fn set_rate_window(&self, length: std::time::Duration) {
        let length = chrono::Duration::from_std(length).expect("a sane window");
        self.shared.limits.set_window(length);
    }

    /// Adds an account `@username`, so that a test or a benchmark has as
    /// many distinct users (followers, authors) as it needs; its id.
    pub fn add_user(&self, username: &str) -> String {
        let mut world = self.shared.world.lock().unwrap();
        let now = self.shared.clock.now();
        world.add_user(username, username, "", now).to_string()
    }

    /// Gives `username` X subscription `subscription_type` (`None`,
    /// `Basic`, `Premium`, `PremiumPlus`); any but `None` may publish long
    /// posts, of up to 25,000 weighted characters.
    pub fn set_subscription(&self, username: &str, subscription_type: &'static str) {
        let mut world = self.shared.world.lock().unwrap();
        if let Some(id) = world.user_by_username(username).map(|u| u.id) {
            world.set_subscription(id, subscription_type);
        }
    }

    /// `username`'s X subscription, as X's `subscription_type` names it.
    pub fn subscription_type(&self, username: &str) -> Option<String> {
        let world = self.shared.world.lock().unwrap();
        world
            .user_by_username(username)
            .map(|u| u.subscription_type.to_string())
    }

    /// Makes the token endpoint issue access tokens that last `lifetime`
    /// (X's last two hours), as providers with short-lived tokens do.
    pub fn set_access_token_lifetime(&self, lifetime: std::time::Duration) {
        self.shared.world.lock().unwrap().access_token_lifetime =
            chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(2));
    }

    /// How many times a used refresh token (or authorization code) was
    /// presented again, each of which revoked its whole authorization.
    pub fn reuses_detected(&self) -> usize {
        self.shared.world.lock().unwrap().reuses_detected
    }

    /// Makes the next authorized request to `endpoint` fail with `fault`.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault) {
        self.shared.faults.push(endpoint, fault);
    }

    /// Every credential the emulator has issued: access, refresh and app
    /// tokens, authorization codes, OAuth 1.0a token secrets and access
    /// tokens. For tests that check none of them leaks into output.
    pub fn secrets_issued(&self) -> Vec<String> {
        self.shared.world.lock().unwrap().secrets.clone()
    }

    /// The emulator's clock, which tests can move forward.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// How many requests for `path` have arrived, answered or not.
    pub fn arrivals(&self, path: &str) -> usize {
        self.shared
            .arrivals
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Whether `username` has `kind`d (`like`, `repost`, `bookmark`) the post `post_id`.
    pub fn engaged(&self, username: &str, kind: &str, post_id: &str) -> bool {
        let world = self.shared.world.lock().unwrap();
        let (Some(user), Ok(post)) = (world.user_by_username(username), post_id.parse::<u64>())
        else {
            return false;
        };
        world
            .engagements
            .iter()
            .any(|(k, u, p)| *k == kind && *u == user.id && *p == post)
    }

    /// Whether `follower` follows `followed` (usernames).
    pub fn is_following(&self, follower: &str, followed: &str) -> bool {
        let world = self.shared.world.lock().unwrap();
        match (
            world.user_by_username(follower),
            world.user_by_username(followed),
        ) {
            (Some(a), Some(b)) => world.follows(a.id, b.id),
            _ => false,
        }
    }

    /// How uploads finalized from now on are processed: how many status
    /// polls stay pending, the `check_after_secs` asked for, and whether
    /// processing fails.
    pub fn set_media_processing(&self, processing: MediaProcessing) {
        self.shared.media.lock().unwrap().processing = processing;
    }

    /// An upload session as the emulator sees it.
    pub fn media(&self, id: &str) -> Option<MediaSnapshot> {
        let id: u64 = id.parse().ok()?;
        let uploads = self.shared.media.lock().unwrap();
        let u = uploads.get(id)?;
        Some(MediaSnapshot {
            media_type: u.media_type.clone(),
            category: u.category.clone(),
            total_bytes: u.total_bytes,
            received_bytes: u.received(),
            segments: u.segments.len(),
            state: match &u.state {
                media::State::Uploading => "uploading".into(),
                media::State::Processing { .. } => "processing".into(),
                media::State::Succeeded => "succeeded".into(),
                media::State::Failed(_) => "failed".into(),
            },
            status_polls: u.polls,
            alt_text: u.alt_text.clone(),
        })
    }

    /// Ends an upload session now, as if its day had passed.
    pub fn expire_media(&self, id: &str) {
        if let Ok(id) = id.parse() {
            self.shared.media.lock().unwrap().expire(id);
        }
    }

    /// Every exchange so far, in arrival order.
    pub fn traffic(&self) -> Vec<Exchange> {
        self.shared.traffic.lock().unwrap().clone()
    }
}

/// A webhook as the emulator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSnapshot {
    pub id: String,
    pub url: String,
    /// Whether its last CRC passed.
    pub valid: bool,
}

/// An X Activity subscription as the emulator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySubscriptionSnapshot {
    pub id: String,
    pub event_type: String,
    /// The filter's `user_id`, if it has one.
    pub user_id: Option<String>,
    pub webhook_id: Option<String>,
    pub tag: Option<String>,
}

/// An event pushed, or waiting to be pushed, to a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSnapshot {
    pub webhook_id: String,
    pub event_type: String,
    pub event_uuid: String,
    /// POSTs made so far, replays included.
    pub attempts: u32,
    /// Whether the receiver answered one of them with a 2xx status.
    pub delivered: bool,
}

/// An upload session, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSnapshot {
    pub media_type: String,
    pub category: String,
    pub total_bytes: u64,
    pub received_bytes: u64,
    /// Segments received.
    pub segments: usize,
    /// `uploading`, `processing`, `succeeded` or `failed`.
    pub state: String,
    /// Status polls answered.
    pub status_polls: u32,
    pub alt_text: Option<String>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(pusher) = self.pusher.take() {
            pusher.abort();
        }
    }
}
