//! The MCP server: lists the tools a grant allows and runs a call as an
//! action on the grant's connection.

use crate::{Grant, resources, results, tools};
use credential_store::StoreError;
use host_auth::{ConnectError, ConnectionManager};
use host_core::{Progress, ProgressSink, RunOptions};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Extensions, Implementation, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ServerCapabilities,
    ServerConfig, ServerNotification, SubscriptionFilter, Tool,
};
use rmcp::service::{Peer, RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, ServerHandler};
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

/// How often a listening client's subscriptions are looked at for new
/// events. The store is the only place every node sees them in.
const LISTEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What every session of one host shares.
struct Shared {
    manager: Arc<ConnectionManager>,
    tools: Vec<Tool>,
    info: ServerConfig,
}

/// An MCP server over one connector's connections. Cheap to clone: the
/// Streamable HTTP transport makes one per session, or per request when
/// there is none.
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    /// The grant of every request, when the server serves one client (stdio).
    fixed: Option<Grant>,
    /// The directory actions may read files from.
    files: Option<std::path::PathBuf>,
}

impl McpServer {
    /// A server whose requests each carry their [`Grant`] in the HTTP
    /// request's extensions, put there by whoever authenticated it.
    pub fn new(manager: Arc<ConnectionManager>) -> McpServer {
        let tools = tools(manager.connector());
        let manifest = manager.manifest();
        let info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
            .with_server_info(
                Implementation::new(
                    format!("host-harness-{}", manifest.id),
                    env!("CARGO_PKG_VERSION"),
                )
                .with_title(manifest.display_name.clone()),
            )
            .with_instructions(format!(
                "Tools acting on one {} connection: {} Each tool's result is the action's output; a refusal says what to change (the field, the missing scopes, when to retry).",
                manifest.display_name, manifest.description
            ));
        McpServer {
            shared: Arc::new(Shared {
                manager,
                tools,
                info,
            }),
            fixed: None,
            files: None,
        }
    }

    /// The same server, answering every request with `grant` (for a
    /// transport with one client, which the operator chose the grant for).
    pub fn with_grant(mut self, grant: Grant) -> McpServer {
        self.fixed = Some(grant);
        self
    }

    /// The same server, letting actions read the files in `dir` (as
    /// `media.upload`'s `file`); only for a client on the same machine.
    pub fn with_files(mut self, dir: std::path::PathBuf) -> McpServer {
        self.files = Some(dir);
        self
    }

    /// Every tool the connector offers, whatever a grant allows.
    pub fn tools(&self) -> &[Tool] {
        &self.shared.tools
    }

    fn grant(&self, extensions: &Extensions) -> Result<Grant, ErrorData> {
        if let Some(grant) = &self.fixed {
            return Ok(grant.clone());
        }
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Grant>())
            .cloned()
            .ok_or_else(|| ErrorData::invalid_request("the request carries no grant", None))
    }

    /// The request's grant, narrowed to the tool limit its connection has
    /// in the store now: a limit a tenant sets reaches every client at its
    /// next request, a desktop client's long-running process included.
    async fn tool_grant(&self, extensions: &Extensions) -> Result<Grant, ErrorData> {
        let grant = self.grant(extensions)?;
        let limit = self
            .shared
            .manager
            .store()
            .mcp_tools(&grant.connection)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(grant.limited_by(limit.as_deref(), &self.shared.tools))
    }

    /// Whether the grant's connection is still its tenant's: another
    /// tenant's is answered as one that does not exist.
    async fn owned(&self, grant: &Grant) -> Result<(), ConnectError> {
        match self
            .shared
            .manager
            .store()
            .connection(&grant.connection)
            .await
        {
            Ok(record) if record.tenant_id == grant.tenant => Ok(()),
            Ok(_) => Err(ConnectError::Store(StoreError::NoSuchConnection(
                grant.connection.clone(),
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The grant of a request that reads, once its connection is checked.
    async fn reading(&self, extensions: &Extensions) -> Result<Grant, ErrorData> {
        let grant = self.grant(extensions)?;
        match self.owned(&grant).await {
            Ok(()) => Ok(grant),
            Err(ConnectError::Store(StoreError::NoSuchConnection(id))) => Err(
                ErrorData::invalid_request(format!("there is no connection `{id}`"), None),
            ),
            Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
        }
    }

    /// Runs `tool` on the grant's connection: the path an API call takes.
    async fn run(
        &self,
        grant: &Grant,
        tool: &Tool,
        arguments: Value,
        progress: Option<ProgressSink>,
    ) -> rmcp::model::CallToolResult {
        let manager = &self.shared.manager;
        if let Err(e) = self.owned(grant).await {
            return results::connection_error(&e);
        }
        let connection = match manager.connection(&grant.connection).await {
            Ok(connection) => connection,
            Err(e) => return results::connection_error(&e),
        };
        let options = RunOptions {
            files: self.files.clone(),
            progress,
        };
        match manager
            .connector()
            .invoke_with(&connection, &tool.name, &arguments.to_string(), &options)
            .await
        {
            Ok(output) => results::output(output),
            Err(e) => results::action_error(&e),
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        self.shared.info.clone()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let grant = self.tool_grant(&context.extensions).await?;
        let tools = self
            .shared
            .tools
            .iter()
            .filter(|tool| grant.allows(tool))
            .cloned()
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let grant = self.reading(&context.extensions).await?;
        let manager = &self.shared.manager;
        let listed =
            resources::list(manager.store(), manager.manifest(), &grant.connection).await?;
        Ok(ListResourcesResult::with_all_items(listed))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let grant = self.reading(&context.extensions).await?;
        let contents =
            resources::read(self.shared.manager.store(), &grant.connection, &request.uri).await?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // Updates of the events resources; `listen` refuses a URI that is
        // not one of the connection's.
        let uris = requested.resource_subscriptions.clone().unwrap_or_default();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    /// Tells the client each time a subscription it listens to has new
    /// events, whichever node found them, until it stops listening.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let grant = self.reading(&context.request_context().extensions).await?;
        let store = self.shared.manager.store();
        let mut watched = Vec::new();
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            let (id, seen) = resources::newest(store, &grant.connection, uri).await?;
            watched.push((uri.clone(), id, seen));
        }
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                () = tokio::time::sleep(LISTEN_EVERY) => {}
            }
            for (uri, id, seen) in &mut watched {
                let newest = resources::newest_after(store, id, *seen).await?;
                if newest == *seen {
                    continue;
                }
                *seen = newest;
                let updated = ResourceUpdatedNotification::new(
                    ResourceUpdatedNotificationParam::new(uri.clone()),
                );
                if context
                    .sink()
                    .send(ServerNotification::ResourceUpdatedNotification(updated))
                    .await
                    .is_err()
                {
                    // The client went away.
                    return Ok(());
                }
            }
        }
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.shared.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let grant = self.tool_grant(&context.extensions).await?;
        // A tool outside the grant is, to this client, no tool at all.
        let Some(tool) = self
            .shared
            .tools
            .iter()
            .find(|t| t.name == request.name)
            .filter(|t| grant.allows(t))
        else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            ));
        };
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let (progress, forwarding) = match context.meta.get_progress_token() {
            Some(token) => {
                let (sink, forwarding) = forward_progress(context.peer.clone(), token);
                (Some(sink), Some(forwarding))
            }
            None => (None, None),
        };
        let span = call_span(&tool.name, &context);
        // A cancelled call ends at once: the action's instance is dropped
        // mid-run, as when its deadline passes.
        let result = tokio::select! {
            result = self.run(&grant, tool, arguments, progress).instrument(span) => result,
            () = context.ct.cancelled() => {
                tracing::info!(tool = %tool.name, "the client cancelled a tool call");
                return Err(ErrorData::invalid_request("the client cancelled the call", None));
            }
        };
        // Every progress notification leaves before the result.
        if let Some(forwarding) = forwarding {
            let _ = forwarding.await;
        }
        Ok(result.into())
    }
}

/// The span of a tool call, the child of the trace context the client
/// sent: in the request's `_meta` (as MCP carries it, on any transport),
/// or else in the HTTP request's `traceparent` header. The SDK runs the
/// handler on a task of its own, outside the HTTP request's span.
fn call_span(tool: &str, context: &RequestContext<RoleServer>) -> tracing::Span {
    let span = tracing::info_span!(
        "tool call",
        otel.name = %format_args!("tools/call {tool}"),
        otel.kind = "server",
        tool,
    );
    let header = || {
        context
            .extensions
            .get::<http::request::Parts>()?
            .headers
            .get(host_telemetry::propagation::TRACEPARENT)?
            .to_str()
            .ok()
    };
    if let Some(traceparent) = context.meta.0.get_traceparent().or_else(header) {
        host_telemetry::propagation::continue_from_traceparent(&span, traceparent);
    }
    span
}

/// A progress sink that sends the action's reports to the client as
/// `notifications/progress` for `token`, and the task sending them, which
/// ends once the sink is dropped and everything reported has been sent.
///
/// MCP's progress only grows, while an action's stages each count from
/// zero (bytes uploaded, then percent processed): each stage continues
/// from where the one before ended.
fn forward_progress(
    peer: Peer<RoleServer>,
    token: ProgressToken,
) -> (ProgressSink, tokio::task::JoinHandle<()>) {
    let (sender, mut reports) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let forwarding = tokio::spawn(async move {
        let mut stage = String::new();
        let (mut base, mut last) = (0.0, 0.0);
        while let Some(report) = reports.recv().await {
            if report.stage != stage {
                stage = report.stage.clone();
                base = last;
            }
            let progress = base + report.done as f64;
            last = progress;
            let mut notification =
                ProgressNotificationParam::new(token.clone(), progress).with_message(report.stage);
            if let Some(total) = report.total {
                notification = notification.with_total(base + total as f64);
            }
            if peer.notify_progress(notification).await.is_err() {
                // The client is gone; the action's own end follows.
                break;
            }
        }
    });
    let sink: ProgressSink = Arc::new(move |report: &Progress| {
        let _ = sender.send(report.clone());
    });
    (sink, forwarding)
}
