//! The one place where a component's requests leave the sandbox.
//!
//! [`OutgoingHooks`] implements wasmtime-wasi-http's `WasiHttpHooks`: for
//! each request it applies the connector's [`EgressPolicy`], removes any
//! `Authorization` header the component set, attaches the connection's
//! credentials for API hosts, follows routes, and caps the component's
//! timeouts at the host's.

use crate::credentials::{Authorizer, CredentialError};
use crate::egress::{Decision, EgressPolicy};
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderValue, Request, Uri};
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The longest a request may take at each stage; a component can ask for
/// shorter, never longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// To open the connection (and finish TLS).
    pub connect: Duration,
    /// From sending the request to the first byte of the answer.
    pub first_byte: Duration,
    /// Between two chunks of the answer's body.
    pub between_bytes: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(30),
            between_bytes: Duration::from_secs(30),
        }
    }
}

impl HttpTimeouts {
    /// The component's options, each capped at the host's limit.
    fn cap(&self, asked: Option<RequestOptions>) -> RequestOptions {
        let asked = asked.unwrap_or_default();
        let cap = |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |a| a.min(max)));
        RequestOptions {
            connect_timeout: cap(asked.connect_timeout, self.connect),
            first_byte_timeout: cap(asked.first_byte_timeout, self.first_byte),
            between_bytes_timeout: cap(asked.between_bytes_timeout, self.between_bytes),
        }
    }
}

/// What happened to an action's requests that the action's result should
/// reflect, whatever the component made of it.
#[derive(Debug, Default, Clone)]
pub struct EgressJournal {
    inner: Arc<Mutex<JournalEntries>>,
}

#[derive(Debug, Default)]
struct JournalEntries {
    refused: Vec<String>,
    credential_failure: Option<CredentialError>,
    requests: u32,
}

impl EgressJournal {
    /// Destinations refused during the action, with the reason.
    pub fn refused(&self) -> Vec<String> {
        self.inner.lock().unwrap().refused.clone()
    }

    /// Why credentials could not be attached, if they could not.
    pub fn credential_failure(&self) -> Option<CredentialError> {
        self.inner.lock().unwrap().credential_failure.clone()
    }

    /// How many requests left the sandbox.
    pub fn requests(&self) -> u32 {
        self.inner.lock().unwrap().requests
    }
}

/// The hooks of one action's store.
pub struct OutgoingHooks {
    policy: Arc<EgressPolicy>,
    authorizer: Arc<dyn Authorizer>,
    timeouts: HttpTimeouts,
    journal: EgressJournal,
}

impl OutgoingHooks {
    pub fn new(
        policy: Arc<EgressPolicy>,
        authorizer: Arc<dyn Authorizer>,
        timeouts: HttpTimeouts,
        journal: EgressJournal,
    ) -> OutgoingHooks {
        OutgoingHooks {
            policy,
            authorizer,
            timeouts,
            journal,
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, IoFuture), HttpError>;

impl WasiHttpHooks for OutgoingHooks {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let policy = self.policy.clone();
        let authorizer = self.authorizer.clone();
        let options = self.timeouts.cap(options);
        let journal = self.journal.clone();
        Box::new(send(policy, authorizer, options, journal, request))
    }
}

async fn send(
    policy: Arc<EgressPolicy>,
    authorizer: Arc<dyn Authorizer>,
    options: RequestOptions,
    journal: EgressJournal,
    request: Request<WasiBody>,
) -> SendResult {
    let (mut parts, body) = request.into_parts();
    let scheme = parts
        .uri
        .scheme()
        .cloned()
        .unwrap_or(http::uri::Scheme::HTTPS);
    let authority = parts
        .uri
        .authority()
        .cloned()
        .ok_or(HttpError::HttpRequestUriInvalid)?;
    let (credentials, route) = match policy.decide(&scheme, &authority) {
        Decision::Refuse(reason) => {
            tracing::warn!(host = %authority, %reason, "refused a request to a host outside the manifest's egress list");
            journal.inner.lock().unwrap().refused.push(reason);
            return Err(HttpError::HttpRequestDenied);
        }
        Decision::Allow { credentials, route } => (credentials, route),
    };
    if parts.headers.remove(AUTHORIZATION).is_some() {
        tracing::warn!(host = %authority, "removed an Authorization header the component set itself");
    }
    if credentials {
        match authorizer.authorize(&parts).await {
            Ok(value) => {
                parts.headers.insert(AUTHORIZATION, value);
            }
            Err(e) => {
                tracing::warn!(host = %authority, error = %e, "no credentials for the request");
                journal.inner.lock().unwrap().credential_failure = Some(e.clone());
                return Err(HttpError::InternalError(Some(e.to_string())));
            }
        }
    }
    if let Some(origin) = route {
        // The Host header keeps naming the API, as through a proxy.
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        parts.uri = Uri::builder()
            .scheme(origin.scheme.clone())
            .authority(origin.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            parts.headers.insert(HOST, host);
        }
    }
    journal.inner.lock().unwrap().requests += 1;
    tracing::debug!(method = %parts.method, host = %authority, path = parts.uri.path(), "request");
    let request = Request::from_parts(parts, body);
    let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
    tracing::debug!(status = response.status().as_u16(), "answer");
    Ok((response.map(BodyExt::boxed_unsync), Box::new(io)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_cannot_ask_for_longer_timeouts_than_the_host_allows() {
        let host = HttpTimeouts::default();
        let capped = host.cap(Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(3600)),
            first_byte_timeout: Some(Duration::from_secs(1)),
            between_bytes_timeout: None,
        }));
        assert_eq!(capped.connect_timeout, Some(host.connect));
        assert_eq!(capped.first_byte_timeout, Some(Duration::from_secs(1)));
        assert_eq!(capped.between_bytes_timeout, Some(host.between_bytes));
    }
}
