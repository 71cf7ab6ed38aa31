//! `host-harness run ACTION --input JSON|@FILE|-`

use super::{ConnectorArgs, EXIT_ACTION_ERROR, bundled, load};
use anyhow::{Context, Result, bail};
use clap::Args;
use host_harness::manifest::AuthKind;
use host_harness::{Connection, ConnectionFacts, Origin};
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
    /// Call the real API with the bearer token held in this environment
    /// variable, instead of the local emulator. (A token on the command line
    /// would be visible to every user of the machine.)
    #[arg(long, value_name = "VAR")]
    bearer_token_env: Option<String>,
    /// Send the traffic of one of the manifest's hosts to another origin, as
    /// `HOST=ORIGIN` (e.g. `api.x.com=http://127.0.0.1:8080`). Repeatable.
    #[arg(long = "route", value_name = "HOST=ORIGIN")]
    routes: Vec<String>,
}

pub async fn run(connector_args: &ConnectorArgs, args: RunArgs) -> Result<ExitCode> {
    let input = read_input(&args.input)?;
    let mut connector = load(connector_args).await?;
    for route in &args.routes {
        let (host, origin) = route
            .split_once('=')
            .with_context(|| format!("--route `{route}` is not HOST=ORIGIN"))?;
        let origin = Origin::parse(origin).map_err(anyhow::Error::msg)?;
        connector.route(host, origin).map_err(anyhow::Error::msg)?;
    }

    // Keep the emulator alive until the action is done.
    let mut _local = None;
    let connection = match &args.bearer_token_env {
        Some(var) => {
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
            };
            Connection::bearer(facts, SecretString::from(token.trim().to_string()))
        }
        None => {
            let local = bundled::start_emulator()
                .await
                .context("cannot start the local X API emulator")?;
            eprintln!(
                "(running against the local X API emulator at {}; pass --bearer-token-env to use the real API)",
                local.emulator.base_url()
            );
            if args.routes.is_empty() {
                let origin =
                    Origin::parse(&local.emulator.base_url()).map_err(anyhow::Error::msg)?;
                connector.route_api_hosts(&origin);
            }
            let connection = Connection::bearer(local.facts.clone(), local.token.clone());
            _local = Some(local);
            connection
        }
    };

    match connector.invoke(&connection, &args.action, &input).await {
        Ok(output) => {
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{}", serde_json::to_string_pretty(&error)?);
            Ok(ExitCode::from(EXIT_ACTION_ERROR))
        }
    }
}

fn read_input(arg: &str) -> Result<String> {
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
