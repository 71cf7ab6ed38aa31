//! What an operator watches: the host's metrics, in the Prometheus text
//! format, counted where the work is done (actions in the runtime, token
//! refreshes in the token manager, polls and deliveries in the trigger
//! runner, API requests in the server) into one registry per process.
//!
//! Label values are bounded: action and trigger ids come from the
//! manifest, outcomes are error kinds, routes are templates (never a
//! path with ids), tenants are the operator's own customers. No label or
//! value carries a secret.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::time::Duration;

/// An action's run: which, how it ended, for which tenant.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
    /// `ok`, or the error's kind (`rate-limited`, `unauthorized`…).
    pub outcome: String,
    /// The tenant's id, or `default`.
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLatencyLabels {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PollLabels {
    pub trigger: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route's template, such as `/api/v1/connections/{id}`.
    pub route: String,
    pub status: String,
}

/// A request an action sent to an API host the manifest lists.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutgoingLabels {
    /// The API host as the component named it (`api.x.com`), never where a
    /// route sent it.
    pub host: String,
    /// The answer's status code, or `failed` when none came.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutgoingHostLabels {
    pub host: String,
}

/// The store's backend: `sqlite` or `postgres`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    pub backend: String,
}

/// A failure of the store's database.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreErrorLabels {
    pub backend: String,
    /// `unavailable` (unreachable, busy, shutting down) or `database`
    /// (anything else the database refused).
    pub kind: String,
}

/// Every metric the host keeps.
pub struct Metrics {
    registry: Registry,
    pub actions: Family<ActionLabels, Counter>,
    pub action_seconds: Family<ActionLatencyLabels, Histogram>,
    pub action_slot_wait_seconds: Histogram,
    pub token_refreshes: Family<OutcomeLabels, Counter>,
    pub polls: Family<PollLabels, Counter>,
    pub poll_lag_seconds: Histogram,
    pub deliveries: Family<OutcomeLabels, Counter>,
    pub platform_events: Family<OutcomeLabels, Counter>,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_request_seconds: Histogram,
    pub outgoing_requests: Family<OutgoingLabels, Counter>,
    pub outgoing_request_seconds: Family<OutgoingHostLabels, Histogram>,
    pub outgoing_refused: Counter,
    pub store_unavailable: Counter,
    pub store_operation_seconds: Family<StoreLabels, Histogram>,
    pub store_errors: Family<StoreErrorLabels, Counter>,
    pub ready: Gauge,
    pub refresh_lease_wait_seconds: Histogram,
    pub oldest_pending_delivery_seconds: Gauge,
}

fn latency() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("host_harness");
        let metrics = Metrics {
            actions: Family::default(),
            action_seconds: Family::new_with_constructor(latency),
            action_slot_wait_seconds: latency(),
            token_refreshes: Family::default(),
            polls: Family::default(),
            poll_lag_seconds: Histogram::new(exponential_buckets(0.1, 2.0, 14)),
            deliveries: Family::default(),
            platform_events: Family::default(),
            http_requests: Family::default(),
            http_request_seconds: latency(),
            outgoing_requests: Family::default(),
            outgoing_request_seconds: Family::new_with_constructor(latency),
            outgoing_refused: Counter::default(),
            store_unavailable: Counter::default(),
            store_operation_seconds: Family::new_with_constructor(latency),
            store_errors: Family::default(),
            ready: Gauge::default(),
            refresh_lease_wait_seconds: latency(),
            oldest_pending_delivery_seconds: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "actions",
            "Actions run, by action, outcome (ok or the error's kind) and tenant",
            metrics.actions.clone(),
        );
        registry.register(
            "action_duration_seconds",
            "How long actions took, waiting for a slot included",
            metrics.action_seconds.clone(),
        );
        registry.register(
            "action_slot_wait_seconds",
            "How long actions waited for a free instance slot",
            metrics.action_slot_wait_seconds.clone(),
        );
        registry.register(
            "token_refreshes",
            "Access-token renewals, by outcome",
            metrics.token_refreshes.clone(),
        );
        registry.register(
            "polls",
            "Trigger polls, by trigger and outcome",
            metrics.polls.clone(),
        );
        registry.register(
            "poll_lag_seconds",
            "How late polls started after they were due",
            metrics.poll_lag_seconds.clone(),
        );
        registry.register(
            "deliveries",
            "Attempts at delivering trigger events, by outcome (delivered, retry, dead)",
            metrics.deliveries.clone(),
        );
        registry.register(
            "platform_events",
            "Attempts at sending platform events to tenants' webhooks, by outcome",
            metrics.platform_events.clone(),
        );
        registry.register(
            "http_requests",
            "Requests the server answered, by method, route template and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "How long the server took to answer",
            metrics.http_request_seconds.clone(),
        );
        registry.register(
            "outgoing_requests",
            "Requests actions and triggers sent to the manifest's API hosts, by host and status (`failed` when no answer came)",
            metrics.outgoing_requests.clone(),
        );
        registry.register(
            "outgoing_request_duration_seconds",
            "How long the API hosts took to answer a request's head, by host",
            metrics.outgoing_request_seconds.clone(),
        );
        registry.register(
            "outgoing_refused",
            "Requests refused before leaving because their host is outside the manifest's egress list",
            metrics.outgoing_refused.clone(),
        );
        registry.register(
            "store_unavailable",
            "Requests answered 503 because the store could not be reached",
            metrics.store_unavailable.clone(),
        );
        registry.register(
            "store_operation_duration_seconds",
            "How long store operations took, by backend (a connection's wait in the pool included)",
            metrics.store_operation_seconds.clone(),
        );
        registry.register(
            "store_errors",
            "Store operations the database failed, by backend and kind (unavailable or database)",
            metrics.store_errors.clone(),
        );
        registry.register(
            "ready",
            "1 when the last readiness check passed",
            metrics.ready.clone(),
        );
        registry.register(
            "refresh_lease_wait_seconds",
            "How long a token renewal waited for the connection's refresh lease (held by another task or host)",
            metrics.refresh_lease_wait_seconds.clone(),
        );
        registry.register(
            "oldest_pending_delivery_age_seconds",
            "Age of the oldest trigger event waiting to be delivered to an endpoint, in the whole store (0 when none waits)",
            metrics.oldest_pending_delivery_seconds.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The text exposition (OpenMetrics, which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts one action's run.
pub fn action(action: &str, outcome: &str, tenant: Option<&str>, took: Duration) {
    let m = metrics();
    m.actions
        .get_or_create(&ActionLabels {
            action: action.to_string(),
            outcome: outcome.to_string(),
            tenant: tenant.unwrap_or("default").to_string(),
        })
        .inc();
    m.action_seconds
        .get_or_create(&ActionLatencyLabels {
            action: action.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// Counts one outcome in a family keyed by outcome only.
pub fn outcome(family: &Family<OutcomeLabels, Counter>, outcome: &str) {
    family
        .get_or_create(&OutcomeLabels {
            outcome: outcome.to_string(),
        })
        .inc();
}

/// Times one store operation.
pub fn store_operation(backend: &str, took: Duration) {
    metrics()
        .store_operation_seconds
        .get_or_create(&StoreLabels {
            backend: backend.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// Counts one request to an API host and times its answer's head;
/// `status` is `None` when no answer came.
pub fn outgoing_request(host: &str, status: Option<u16>, took: Duration) {
    let m = metrics();
    m.outgoing_requests
        .get_or_create(&OutgoingLabels {
            host: host.to_string(),
            status: status.map_or_else(|| "failed".to_string(), |s| s.to_string()),
        })
        .inc();
    m.outgoing_request_seconds
        .get_or_create(&OutgoingHostLabels {
            host: host.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// Counts one failure of the store's database.
pub fn store_error(backend: &str, unavailable: bool) {
    metrics()
        .store_errors
        .get_or_create(&StoreErrorLabels {
            backend: backend.to_string(),
            kind: if unavailable {
                "unavailable"
            } else {
                "database"
            }
            .to_string(),
        })
        .inc();
}

/// The media type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_actions_show_in_the_exposition_with_their_labels() {
        action("users.me", "ok", None, Duration::from_millis(12));
        action(
            "post.create",
            "rate-limited",
            Some("ten_acme"),
            Duration::from_millis(3),
        );
        let text = metrics().encode();
        assert!(
            text.contains(
                r#"host_harness_actions_total{action="users.me",outcome="ok",tenant="default"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"host_harness_actions_total{action="post.create",outcome="rate-limited",tenant="ten_acme"} 1"#
        ));
        assert!(text.contains("host_harness_action_duration_seconds_bucket"));
        assert!(text.ends_with("# EOF\n"));
    }
}
