//! The grant's connection's subscriptions, each a resource an agent reads
//! the newest events of: `host-harness://subscriptions/{id}/events`, with
//! `?after=SEQUENCE` to continue from an event already read; and, for a
//! client listening to one, whether new events have come.

use credential_store::{DeliveryRecord, Store, StoreError, SubscriptionRecord};
use host_core::manifest::Manifest;
use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents};
use serde_json::{Value, json};

const PREFIX: &str = "host-harness://subscriptions/";
const SUFFIX: &str = "/events";

/// Events a read returns at most.
const PAGE: u32 = 100;

/// Events looked through for the newest ones when a read names no place.
const NEWEST_WINDOW: u32 = 1000;

/// The resource of each of `connection`'s subscriptions.
pub async fn list(
    store: &Store,
    manifest: &Manifest,
    connection: &str,
) -> Result<Vec<Resource>, ErrorData> {
    let subscriptions = store
        .subscriptions(Some(connection))
        .await
        .map_err(store_error)?;
    Ok(subscriptions
        .iter()
        .map(|subscription| {
            let title = manifest
                .triggers
                .iter()
                .find(|t| t.id == subscription.trigger)
                .map_or(subscription.trigger.clone(), |t| t.title.clone());
            Resource::new(
                format!("{PREFIX}{}{SUFFIX}", subscription.id),
                format!("{} events", subscription.trigger),
            )
            .with_title(format!("{title}: events"))
            .with_description(format!(
                "The newest events of subscription {} ({}), newest last; add ?after=SEQUENCE to read on from one",
                subscription.id, subscription.trigger
            ))
            .with_mime_type("application/json")
        })
        .collect())
}

/// The subscription `uri` names, if it is one of `connection`'s: another
/// connection's does not exist, to this client.
async fn subscription_at(
    store: &Store,
    connection: &str,
    uri: &str,
) -> Result<SubscriptionRecord, ErrorData> {
    let not_found = || ErrorData::resource_not_found(format!("no resource {uri}"), None);
    let path = uri.split_once('?').map_or(uri, |(path, _)| path);
    let id = path
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(not_found)?;
    match store.subscription(id).await {
        Ok(s) if s.connection_id == connection => Ok(s),
        Ok(_) | Err(StoreError::NoSuchSubscription(_)) => Err(not_found()),
        Err(e) => Err(store_error(e)),
    }
}

/// The sequence of the newest event of the subscription `uri` names (0
/// when it has none), if it is one of `connection`'s.
pub async fn newest(
    store: &Store,
    connection: &str,
    uri: &str,
) -> Result<(String, u64), ErrorData> {
    let subscription = subscription_at(store, connection, uri).await?;
    let newest = newest_after(store, &subscription.id, 0).await?;
    Ok((subscription.id, newest))
}

/// The newest event's sequence after `after`, or `after` when none came.
pub async fn newest_after(store: &Store, id: &str, mut after: u64) -> Result<u64, ErrorData> {
    loop {
        let page = store
            .deliveries(id, after, None, NEWEST_WINDOW)
            .await
            .map_err(store_error)?;
        match page.last() {
            Some(last) => after = last.sequence,
            None => return Ok(after),
        }
        if page.len() < NEWEST_WINDOW as usize {
            return Ok(after);
        }
    }
}

/// The events at `uri`, if it names a subscription of `connection`.
pub async fn read(
    store: &Store,
    connection: &str,
    uri: &str,
) -> Result<ResourceContents, ErrorData> {
    let subscription = subscription_at(store, connection, uri).await?;
    let id = subscription.id.as_str();
    let query = uri.split_once('?').map_or("", |(_, query)| query);
    let after = match query
        .split('&')
        .find_map(|pair| pair.strip_prefix("after="))
    {
        Some(after) => Some(after.parse::<u64>().map_err(|_| {
            ErrorData::invalid_params(
                format!("`after` in {uri} must be an event's sequence, a whole number"),
                None,
            )
        })?),
        None => None,
    };
    let events = match after {
        Some(after) => store
            .deliveries(id, after, None, PAGE)
            .await
            .map_err(store_error)?,
        None => {
            let mut all = store
                .deliveries(id, 0, None, NEWEST_WINDOW)
                .await
                .map_err(store_error)?;
            all.split_off(all.len().saturating_sub(PAGE as usize))
        }
    };
    let text = page(&subscription, &events, after.unwrap_or(0)).to_string();
    Ok(ResourceContents::TextResourceContents {
        uri: uri.to_string(),
        mime_type: Some("application/json".into()),
        text,
        meta: None,
    })
}

fn page(subscription: &SubscriptionRecord, events: &[DeliveryRecord], after: u64) -> Value {
    json!({
        "subscription": subscription.id,
        "trigger": subscription.trigger,
        "events": events.iter().map(|d| json!({
            "sequence": d.sequence,
            "id": d.event_id,
            "data": serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null),
            "created_at": d.created_at,
        })).collect::<Vec<_>>(),
        "next_after": events.last().map_or(after, |d| d.sequence),
    })
}

fn store_error(e: StoreError) -> ErrorData {
    if e.is_unavailable() {
        ErrorData::internal_error(
            "the credential store cannot be reached now; try again in a few seconds",
            None,
        )
    } else {
        ErrorData::internal_error(e.to_string(), None)
    }
}
