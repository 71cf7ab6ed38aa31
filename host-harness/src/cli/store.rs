//! `host-harness store keys | rotate-key`: which master keys seal the
//! store's secrets, and re-sealing them all under the active key while
//! hosts keep serving, so that an old key can be retired.

use super::HostArgs;
use anyhow::Result;
use clap::Subcommand;
use credential_store::{KeyRotation, RotationReport};
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

/// The command's exit status when keys other than the active one still
/// seal something: the rotation has to run again (once every host seals
/// with the new key) before an old key is retired.
const EXIT_INCOMPLETE: u8 = 1;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Count the secrets each master key seals, changing nothing.
    Keys {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-seal every secret under the active master key (the first of
    /// `HOST_HARNESS_MASTER_KEYS` or of the key file), in batches, while
    /// other hosts keep serving; then say which old keys can be retired.
    /// Interrupted, it can be run again: it goes on where it stopped.
    RotateKey {
        /// Secrets re-sealed per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
        /// A pause after each batch, in milliseconds, to spare a busy
        /// database.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(host: &HostArgs, command: StoreCommand) -> Result<ExitCode> {
    let store = host.open_store().await?;
    let (report, json) = match command {
        StoreCommand::Keys { json } => (store.key_census(500).await?, json),
        StoreCommand::RotateKey {
            batch_size,
            pause_ms,
            json,
        } => (
            store
                .rotate_keys(&KeyRotation {
                    batch_size: batch_size as usize,
                    pause: Duration::from_millis(pause_ms),
                })
                .await?,
            json,
        ),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&as_json(&report))?);
    } else {
        print_report(&report);
    }
    Ok(if report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INCOMPLETE)
    })
}

fn as_json(report: &RotationReport) -> serde_json::Value {
    json!({
        "active_key": report.active.map(|id| id.to_string()),
        "resealed": report.resealed,
        "already_active": report.already_active,
        "rewritten_meanwhile": report.rewritten_meanwhile,
        "sealed_by": report
            .sealed_by
            .iter()
            .map(|(id, n)| (id.to_string(), json!(n)))
            .collect::<serde_json::Map<_, _>>(),
        "unreadable": report.unreadable,
        "retirable": report.retirable.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "complete": report.complete(),
    })
}

fn print_report(report: &RotationReport) {
    let active = report.active.map(|id| id.to_string()).unwrap_or_default();
    if report.resealed > 0 || report.already_active > 0 {
        println!(
            "Re-sealed {} secrets under key {active}; {} were sealed with it already.",
            report.resealed, report.already_active
        );
    }
    for (id, count) in &report.sealed_by {
        let role = if id.to_string() == active {
            "active"
        } else {
            "old"
        };
        println!("key {id} ({role}): seals {count} secrets");
    }
    if !report.unreadable.is_empty() {
        println!(
            "{} secrets open with none of the keys given (sealed with a key not given, or altered):",
            report.unreadable.len()
        );
        for place in &report.unreadable {
            println!("  {place}");
        }
    }
    if report.complete() {
        if report.retirable.is_empty() {
            println!("Every secret is sealed with key {active}.");
        } else {
            let ids: Vec<String> = report.retirable.iter().map(ToString::to_string).collect();
            println!(
                "Every secret is sealed with key {active}: key {} can be retired (remove it from every host's keys).",
                ids.join(", ")
            );
        }
    } else if report.unreadable.is_empty() {
        println!(
            "Old keys still seal secrets: give every host key {active} first, then run `host-harness store rotate-key` again before retiring any key."
        );
    }
}
