//! Who may use the server: the names it answers to (against DNS
//! rebinding), the origins that may change anything, the API key, page
//! sessions opened with it (kept in the store, by hash), the CSRF token
//! every page form carries, and the headers every answer carries.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

use std::net::{IpAddr, SocketAddr};

/// The cookie holding a page session (only with an API key).
pub const SESSION_COOKIE: &str = "hh_session";
/// The cookie a form's CSRF token must match.
pub const CSRF_COOKIE: &str = "hh_csrf";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The names a server answers to. A page elsewhere whose name an attacker
/// points at this machine (DNS rebinding) reaches the server with its own
/// name in `Host`, and is refused; so is a state-changing request sent
/// from another origin.
#[derive(Debug, Clone)]
pub struct ReachedAt {
    /// Host names and IP addresses, lower case, without port or brackets.
    names: Vec<String>,
    /// Listening on every address: any IP address is a way to reach it.
    any_address: bool,
}

impl ReachedAt {
    /// The public origin's host, the loopback names, and the address the
    /// server listens on, if known.
    pub fn new(public_origin: &str, listening: Option<SocketAddr>) -> ReachedAt {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        if let Some(authority) = public_origin.split("://").nth(1) {
            names.push(name_of(authority.split('/').next().unwrap_or_default()));
        }
        let any_address = listening.is_some_and(|a| a.ip().is_unspecified());
        if let Some(address) = listening.filter(|a| !a.ip().is_unspecified()) {
            names.push(address.ip().to_string());
        }
        ReachedAt { names, any_address }
    }

    /// Whether a `Host` header names this server.
    pub fn accepts_host(&self, host: &str) -> bool {
        let name = name_of(host);
        self.names.contains(&name) || (self.any_address && name.parse::<IpAddr>().is_ok())
    }

    /// Whether an `Origin` header is one of this server's.
    pub fn accepts_origin(&self, origin: &str) -> bool {
        matches!(origin.split_once("://"), Some(("http" | "https", authority)) if self.accepts_host(authority))
    }
}

/// The host of `authority` (`name`, `name:port`, `[v6]:port`), lower case.
fn name_of(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => authority,
    }
}

/// Every answer's headers: no framing, no sniffing, no referrer beyond the
/// server (`no-referrer` would also blank the `Origin` of the pages' own
/// forms), and nothing loaded from anywhere but the server.
fn protect(response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    let mut response = (status, message).into_response();
    protect(&mut response);
    response
}

/// Refuses a request for another name, and a state-changing request from
/// another site; protects every answer.
pub async fn guard(State(state): State<super::Shared>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    if !host.is_some_and(|h| state.reached_at.accepts_host(&h)) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "This server is not reached at that name.",
        );
    }
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes_state {
        let headers = request.headers();
        let origin_ok = headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_none_or(|o| state.reached_at.accepts_origin(o));
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|s| s.as_bytes() == b"cross-site");
        if !origin_ok || cross_site {
            return refuse(
                StatusCode::FORBIDDEN,
                "A request from another site cannot change anything here.",
            );
        }
    }
    let mut response = next.run(request).await;
    protect(&mut response);
    response
}

/// How long a page session opened with the API key lasts.
pub const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without revealing, by its timing, how much of a guess matched.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HTTP only, sent on same-site requests and top-level
/// navigations (so the page after a sign-in's redirect still has it).
pub fn set_cookie(name: &str, value: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie names and hex tokens are valid header text")
}

/// The request's CSRF token, or a new one with the cookie to set.
pub fn csrf_token(headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 64) {
        Some(token) => (token.to_string(), None),
        None => {
            let token = random_token();
            (token.clone(), Some(token))
        }
    }
}

/// Whether a posted form's token matches the cookie.
pub fn csrf_ok(headers: &HeaderMap, posted: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), posted) {
        (Some(cookie), Some(posted)) => cookie.len() == 64 && same(cookie, posted),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_server_s_own_names_and_origins_are_accepted() {
        let loopback = ReachedAt::new(
            "http://127.0.0.1:8765",
            Some("127.0.0.1:8765".parse().unwrap()),
        );
        let public = ReachedAt::new(
            "https://Connect.Example.com",
            Some("0.0.0.0:8765".parse().unwrap()),
        );

        for host in [
            "127.0.0.1:8765",
            "localhost:8765",
            "LOCALHOST",
            "[::1]:8765",
        ] {
            assert!(loopback.accepts_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8765",
            "127.0.0.1.evil.example",
            "",
        ] {
            assert!(!loopback.accepts_host(host), "{host}");
        }
        assert!(public.accepts_host("connect.example.com"));
        assert!(
            public.accepts_host("10.1.2.3:8765"),
            "an address of the machine"
        );
        assert!(!public.accepts_host("rebound.example:8765"));
        assert!(loopback.accepts_origin("http://localhost:8765"));
        assert!(public.accepts_origin("https://connect.example.com"));
        for origin in [
            "null",
            "https://evil.example",
            "file://",
            "http://evil.example:8765",
        ] {
            assert!(!loopback.accepts_origin(origin), "{origin}");
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hh_csrf=abc; b=2"),
        );
        assert_eq!(cookie(&headers, "hh_csrf"), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn a_form_token_must_match_its_cookie() {
        let token = random_token();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{CSRF_COOKIE}={token}")).unwrap(),
        );
        assert!(csrf_ok(&headers, Some(&token)));
        assert!(!csrf_ok(&headers, Some(&random_token())));
        assert!(!csrf_ok(&headers, None));
        assert!(!csrf_ok(&HeaderMap::new(), Some(&token)));
    }
}
