//! Running triggers: subscriptions kept in the store, polled through the
//! connector, each new event handed on once.
//!
//! The component keeps nothing between polls; the host keeps, for each
//! subscription, the connector's cursor and the ids of the events it has
//! handed on (for a retention window, not for ever). A poll hands on the
//! events it has not seen, then records them, then moves the cursor: a
//! host that stops in between hands the same events on again (at least
//! once), never loses one. A new subscription's first poll records what
//! already exists and hands nothing on, so a workflow starts with what
//! happens next.

pub mod platform_events;
pub mod push;
pub mod runner;
pub mod signature;

use credential_store::{Delivery, Destination, NewSubscription, StoreError, SubscriptionRecord};
use host_auth::connections::{ConnectError, ConnectionManager};
use host_core::TriggerEvent;
use host_core::error::ActionError;
use host_core::target_guard::TargetGuard;
use std::time::Duration;

/// How long the ids of handed-on events are kept: a cursor never goes
/// back this far, so an event older than this cannot come again.
pub const SEEN_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why a subscription could not be made or polled.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("handing an event on failed: {0}")]
    Handoff(String),
}

/// What one poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollReport {
    /// Events handed on.
    pub delivered: usize,
    /// Events found that had been handed on before.
    pub repeated: usize,
    /// The subscription's first poll: what exists was recorded, not handed on.
    pub baseline: bool,
}

/// The subscription of `connection_id` to `trigger` with this
/// configuration: the existing one (so that a restarted watcher goes on
/// where it stopped), or a new one. The configuration is checked against
/// the trigger's schema first, and kept in a canonical form.
pub async fn subscribe(
    manager: &ConnectionManager,
    connection_id: &str,
    trigger: &str,
    configuration: &str,
    delivery: Delivery,
) -> Result<SubscriptionRecord, TriggerError> {
    let configuration = manager
        .connector()
        .check_configuration(trigger, configuration)?
        .to_string();
    let store = manager.store();
    // The connection must exist (and this says so plainly if not).
    store.connection(connection_id).await?;
    let existing = store
        .subscriptions(Some(connection_id))
        .await?
        .into_iter()
        .find(|s| {
            s.trigger == trigger && s.configuration == configuration && s.delivery == delivery
        });
    match existing {
        Some(subscription) => Ok(subscription),
        None => Ok(store
            .create_subscription(&NewSubscription {
                connection_id: connection_id.to_string(),
                trigger: trigger.to_string(),
                configuration,
                delivery,
                destination: Destination::Watch,
                interval_secs: 0,
                signing_secret: None,
            })
            .await?),
    }
}

/// Polls the subscription once and hands each new event to `hand_on`,
/// oldest first; records them once all are handed on, then moves the
/// cursor.
pub async fn poll_once(
    manager: &ConnectionManager,
    subscription_id: &str,
    mut hand_on: impl FnMut(&TriggerEvent) -> Result<(), String>,
) -> Result<PollReport, TriggerError> {
    let store = manager.store();
    let subscription = store.subscription(subscription_id).await?;
    let connection = manager.connection(&subscription.connection_id).await?;
    let polled = manager
        .connector()
        .poll(
            &connection,
            &subscription.trigger,
            &subscription.configuration,
            subscription.cursor.as_deref(),
        )
        .await?;
    let ids: Vec<String> = polled.events.iter().map(|e| e.id.clone()).collect();
    let baseline = subscription.cursor.is_none();
    let mut report = PollReport {
        delivered: 0,
        repeated: 0,
        baseline,
    };
    if baseline {
        store.record_events(subscription_id, &ids).await?;
    } else {
        let unseen = store.unseen_events(subscription_id, &ids).await?;
        let mut handed = std::collections::HashSet::new();
        for event in &polled.events {
            if unseen.contains(&event.id) && handed.insert(event.id.as_str()) {
                hand_on(event).map_err(TriggerError::Handoff)?;
                report.delivered += 1;
            }
        }
        report.repeated = polled.events.len() - report.delivered;
        store.record_events(subscription_id, &unseen).await?;
    }
    match store
        .move_cursor(
            subscription_id,
            Some(&polled.cursor),
            subscription.cursor_version,
        )
        .await
    {
        // Another host polled meanwhile and moved it; its cursor stands.
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    store
        .forget_events_older_than(subscription_id, SEEN_RETENTION)
        .await?;
    Ok(report)
}

/// The shortest time between two polls of a subscription a server runs.
pub const MIN_INTERVAL_SECS: u32 = 5;

/// The longest: a day. A trigger polled less often than that is better
/// read by an action run on a schedule; and an interval this side of a
/// day keeps `next_poll_at` arithmetic far from any overflow.
pub const MAX_INTERVAL_SECS: u32 = 86_400;

/// Why a server could not take a subscription.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// A field of the request is wrong: `trigger`, `configuration.query`,
    /// `interval_secs`, `target_url`.
    #[error("`{field}`: {reason}")]
    Invalid { field: String, reason: String },
    /// The connection was not granted the trigger's scopes: as an action
    /// would be, the subscription is refused rather than left to fail at
    /// every poll.
    #[error(
        "`{trigger}` needs the scopes {}, which the connection was not granted; reconnect and grant them",
        missing.join(", ")
    )]
    MissingScopes {
        trigger: String,
        missing: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SubscribeError {
    /// The refusal as an action's typed error, for a missing scope.
    pub fn as_action_error(&self) -> Option<ActionError> {
        match self {
            SubscribeError::MissingScopes { missing, .. } => Some(ActionError::Forbidden {
                missing_scopes: missing.clone(),
                detail: self.to_string(),
                reason: "missing-scopes".into(),
                rule: None,
                problem_type: None,
            }),
            _ => None,
        }
    }
}

/// The trigger's scopes the connection was not granted (none when the
/// connection does not record what it was granted, as an app-only one).
fn missing_scopes(
    manager: &ConnectionManager,
    trigger: &str,
    granted: Option<&[String]>,
) -> Vec<String> {
    let (Some(granted), Some(descriptor)) = (
        granted,
        manager
            .connector()
            .descriptor()
            .triggers
            .iter()
            .find(|t| t.id == trigger),
    ) else {
        return Vec::new();
    };
    descriptor
        .required_scopes
        .iter()
        .filter(|s| !granted.contains(s))
        .cloned()
        .collect()
}

/// What a workflow asks a server to run for it.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionRequest<'a> {
    pub trigger: &'a str,
    /// The trigger's configuration, as JSON text.
    pub configuration: &'a str,
    /// Where each event is POSTed, signed; without it, events are kept to
    /// be fetched.
    pub target_url: Option<&'a str>,
    pub interval_secs: u32,
}

/// Subscribes a workflow to a trigger of connection `connection_id`, run by
/// the servers sharing the store: polled every `interval_secs`, its events
/// sent to `target_url` (which must lead where `targets` allows) signed
/// with the key returned (shown this once), or kept to be fetched when
/// there is no URL.
pub async fn subscribe_served(
    manager: &ConnectionManager,
    connection_id: &str,
    request: SubscriptionRequest<'_>,
    targets: &TargetGuard,
) -> Result<(SubscriptionRecord, secrecy::SecretString), SubscribeError> {
    let invalid = |field: &str, reason: String| SubscribeError::Invalid {
        field: field.to_string(),
        reason,
    };
    let SubscriptionRequest {
        trigger,
        configuration,
        target_url,
        interval_secs,
    } = request;
    let configuration = match manager
        .connector()
        .check_configuration(trigger, configuration)
    {
        Ok(c) => c.to_string(),
        Err(ActionError::InvalidInput { field, reason }) => {
            let field = match field.as_str() {
                "trigger" => "trigger".to_string(),
                "" => "configuration".to_string(),
                f => format!("configuration.{f}"),
            };
            return Err(invalid(&field, reason));
        }
        Err(e) => return Err(invalid("configuration", e.to_string())),
    };
    if !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&interval_secs) {
        return Err(invalid(
            "interval_secs",
            format!("must be from {MIN_INTERVAL_SECS} to {MAX_INTERVAL_SECS} seconds (a day)"),
        ));
    }
    let destination = match target_url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Destination::Pull,
        Some(url) => match targets.check_url_resolved(url).await {
            Ok(parsed) => Destination::Url(parsed.to_string()),
            Err(e) => return Err(invalid("target_url", e.to_string())),
        },
    };
    let store = manager.store();
    let connection = store.connection(connection_id).await?;
    let missing = missing_scopes(manager, trigger, connection.granted_scopes.as_deref());
    if !missing.is_empty() {
        return Err(SubscribeError::MissingScopes {
            trigger: trigger.to_string(),
            missing,
        });
    }
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("whsec_{hex}");
    let key = secrecy::SecretString::from(key);
    let created = store
        .create_subscription(&NewSubscription {
            connection_id: connection_id.to_string(),
            trigger: trigger.to_string(),
            configuration,
            delivery: Delivery::Poll,
            destination,
            interval_secs,
            signing_secret: Some(key.clone()),
        })
        .await?;
    Ok((created, key))
}
