//! The command line: argument parsing, logging, and the commands.

mod actions;
mod app_credentials;
mod bundled;
mod connect;
mod connections;
mod demo;
mod fields;
mod mcp;
mod progress;
mod run;
mod serve;
mod store;
mod watch;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use credential_store::{KeyError, Keyring, MasterKey, Store, StoreError, StoreLocation};
use host_harness::outgoing::HttpTimeouts;
use host_harness::transport::Transport;
use host_harness::{
    CompileCache, ConnectionManager, HostConfig, LoadedConnector, Manifest, Routes, Runtime,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The action, or the connection operation, failed; details are on stderr.
pub const EXIT_ACTION_ERROR: u8 = 1;
/// The host could not start, load the connector or open the store.
pub const EXIT_HOST_ERROR: u8 = 3;
/// The credential store (or a service the action needs) cannot be reached
/// now; the same command may work later. 75 is sysexits' EX_TEMPFAIL, which
/// schedulers and mail systems already read as "retry".
pub const EXIT_UNAVAILABLE: u8 = 75;

/// The environment variable that may hold the store's master key (base64 of 32 bytes).
const MASTER_KEY_VAR: &str = "HOST_HARNESS_MASTER_KEY";
/// The environment variable that may hold several master keys, the first
/// sealing new secrets and every one opening what it sealed.
const MASTER_KEYS_VAR: &str = "HOST_HARNESS_MASTER_KEYS";

/// Runs connector actions on a wasmtime host, and manages the connections
/// they run on.
///
/// Without options it runs the bundled X connector against the bundled local
/// X API emulator: no credentials, no network.
#[derive(Debug, Parser)]
#[command(name = "host-harness", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    host: HostArgs,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// More logging: -v info, -vv debug, -vvv trace. `HOST_HARNESS_LOG`
    /// (a tracing filter such as `host_harness=debug`) overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Where the host finds its connector, its connections and the API.
#[derive(Debug, Clone, Args)]
struct HostArgs {
    #[command(flatten)]
    connector: ConnectorArgs,
    /// Where connections are kept: the credential store and its key file.
    /// Default: `$XDG_DATA_HOME/host-harness`, or `~/.local/share/host-harness`.
    #[arg(long, global = true, env = "HOST_HARNESS_HOME", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database to keep connections in, shared by every host
    /// given the same URL (and the same master key), on this machine or
    /// others: `postgres://USER@HOST:PORT/DATABASE`; add
    /// `?options=-c%20search_path%3DSCHEMA` to use a schema of its own.
    /// Without it, connections are kept in a SQLite file in the data
    /// directory.
    #[arg(
        long,
        global = true,
        env = "HOST_HARNESS_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// Send one host's traffic (the component's and the host's own) to
    /// another origin, as `HOST=ORIGIN`, e.g. `api.x.com=http://127.0.0.1:8080`.
    /// Repeatable; `HOST_HARNESS_ROUTES` takes a comma-separated list.
    #[arg(
        long = "route",
        global = true,
        value_name = "HOST=ORIGIN",
        env = "HOST_HARNESS_ROUTES",
        value_delimiter = ','
    )]
    routes: Vec<String>,
    /// A PEM file of CA certificates to trust beside the platform's, for
    /// the component's requests and the host's own: a test CA, or a
    /// corporate proxy's.
    #[arg(long, global = true, env = "HOST_HARNESS_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Send every outgoing request (the component's and the host's own)
    /// through this forward proxy, `http://[USER:PASSWORD@]HOST:PORT`,
    /// instead of the one `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` names.
    /// `https` goes through a CONNECT tunnel, TLS end to end.
    #[arg(
        long,
        global = true,
        env = "HOST_HARNESS_PROXY",
        hide_env_values = true,
        value_name = "URL"
    )]
    proxy: Option<String>,
    /// With `--proxy`: the hosts reached without it, as `NO_PROXY` lists
    /// them (names, which cover their subdomains; addresses; CIDR ranges).
    #[arg(
        long,
        global = true,
        env = "HOST_HARNESS_NO_PROXY",
        value_name = "HOSTS",
        requires = "proxy"
    )]
    no_proxy: Option<String>,
}

impl HostArgs {
    fn routes(&self) -> Result<Routes> {
        let mut routes = Routes::default();
        for spec in self.routes.iter().filter(|s| !s.trim().is_empty()) {
            let (host, origin) = Routes::parse_one(spec)
                .map_err(anyhow::Error::msg)
                .context("--route")?;
            routes.add(&host, origin);
        }
        Ok(routes)
    }

    fn data_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share"))
            })
            .context("no --data-dir, and neither XDG_DATA_HOME nor HOME is set")?;
        Ok(base.join("host-harness"))
    }

    /// Where the credential store is: `--database-url`, or the SQLite file
    /// in the data directory.
    fn store_location(&self) -> Result<StoreLocation> {
        match &self.database_url {
            Some(url) => StoreLocation::from_database_url(url).context("--database-url"),
            None => Ok(StoreLocation::Sqlite(
                self.data_dir()?.join("connections.db"),
            )),
        }
    }

    /// Opens the credential store. Its keys come from
    /// `HOST_HARNESS_MASTER_KEYS` (several, the first active),
    /// `HOST_HARNESS_MASTER_KEY` (one), or the key file in the data
    /// directory (one key per line, the first active), created (0600) with
    /// a new store only: a new key is never made for a store that exists,
    /// even one that cannot be read.
    async fn open_store(&self) -> Result<Arc<Store>> {
        let location = self.store_location()?;
        let key_file = self.data_dir()?.join("master.key");
        let keys = match keyring_from_env()? {
            Some(keys) => keys,
            None => match Keyring::read_file(&key_file)? {
                Some(keys) => keys,
                None if Store::exists(&location)
                    .await
                    .with_context(|| format!("cannot reach the credential store {location}"))? =>
                {
                    bail!(
                        "no master key for the credential store {location}: set {MASTER_KEY_VAR} (every host sharing a store needs the key it was created with) or restore {}; nothing was changed",
                        key_file.display()
                    )
                }
                None => Keyring::single(create_key_file(&key_file)?),
            },
        };
        Ok(Arc::new(Store::open_with_keys(&location, &keys).await?))
    }

    /// The connector, with the routes applied to its traffic.
    async fn connector(&self) -> Result<LoadedConnector> {
        self.connector_with(HostConfig::default()).await
    }

    /// The connector on a runtime set up by `config`, with the routes
    /// applied to its traffic.
    async fn connector_with(&self, mut config: HostConfig) -> Result<LoadedConnector> {
        if let Some(path) = &self.ca_cert {
            config.transport = Arc::new(Transport::with_ca_file(path).context("--ca-cert")?);
        }
        let mut connector = load(&self.connector, config).await?;
        let routes = self.routes()?;
        if !routes.is_empty() {
            connector.set_routes(routes);
        }
        Ok(connector)
    }

    /// The connection manager over the store and the connector.
    async fn manager(&self) -> Result<ConnectionManager> {
        let store = self.open_store().await?;
        let connector = self.connector().await?;
        Ok(ConnectionManager::new(
            store,
            connector,
            self.routes()?,
            HttpTimeouts::default(),
        ))
    }
}

/// Which connector to load.
#[derive(Debug, Clone, Args)]
struct ConnectorArgs {
    /// A connector component (.wasm) instead of the bundled X connector.
    #[arg(long, global = true, requires = "manifest")]
    component: Option<PathBuf>,
    /// The manifest of `--component`.
    #[arg(long, global = true, requires = "component")]
    manifest: Option<PathBuf>,
    /// Where compiled components are kept, so that a run after the first
    /// does not compile again. Default: `$XDG_CACHE_HOME/host-harness/compiled`,
    /// or `~/.cache/host-harness/compiled`.
    #[arg(
        long,
        global = true,
        env = "HOST_HARNESS_CACHE_DIR",
        value_name = "DIR"
    )]
    cache_dir: Option<PathBuf>,
    /// Compile the component on every run, without the cache.
    #[arg(long, global = true)]
    no_compile_cache: bool,
}

impl ConnectorArgs {
    /// The compile cache to use, if any: none when asked for none, or when
    /// no directory can be named.
    fn compile_cache(&self) -> Option<CompileCache> {
        if self.no_compile_cache {
            return None;
        }
        let dir = self.cache_dir.clone().or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|base| base.join("host-harness").join("compiled"))
        })?;
        Some(CompileCache::new(dir))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the connector's actions and triggers: ids, titles, scopes and
    /// input or configuration fields.
    Actions(actions::ActionsArgs),
    /// Run one action and print its output as JSON.
    Run(run::RunArgs),
    /// Watch a trigger on a connection: one JSON line per new event, the
    /// place kept in the store so that a restart goes on where it stopped.
    Watch(watch::WatchArgs),
    /// Run a short workflow against the local X API emulator.
    Demo,
    /// Create a connection: fill the connection form and sign in.
    Connect(connect::ConnectArgs),
    /// List, show, test, revoke and delete connections.
    #[command(subcommand)]
    Connections(connections::ConnectionsCommand),
    /// Serve the connection form, the connections and an action runner as
    /// web pages, and a JSON API for workflow engines.
    Serve(serve::ServeArgs),
    /// Serve the connector's actions as MCP tools on stdin and stdout, for
    /// an AI agent's desktop client, on one stored connection.
    Mcp(mcp::McpArgs),
    /// Set app credentials (Client ID and Secret, API Key and Secret) once,
    /// for everyone or for a brand; connections use them when their own
    /// fields are blank.
    #[command(subcommand)]
    AppCredentials(app_credentials::AppCredentialsCommand),
    /// Look after the credential store: which master keys seal its secrets,
    /// and re-sealing them all under a new key.
    #[command(subcommand)]
    Store(store::StoreCommand),
}

/// Whether stderr carries JSON log lines (`--log-format json`).
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tells the person at the terminal something (where the server listens,
/// which API a run talks to): a plain line, or under `--log-format json` an
/// event of the `notice` target, so that every line a machine reads is JSON.
pub fn notice(text: &str) {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::info!(target: "notice", "{text}");
    } else {
        eprintln!("{text}");
    }
}

/// Prints an action's typed error on stderr: indented for people, or on one
/// line under `--log-format json`.
pub fn print_error(error: &host_harness::ActionError) -> Result<()> {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{}", serde_json::to_string(error)?);
    } else {
        eprintln!("{}", serde_json::to_string_pretty(error)?);
    }
    Ok(())
}

/// Where spans are exported, when they are, for `serve` to say on start.
pub static TRACES_EXPORTED_TO: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets up the log on stderr and, when the environment configures an OTLP
/// endpoint, the export of spans; the export is returned to be shut down
/// (its last spans sent) before the process exits. Called within the
/// runtime, which the export reaches its collector on.
pub fn init_tracing(cli: &Cli) -> Result<Option<host_harness::telemetry::TraceExport>> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // At the most verbose, everything traces but the code generator, whose
    // millions of lines per compiled component would bury the host's own.
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => {
            "trace,cranelift_codegen=info,cranelift_frontend=info,wasmtime_internal_cranelift=info,regalloc2=info"
        }
    };
    // Notices show at every verbosity.
    let filter = EnvFilter::try_from_env("HOST_HARNESS_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},notice=info")));
    let log = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let log = match cli.log_format {
        LogFormat::Text => log.boxed(),
        LogFormat::Json => {
            JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
            log.json().boxed()
        }
    };
    let export = host_harness::telemetry::TraceExport::from_env()?;
    // Spans are exported at info, whatever the log shows: the host's own
    // spans are all at info, and its libraries' (HTTP/2 frames, the
    // compiler) are below.
    let spans = export.as_ref().map(|e| {
        e.layer()
            .with_filter(Targets::new().with_default(LevelFilter::INFO))
    });
    tracing_subscriber::registry()
        .with(spans)
        .with(log.with_filter(filter))
        .init();
    if let Some(export) = &export {
        let _ = TRACES_EXPORTED_TO.set(export.endpoint());
    }
    Ok(export)
}

pub async fn run(cli: Cli) -> ExitCode {
    if let Some(url) = &cli.host.proxy {
        match host_harness::proxy::ProxyPolicy::new(url, cli.host.no_proxy.as_deref().unwrap_or(""))
        {
            Ok(policy) => host_harness::proxy::set_process_proxy(Some(policy)),
            Err(e) => {
                eprintln!("error: --proxy: {e}");
                return ExitCode::from(EXIT_HOST_ERROR);
            }
        }
    }
    let outcome = match cli.command {
        Command::Actions(args) => actions::run(&cli.host, args).await,
        Command::Run(args) => run::run(&cli.host, args).await,
        Command::Watch(args) => watch::run(&cli.host, args).await,
        Command::Demo => demo::run(&cli.host).await,
        Command::Connect(args) => connect::run(&cli.host, args).await,
        Command::Connections(command) => connections::run(&cli.host, command).await,
        Command::AppCredentials(command) => app_credentials::run(&cli.host, command).await,
        Command::Serve(args) => serve::run(&cli.host, args).await,
        Command::Mcp(args) => mcp::run(&cli.host, args).await,
        Command::Store(command) => store::run(&cli.host, command).await,
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
                tracing::error!(target: "notice", "{e:#}");
            } else {
                eprintln!("error: {e:#}");
            }
            if store_unavailable(&e) {
                ExitCode::from(EXIT_UNAVAILABLE)
            } else {
                ExitCode::from(EXIT_HOST_ERROR)
            }
        }
    }
}

/// The master keys the environment gives, if any.
fn keyring_from_env() -> Result<Option<Keyring>> {
    let several = std::env::var(MASTER_KEYS_VAR).ok();
    let one = std::env::var(MASTER_KEY_VAR).ok();
    Ok(match (several, one) {
        (Some(_), Some(_)) => bail!(
            "both {MASTER_KEYS_VAR} and {MASTER_KEY_VAR} are set; set one (list every key in {MASTER_KEYS_VAR}, the active one first)"
        ),
        (Some(text), None) => Some(Keyring::from_text(&text, MASTER_KEYS_VAR)?),
        (None, Some(text)) => Some(Keyring::single(MasterKey::from_base64(
            &text,
            MASTER_KEY_VAR,
        )?)),
        (None, None) => None,
    })
}

/// The exit status of a failed action: the store or a service out of reach
/// for now is said apart from a refusal.
pub fn action_exit(error: &host_harness::ActionError) -> ExitCode {
    match error {
        host_harness::ActionError::Unavailable { .. } => ExitCode::from(EXIT_UNAVAILABLE),
        _ => ExitCode::from(EXIT_ACTION_ERROR),
    }
}

/// Whether a command failed because the store could not be reached.
fn store_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_unavailable)
    })
}

/// A new key file; if another host created it first, that one.
fn create_key_file(path: &std::path::Path) -> Result<MasterKey> {
    match MasterKey::create_file(path) {
        Ok(key) => Ok(key),
        Err(KeyError::Create { error, .. })
            if error.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            MasterKey::read_file(path)?
                .with_context(|| format!("the master key file {} vanished", path.display()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Loads the connector the arguments name, or the bundled one.
async fn load(args: &ConnectorArgs, config: HostConfig) -> Result<LoadedConnector> {
    let mut runtime = Runtime::new(config).context("cannot start the WebAssembly runtime")?;
    if let Some(cache) = args.compile_cache() {
        runtime = runtime.with_compile_cache(cache);
    }
    let (component, manifest) = match (&args.component, &args.manifest) {
        (Some(component), Some(manifest)) => {
            let bytes = std::fs::read(component)
                .with_context(|| format!("cannot read the component {}", component.display()))?;
            let manifest = Manifest::from_file(manifest)?;
            (bytes, manifest)
        }
        _ => (
            bundled::component().to_vec(),
            // The tests hold the bundled manifest to the schema.
            Manifest::from_checked_json(bundled::MANIFEST)
                .context("the bundled manifest is invalid")?,
        ),
    };
    let id = manifest.id.clone();
    runtime
        .load(&component, manifest)
        .await
        .with_context(|| format!("cannot load the `{id}` connector"))
}
