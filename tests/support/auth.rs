//! A store, a connection manager and an emulator with a registered app: what
//! the auth tests connect with.

use credential_store::{MasterKey, Store, StoreLocation, Tokens};
use host_harness::outgoing::HttpTimeouts;
use host_harness::{ConnectRequest, ConnectionManager, Manifest, Origin, Routes};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::sync::Arc;
use x_emulator::{AppKeys, Emulator};

/// The callback URL the test app registers and the sign-ins use.
pub const CALLBACK: &str = "http://127.0.0.1:8765/callback";

pub struct AuthBed {
    pub x: Emulator,
    pub manager: ConnectionManager,
    pub store: Arc<Store>,
    /// A confidential app registered with [`CALLBACK`].
    pub app: AppKeys,
    /// Where the store lives, removed when the bed is dropped.
    pub dir: tempfile::TempDir,
}

impl AuthBed {
    pub async fn start() -> AuthBed {
        AuthBed::with_callback(CALLBACK).await
    }

    /// The same, the app registered with `callback` instead.
    pub async fn with_callback(callback: &str) -> AuthBed {
        let dir = tempfile::tempdir().unwrap();
        let location = StoreLocation::Sqlite(dir.path().join("connections.db"));
        AuthBed::on_store(dir, &location, &MasterKey::generate(), callback).await
    }

    /// A bed whose connections live at `location`, sealed with `key`; `dir`
    /// is the data directory, removed when the bed is dropped.
    pub async fn on_store(
        dir: tempfile::TempDir,
        location: &StoreLocation,
        key: &MasterKey,
        callback: &str,
    ) -> AuthBed {
        let x = Emulator::start().await.expect("the emulator starts");
        let app = x.register_app("Workflow Automation", &[callback], true);
        let store = Arc::new(Store::open(location, key).await.unwrap());
        let mut connector = super::x_connector().await;
        let manifest = Manifest::from_json(super::X_MANIFEST).unwrap();
        let routes = Routes::all_hosts_of(&manifest, &Origin::parse(&x.base_url()).unwrap());
        connector.set_routes(routes.clone());
        let manager =
            ConnectionManager::new(store.clone(), connector, routes, HttpTimeouts::default());
        AuthBed {
            x,
            manager,
            store,
            app,
            dir,
        }
    }

    /// The OAuth 2.0 form of the test app, with `scopes`.
    pub fn oauth2_form(&self, scopes: &str) -> ConnectRequest {
        ConnectRequest {
            method: "oauth2".into(),
            name: Some("Marketing".into()),
            brand: None,
            fields: BTreeMap::from([
                ("client_id".into(), self.app.client_id.clone()),
                (
                    "client_secret".into(),
                    self.app.client_secret.clone().unwrap(),
                ),
                ("scopes".into(), scopes.into()),
            ]),
            tenant: None,
            end_user: None,
            quiet: false,
        }
    }

    /// Connects `account` with OAuth 2.0 through the consent page.
    pub async fn connect_oauth2(&self, request: &ConnectRequest, account: &str) -> String {
        self.connect_oauth2_via(request, account, CALLBACK).await
    }

    /// The same, the sign-in redirecting to `callback`.
    pub async fn connect_oauth2_via(
        &self,
        request: &ConnectRequest,
        account: &str,
        callback: &str,
    ) -> String {
        let record = self
            .manager
            .create(request)
            .await
            .expect("the form is accepted");
        let pending = self
            .manager
            .begin_oauth2(&record.id, callback)
            .await
            .unwrap();
        let location = super::browser::consent(&pending.authorization_url, account, true).await;
        assert!(location.starts_with(callback), "{location}");
        self.manager
            .finish_oauth2(&record.id, pending, &super::browser::query_of(&location))
            .await
            .expect("the sign-in completes");
        record.id
    }

    /// Token requests of `grant_type` the emulator received.
    pub fn token_requests(&self, grant_type: &str) -> usize {
        let needle = format!("grant_type={grant_type}");
        self.x
            .traffic()
            .iter()
            .filter(|e| {
                e.path.ends_with("/oauth2/token")
                    && String::from_utf8_lossy(&e.request_body).contains(&needle)
            })
            .count()
    }

    /// Makes the stored access token look expired to the host.
    pub async fn expire_access_token(&self, id: &str) {
        let (mut tokens, version) = self.store.tokens(id).await.unwrap().unwrap();
        tokens.access_expires_at = Some(1);
        self.store
            .save_tokens(id, &tokens, Some(version))
            .await
            .unwrap();
    }

    pub async fn stored_tokens(&self, id: &str) -> Tokens {
        self.store.tokens(id).await.unwrap().unwrap().0
    }

    pub async fn refresh_token(&self, id: &str) -> String {
        self.stored_tokens(id)
            .await
            .refresh_token
            .unwrap()
            .expose_secret()
            .to_string()
    }
}
