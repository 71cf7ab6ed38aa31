//! `host-harness run ACTION --input JSON|@FILE|-`

use super::{HostArgs, bundled};
use anyhow::{Context, Result, bail};
use clap::Args;
use host_harness::manifest::AuthKind;
use host_harness::{Connection, ConnectionFacts, Origin, RunOptions};
use secrecy::SecretString;
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The action to run, such as `post.create` (see `host-harness actions`).
    action: String,
    /// The action's input: JSON text, `@FILE` to read a file, or `-` for stdin.
    #[arg(long, short, default_value = "{}")]
    input: String,
    /// Run on this stored connection (see `host-harness connections list`).
    #[arg(long, short, value_name = "ID", conflicts_with = "bearer_token_env")]
    connection: Option<String>,
    /// Call the API with the bearer token held in this environment variable.
    /// (A token on the command line would be visible to every user of the
    /// machine.)
    #[arg(long, value_name = "VAR")]
    bearer_token_env: Option<String>,
    /// A directory the action may read files from (read-only; nothing else
    /// of this machine's files is visible to it), for `media.upload`'s
    /// `file`.
    #[arg(long, value_name = "DIR")]
    files: Option<std::path::PathBuf>,
    /// Seconds the action may take, all requests included; raise it for
    /// large uploads.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    deadline: u64,
}

pub async fn run(host: &HostArgs, args: RunArgs) -> Result<ExitCode> {
    let input = read_input(&args.input)?;
    // Keeps the local emulator alive until the action is done.
    let mut _local = None;
    let (connector, connection) = if let Some(id) = &args.connection {
        let manager = host.manager().await?;
        let connection = manager.connection(id).await?;
        (manager.connector().clone(), connection)
    } else if let Some(var) = &args.bearer_token_env {
        let token = std::env::var(var).with_context(|| {
            format!("the environment variable {var} (--bearer-token-env) is not set")
        })?;
        if token.trim().is_empty() {
            bail!("the environment variable {var} (--bearer-token-env) is empty");
        }
        let facts = ConnectionFacts {
            id: "cli".into(),
            auth_kind: AuthKind::BearerToken,
            granted_scopes: None,
            account_id: None,
            account_facts: Default::default(),
        };
        (
            host.connector().await?,
            Connection::bearer(facts, SecretString::from(token.trim().to_string())),
        )
    } else {
        let mut connector = host.connector().await?;
        let local = bundled::start_emulator()
            .await
            .context("cannot start the local X API emulator")?;
        super::notice(&format!(
            "(running against the local X API emulator at {}; pass --connection or --bearer-token-env to use the real API)",
            local.emulator.base_url()
        ));
        if host.routes.is_empty() {
            connector.route_api_hosts(
                &Origin::parse(&local.emulator.base_url()).map_err(anyhow::Error::msg)?,
            );
        }
        let connection = Connection::bearer(local.facts.clone(), local.token.clone());
        _local = Some(local);
        (connector, connection)
    };

    if let Some(dir) = &args.files
        && !dir.is_dir()
    {
        bail!("--files {}: not a directory", dir.display());
    }
    let connector = connector.with_deadline(std::time::Duration::from_secs(args.deadline));
    let bar = super::progress::Bar::new();
    let options = RunOptions {
        files: args.files.clone(),
        progress: Some(bar.sink()),
    };
    let outcome = connector
        .invoke_with(&connection, &args.action, &input, &options)
        .await;
    bar.finish();
    // The process ends with the action: freeing the connector's
    // description (every schema, as JSON trees) would only cost time.
    std::mem::forget(connector);
    match outcome {
        Ok(output) => {
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            super::print_error(&error)?;
            Ok(super::action_exit(&error))
        }
    }
}

pub(super) fn read_input(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the input from stdin")?;
        Ok(text)
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("cannot read the input file {path}"))
    } else {
        Ok(arg.to_string())
    }
}
