//! `host-harness connect`: fills the connection form from flags, a JSON file
//! or prompts, then signs in with the chosen method.

use super::connections::{print_record, print_report};
use super::fields::{FieldArgs, interactive, prompt_method, prompt_missing};
use super::{EXIT_ACTION_ERROR, HostArgs};
use anyhow::{Context, Result, bail};
use clap::Args;
use credential_store::ConnectionStatus;
use host_harness::auth::callback::CallbackListener;
use host_harness::manifest::AuthKind;
use host_harness::{ConnectError, ConnectRequest, ConnectionManager};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The auth method's id (for X: `oauth2`, `bearer`, `app_only`, `oauth1`);
    /// asked for at a terminal when missing.
    #[arg(long)]
    method: Option<String>,
    /// A name for the connection.
    #[arg(long)]
    name: Option<String>,
    /// The brand (group) whose app credentials the connection uses.
    #[arg(long)]
    brand: Option<String>,
    #[command(flatten)]
    fields: FieldArgs,
    /// Port of the loopback listener that receives the sign-in redirect; the
    /// callback URL to register is `http://127.0.0.1:PORT/callback`.
    #[arg(long, default_value_t = 8765)]
    callback_port: u16,
    /// Open the sign-in page in the default browser.
    #[arg(long)]
    open: bool,
    /// Seconds to wait for the sign-in.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Print the new connection as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(host: &HostArgs, args: ConnectArgs) -> Result<ExitCode> {
    let manager = host.manager().await?;
    let methods = manager.manifest().auth_methods.clone();
    let method_id = match &args.method {
        Some(m) => m.clone(),
        None if interactive() => prompt_method(&methods)?,
        None => bail!(
            "--method is required; this connector offers {}",
            methods
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if let Some(method) = methods.iter().find(|m| m.id == method_id) {
        args.fields.warn_about_secrets(method);
    }
    let mut values = args.fields.collect()?;
    if interactive()
        && let Some(method) = methods.iter().find(|m| m.id == method_id)
    {
        eprintln!("{} — {}", manager.manifest().display_name, method.label);
        prompt_missing(method, &mut values)?;
    }
    let record = manager
        .create(&ConnectRequest {
            method: method_id,
            name: args.name.clone(),
            brand: args.brand.clone(),
            fields: values,
            // The command line acts for the default tenant.
            tenant: None,
            end_user: None,
            quiet: false,
        })
        .await?;
    let kind = manager
        .manifest()
        .auth_method(&record.method)
        .map(|m| m.kind)
        .context("the stored method is not in the manifest")?;
    let outcome = match kind {
        AuthKind::Oauth2AuthorizationCode | AuthKind::Oauth1 => {
            sign_in(&manager, &record.id, kind, &args).await
        }
        AuthKind::BearerToken | AuthKind::Oauth2ClientCredentials => {
            manager.activate(&record.id).await.map(Some)
        }
    };
    match outcome {
        Ok(Some(record)) => {
            print_record(&record, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => Ok(ExitCode::from(EXIT_ACTION_ERROR)),
        Err(e) => {
            eprintln!("error: {e}");
            if matches!(e, ConnectError::Auth(_)) {
                let _ = manager
                    .store()
                    .set_status(
                        &record.id,
                        ConnectionStatus::NeedsReconnect,
                        Some(&e.to_string()),
                    )
                    .await;
            }
            if let Ok(report) = manager.test(&record.id).await {
                print_report(&record.id, &report, false)?;
            }
            Ok(ExitCode::from(EXIT_ACTION_ERROR))
        }
    }
}

/// Runs the browser sign-in. `None` when no redirect came in time.
async fn sign_in(
    manager: &ConnectionManager,
    id: &str,
    kind: AuthKind,
    args: &ConnectArgs,
) -> Result<Option<credential_store::ConnectionRecord>, ConnectError> {
    let listener = CallbackListener::bind(args.callback_port).await.map_err(|e| {
        ConnectError::Identity(format!(
            "cannot listen for the sign-in redirect on 127.0.0.1:{} ({e}); choose another --callback-port",
            args.callback_port
        ))
    })?;
    let callback = listener.redirect_uri();
    let wait = Duration::from_secs(args.timeout);
    if kind == AuthKind::Oauth2AuthorizationCode {
        let pending = manager.begin_oauth2(id, &callback).await?;
        announce(&pending.authorization_url, &callback, args.open);
        let Some(query) = listener.wait(wait).await else {
            no_redirect(id, &callback, args.timeout);
            return Ok(None);
        };
        manager.finish_oauth2(id, pending, &query).await.map(Some)
    } else {
        let pending = manager.begin_oauth1(id, &callback).await?;
        announce(&pending.authorization_url, &callback, args.open);
        let Some(query) = listener.wait(wait).await else {
            no_redirect(id, &callback, args.timeout);
            return Ok(None);
        };
        manager.finish_oauth1(id, pending, &query).await.map(Some)
    }
}

fn announce(url: &str, callback: &str, open: bool) {
    println!("Sign in at: {url}");
    println!(
        "Waiting for the redirect to {callback} (the app's settings must list exactly this callback URL)..."
    );
    if open && let Err(e) = ::open::that(url) {
        super::notice(&format!(
            "could not open a browser ({e}); open the URL above yourself"
        ));
    }
}

fn no_redirect(id: &str, callback: &str, seconds: u64) {
    eprintln!(
        "error: no sign-in reached {callback} within {seconds} seconds.\n\
         If the sign-in page showed an error about the callback or redirect URL, register exactly this callback URL in the app's settings: {callback}\n\
         The connection {id} stays pending; connect again when ready."
    );
}
