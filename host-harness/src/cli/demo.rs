//! `host-harness demo`: the README's first command. Starts the local X API
//! emulator, connects its demo account, and runs the bundled workflow
//! through the component, printing each step.

use super::{EXIT_ACTION_ERROR, HostArgs, bundled, load};
use anyhow::{Context, Result};
use host_harness::workflow::{Outputs, Workflow};
use host_harness::{Connection, HostConfig, Origin};
use std::process::ExitCode;
use std::time::Instant;

/// Lines of each step's output shown before eliding the rest.
const MAX_OUTPUT_LINES: usize = 24;

pub async fn run(host: &HostArgs) -> Result<ExitCode> {
    let workflow: Workflow =
        serde_json::from_str(bundled::DEMO).context("the bundled demo workflow is invalid")?;
    let mut connector = load(&host.connector, HostConfig::default()).await?;
    let local = bundled::start_emulator()
        .await
        .context("cannot start the local X API emulator")?;
    let origin = Origin::parse(&local.emulator.base_url()).map_err(anyhow::Error::msg)?;
    connector.route_api_hosts(&origin);
    let connection = Connection::bearer(local.facts.clone(), local.token.clone());

    println!("{}", connector.manifest().display_name);
    println!("{}", workflow.title);
    println!(
        "Against the local X API emulator at {origin}: no credentials, no network.\n\
         The component calls https://{}; the host routes those requests to the emulator.\n",
        connector
            .manifest()
            .api
            .base_url
            .trim_start_matches("https://")
    );

    let mut outputs = Outputs::default();
    let total = workflow.steps.len();
    for (n, step) in workflow.steps.iter().enumerate() {
        let input = outputs.resolve(&step.input).map_err(anyhow::Error::msg)?;
        println!("[{}/{total}] {} — {}", n + 1, step.title, step.action);
        println!("  input:  {input}");
        let started = Instant::now();
        match connector
            .invoke(&connection, &step.action, &input.to_string())
            .await
        {
            Ok(output) => {
                let elapsed = started.elapsed();
                outputs.record(&step.id, output.clone());
                if let Some(show) = &step.show {
                    let line = outputs.render(show).unwrap_or_else(|e| format!("({e})"));
                    println!("  result: {line}  ({} ms)", elapsed.as_millis());
                }
                println!("  output:");
                print_indented(&output);
                println!();
            }
            Err(error) => {
                println!("  failed: {error}");
                super::print_error(&error)?;
                return Ok(ExitCode::from(EXIT_ACTION_ERROR));
            }
        }
    }
    println!("All {total} steps succeeded.\n");
    match trigger(&connector, &connection, &local.emulator).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            println!("  failed: {error}");
            super::print_error(&error)?;
            Ok(ExitCode::from(EXIT_ACTION_ERROR))
        }
    }
}

/// A trigger: subscribes to the account's mentions (nothing from before is
/// reported), has another account mention it, and polls again.
async fn trigger(
    connector: &host_harness::LoadedConnector,
    connection: &Connection,
    emulator: &x_emulator::Emulator,
) -> Result<(), host_harness::ActionError> {
    const TRIGGER: &str = "mention.new";
    println!("[trigger] New mention — {TRIGGER}");
    let start = connector.poll(connection, TRIGGER, "{}", None).await?;
    println!(
        "  subscribed: {} earlier mentions left out; cursor {}",
        start.events.len(),
        start.cursor
    );
    let text = format!("@{} the demo mentions you", bundled::DEMO_ACCOUNT);
    emulator.post_as("grace", &text);
    println!("  on X: @grace posts {text:?}");
    let next = connector
        .poll(connection, TRIGGER, "{}", Some(&start.cursor))
        .await?;
    for event in &next.events {
        println!("  event {}:", event.id);
        print_indented(&event.data);
    }
    println!(
        "  {} new mention(s); next cursor {}",
        next.events.len(),
        next.cursor
    );
    Ok(())
}

fn print_indented(output: &serde_json::Value) {
    let text = serde_json::to_string_pretty(output).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    for line in lines.iter().take(MAX_OUTPUT_LINES) {
        println!("    {line}");
    }
    if lines.len() > MAX_OUTPUT_LINES {
        println!("    … {} more lines", lines.len() - MAX_OUTPUT_LINES);
    }
}
