//! A forward proxy for outgoing requests, the only way out of many
//! corporate and cloud networks: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`
//! and `NO_PROXY` read as curl reads them (hyper-util's matcher), or one
//! proxy the operator names.
//!
//! An `https` request is tunnelled with `CONNECT host:port`; TLS runs
//! inside the tunnel, end to end with the API, its certificate checked as
//! without a proxy. An `http` request is sent to the proxy in absolute form.
//! Proxy credentials in the proxy's URL go in `Proxy-Authorization` and
//! nowhere else: [`ProxyPolicy`]'s `Debug` and [`ProxyPolicy::describe`]
//! leave them out. Which destinations a request may reach is decided
//! before this (the egress policy, on the request's own URL), whatever the
//! proxy would allow.

use http::{HeaderValue, Uri};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use std::sync::{Arc, OnceLock};

/// Why a proxy setting cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The URL is not `http://[user:password@]host[:port]`; the message
    /// never repeats the URL, which may hold a password.
    #[error("the proxy URL is not valid: {0}")]
    Url(&'static str),
}

/// Which requests go through which proxy.
pub struct ProxyPolicy {
    matcher: Matcher,
    /// The proxies, without credentials, for messages.
    shown: String,
}

impl std::fmt::Debug for ProxyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyPolicy({})", self.shown)
    }
}

/// Names of the variables that set a proxy, as curl reads them.
const PROXY_VARS: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

impl ProxyPolicy {
    /// The proxy the environment sets, if any.
    pub fn from_env() -> Option<ProxyPolicy> {
        let set: Vec<String> = PROXY_VARS
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .filter(|value| !value.trim().is_empty())
            .collect();
        if set.is_empty() {
            return None;
        }
        let mut shown: Vec<String> = set.iter().map(|v| without_credentials(v)).collect();
        shown.dedup();
        Some(ProxyPolicy {
            matcher: Matcher::from_env(),
            shown: shown.join(", "),
        })
    }

    /// Every request through `proxy_url` (`http://[user:password@]host:port`),
    /// except to the hosts `no_proxy` lists (as `NO_PROXY` does: names,
    /// which cover their subdomains, addresses, CIDR ranges, `*`).
    pub fn new(proxy_url: &str, no_proxy: &str) -> Result<ProxyPolicy, ProxyError> {
        let uri: Uri = proxy_url
            .trim()
            .parse()
            .map_err(|_| ProxyError::Url("it does not parse as a URL"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(ProxyError::Url("it must start with http:// or https://")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(ProxyError::Url("it names no host"));
        }
        Ok(ProxyPolicy {
            matcher: Matcher::builder()
                .all(proxy_url.trim().to_string())
                .no(no_proxy.to_string())
                .build(),
            shown: without_credentials(proxy_url),
        })
    }

    /// The proxy that carries a request to `destination`, if one does.
    pub(crate) fn intercept(&self, destination: &Uri) -> Option<Intercept> {
        self.matcher.intercept(destination)
    }

    /// The proxies, without their credentials, for a log line.
    pub fn describe(&self) -> &str {
        &self.shown
    }
}

/// The `Proxy-Authorization` header value of an intercept, if its URL
/// carried credentials.
pub(crate) fn authorization(intercept: &Intercept) -> Option<HeaderValue> {
    intercept.basic_auth().cloned().map(|mut value| {
        value.set_sensitive(true);
        value
    })
}

/// A proxy URL as it may be shown: `user:password@` removed.
fn without_credentials(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{rest}")
}

static PROCESS_PROXY: OnceLock<Option<Arc<ProxyPolicy>>> = OnceLock::new();

/// Sets the proxy every transport this process makes from now on uses,
/// instead of the environment's (`--proxy`); `None` for no proxy at all.
/// The first call wins; a transport made before it read the environment.
pub fn set_process_proxy(policy: Option<ProxyPolicy>) {
    let _ = PROCESS_PROXY.set(policy.map(Arc::new));
}

/// The proxy of this process: what [`set_process_proxy`] set, or the
/// environment's.
pub fn process_proxy() -> Option<Arc<ProxyPolicy>> {
    PROCESS_PROXY
        .get_or_init(|| ProxyPolicy::from_env().map(Arc::new))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_is_shown_without_its_credentials_and_sends_them_as_basic_auth() {
        let policy = ProxyPolicy::new("http://ops:s3cret@proxy.internal:3128", "").unwrap();
        assert_eq!(policy.describe(), "http://proxy.internal:3128");
        assert!(!format!("{policy:?}").contains("s3cret"));
        let intercept = policy
            .intercept(&"https://api.x.com/2/users/me".parse().unwrap())
            .unwrap();
        assert_eq!(intercept.uri().host(), Some("proxy.internal"));
        let auth = authorization(&intercept).unwrap();
        assert!(auth.is_sensitive());
        // base64("ops:s3cret")
        assert_eq!(auth.to_str().unwrap(), "Basic b3BzOnMzY3JldA==");
    }

    #[test]
    fn no_proxy_names_cover_their_subdomains_and_ranges() {
        let policy = ProxyPolicy::new("http://proxy:3128", "internal.example, 10.0.0.0/8").unwrap();
        let through = |url: &str| policy.intercept(&url.parse().unwrap()).is_some();
        assert!(through("https://api.x.com/2/tweets"));
        assert!(!through("https://hooks.internal.example/x"));
        assert!(!through("http://10.1.2.3:8080/hook"));
        assert!(through("http://192.168.1.1/hook"));
    }

    #[test]
    fn a_proxy_url_that_is_not_one_is_refused_without_repeating_it() {
        for bad in ["proxy:3128", "socks5://u:p@h:1", "http://"] {
            let e = ProxyPolicy::new(bad, "").unwrap_err();
            assert!(!e.to_string().contains("u:p"), "{e}");
        }
    }
}
