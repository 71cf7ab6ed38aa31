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

pub mod push;
pub mod runner;
pub mod signature;

use crate::connections::{ConnectError, ConnectionManager};
use crate::error::ActionError;
use crate::runtime::TriggerEvent;
use credential_store::{Delivery, Destination, NewSubscription, StoreError, SubscriptionRecord};
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

/// Why a server could not take a subscription.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// A field of the request is wrong: `trigger`, `configuration.query`,
    /// `interval_secs`, `target_url`.
    #[error("`{field}`: {reason}")]
    Invalid { field: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Subscribes a workflow to `trigger` of connection `connection_id`, run by
/// the servers sharing the store: polled every `interval_secs`, its events
/// sent to `target_url` signed with the key returned (shown this once), or
/// kept to be fetched when there is no URL.
pub async fn subscribe_served(
    manager: &ConnectionManager,
    connection_id: &str,
    trigger: &str,
    configuration: &str,
    target_url: Option<&str>,
    interval_secs: u32,
) -> Result<(SubscriptionRecord, secrecy::SecretString), SubscribeError> {
    let invalid = |field: &str, reason: String| SubscribeError::Invalid {
        field: field.to_string(),
        reason,
    };
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
    if interval_secs < MIN_INTERVAL_SECS {
        return Err(invalid(
            "interval_secs",
            format!("must be at least {MIN_INTERVAL_SECS} seconds"),
        ));
    }
    let destination = match target_url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Destination::Pull,
        Some(url) => match oauth2::url::Url::parse(url) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() =>
            {
                Destination::Url(url.to_string())
            }
            _ => return Err(invalid("target_url", "must be an http or https URL".into())),
        },
    };
    let store = manager.store();
    store.connection(connection_id).await?;
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
