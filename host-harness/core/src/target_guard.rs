//! Where the host may send a request whose URL a user gave it: a trigger's
//! delivery target today, a tenant's webhooks and return URLs next.
//!
//! Whoever may create a subscription chooses the URL the server POSTs to.
//! Left open, that is a way into the server's own network: its cloud's
//! metadata service (169.254.169.254), internal services, the server's own
//! API on loopback. So a user's URL reaches public addresses only, unless
//! the operator allows a private range by name (`--allow-private-targets
//! CIDR`). It is checked twice: when the URL is given (its spelling, and
//! the addresses its name resolves to now) and at every connection, where
//! the transport connects only to the addresses it has just checked, so a
//! name re-pointed in between cannot slip through. Redirects are never
//! followed, so an answer cannot send the request elsewhere.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use url::{Host, Url};

/// The longest URL taken: far more than any real endpoint needs, and short
/// enough to keep in a row and print in a log.
pub const MAX_URL_LENGTH: usize = 2048;

/// How long resolving a name may take when a URL is given.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a URL is refused. Each says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("is longer than {MAX_URL_LENGTH} characters")]
    TooLong,
    #[error("holds a space or a control character (such as CR or LF); percent-encode it")]
    ControlCharacter,
    #[error("holds a backslash, which URL parsers read differently; use `/`")]
    Backslash,
    #[error("must be an absolute http:// or https:// URL with a host")]
    NotHttp,
    #[error("is not a URL: {0}")]
    Unparsable(String),
    #[error("carries a user name or password; deliveries are authenticated by their signature")]
    Credentials,
    #[error(
        "reaches {address}, a {range} address; the server sends only to public addresses unless its operator allows the range (--allow-private-targets CIDR)"
    )]
    PrivateAddress {
        address: IpAddr,
        range: &'static str,
    },
    #[error(
        "names `{host}`, a name for private networks that does not resolve to an allowed address"
    )]
    PrivateName { host: String },
}

/// The ranges a user's URL may reach beyond the public internet.
#[derive(Debug, Clone, Default)]
pub struct TargetGuard {
    allowed: Vec<IpNet>,
}

impl TargetGuard {
    /// Public addresses only: what a server exposed to users should use.
    pub fn public_only() -> TargetGuard {
        TargetGuard::default()
    }

    /// Public addresses and the ranges given, which the operator trusts
    /// (loopback for a demo or a test, a private network for receivers
    /// inside it).
    pub fn allowing(ranges: impl IntoIterator<Item = IpNet>) -> TargetGuard {
        TargetGuard {
            allowed: ranges.into_iter().collect(),
        }
    }

    /// The private ranges allowed.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether a request may connect to `address`.
    pub fn check_address(&self, address: IpAddr) -> Result<(), TargetError> {
        let address = canonical(address);
        if self.allowed.iter().any(|net| net.contains(&address)) {
            return Ok(());
        }
        match special_range(address) {
            None => Ok(()),
            Some(range) => Err(TargetError::PrivateAddress { address, range }),
        }
    }

    /// Checks a URL's spelling and, when its host is an address or a
    /// loopback name, where it leads; returns it parsed (and normalised:
    /// `http://2130706433/` reads as `http://127.0.0.1/`). A host name is
    /// left to [`TargetGuard::check_url_resolved`] and to the connection.
    pub fn check_url(&self, raw: &str) -> Result<Url, TargetError> {
        let url = parse(raw)?;
        match url.host() {
            Some(Host::Ipv4(v4)) => self.check_address(IpAddr::V4(v4))?,
            Some(Host::Ipv6(v6)) => self.check_address(IpAddr::V6(v6))?,
            Some(Host::Domain(name)) => {
                if is_loopback_name(name) {
                    // RFC 6761: such a name is loopback, whatever a resolver says.
                    self.check_address(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
                    self.check_address(IpAddr::V6(Ipv6Addr::LOCALHOST))?;
                }
            }
            None => return Err(TargetError::NotHttp),
        }
        Ok(url)
    }

    /// [`TargetGuard::check_url`], then every address the host's name
    /// resolves to now. A name that does not resolve yet is taken (each
    /// connection checks again), unless it is a name for private networks
    /// (`.internal`, `.local`, `.home.arpa`), which has nothing public to
    /// resolve to.
    pub async fn check_url_resolved(&self, raw: &str) -> Result<Url, TargetError> {
        let url = self.check_url(raw)?;
        let Some(Host::Domain(name)) = url.host() else {
            return Ok(url);
        };
        if is_loopback_name(name) {
            return Ok(url);
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|found| found.collect::<Vec<_>>())
            .unwrap_or_default();
        if resolved.is_empty() && is_private_name(name) {
            return Err(TargetError::PrivateName {
                host: name.to_string(),
            });
        }
        for address in resolved {
            self.check_address(address.ip())?;
        }
        Ok(url)
    }

    /// The addresses of `name` a connection may use: all of them, or an
    /// error naming the first one refused. Refusing the whole name rather
    /// than skipping the bad addresses keeps a name that mixes a public
    /// and a private address from reaching the private one on a retry.
    pub async fn resolve(&self, name: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let name = name.trim_end_matches('.');
        let found: Vec<SocketAddr> = if is_loopback_name(name) {
            vec![
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            ]
        } else {
            tokio::net::lookup_host((name, port)).await?.collect()
        };
        for address in &found {
            self.check_address(address.ip())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))?;
        }
        Ok(found)
    }
}

/// The URL's spelling: absolute http(s), no control character, space or
/// backslash, no credentials, a sane length. Checked on the text itself,
/// before a parser that forgives (WHATWG's reads `http:///x` as
/// `http://x/`, drops CR and LF, and takes `\` for `/`).
fn parse(raw: &str) -> Result<Url, TargetError> {
    if raw.len() > MAX_URL_LENGTH {
        return Err(TargetError::TooLong);
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(TargetError::ControlCharacter);
    }
    if raw.contains('\\') {
        return Err(TargetError::Backslash);
    }
    let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &raw[8..]
    } else if lower.starts_with("http://") {
        &raw[7..]
    } else {
        return Err(TargetError::NotHttp);
    };
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Err(TargetError::NotHttp);
    }
    let url = Url::parse(raw).map_err(|e| TargetError::Unparsable(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(TargetError::NotHttp);
    }
    Ok(url)
}

/// A name every resolver must treat as loopback (RFC 6761, 6.3).
fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A name under a suffix kept for private networks: `.internal` (ICANN,
/// 2024; `metadata.google.internal`), `.local` (mDNS, RFC 6762),
/// `.home.arpa` (RFC 8375), `.localdomain`.
fn is_private_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    ["internal", "local", "home.arpa", "localdomain"]
        .iter()
        .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")))
}

/// An IPv4 address written as IPv6 (`::ffff:169.254.169.254`) is that
/// IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The special-purpose range `address` is in (IANA's IPv4 and IPv6
/// special-purpose registries, less the globally reachable entries), or
/// `None` for a public address.
fn special_range(address: IpAddr) -> Option<&'static str> {
    match canonical(address) {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = v4.octets();
    Some(match (a, b, c) {
        (0, ..) => "this-network (0.0.0.0/8)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared address space (100.64.0.0/10)",
        (127, ..) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast (224.0.0.0/4)",
        (240..=255, ..) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn special_v6(v6: Ipv6Addr) -> Option<&'static str> {
    let s = v6.segments();
    let embedded = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified (::)",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback (::1)",
        // IPv4-compatible, deprecated (RFC 4291): no public use.
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (::/96)",
        // NAT64 (RFC 6052) and 6to4 (RFC 3056) reach the IPv4 address inside.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => return special_v4(embedded(high, low)),
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        [0x2002, high, low, ..] => return special_v4(embedded(high, low)),
        [0x100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x2001, 0xdb8, ..] => "documentation (2001:db8::/32)",
        [0x2001, 0..=0x1ff, ..] => "IETF protocol assignments (2001::/23)",
        [0x3fff, 0..=0x0fff, ..] => "documentation (3fff::/20)",
        [0x5f00, ..] => "segment routing (5f00::/16)",
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(guard: &TargetGuard, url: &str) -> bool {
        guard.check_url(url).is_err()
    }

    #[test]
    fn every_spelling_of_an_internal_address_is_refused() {
        let guard = TargetGuard::public_only();
        for url in [
            "http://10.0.0.1/x",
            "http://172.16.0.1/x",
            "http://192.168.1.1/x",
            "http://100.64.0.1/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/x",
            "http://2852039166/x",
            "http://0xa9fea9fe/x",
            "http://[fd00::1]/x",
            "http://[fe80::1]/x",
            "http://127.0.0.1:8765/api/v1/actions",
            "http://localhost/x",
            "http://LOCALHOST./x",
            "http://api.localhost/x",
            "http://[::1]/x",
            "http://0.0.0.0/x",
            "http://2130706433/x",
            "http://0177.0.0.1/x",
            "http://0x7f.1/x",
            "http://127.1/x",
            "http://[::]/x",
            "http://[64:ff9b::a9fe:a9fe]/x",
            "http://[2002:a9fe:a9fe::1]/x",
            "http://224.0.0.1/x",
            "http://255.255.255.255/x",
        ] {
            assert!(refused(&guard, url), "{url} was taken");
        }
    }

    #[test]
    fn public_addresses_and_names_are_taken() {
        let guard = TargetGuard::public_only();
        for url in [
            "https://hooks.example.com/x",
            "http://93.184.215.14/x",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/x",
            "https://[64:ff9b::5db8:d70e]/x",
            "https://engine.example:8443/hooks?x=1",
        ] {
            assert!(guard.check_url(url).is_ok(), "{url} was refused");
        }
    }

    #[test]
    fn malformed_urls_are_refused_before_any_parser_forgives_them() {
        let guard = TargetGuard::public_only();
        for (url, expected) in [
            ("http:///x", TargetError::NotHttp),
            ("http:x.example/", TargetError::NotHttp),
            ("ftp://x.example/", TargetError::NotHttp),
            ("//x.example/", TargetError::NotHttp),
            ("http:\\\\x.example\\y", TargetError::Backslash),
            ("http://x.example\\@127.0.0.1/", TargetError::Backslash),
            (
                "http://x.example/a\r\nX-Injected: 1",
                TargetError::ControlCharacter,
            ),
            ("http://x.example/\n", TargetError::ControlCharacter),
            ("http://x.example/a b", TargetError::ControlCharacter),
            ("http://user:pass@x.example/", TargetError::Credentials),
            ("http://x.example@127.0.0.1/", TargetError::Credentials),
        ] {
            assert_eq!(guard.check_url(url).unwrap_err(), expected, "{url}");
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL_LENGTH));
        assert_eq!(guard.check_url(&long).unwrap_err(), TargetError::TooLong);
    }

    #[test]
    fn an_allowed_range_is_taken_and_nothing_beside_it() {
        let guard = TargetGuard::allowing(["127.0.0.0/8".parse().unwrap()]);

        assert!(guard.check_url("http://127.0.0.1:9/x").is_ok());
        assert!(guard.check_url("http://2130706433/x").is_ok());
        assert!(guard.check_url("http://[::ffff:127.0.0.1]/x").is_ok());
        assert!(refused(&guard, "http://169.254.169.254/x"));
        assert!(refused(&guard, "http://10.0.0.1/x"));
        // localhost is ::1 as well, which the range does not hold.
        assert!(refused(&guard, "http://localhost/x"));
        let both =
            TargetGuard::allowing(["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        assert!(both.check_url("http://localhost/x").is_ok());
    }

    #[test]
    fn an_address_spelled_in_any_form_is_stored_in_one() {
        let guard = TargetGuard::allowing(["127.0.0.0/8".parse().unwrap()]);
        let url = guard.check_url("http://0x7f.1:8080/hooks").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/hooks");
    }

    #[tokio::test]
    async fn a_private_use_name_that_does_not_resolve_is_refused_and_a_public_one_is_not() {
        let guard = TargetGuard::public_only();
        let metadata = guard
            .check_url_resolved("http://metadata.google.internal/computeMetadata/v1/")
            .await;
        let unknown = guard
            .check_url_resolved("https://receiver.invalid-but-public.example/x")
            .await;

        assert!(
            matches!(
                metadata,
                Err(TargetError::PrivateName { .. }) | Err(TargetError::PrivateAddress { .. })
            ),
            "{metadata:?}"
        );
        assert!(unknown.is_ok(), "{unknown:?}");
    }

    #[tokio::test]
    async fn a_connection_gets_only_checked_addresses() {
        let guard = TargetGuard::public_only();
        let refused = guard.resolve("localhost", 80).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(refused.to_string().contains("loopback"), "{refused}");

        let allowed =
            TargetGuard::allowing(["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        let found = allowed.resolve("localhost", 80).await.unwrap();
        assert!(found.iter().all(|a| a.ip().is_loopback()));
    }
}
