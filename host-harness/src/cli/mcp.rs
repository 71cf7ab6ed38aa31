//! `host-harness mcp --connection ID`: the connector's actions as MCP tools
//! on stdin and stdout, for a desktop client that starts the command
//! itself. The log goes to stderr; stdout carries only the protocol.

use super::HostArgs;
use anyhow::{Context, Result};
use clap::Args;
use host_harness::mcp::rmcp::ServiceExt;
use host_harness::mcp::{Grant, McpServer, ToolSet};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The stored connection the tools act on (see `host-harness connections
    /// list`).
    #[arg(long, short, value_name = "ID")]
    connection: String,
    /// Which tools the client sees and may call: `all`, `read-only` (the
    /// actions that change nothing), or action ids separated by commas;
    /// within the connection's own limit, if its tenant set one.
    #[arg(long, default_value = "all")]
    tools: String,
    /// A directory the actions may read files from (read-only), for
    /// `media.upload`'s `file`.
    #[arg(long, value_name = "DIR")]
    files: Option<std::path::PathBuf>,
}

pub async fn run(host: &HostArgs, args: McpArgs) -> Result<ExitCode> {
    let manager = Arc::new(host.manager().await?);
    let record = manager
        .store()
        .connection(&args.connection)
        .await
        .with_context(|| format!("--connection {}", args.connection))?;
    let mut server = McpServer::new(manager.clone());
    let tools = ToolSet::parse(&args.tools, server.tools()).context("--tools")?;
    if let Some(files) = &args.files {
        anyhow::ensure!(
            files.is_dir(),
            "--files {}: not a directory",
            files.display()
        );
        server = server.with_files(files.clone());
    }
    let grant = Grant::connection(record.tenant_id, record.id).narrowed(tools);
    tracing::info!(connection = %args.connection, "serving MCP on stdio");
    let service = server
        .with_grant(grant)
        .serve(host_harness::mcp::rmcp::transport::stdio())
        .await
        .context("the MCP client did not start a session")?;
    service.waiting().await.context("the MCP session failed")?;
    Ok(ExitCode::SUCCESS)
}
