//! `host-harness connections list | show | test | revoke | delete`

use super::{EXIT_ACTION_ERROR, HostArgs};
use anyhow::Result;
use clap::Subcommand;
use credential_store::{ConnectionRecord, FieldValue};
use host_harness::TestReport;
use host_harness::connections::preview;
use host_harness::labels::printable;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Every connection, with its status.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One connection's details (secrets are never shown).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Check that a connection works, and explain what to do if it does not.
    Test {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a connection's tokens at the provider and forget them.
    Revoke { id: String },
    /// Delete a connection and everything stored for it.
    Delete { id: String },
}

pub async fn run(host: &HostArgs, command: ConnectionsCommand) -> Result<ExitCode> {
    let manager = host.manager().await?;
    match command {
        ConnectionsCommand::List { json } => {
            let records = manager.list().await?;
            if json {
                let list: Vec<_> = records
                    .iter()
                    .map(host_harness::connections::public_summary)
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if records.is_empty() {
                println!("No connections. Create one with `host-harness connect`.");
            } else {
                println!(
                    "{:<22} {:<18} {:<9} {:<16} {:<16} CLIENT",
                    "ID", "NAME", "METHOD", "STATUS", "ACCOUNT"
                );
                // Every value from the store is printed escaped: a name
                // stored before names were checked must not reach the
                // terminal as a control sequence or a forged row.
                for r in &records {
                    println!(
                        "{:<22} {:<18} {:<9} {:<16} {:<16} {}",
                        printable(&r.id),
                        truncate(&printable(&r.name), 18),
                        printable(&r.method),
                        r.status.as_str(),
                        printable(
                            r.account_name
                                .as_deref()
                                .or(r.account_id.as_deref())
                                .unwrap_or("-")
                        ),
                        printable(&client_preview(r).unwrap_or_else(|| "-".into()))
                    );
                }
            }
        }
        ConnectionsCommand::Show { id, json } => {
            print_record(&manager.store().connection(&id).await?, json)?
        }
        ConnectionsCommand::Test { id, json } => {
            let report = manager.test(&id).await?;
            print_report(&id, &report, json)?;
            if !report.ok {
                return Ok(ExitCode::from(EXIT_ACTION_ERROR));
            }
        }
        ConnectionsCommand::Revoke { id } => {
            manager.revoke(&id).await?;
            println!("Revoked the tokens of {id}; the connection is kept, marked revoked.");
        }
        ConnectionsCommand::Delete { id } => {
            manager.delete(&id).await?;
            println!("Deleted {id}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A Client ID or API Key shows by its first six characters only.
fn client_preview(record: &ConnectionRecord) -> Option<String> {
    ["client_id", "api_key"]
        .iter()
        .find_map(|f| match record.fields.get(*f) {
            Some(FieldValue::Plain(v)) if !v.trim().is_empty() => Some(preview(v.trim())),
            _ => None,
        })
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// Prints a connection for people, or as JSON.
pub fn print_record(record: &ConnectionRecord, as_json: bool) -> Result<()> {
    let s = host_harness::connections::public_summary(record);
    if as_json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("Connection {}", printable(&record.id));
    println!("  name:    {}", printable(&record.name));
    println!("  method:  {}", printable(&record.method));
    println!(
        "  status:  {}{}",
        record.status.as_str(),
        record
            .status_reason
            .as_deref()
            .map(|r| format!(" — {}", printable(r)))
            .unwrap_or_default()
    );
    if let Some(account) = record
        .account_name
        .as_deref()
        .or(record.account_id.as_deref())
    {
        println!("  account: {}", printable(account));
    }
    if let Some(brand) = &record.brand {
        println!("  brand:   {}", printable(brand));
    }
    if let Some(scopes) = &record.granted_scopes {
        println!("  scopes:  {}", printable(&scopes.join(" ")));
    }
    for (name, value) in s["fields"].as_object().into_iter().flatten() {
        println!(
            "  {}: {}",
            printable(name),
            printable(value.as_str().unwrap_or_default())
        );
    }
    Ok(())
}

/// Prints a test report for people, or as JSON.
pub fn print_report(id: &str, report: &TestReport, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!(
        "{}: {}",
        if report.ok { "ok" } else { "failed" },
        printable(&report.summary)
    );
    for advice in &report.advice {
        println!("  - {}", printable(advice));
    }
    for (action, scopes) in &report.actions_missing_scopes {
        println!("  {action} needs {}", scopes.join(" "));
    }
    let _ = id;
    Ok(())
}
