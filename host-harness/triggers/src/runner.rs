//! What a server does for the subscriptions it runs: polls those whose
//! time has come, one host per subscription at a time, and sends their
//! events to their URLs, signed, with retries and then a dead letter.
//!
//! Both loops take their work from the store with a lease, so several
//! servers on one store share it: a poll or a delivery a host took is
//! nobody else's until the host finishes it or its lease runs out (a host
//! that dies hands it over then). A poll writes its new events to the
//! subscription's outbox and moves the cursor in one step; a delivery is
//! marked done once the receiver answered 2xx. A host that dies after
//! sending and before marking sends that event again later (same
//! `X-Host-Harness-Event-Id`): at least once.

use super::signature::{SIGNATURE_HEADER, sign};
use credential_store::{ClaimedDelivery, DeliveryOutcome, SubscriptionRecord};
use host_auth::connections::ConnectionManager;
use host_auth::http::HostHttp;
use host_core::error::ActionError;
use host_core::outgoing::HttpTimeouts;
use host_core::target_guard::TargetGuard;
use host_core::transport::Transport;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::Instrument;

/// How a server runs subscriptions.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This host's name in the store's leases.
    pub host: String,
    /// How long a taken poll is this host's: longer than a poll takes.
    pub poll_lease: Duration,
    /// Attempts at a delivery before it becomes a dead letter.
    pub attempts: u32,
    /// Wait before the second attempt; each next one waits twice as long,
    /// up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a receiver has to answer.
    pub delivery_timeout: Duration,
    /// How long the loops rest when there is nothing to do.
    pub idle: Duration,
    /// How long delivered events (and events kept to be fetched, and
    /// settled platform events) are kept before they are removed.
    pub event_retention: Duration,
    /// Set when the server is stopping: the loops take no new work and
    /// return once what they hold is done.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// How long a delivery this host took stays its own; another host
    /// takes it over after that if this one died.
    pub delivery_claim: Duration,
    /// Wakes this host's delivery loop when this host queues events, so
    /// that they go out at once; events another host queued are found at
    /// the loop's next look, at most `idle` later.
    pub queued: Arc<Notify>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            host: format!("host-{:016x}", rand::random::<u64>()),
            poll_lease: Duration::from_secs(180),
            attempts: 8,
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            delivery_timeout: Duration::from_secs(10),
            idle: Duration::from_millis(500),
            event_retention: Duration::from_secs(7 * 24 * 3600),
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            delivery_claim: Duration::from_secs(30),
            queued: Arc::new(Notify::new()),
        }
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl RunnerConfig {
    /// Whether the server is stopping.
    pub fn stopping(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Polls due subscriptions until the server stops.
pub async fn run_polls(manager: &ConnectionManager, config: &RunnerConfig) {
    while !config.stopping() {
        match manager
            .store()
            .claim_poll(&config.host, config.poll_lease)
            .await
        {
            Ok(Some(subscription)) => {
                let span = tracing::info_span!(
                    "poll",
                    otel.name = %format_args!("poll {}", subscription.trigger),
                    subscription = %subscription.id,
                    trigger = %subscription.trigger,
                );
                poll(manager, config, &subscription).instrument(span).await
            }
            Ok(None) => tokio::time::sleep(config.idle).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot take a poll from the store");
                tokio::time::sleep(config.idle * 4).await;
            }
        }
    }
}

/// Polls one subscription this host took, and finishes or releases it.
async fn poll(manager: &ConnectionManager, config: &RunnerConfig, s: &SubscriptionRecord) {
    let store = manager.store();
    host_metrics::metrics()
        .poll_lag_seconds
        .observe(if s.next_poll_at > 0 {
            (now() - s.next_poll_at).max(0) as f64
        } else {
            0.0
        });
    let interval = i64::from(s.interval_secs.max(1));
    let polled = match manager.connection(&s.connection_id).await {
        Ok(connection) => {
            manager
                .connector()
                .poll(
                    &connection,
                    &s.trigger,
                    &s.configuration,
                    s.cursor.as_deref(),
                )
                .await
        }
        Err(host_auth::connections::ConnectError::Store(e)) if e.is_unavailable() => {
            Err(ActionError::Unavailable {
                detail: e.to_string(),
            })
        }
        Err(e) => Err(ActionError::Unauthorized {
            reason: e.to_string(),
        }),
    };
    host_metrics::metrics()
        .polls
        .get_or_create(&host_metrics::PollLabels {
            trigger: s.trigger.clone(),
            outcome: polled
                .as_ref()
                .map_or_else(|e| e.kind(), |_| "ok")
                .to_string(),
        })
        .inc();
    let finished = match polled {
        Ok(polled) => {
            // A first poll's events are what already existed: none is queued.
            let events: Vec<(String, String)> = if s.cursor.is_none() {
                Vec::new()
            } else {
                polled
                    .events
                    .iter()
                    .map(|e| (e.id.clone(), e.data.to_string()))
                    .collect()
            };
            // The events' deliveries continue this poll's trace, on
            // whichever host sends them.
            let trace = host_telemetry::propagation::traceparent(&tracing::Span::current());
            store
                .finish_poll(
                    &s.id,
                    &config.host,
                    &events,
                    trace.as_deref(),
                    &polled.cursor,
                    s.cursor_version,
                    now() + interval,
                )
                .await
                .map(|new| {
                    tracing::info!(subscription = %s.id, new, "polled");
                    if new > 0 {
                        config.queued.notify_one();
                    }
                })
        }
        Err(error) => {
            // A spent rate limit is waited out; anything else waits a turn.
            let next = match &error {
                ActionError::RateLimited {
                    reset_at: Some(reset),
                    ..
                } => (*reset as i64).max(now() + 1),
                _ => now() + interval,
            };
            tracing::warn!(subscription = %s.id, %error, next_poll_at = next, "a poll failed");
            if matches!(error, ActionError::RateLimited { .. }) {
                // The connection's other subscriptions to this trigger read
                // the same endpoint: they wait for the reset too.
                match store.defer_polls(&s.connection_id, &s.trigger, next).await {
                    Ok(held) => {
                        tracing::info!(connection = %s.connection_id, trigger = %s.trigger, held, until = next, "rate limit spent; polls held back")
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot hold back polls"),
                }
            }
            store.release_poll(&s.id, &config.host, next).await
        }
    };
    if let Err(e) = finished {
        tracing::warn!(subscription = %s.id, error = %e, "cannot end a poll");
    }
}

/// Sends due deliveries until the server stops, each only where `targets` allows: a
/// target URL is checked again before each attempt, and its name's
/// addresses as the connection is made; no redirect is followed.
pub async fn run_deliveries(
    manager: &ConnectionManager,
    config: &RunnerConfig,
    targets: &TargetGuard,
) {
    let deliveries = Deliveries {
        http: delivery_client(targets, config.delivery_timeout),
        targets: targets.clone(),
    };
    let claim = config.delivery_claim.max(config.delivery_timeout * 2);
    let mut backlog_seen: Option<std::time::Instant> = None;
    while !config.stopping() {
        if backlog_seen.is_none_or(|at| at.elapsed() >= BACKLOG_EVERY) {
            backlog_seen = Some(std::time::Instant::now());
            if let Ok(oldest) = manager.store().oldest_pending_delivery().await {
                let age = oldest.map_or(0, |created| (now() - created).max(0));
                host_metrics::metrics()
                    .oldest_pending_delivery_seconds
                    .set(age);
            }
        }
        let claimed = manager
            .store()
            .claim_deliveries(&config.host, claim, 32)
            .await;
        match claimed {
            Ok(claimed) if !claimed.is_empty() => {
                let mut by_subscription: Vec<Vec<ClaimedDelivery>> = Vec::new();
                for delivery in claimed {
                    match by_subscription.last_mut() {
                        Some(run)
                            if run[0].delivery.subscription_id
                                == delivery.delivery.subscription_id =>
                        {
                            run.push(delivery)
                        }
                        _ => by_subscription.push(vec![delivery]),
                    }
                }
                futures_util::future::join_all(
                    by_subscription
                        .iter()
                        .map(|run| deliver_in_order(manager, config, &deliveries, run)),
                )
                .await;
            }
            Ok(_) => {
                // Rest, unless this host queues events meanwhile.
                let _ = tokio::time::timeout(config.idle, config.queued.notified()).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot take deliveries from the store");
                tokio::time::sleep(config.idle * 4).await;
            }
        }
    }
}

/// How often a server looks at the age of the oldest waiting delivery.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// How often a server removes what outlived the retention window.
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);

/// Removes, for ever, what was kept longer than the retention window:
/// delivered events, events kept to be fetched and settled platform
/// events (dead letters stay until sent again). Every server runs it; the
/// deletes are the same whoever makes them.
pub async fn run_retention(store: &credential_store::Store, config: &RunnerConfig) {
    loop {
        match store.prune_events(config.event_retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "events past the retention window removed"),
            Err(e) => tracing::warn!(error = %e, "cannot remove old events now"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// How deliveries leave: the client (its transport held to the guard) and
/// the guard itself.
struct Deliveries {
    http: HostHttp,
    targets: TargetGuard,
}

/// Sends one subscription's claimed deliveries one after the other; after
/// one that will be retried, gives the rest back so they wait for it.
async fn deliver_in_order(
    manager: &ConnectionManager,
    config: &RunnerConfig,
    deliveries: &Deliveries,
    run: &[ClaimedDelivery],
) {
    for claimed in run {
        if !deliver(manager, config, deliveries, claimed).await {
            let subscription = &claimed.delivery.subscription_id;
            if let Err(e) = manager
                .store()
                .release_deliveries(&config.host, subscription)
                .await
            {
                tracing::error!(error = %e, "cannot give deliveries back to the store");
            }
            return;
        }
    }
}

/// Sends one delivery and records how it went; false when it waits for a
/// retry, which the subscription's later events must wait for too.
async fn deliver(
    manager: &ConnectionManager,
    config: &RunnerConfig,
    deliveries: &Deliveries,
    claimed: &ClaimedDelivery,
) -> bool {
    let d = &claimed.delivery;
    let store = manager.store();
    let span = tracing::info_span!(
        "delivery",
        otel.kind = "client",
        subscription = %d.subscription_id,
        event = %d.event_id,
        attempt = d.attempts.max(1),
        outcome = tracing::field::Empty,
    );
    if let Some(trace) = &d.trace_context {
        host_telemetry::propagation::continue_from_traceparent(&span, trace);
    }
    let result = send(manager, deliveries, claimed)
        .instrument(span.clone())
        .await;
    // The claim counted this attempt, so a re-send after a host died
    // counts too.
    let attempt = d.attempts.max(1);
    let outcome = outcome_of(config, attempt, result);
    host_metrics::outcome(&host_metrics::metrics().deliveries, outcome_name(&outcome));
    span.record("outcome", outcome_name(&outcome));
    match &outcome {
        DeliveryOutcome::Delivered => {
            tracing::info!(subscription = %d.subscription_id, event = %d.event_id, "delivered")
        }
        DeliveryOutcome::Retry { error, .. } => {
            tracing::warn!(subscription = %d.subscription_id, event = %d.event_id, attempt, %error, "a delivery failed; it will be sent again")
        }
        DeliveryOutcome::Dead { error } => {
            tracing::warn!(subscription = %d.subscription_id, event = %d.event_id, attempt, %error, "a delivery failed for the last time: a dead letter")
        }
    }
    if let Err(e) = store
        .settle_delivery(&d.subscription_id, &d.event_id, &outcome)
        .await
    {
        tracing::error!(error = %e, "cannot record a delivery's outcome");
    }
    !matches!(outcome, DeliveryOutcome::Retry { .. })
}

/// How attempt number `attempt` at a delivery ended: delivered, to be
/// retried after a backoff that doubles each time, or, after the last
/// attempt, dead.
pub(crate) fn outcome_of(
    config: &RunnerConfig,
    attempt: u32,
    result: Result<(), String>,
) -> DeliveryOutcome {
    match result {
        Ok(()) => DeliveryOutcome::Delivered,
        Err(error) if attempt >= config.attempts => DeliveryOutcome::Dead { error },
        Err(error) => {
            let backoff = config
                .first_backoff
                .saturating_mul(1 << (attempt - 1).min(20))
                .min(config.max_backoff);
            DeliveryOutcome::Retry {
                at: now() + backoff.as_secs().max(1) as i64,
                error,
            }
        }
    }
}

/// An outcome's name in the metrics.
pub(crate) fn outcome_name(outcome: &DeliveryOutcome) -> &'static str {
    match outcome {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::Retry { .. } => "retry",
        DeliveryOutcome::Dead { .. } => "dead",
    }
}

/// The client deliveries leave through: its transport held to `targets`
/// (each name resolved and checked as the connection is made), no
/// redirect followed, `timeout` for every wait.
pub(crate) fn delivery_client(targets: &TargetGuard, timeout: Duration) -> HostHttp {
    HostHttp::new(
        host_core::Routes::default(),
        HttpTimeouts {
            connect: timeout,
            first_byte: timeout,
            between_bytes: timeout,
        },
    )
    .with_transport(Arc::new(Transport::for_user_urls(targets.clone())))
}

/// POSTs a signed JSON `body` to `url` with `headers`; an error says why
/// the receiver did not take it.
pub(crate) async fn post_signed(
    http: &HostHttp,
    url: &str,
    headers: &[(&str, String)],
    key: Option<&[u8]>,
    body: Vec<u8>,
) -> Result<(), String> {
    let mut request =
        http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    if let Some(key) = key {
        request = request.header(SIGNATURE_HEADER, sign(key, now(), &body));
    }
    let request = request
        .body(body)
        .map_err(|_| format!("`{url}` is not a URL"))?;
    let response = http.send(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_redirection() {
        Err(format!(
            "the receiver answered {} (a redirect, which is not followed: give the final URL)",
            status.as_u16()
        ))
    } else {
        Err(format!("the receiver answered {}", status.as_u16()))
    }
}

/// POSTs the event to its URL, signed; an error says why it did not take.
async fn send(
    manager: &ConnectionManager,
    deliveries: &Deliveries,
    claimed: &ClaimedDelivery,
) -> Result<(), String> {
    let d = &claimed.delivery;
    // A target stored before the guard, or allowed by an operator since
    // gone stricter, is refused here, before anything is sent.
    if let Err(e) = deliveries.targets.check_url(&claimed.target_url) {
        return Err(format!("the target URL {e}"));
    }
    let store = manager.store();
    let subscription = store
        .subscription(&d.subscription_id)
        .await
        .map_err(|e| e.to_string())?;
    let data: serde_json::Value = serde_json::from_str(&d.payload)
        .map_err(|e| format!("the stored event is not JSON: {e}"))?;
    let body = serde_json::json!({
        "subscription": d.subscription_id,
        "connection": subscription.connection_id,
        "trigger": subscription.trigger,
        "sequence": d.sequence,
        "id": d.event_id,
        "data": data,
    })
    .to_string()
    .into_bytes();
    let key = store
        .signing_secret(&d.subscription_id)
        .await
        .map_err(|e| e.to_string())?;
    let mut headers = vec![
        ("x-host-harness-event-id", d.event_id.clone()),
        ("x-host-harness-subscription", d.subscription_id.clone()),
        ("x-host-harness-attempt", d.attempts.max(1).to_string()),
    ];
    // The receiver may continue the trace: the delivery is its parent.
    if let Some(trace) = host_telemetry::propagation::traceparent(&tracing::Span::current()) {
        headers.push((host_telemetry::propagation::TRACEPARENT, trace));
    }
    post_signed(
        &deliveries.http,
        &claimed.target_url,
        &headers,
        key.as_ref().map(|k| k.expose_secret().as_bytes()),
        body,
    )
    .await
}
