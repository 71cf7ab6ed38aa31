//! The grant's connection's subscriptions, each a resource an agent reads
//! the newest events of: `host-harness://subscriptions/{id}/events`, with
//! `?after=SEQUENCE` to continue from an event already read.

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

/// The events at `uri`, if it names a subscription of `connection`.
pub async fn read(
    store: &Store,
    connection: &str,
    uri: &str,
) -> Result<ResourceContents, ErrorData> {
    let not_found = || ErrorData::resource_not_found(format!("no resource {uri}"), None);
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let id = path
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(not_found)?;
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
    let subscription = match store.subscription(id).await {
        Ok(s) if s.connection_id == connection => s,
        // Another connection's subscription does not exist, to this client.
        Ok(_) | Err(StoreError::NoSuchSubscription(_)) => return Err(not_found()),
        Err(e) => return Err(store_error(e)),
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
