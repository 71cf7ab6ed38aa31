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

/// Where traffic for some hosts goes instead: a local emulator, a proxy, a
/// staging API. Applies to the component's requests (for the hosts the
/// manifest lets it reach) and to the host's own, such as token requests and
/// the authorization page shown in a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    by_host: HashMap<String, Origin>,
}

impl Routes {
    /// Sends `host`'s traffic to `origin`.
    pub fn add(&mut self, host: &str, origin: Origin) {
        let (name, _) = split_host_port(host);
        self.by_host.insert(name, origin);
    }

    /// Parses `HOST=ORIGIN`, as the command line takes it.
    pub fn parse_one(spec: &str) -> Result<(String, Origin), String> {
        let (host, origin) = spec
            .split_once('=')
            .ok_or_else(|| format!("`{spec}` is not HOST=ORIGIN"))?;
        if host.trim().is_empty() {
            return Err(format!("`{spec}` names no host"));
        }
        Ok((
            host.trim().to_ascii_lowercase(),
            Origin::parse(origin.trim())?,
        ))
    }

    /// Routes every host `manifest` names, for its API and its sign-in pages,
    /// to `origin`: how the demo and the tests use a local emulator.
    pub fn all_hosts_of(manifest: &Manifest, origin: &Origin) -> Routes {
        let mut routes = Routes::default();
        for e in &manifest.api.egress {
            routes.add(&e.host, origin.clone());
        }
        for method in &manifest.auth_methods {
            for field in &method.fields {
                let host = field
                    .fixed
                    .as_deref()
                    .and_then(|url| url.parse::<http::Uri>().ok())
                    .and_then(|uri| uri.host().map(str::to_string));
                if let Some(host) = host {
                    routes.add(&host, origin.clone());
                }
            }
        }
        routes
    }

    /// Where `host`'s traffic goes, if it is routed.
    pub fn get(&self, host: &str) -> Option<&Origin> {
        self.by_host.get(&host.to_ascii_lowercase())
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// `url` with its origin replaced, if its host is routed; otherwise
    /// unchanged.
    pub fn rewrite(&self, url: &str) -> String {
        let Ok(uri) = url.parse::<http::Uri>() else {
            return url.to_string();
        };
        let Some(origin) = uri.host().and_then(|h| self.get(h)) else {
            return url.to_string();
        };
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        format!("{origin}{path}")
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
    routes: Routes,
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
            routes: Routes::default(),
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
        self.routes.add(&name, origin);
        Ok(())
    }

    /// Replaces the routes.
    pub fn set_routes(&mut self, routes: Routes) {
        self.routes = routes;
    }

    /// Sends every credentialed host's traffic to `origin`: how the demo and
    /// the tests point a connector at a local emulator.
    pub fn route_api_hosts(&mut self, origin: &Origin) {
        for rule in &self.rules {
            if rule.credentials {
                self.routes.add(&rule.host, origin.clone());
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
        let manifest = Manifest::from_json(include_str!("../../../manifests/x.json")).unwrap();
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

    #[test]
    fn routes_cover_every_host_the_manifest_names_and_rewrite_urls() {
        let manifest = Manifest::from_json(include_str!("../../../manifests/x.json")).unwrap();
        let origin = Origin::parse("http://127.0.0.1:9999").unwrap();
        let routes = Routes::all_hosts_of(&manifest, &origin);
        assert_eq!(routes.get("api.x.com"), Some(&origin));
        assert_eq!(routes.get("x.com"), Some(&origin));
        assert_eq!(
            routes.rewrite("https://x.com/i/oauth2/authorize?client_id=a&state=b"),
            "http://127.0.0.1:9999/i/oauth2/authorize?client_id=a&state=b"
        );
        assert_eq!(
            routes.rewrite("https://example.org/x"),
            "https://example.org/x"
        );
        assert_eq!(
            Routes::parse_one("api.x.com=http://127.0.0.1:1").unwrap().0,
            "api.x.com"
        );
        assert!(Routes::parse_one("api.x.com").is_err());
    }
}
