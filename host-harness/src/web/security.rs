//! Who may use the server: the API key, page sessions opened with it (kept
//! in the store, by hash), and the CSRF token every page form carries.

use axum::http::{HeaderMap, HeaderValue, header};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

/// The cookie holding a page session (only with an API key).
pub const SESSION_COOKIE: &str = "hh_session";
/// The cookie a form's CSRF token must match.
pub const CSRF_COOKIE: &str = "hh_csrf";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

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

/// Whether an API request carries the key (always, when there is none).
pub fn api_key_ok(headers: &HeaderMap, key: Option<&SecretString>) -> bool {
    let Some(key) = key else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    given.is_some_and(|g| same(g.trim(), key.expose_secret()))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_api_key_is_read_from_either_header() {
        let key = SecretString::from("k3y");
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer k3y"),
        );
        let mut plain = HeaderMap::new();
        plain.insert("x-api-key", HeaderValue::from_static("k3y"));
        let mut wrong = HeaderMap::new();
        wrong.insert("x-api-key", HeaderValue::from_static("k3z"));
        assert!(api_key_ok(&bearer, Some(&key)));
        assert!(api_key_ok(&plain, Some(&key)));
        assert!(!api_key_ok(&wrong, Some(&key)));
        assert!(!api_key_ok(&HeaderMap::new(), Some(&key)));
        assert!(api_key_ok(&HeaderMap::new(), None));
    }
}
