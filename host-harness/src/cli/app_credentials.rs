//! `host-harness app-credentials set | show | clear`: app credentials set
//! once, for everyone or for a brand. A connection's own fields win; blank
//! ones fall through to its brand's, then to the default.

use super::HostArgs;
use super::fields::FieldArgs;
use anyhow::{Result, bail};
use clap::Subcommand;
use credential_store::{AppCredentialLevel, FieldValue};
use host_harness::connections::preview;
use host_harness::labels::printable;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum AppCredentialsCommand {
    /// Set fields of an auth method at the default level or for a brand.
    Set {
        /// The auth method's id (`oauth2`, `app_only`, `oauth1`, ...).
        #[arg(long)]
        method: String,
        /// The brand; without it, the default for everyone.
        #[arg(long)]
        brand: Option<String>,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Show what is set (Client IDs by preview, secrets never).
    Show {
        #[arg(long)]
        method: String,
        #[arg(long)]
        brand: Option<String>,
    },
    /// Remove fields at a level, so the next level shows through.
    Clear {
        #[arg(long)]
        method: String,
        #[arg(long)]
        brand: Option<String>,
        /// The fields to remove; all of the method's when none are named.
        #[arg(long = "only")]
        only: Vec<String>,
    },
}

fn level(brand: &Option<String>) -> AppCredentialLevel {
    match brand {
        Some(b) => AppCredentialLevel::Brand(b.clone()),
        None => AppCredentialLevel::Default,
    }
}

pub async fn run(host: &HostArgs, command: AppCredentialsCommand) -> Result<ExitCode> {
    let manager = host.manager().await?;
    let manifest = manager.manifest().clone();
    let method_of = |id: &str| {
        manifest.auth_method(id).cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "no auth method `{id}`; this connector offers {}",
                manifest
                    .auth_methods
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    };
    match command {
        AppCredentialsCommand::Set {
            method,
            brand,
            fields,
        } => {
            let method = method_of(&method)?;
            fields.warn_about_secrets(&method);
            let mut values = BTreeMap::new();
            for (name, value) in fields.collect()? {
                let Some(field) = method.fields.iter().find(|f| f.name == name) else {
                    bail!("`{name}` is not a field of {}", method.label);
                };
                if field.fixed.is_some() {
                    bail!("`{name}` is fixed by the manifest and cannot be set");
                }
                let stored = if field.secret {
                    FieldValue::Secret(SecretString::from(value))
                } else {
                    FieldValue::Plain(value)
                };
                values.insert(name, stored);
            }
            manager
                .store()
                .set_app_credentials(&manifest.id, &method.id, &level(&brand), &values)
                .await?;
            println!(
                "Set {} field(s) of {} for {}.",
                values.len(),
                method.id,
                printable(brand.as_deref().unwrap_or("everyone"))
            );
        }
        AppCredentialsCommand::Show { method, brand } => {
            let method = method_of(&method)?;
            let set = manager
                .store()
                .app_credentials(&manifest.id, &method.id, &level(&brand))
                .await?;
            if set.is_empty() {
                println!("Nothing set for {} at this level.", method.id);
            }
            for (name, value) in set {
                let shown = match value {
                    FieldValue::Secret(_) => "(set, hidden)".to_string(),
                    FieldValue::Plain(v) if name == "client_id" || name == "api_key" => preview(&v),
                    FieldValue::Plain(v) => v,
                };
                println!("{}: {}", printable(&name), printable(&shown));
            }
        }
        AppCredentialsCommand::Clear {
            method,
            brand,
            only,
        } => {
            let method = method_of(&method)?;
            let names: Vec<String> = if only.is_empty() {
                method.fields.iter().map(|f| f.name.clone()).collect()
            } else {
                only
            };
            let blanks = names
                .into_iter()
                .map(|n| (n, FieldValue::Plain(String::new())))
                .collect();
            manager
                .store()
                .set_app_credentials(&manifest.id, &method.id, &level(&brand), &blanks)
                .await?;
            println!("Cleared.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
