//! `host-harness watch TRIGGER --connection ID`: polls a trigger and prints
//! each new event as one JSON line, keeping its place in the store.

use super::{EXIT_ACTION_ERROR, HostArgs};
use anyhow::{Context as _, Result};
use clap::Args;
use credential_store::Delivery;
use host_harness::ActionError;
use host_harness::triggers::{self, TriggerError};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The trigger, such as `mention.new` (see `host-harness actions`).
    trigger: String,
    /// The connection whose account the trigger watches.
    #[arg(long)]
    connection: String,
    /// The trigger's configuration as JSON, `@FILE`, or `-` for stdin.
    #[arg(long, default_value = "{}")]
    config: String,
    /// Seconds between polls (at least 5; X's rate limits allow a few a
    /// minute on most endpoints).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=86_400))]
    interval: u64,
    /// Poll once and exit.
    #[arg(long)]
    once: bool,
    /// Print the most recent event the trigger would report, and exit.
    #[arg(long, conflicts_with = "once")]
    sample: bool,
}

pub async fn run(host: &HostArgs, args: WatchArgs) -> Result<ExitCode> {
    let configuration = super::run::read_input(&args.config).context("--config")?;
    let manager = host.manager().await?;
    if args.sample {
        let connection = manager.connection(&args.connection).await?;
        let sample = manager
            .connector()
            .sample(&connection, &args.trigger, &configuration)
            .await;
        return match sample {
            Ok(Some(event)) => {
                print_event(&args.trigger, &event)?;
                Ok(ExitCode::SUCCESS)
            }
            Ok(None) => {
                super::notice("There is no such event yet.");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                super::print_error(&e)?;
                Ok(super::action_exit(&e))
            }
        };
    }
    let subscription = match triggers::subscribe(
        &manager,
        &args.connection,
        &args.trigger,
        &configuration,
        Delivery::Poll,
    )
    .await
    {
        Ok(s) => s,
        Err(TriggerError::Action(e)) => {
            super::print_error(&e)?;
            return Ok(super::action_exit(&e));
        }
        Err(e) => return Err(e.into()),
    };
    super::notice(&format!(
        "Watching {} on {} ({}); one JSON line per new event.",
        args.trigger,
        args.connection,
        if subscription.cursor.is_some() {
            "going on from where the last watch stopped"
        } else {
            "starting now"
        }
    ));
    loop {
        let trigger = args.trigger.clone();
        let polled = triggers::poll_once(&manager, &subscription.id, |event| {
            print_event(&trigger, event).map_err(|e| e.to_string())
        })
        .await;
        let wait = match polled {
            Ok(report) => {
                tracing::info!(
                    delivered = report.delivered,
                    repeated = report.repeated,
                    baseline = report.baseline,
                    "polled"
                );
                Duration::from_secs(args.interval)
            }
            Err(TriggerError::Action(e)) => {
                if matches!(
                    e,
                    ActionError::Unauthorized { .. }
                        | ActionError::Forbidden { .. }
                        | ActionError::InvalidInput { .. }
                ) {
                    super::print_error(&e)?;
                    return Ok(ExitCode::from(EXIT_ACTION_ERROR));
                }
                // Rate limits and passing failures: wait, then try again.
                super::print_error(&e)?;
                if args.once {
                    return Ok(super::action_exit(&e));
                }
                until_reset(&e).unwrap_or(Duration::from_secs(args.interval))
            }
            Err(e) => return Err(e.into()),
        };
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// How long until a spent rate limit resets, at least the poll interval's
/// floor.
fn until_reset(error: &ActionError) -> Option<Duration> {
    let ActionError::RateLimited {
        reset_at: Some(reset_at),
        ..
    } = error
    else {
        return None;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(reset_at.saturating_sub(now).max(5)))
}

fn print_event(trigger: &str, event: &host_harness::TriggerEvent) -> Result<()> {
    let line = serde_json::json!({ "trigger": trigger, "id": event.id, "data": event.data });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}
