//! Where a component's requests may go.
//!
//! The manifest lists the hosts a connector may reach, and which of them get
//! the connection's credentials. Every other destination is refused. A route
//! can send a host's traffic to another origin (a local emulator, a proxy)
//! without the component knowing; the decision is still made on the host the
//! component asked for.

use crate::manifest::Manifest;
use http::uri::{Authority, Scheme};
use std::collections::HashMap;

/// An origin a route sends traffic to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    pub authority: Authority,
}

impl Origin {
    /// Parses `http://host:port` or `https://host`.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let uri: http::Uri = text
            .parse()
            .map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("`{text}` has no scheme"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(format!("`{text}` is not an http(s) URL"));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("`{text}` has no host"))?;
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(format!("`{text}` must be an origin, without a path"));
        }
        Ok(Origin { scheme, authority })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

/// What happens to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request goes out, with credentials or without, to `route` when set.
    Allow {
        credentials: bool,
        route: Option<Origin>,
    },
    /// The request is refused, for the reason given.
    Refuse(String),
}

#[derive(Debug, Clone)]
struct Rule {
    host: String,
    port: Option<u16>,
    credentials: bool,
}

/// The egress rules of one connector.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    rules: Vec<Rule>,
    routes: HashMap<String, Origin>,
}

impl EgressPolicy {
    /// The rules the manifest declares, with no routes.
    pub fn from_manifest(manifest: &Manifest) -> EgressPolicy {
        let rules = manifest
            .api
            .egress
            .iter()
            .map(|e| {
                let (host, port) = split_host_port(&e.host);
                Rule {
                    host,
                    port,
                    credentials: e.credentials,
                }
            })
            .collect();
        EgressPolicy {
            rules,
            routes: HashMap::new(),
        }
    }

    /// Sends requests for `host` (one of the manifest's) to `origin`.
    pub fn route(&mut self, host: &str, origin: Origin) -> Result<(), String> {
        let (name, _) = split_host_port(host);
        if !self.rules.iter().any(|r| r.host == name) {
            return Err(format!(
                "`{host}` is not an egress host of the manifest; only those can be routed"
            ));
        }
        self.routes.insert(name, origin);
        Ok(())
    }

    /// Sends every credentialed host's traffic to `origin`: how the demo and
    /// the tests point a connector at a local emulator.
    pub fn route_api_hosts(&mut self, origin: &Origin) {
        for rule in &self.rules {
            if rule.credentials {
                self.routes.insert(rule.host.clone(), origin.clone());
            }
        }
    }

    /// Decides the fate of a request to `scheme://authority`.
    pub fn decide(&self, scheme: &Scheme, authority: &Authority) -> Decision {
        let host = authority.host().to_ascii_lowercase();
        let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let rule = self
            .rules
            .iter()
            .find(|r| r.host == host && r.port.unwrap_or(default_port) == port);
        let Some(rule) = rule else {
            return Decision::Refuse(format!(
                "{authority} is not in the connector manifest's egress list"
            ));
        };
        let route = self.routes.get(&host).cloned();
        if rule.credentials && *scheme != Scheme::HTTPS && route.is_none() {
            return Decision::Refuse(format!(
                "credentials for {authority} are only sent over https, and the request used {scheme}"
            ));
        }
        Decision::Allow {
            credentials: rule.credentials,
            route,
        }
    }
}

fn split_host_port(text: &str) -> (String, Option<u16>) {
    match text.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            (host.to_ascii_lowercase(), port.parse().ok())
        }
        _ => (text.to_ascii_lowercase(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> EgressPolicy {
        let manifest = Manifest::from_json(include_str!("../../manifests/x.json")).unwrap();
        EgressPolicy::from_manifest(&manifest)
    }

    fn decide(p: &EgressPolicy, scheme: Scheme, authority: &str) -> Decision {
        p.decide(&scheme, &authority.parse().unwrap())
    }

    #[test]
    fn manifest_hosts_get_credentials_and_others_are_refused() {
        let p = policy();
        assert_eq!(
            decide(&p, Scheme::HTTPS, "api.x.com"),
            Decision::Allow {
                credentials: true,
                route: None
            }
        );
        assert_eq!(
            decide(&p, Scheme::HTTPS, "API.X.COM:443"),
            Decision::Allow {
                credentials: true,
                route: None
            }
        );
        match decide(&p, Scheme::HTTPS, "evil.example") {
            Decision::Refuse(reason) => assert!(reason.contains("evil.example"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&p, Scheme::HTTPS, "api.x.com:8443"),
            Decision::Refuse(_)
        ));
        assert!(matches!(
            decide(&p, Scheme::HTTPS, "api.x.com.evil.example"),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn credentials_never_travel_in_clear_text() {
        assert!(matches!(
            decide(&policy(), Scheme::HTTP, "api.x.com"),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn a_route_redirects_without_changing_the_decision() {
        let mut p = policy();
        let origin = Origin::parse("http://127.0.0.1:9999").unwrap();
        p.route_api_hosts(&origin);
        assert_eq!(
            decide(&p, Scheme::HTTPS, "api.x.com"),
            Decision::Allow {
                credentials: true,
                route: Some(origin)
            }
        );
        assert!(matches!(
            decide(&p, Scheme::HTTPS, "127.0.0.1:9999"),
            Decision::Refuse(_)
        ));
        assert!(
            p.route("evil.example", Origin::parse("http://127.0.0.1:1").unwrap())
                .is_err()
        );
    }
}
