//! `host-harness serve`: the connection screen and workflow API in a
//! browser, on 127.0.0.1 by default.

use super::{HostArgs, bundled};
use anyhow::{Context, Result};
use clap::Args;
use host_harness::outgoing::HttpTimeouts;
use host_harness::target_guard::TargetGuard;
use host_harness::triggers::push::PushSetup;
use host_harness::triggers::runner::RunnerConfig;
use host_harness::web::{self, WebConfig};
use host_harness::{ConnectionManager, HostConfig, InstancePool};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::process::ExitCode;

/// The environment variable holding the API key (never a flag: flags show
/// in process listings): the default tenant's.
const API_KEY_VAR: &str = "HOST_HARNESS_API_KEY";

/// The environment variable holding the operator's admin key, which
/// manages tenants and their keys.
const ADMIN_KEY_VAR: &str = "HOST_HARNESS_ADMIN_KEY";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen. Beyond 127.0.0.1 the server requires an API key,
    /// read from HOST_HARNESS_API_KEY (the default tenant's), or an admin
    /// key, from HOST_HARNESS_ADMIN_KEY (which manages tenants).
    #[arg(long, default_value = "127.0.0.1:8765")]
    bind: SocketAddr,
    /// The origin browsers reach the server at, when not `http://BIND`
    /// (behind a proxy, say). The OAuth callback URL is this origin
    /// followed by /callback.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Talk to the bundled local X API emulator instead of the real API: no
    /// credentials, no network. Connections are kept in a fresh directory
    /// unless --data-dir is given.
    #[arg(long)]
    emulator: bool,
    /// Actions that may run at once; more wait for one to finish. Their
    /// instances come from a pool of this many slots made at start, which
    /// is faster per action than mapping memory for each.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_concurrent_actions: u32,
    /// Attempts at delivering a trigger event to its URL before it becomes
    /// a dead letter.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    delivery_attempts: u32,
    /// Seconds before the second attempt at a failed delivery; each next
    /// attempt waits twice as long, up to an hour.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    delivery_backoff_secs: u64,
    /// Days a delivered event (or one kept to be fetched, or a settled
    /// platform event) is kept before it is removed; dead letters stay
    /// until sent again.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=3650))]
    event_retention_days: u64,
    /// Seconds a stopping server keeps answering, not ready, before it
    /// stops taking connections: time for a load balancer to see it.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=300))]
    shutdown_delay_secs: u64,
    /// Seconds a stopping server lets requests, polls and deliveries in
    /// flight finish before it ends them.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace_secs: u64,
    /// Seconds a delivery this server took stays its own; another server
    /// sends it after that if this one died.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=3600))]
    delivery_claim_secs: u64,
    /// Seconds a poll this server took stays its own; another server takes
    /// it over after that if this one died.
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    poll_lease_secs: u64,
    /// Receive pushed trigger events: the id of an app-level connection
    /// (for X, App-only with the API Key and Secret) that registers this
    /// server's webhook at <public URL>/webhooks/<ID>; its secret keys the
    /// API's challenges and signatures. Needs --public-url, reachable by
    /// the API. Pushable triggers are then pushed, the rest polled.
    #[arg(long, value_name = "ID", env = "HOST_HARNESS_PUSH_CONNECTION")]
    push_connection: Option<String>,
    /// A private range (CIDR, such as 10.20.0.0/16 or 127.0.0.1/32) that
    /// subscriptions' target URLs may reach; repeat for more. Without it
    /// they reach public addresses only: not loopback, private networks,
    /// link-local (cloud metadata) or other special ranges. --emulator
    /// allows loopback.
    #[arg(
        long,
        value_name = "CIDR",
        env = "HOST_HARNESS_ALLOW_PRIVATE_TARGETS",
        value_delimiter = ',',
        value_parser = parse_range
    )]
    allow_private_targets: Vec<ipnet::IpNet>,
}

/// A range as CIDR, or a single address.
fn parse_range(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is not a range such as 10.0.0.0/8 or an address"))
}

/// The ranges a loopback demo delivers within.
fn loopback_ranges() -> [ipnet::IpNet; 2] {
    [
        "127.0.0.0/8".parse().expect("a valid range"),
        "::1/128".parse().expect("a valid range"),
    ]
}

pub async fn run(host: &HostArgs, args: ServeArgs) -> Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let bound = listener.local_addr()?;
    let public_origin = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
        .trim_end_matches('/')
        .to_string();
    let key_of = |var: &str| {
        std::env::var(var)
            .ok()
            .filter(|k| !k.trim().is_empty())
            .map(SecretString::from)
    };
    let (api_key, admin_key) = (key_of(API_KEY_VAR), key_of(ADMIN_KEY_VAR));
    if let (Some(api), Some(admin)) = (&api_key, &admin_key)
        && secrecy::ExposeSecret::expose_secret(api) == secrecy::ExposeSecret::expose_secret(admin)
    {
        anyhow::bail!(
            "{API_KEY_VAR} and {ADMIN_KEY_VAR} must differ: one acts for the default tenant, the other manages tenants"
        );
    }
    if args.push_connection.is_some() && args.public_url.is_none() && !args.emulator {
        anyhow::bail!(
            "--push-connection needs --public-url: the address where the API reaches this server's webhook"
        );
    }
    let push = args
        .push_connection
        .as_deref()
        .map(|id| PushSetup::new(id, &public_origin));
    let mut allowed = args.allow_private_targets.clone();
    if args.emulator {
        allowed.extend(loopback_ranges());
    }
    if !allowed.is_empty() {
        let shown: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        tracing::info!(ranges = %shown.join(", "), "target URLs may reach these private ranges");
    }
    let mut config = WebConfig {
        targets: TargetGuard::allowing(allowed),
        push,
        public_origin,
        api_key,
        admin_key,
        notice: None,
        shutdown: web::ShutdownTerms {
            delay: std::time::Duration::from_secs(args.shutdown_delay_secs),
            grace: std::time::Duration::from_secs(args.shutdown_grace_secs),
        },
        triggers: Some(RunnerConfig {
            attempts: args.delivery_attempts,
            first_backoff: std::time::Duration::from_secs(args.delivery_backoff_secs),
            poll_lease: std::time::Duration::from_secs(args.poll_lease_secs),
            event_retention: std::time::Duration::from_secs(args.event_retention_days * 24 * 3600),
            delivery_claim: std::time::Duration::from_secs(args.delivery_claim_secs),
            ..RunnerConfig::default()
        }),
    };

    // With the emulator, connections live in a directory of their own:
    // tokens of an emulator that is gone mean nothing, and its app
    // credentials must not become a shared store's defaults.
    if args.emulator && host.database_url.is_some() {
        anyhow::bail!(
            "--emulator keeps its throwaway connections apart and cannot use --database-url (or HOST_HARNESS_DATABASE_URL); leave one of them out"
        );
    }
    let scratch;
    let host = if args.emulator && host.data_dir.is_none() {
        scratch = tempfile::tempdir().context("cannot create a directory for the connections")?;
        &HostArgs {
            data_dir: Some(scratch.path().to_path_buf()),
            ..host.clone()
        }
    } else {
        host
    };
    let store = host.open_store().await?;
    let mut connector = host
        .connector_with(HostConfig {
            instance_pool: Some(InstancePool {
                max_concurrent_actions: args.max_concurrent_actions,
            }),
            ..HostConfig::default()
        })
        .await?;
    let mut routes = host.routes()?;
    let _emulator = if args.emulator {
        let (emulator, emulator_routes) =
            bundled::start_for_serve(&store, connector.manifest(), &config.callback_url())
                .await
                .context("cannot start the local X API emulator")?;
        routes = emulator_routes;
        connector.set_routes(routes.clone());
        config.notice = Some(format!(
            "Local X API emulator at {}: no credentials, no network. App credentials are preset, so Client ID and Secret may be left blank; sign in as any of its accounts.",
            emulator.base_url()
        ));
        Some(emulator)
    } else {
        None
    };
    let manager = ConnectionManager::new(store, connector, routes, HttpTimeouts::default());

    super::notice(&format!(
        "Serving on http://{bound} — open it in a browser. Ctrl-C stops."
    ));
    super::notice(&format!(
        "OAuth callback URL to register in the developer portal: {}",
        config.callback_url()
    ));
    if let Some(proxy) = host_harness::proxy::process_proxy() {
        super::notice(&format!(
            "Outgoing requests go through the proxy {} (except those NO_PROXY names).",
            proxy.describe()
        ));
    }
    if let Some(endpoint) = super::TRACES_EXPORTED_TO.get() {
        super::notice(&format!("Spans are exported over OTLP to {endpoint}."));
    }
    web::serve(listener, manager, config, stop_signal())
        .await
        .with_context(|| {
            format!("--bind {bound} (the API keys are read from {API_KEY_VAR} and {ADMIN_KEY_VAR})")
        })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C (SIGINT) or, as an orchestrator sends it, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
