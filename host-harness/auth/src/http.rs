//! The host's own HTTP client, for token and sign-in endpoints. Follows the
//! same routes as the component's traffic, and shares its TLS and timeouts.

use bytes::Bytes;
use host_core::egress::Routes;
use host_core::outgoing::HttpTimeouts;
use host_core::transport::Transport;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use std::sync::{Arc, Mutex};
use wasmtime_wasi_http::RequestOptions;

/// Largest answer the host reads from a token or sign-in endpoint.
const MAX_ANSWER: usize = 1024 * 1024;

/// A request failed before an answer came.
#[derive(Debug, thiserror::Error)]
pub enum HostHttpError {
    #[error("{0} is not a valid URL")]
    Url(String),
    #[error("could not reach {host}: {reason}")]
    Transport { host: String, reason: String },
    #[error("the answer from {host} was too large or broken off")]
    Answer { host: String },
}

/// A routed HTTP client that remembers the last status it saw, so a caller
/// can explain an answer a protocol library could not parse.
#[derive(Clone)]
pub struct HostHttp {
    transport: Arc<Transport>,
    routes: Arc<Routes>,
    timeouts: HttpTimeouts,
    last_status: Arc<Mutex<Option<u16>>>,
}

impl HostHttp {
    /// A client on the process's shared transport.
    pub fn new(routes: Routes, timeouts: HttpTimeouts) -> HostHttp {
        HostHttp {
            transport: Transport::shared(),
            routes: Arc::new(routes),
            timeouts,
            last_status: Arc::new(Mutex::new(None)),
        }
    }

    /// The same client on `transport`: the one a connector's actions use,
    /// so that token requests trust the same certificates and share its
    /// connections.
    pub fn with_transport(mut self, transport: Arc<Transport>) -> HostHttp {
        self.transport = transport;
        self
    }

    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// The status of the last answer this client (or a clone) received.
    pub fn last_status(&self) -> Option<u16> {
        *self.last_status.lock().unwrap()
    }

    /// Sends `request` (an absolute URL) and reads the whole answer.
    pub async fn send(
        &self,
        request: Request<Vec<u8>>,
    ) -> Result<Response<Vec<u8>>, HostHttpError> {
        let (parts, body) = request.into_parts();
        let authority = parts
            .uri
            .authority()
            .cloned()
            .ok_or_else(|| HostHttpError::Url(parts.uri.to_string()))?;
        let host = authority.host().to_string();
        let route = self.routes.get(&host);
        let body = Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let options = RequestOptions {
            connect_timeout: Some(self.timeouts.connect),
            first_byte_timeout: Some(self.timeouts.first_byte),
            between_bytes_timeout: Some(self.timeouts.between_bytes),
        };
        let transport = |e: wasmtime_wasi_http::Error| HostHttpError::Transport {
            host: host.clone(),
            reason: e.to_string(),
        };
        let response = self
            .transport
            .send(Request::from_parts(parts, body), route, &options)
            .await
            .map_err(transport)?;
        *self.last_status.lock().unwrap() = Some(response.status().as_u16());
        let (parts, body) = response.into_parts();
        let collected = Limited::new(body, MAX_ANSWER).collect().await;
        let bytes = collected
            .map_err(|_| HostHttpError::Answer { host: host.clone() })?
            .to_bytes();
        Ok(Response::from_parts(parts, bytes.to_vec()))
    }
}

/// Lets the `oauth2` crate send its requests through the host's client.
impl<'c> oauth2::AsyncHttpClient<'c> for HostHttp {
    type Error = HostHttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<oauth2::HttpResponse, HostHttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
