//! The command line: argument parsing, logging, and the commands.

mod actions;
mod bundled;
mod demo;
mod run;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use host_harness::{HostConfig, LoadedConnector, Manifest, Runtime};
use std::path::PathBuf;
use std::process::ExitCode;

/// The action failed; its typed error is on stderr as JSON.
pub const EXIT_ACTION_ERROR: u8 = 1;
/// The host could not start or load the connector.
pub const EXIT_HOST_ERROR: u8 = 3;

/// Runs connector actions on a wasmtime host.
///
/// Without options it runs the bundled X connector against the bundled local
/// X API emulator: no credentials, no network.
#[derive(Debug, Parser)]
#[command(name = "host-harness", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    connector: ConnectorArgs,
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

/// Which connector to load.
#[derive(Debug, Args)]
struct ConnectorArgs {
    /// A connector component (.wasm) instead of the bundled X connector.
    #[arg(long, global = true, requires = "manifest")]
    component: Option<PathBuf>,
    /// The manifest of `--component`.
    #[arg(long, global = true, requires = "component")]
    manifest: Option<PathBuf>,
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
    /// List the connector's actions: ids, titles, scopes and input fields.
    Actions(actions::ActionsArgs),
    /// Run one action and print its output as JSON.
    Run(run::RunArgs),
    /// Run a short workflow against the local X API emulator.
    Demo,
}

pub fn init_tracing(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("HOST_HARNESS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Actions(args) => actions::run(&cli.connector, args).await,
        Command::Run(args) => run::run(&cli.connector, args).await,
        Command::Demo => demo::run(&cli.connector).await,
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_HOST_ERROR)
        }
    }
}

/// Loads the connector the arguments name, or the bundled one.
async fn load(args: &ConnectorArgs) -> Result<LoadedConnector> {
    let runtime =
        Runtime::new(HostConfig::default()).context("cannot start the WebAssembly runtime")?;
    let (component, manifest) = match (&args.component, &args.manifest) {
        (Some(component), Some(manifest)) => {
            let bytes = std::fs::read(component)
                .with_context(|| format!("cannot read the component {}", component.display()))?;
            let manifest = Manifest::from_file(manifest)?;
            (bytes, manifest)
        }
        _ => (
            bundled::component().to_vec(),
            Manifest::from_json(bundled::MANIFEST).context("the bundled manifest is invalid")?,
        ),
    };
    let id = manifest.id.clone();
    runtime
        .load(&component, manifest)
        .await
        .with_context(|| format!("cannot load the `{id}` connector"))
}
