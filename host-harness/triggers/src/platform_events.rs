//! Platform events: what happened to a tenant's connections (created,
//! reconnected, needing a reconnect and why, revoked, deleted) and
//! subscriptions (a dead letter), POSTed to the tenant's webhook and
//! signed as trigger deliveries are (`X-Host-Harness-Signature`, under the
//! webhook's own key), so a platform learns of a broken connection when it
//! breaks rather than when the next action fails.
//!
//! The store queues each event in the same step as the change it reports,
//! so one is queued whichever host made the change, and a host that
//! notices a change another already recorded queues none. Every server
//! sends them: it takes due events with a lease, sends, and records the
//! outcome, retrying with the runner's backoff and giving up after its
//! attempts. A host that dies between sending and recording sends that
//! event again later (same `X-Host-Harness-Event-Id`): at least once.

use super::runner::{RunnerConfig, delivery_client, outcome_of, post_signed};
use credential_store::{ClaimedPlatformEvent, DeliveryOutcome, Store};
use host_auth::http::HostHttp;
use host_core::target_guard::TargetGuard;
use secrecy::ExposeSecret;

/// Sends due platform events until the server stops, each only where
/// `targets` allows.
pub async fn run_platform_events(store: &Store, config: &RunnerConfig, targets: &TargetGuard) {
    let http = delivery_client(targets, config.delivery_timeout);
    let claim = config.delivery_claim.max(config.delivery_timeout * 2);
    while !config.stopping() {
        match store.claim_platform_events(&config.host, claim, 32).await {
            Ok(claimed) if !claimed.is_empty() => {
                for event in &claimed {
                    send_one(store, config, &http, targets, event).await;
                }
            }
            Ok(_) => tokio::time::sleep(config.idle).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot take platform events from the store");
                tokio::time::sleep(config.idle * 4).await;
            }
        }
    }
}

async fn send_one(
    store: &Store,
    config: &RunnerConfig,
    http: &HostHttp,
    targets: &TargetGuard,
    claimed: &ClaimedPlatformEvent,
) {
    let event = &claimed.event;
    // The claim counted this attempt (a re-send after a host died too).
    let attempt = event.attempts.max(1);
    // A URL allowed when it was set, and refused by the guard now, gets
    // nothing.
    let result = match targets.check_url(&claimed.url) {
        Err(e) => Err(format!("the webhook URL {e}")),
        Ok(_) => {
            let headers = [
                ("x-host-harness-event-id", event.id.clone()),
                ("x-host-harness-event-type", event.kind.clone()),
                ("x-host-harness-attempt", attempt.to_string()),
            ];
            post_signed(
                http,
                &claimed.url,
                &headers,
                Some(claimed.signing_secret.expose_secret().as_bytes()),
                event.payload.clone().into_bytes(),
            )
            .await
        }
    };
    let outcome = outcome_of(config, attempt, result);
    host_metrics::outcome(
        &host_metrics::metrics().platform_events,
        super::runner::outcome_name(&outcome),
    );
    match &outcome {
        DeliveryOutcome::Delivered => {
            tracing::info!(event = %event.id, kind = %event.kind, "platform event delivered")
        }
        DeliveryOutcome::Retry { error, .. } => {
            tracing::warn!(event = %event.id, kind = %event.kind, attempt, %error, "a platform event failed; it will be sent again")
        }
        DeliveryOutcome::Dead { error } => {
            tracing::warn!(event = %event.id, kind = %event.kind, attempt, %error, "a platform event failed for the last time")
        }
    }
    if let Err(e) = store.settle_platform_event(&event.id, &outcome).await {
        tracing::error!(error = %e, "cannot record a platform event's outcome");
    }
}
