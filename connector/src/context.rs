//! What every action and trigger runs with: the API and the connection's
//! facts, after checking the connection may run it. Both catalogues stand
//! on this module; it stands on neither.

use crate::api::XApi;
use crate::bindings::integration::connector::host;
use crate::bindings::integration::connector::types::{AuthKind, ConnectionFacts, ConnectorError};
use crate::error::{Refusal, internal, missing_scopes, refused};
use serde::Deserialize;
use std::cell::OnceCell;

/// X's user field that names the account's subscription.
pub const SUBSCRIPTION: &str = "subscription_type";

/// The context of an action or trigger `id` on the host's current
/// connection, after checking the connection may use it.
pub fn context(id: &str, scopes: &[&str], contexts: &[&str]) -> Result<Context, ConnectorError> {
    let facts = host::connection();
    check_access(id, scopes, contexts, &facts)?;
    Ok(Context {
        api: XApi::from_manifest(facts.account_id.clone())?,
        facts,
        account_id: OnceCell::new(),
        post_limit: OnceCell::new(),
    })
}

/// Refuses, before any request, what the connection cannot run: a user's
/// action on an app-only connection, or one whose scopes were not granted.
fn check_access(
    id: &str,
    scopes: &[&str],
    contexts: &[&str],
    facts: &ConnectionFacts,
) -> Result<(), ConnectorError> {
    let app_only = facts.auth_kind == AuthKind::Oauth2ClientCredentials;
    if app_only && !contexts.contains(&"app") {
        return Err(refused(
            Refusal::Resource,
            Some("user-context-only"),
            None,
            format!(
                "`{id}` acts for a user, and this connection is app-only; connect with OAuth 2.0 or OAuth 1.0a"
            ),
        ));
    }
    if let Some(granted) = &facts.granted_scopes {
        let missing: Vec<String> = scopes
            .iter()
            .filter(|s| !granted.iter().any(|g| g == *s))
            .map(|s| s.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(missing_scopes(
                missing.clone(),
                format!(
                    "`{id}` needs the scopes {}, which the connection was not granted; reconnect and grant them",
                    missing.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// What a running action can reach: the API and the connection's facts.
pub struct Context {
    pub api: XApi,
    pub facts: ConnectionFacts,
    account_id: OnceCell<String>,
    post_limit: OnceCell<u32>,
}

/// Tells the host how far the action has got (`done` of `total` units of
/// `stage`), for a progress bar or an agent's progress notifications.
pub fn report_progress(stage: &str, done: u64, total: Option<u64>) {
    host::report_progress(&host::Progress {
        stage: stage.to_string(),
        done,
        total,
    });
}

impl Context {
    /// The most a post of the connected account may weigh, when known
    /// without asking X: from the subscription the host recorded at
    /// connect time. Any X subscription allows long posts.
    pub fn known_post_limit(&self) -> Option<u32> {
        self.facts
            .account_facts
            .iter()
            .find(|(name, _)| name == SUBSCRIPTION)
            .map(|(_, kind)| crate::text::limit_for_subscription(kind))
    }

    /// The most a post of the connected account may weigh: as known, or
    /// asked of X (one request) when the host recorded nothing.
    pub fn post_limit(&self) -> Result<u32, ConnectorError> {
        if let Some(limit) = self.known_post_limit().or(self.post_limit.get().copied()) {
            return Ok(limit);
        }
        let (_, kind) = self.who_am_i()?;
        let limit = kind.as_deref().map_or(
            x_text::config::MAX_WEIGHTED_LENGTH,
            crate::text::limit_for_subscription,
        );
        Ok(*self.post_limit.get_or_init(|| limit))
    }

    /// The connected account's user id: from the host's facts, or asked of X
    /// once per action when the host does not know it (a pasted token).
    pub fn account_id(&self) -> Result<&str, ConnectorError> {
        if let Some(id) = self.account_id.get() {
            return Ok(id);
        }
        let id = match &self.facts.account_id {
            Some(id) => id.clone(),
            None => self.who_am_i()?.0,
        };
        self.api.usage.set_account_id(&id);
        Ok(self.account_id.get_or_init(|| id))
    }

    /// The connected account's id and subscription, asked of X
    /// (`GET /2/users/me`), for what the host did not record.
    fn who_am_i(&self) -> Result<(String, Option<String>), ConnectorError> {
        #[derive(serde::Deserialize)]
        struct Me {
            id: String,
            #[serde(default)]
            subscription_type: Option<String>,
        }
        let answer = self
            .api
            .get("/2/users/me", &[("user.fields", SUBSCRIPTION.to_string())])?;
        if let Some(e) = crate::api::partial_error(&answer.body) {
            return Err(e);
        }
        let me: Me = answer
            .body
            .get("data")
            .ok_or_else(|| internal("X answered without `data`"))
            .and_then(|data| {
                Me::deserialize(data)
                    .map_err(|e| internal(format!("unexpected `data` from X: {e}")))
            })?;
        Ok((me.id, me.subscription_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::manifest;

    fn facts(kind: AuthKind, scopes: Option<&[&str]>) -> ConnectionFacts {
        ConnectionFacts {
            id: "c1".into(),
            auth_kind: kind,
            granted_scopes: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
            account_id: None,
            account_facts: Vec::new(),
        }
    }

    #[test]
    fn missing_scopes_are_named_before_any_request() {
        let meta = manifest().action("post.create").unwrap();
        let err = check_access(
            meta.id,
            meta.scopes,
            meta.contexts,
            &facts(
                AuthKind::Oauth2AuthorizationCode,
                Some(&["tweet.read", "users.read"]),
            ),
        )
        .unwrap_err();
        match err {
            ConnectorError::Forbidden(f) => {
                assert_eq!(f.missing_scopes, vec!["tweet.write".to_string()])
            }
            other => panic!("expected forbidden, got {other:?}"),
        }
        assert!(
            check_access(
                meta.id,
                meta.scopes,
                meta.contexts,
                &facts(AuthKind::BearerToken, None)
            )
            .is_ok()
        );
    }

    #[test]
    fn app_only_connections_cannot_run_user_actions() {
        let meta = manifest().action("post.create").unwrap();
        assert!(
            check_access(
                meta.id,
                meta.scopes,
                meta.contexts,
                &facts(AuthKind::Oauth2ClientCredentials, None)
            )
            .is_err()
        );
        let search = manifest().action("search.recent").unwrap();
        assert!(
            check_access(
                search.id,
                search.scopes,
                search.contexts,
                &facts(AuthKind::Oauth2ClientCredentials, None)
            )
            .is_ok()
        );
    }
}
