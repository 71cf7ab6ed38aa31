//! A one-shot HTTP listener on 127.0.0.1 that receives the sign-in
//! redirect (`/callback?code=...&state=...`) and tells the browser it can
//! close the page.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The callback path registered in the developer portal.
pub const CALLBACK_PATH: &str = "/callback";

/// The query of the redirect: `code` and `state`, or `error`.
pub type CallbackQuery = Vec<(String, String)>;

/// A listener waiting for one redirect.
pub struct CallbackListener {
    port: u16,
    received: oneshot::Receiver<CallbackQuery>,
    stop: Option<oneshot::Sender<()>>,
}

type Sender = Arc<Mutex<Option<oneshot::Sender<CallbackQuery>>>>;

impl CallbackListener {
    /// Listens on `127.0.0.1:port` (`0`: any free port).
    pub async fn bind(port: u16) -> std::io::Result<CallbackListener> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let (sender, received) = oneshot::channel();
        let sender: Sender = Arc::new(Mutex::new(Some(sender)));
        let app = Router::new()
            .route(CALLBACK_PATH, get(receive))
            .with_state(sender);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(CallbackListener {
            port,
            received,
            stop: Some(stop),
        })
    }

    /// The URL to register as the app's callback, and to send as `redirect_uri`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Waits for the redirect, at most `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Option<CallbackQuery> {
        let query = tokio::time::timeout(timeout, &mut self.received)
            .await
            .ok()?
            .ok();
        // Let the browser's page finish loading before the listener stops.
        tokio::time::sleep(Duration::from_millis(50)).await;
        query
    }
}

impl Drop for CallbackListener {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn receive(State(sender): State<Sender>, RawQuery(query): RawQuery) -> Html<&'static str> {
    let pairs: CallbackQuery = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let failed = pairs.iter().any(|(k, _)| k == "error" || k == "denied");
    if let Some(sender) = sender.lock().unwrap().take() {
        let _ = sender.send(pairs);
    }
    Html(if failed {
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not connected</title></head><body><main><h1>Not connected</h1><p>The sign-in was cancelled or refused. Return to the terminal for details.</p></main></body></html>"
    } else {
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Connected</title></head><body><main><h1>Connected</h1><p>You can close this window and return to the terminal.</p></main></body></html>"
    })
}
