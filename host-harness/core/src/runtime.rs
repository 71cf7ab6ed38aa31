//! Loading connector components and running their actions on wasmtime.
//!
//! One [`Runtime`] per process holds the engine and the linker. Loading a
//! component compiles it once, pre-instantiates it, asks it to describe
//! itself and checks that description against the installed manifest. Each
//! action then runs in a fresh instance with its own store, so nothing leaks
//! from one connection to another, under a deadline and a memory cap.

use crate::compile_cache::{Compilation, CompileCache, Lookup};
use crate::credentials::{
    Authorizer, BoxFuture, Connection, ConnectionFacts, CredentialError, Operation, Usage,
};
use crate::descriptor::{
    ActionDescriptor, ConnectorDescriptor, InputValidators, Schema, TriggerDescriptor,
};
use crate::egress::{EgressPolicy, Origin};
use crate::error::{ActionError, HostError};
use crate::manifest::{AuthKind, Manifest};
use crate::outgoing::{EgressJournal, HttpTimeouts, OutgoingHooks, TrafficLimits};
use crate::transport::Transport;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::Instrument;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "integration:connector/plugin",
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
            "wasi:cli": wasmtime_wasi::p2::bindings::cli,
            "wasi:random": wasmtime_wasi::p2::bindings::random,
        },
        require_store_data_send: true,
    });
}

use bindings::integration::connector::types as wit;

/// How often the engine's epoch advances: the granularity of deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of a component's stderr kept for error reports.
const STDERR_CAPACITY: usize = 64 * 1024;

/// Limits and timeouts applied to every action.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// HTTP timeouts, the most a component may use.
    pub http: HttpTimeouts,
    /// The pooled client every request goes out through, and the
    /// certificates it trusts.
    pub transport: Arc<Transport>,
    /// Wall-clock time an action may take, all requests included.
    pub action_deadline: Duration,
    /// Linear memory an instance may grow to.
    pub max_memory_bytes: usize,
    /// Requests and bytes one action may send and receive.
    pub traffic: TrafficLimits,
    /// Instances from a pool of slots made once, instead of memory mapped
    /// for each action: cheaper per action, for a host that runs many.
    /// `None` (the default) allocates on demand. Read by [`Runtime::new`].
    pub instance_pool: Option<InstancePool>,
}

/// The pooling allocator's size. Its slots (memory, tables, stacks) are
/// reserved up front, so their number bounds how many actions run at once:
/// more wait for a free slot rather than fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstancePool {
    /// Actions that may run at the same time on one runtime.
    pub max_concurrent_actions: u32,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            http: HttpTimeouts::default(),
            transport: Transport::shared(),
            action_deadline: Duration::from_secs(120),
            max_memory_bytes: 256 * 1024 * 1024,
            traffic: TrafficLimits::default(),
            instance_pool: None,
        }
    }
}

/// Where a run's granted directory appears inside the component.
pub const FILES_MOUNT: &str = "/files";

/// How far an action has got, as the component reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What the action is doing, such as `uploading` or `processing`.
    pub stage: String,
    /// Units done (bytes for an upload, percent for processing).
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
}

/// Receives an action's progress reports, on the thread running it.
pub type ProgressSink = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What one run may use besides its connection.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// A directory the component may read (and nothing else of the host's
    /// file system), seen inside as `/files`. For actions that take files,
    /// such as a media upload.
    pub files: Option<std::path::PathBuf>,
    /// Where progress reports go; without it they are only logged.
    pub progress: Option<ProgressSink>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("files", &self.files)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Offers a component exactly what the `plugin` world imports, and nothing
/// more: no sockets, no name lookup, no other randomness. A component that
/// imports anything else is refused when it loads.
fn link_the_world(linker: &mut Linker<ActionState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi_io::bindings::wasi::io;

    /// The `wasi:io` interfaces reach only the resource table.
    struct HasIo;
    impl wasmtime::component::HasData for HasIo {
        type Data<'a> = &'a mut wasmtime::component::ResourceTable;
    }

    let l = linker;
    // What `wasi:http` and `wasi:filesystem` use.
    io::error::add_to_linker::<_, HasIo>(l, |t| t.ctx().table)?;
    io::poll::add_to_linker::<_, HasIo>(l, |t| t.ctx().table)?;
    io::streams::add_to_linker::<_, HasIo>(l, |t| t.ctx().table)?;
    clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(l, |t| t.clocks())?;
    clocks::wall_clock::add_to_linker::<_, WasiClocks>(l, |t| t.clocks())?;
    filesystem::types::add_to_linker::<_, WasiFilesystem>(l, |t| t.filesystem())?;
    // The world's own imports.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)?;
    filesystem::preopens::add_to_linker::<_, WasiFilesystem>(l, |t| t.filesystem())?;
    cli::environment::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::exit::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::stdin::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::stdout::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::stderr::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, |t| t.cli())?;
    random::insecure_seed::add_to_linker::<_, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    bindings::integration::connector::host::add_to_linker::<_, HasSelf<ActionState>>(l, |s| s)?;
    Ok(())
}

/// The engine and linker, shared by every connector a process loads.
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<ActionState>>,
    config: HostConfig,
    compile_cache: Option<CompileCache>,
    /// With an instance pool: one permit per slot.
    slots: Option<Arc<Semaphore>>,
}

/// Most core instances, memories and tables one component instance may
/// take from the pool: room for a component, its WASI adapter and
/// their shims.
const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const POOL_MEMORIES_PER_COMPONENT: u32 = 4;
const POOL_TABLES_PER_COMPONENT: u32 = 8;

/// The pooling allocator sized for `pool`, memories capped at `max_memory`.
fn pooling(pool: InstancePool, max_memory: usize) -> PoolingAllocationConfig {
    let n = pool.max_concurrent_actions.max(1);
    let mut config = PoolingAllocationConfig::default();
    config
        .total_component_instances(n)
        .total_stacks(n)
        .total_core_instances(n * POOL_CORE_INSTANCES_PER_COMPONENT)
        .max_core_instances_per_component(POOL_CORE_INSTANCES_PER_COMPONENT)
        .total_memories(n * POOL_MEMORIES_PER_COMPONENT)
        .max_memories_per_component(POOL_MEMORIES_PER_COMPONENT)
        .total_tables(n * POOL_TABLES_PER_COMPONENT)
        .max_tables_per_component(POOL_TABLES_PER_COMPONENT)
        .max_memory_size(max_memory)
        .max_core_instance_size(1 << 20)
        .max_component_instance_size(1 << 20);
    config
}

impl Runtime {
    /// Sets up the engine (async, component model, epoch deadlines) and the
    /// linker with WASI, `wasi:http` through the host's hooks, and the host
    /// interface.
    pub fn new(config: HostConfig) -> Result<Runtime, HostError> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true).epoch_interruption(true);
        if let Some(pool) = config.instance_pool {
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(
                pool,
                config.max_memory_bytes,
            )));
        }
        let engine = Engine::new(&wasm).map_err(|e| HostError::Engine(e.to_string()))?;
        start_epoch_ticker(&engine);

        let mut linker = Linker::<ActionState>::new(&engine);
        link_the_world(&mut linker).map_err(|e| HostError::Engine(e.to_string()))?;
        let slots = config
            .instance_pool
            .map(|p| Arc::new(Semaphore::new(p.max_concurrent_actions.max(1) as usize)));
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            config,
            compile_cache: None,
            slots,
        })
    }

    /// Keeps compiled components in `cache`, so that later processes load
    /// them without compiling.
    pub fn with_compile_cache(mut self, cache: CompileCache) -> Runtime {
        self.compile_cache = Some(cache);
        self
    }

    /// Compiles `component`, checks it against `manifest`, and prepares it
    /// to run actions. With a compile cache, a component loaded before is
    /// mapped rather than compiled, and its description read rather than
    /// asked for.
    pub async fn load(
        &self,
        component: &[u8],
        manifest: Manifest,
    ) -> Result<LoadedConnector, HostError> {
        let engine = self.engine.clone();
        let bytes = component.to_vec();
        let cache = self.compile_cache.clone();
        let (component, described, mut place) = tokio::task::spawn_blocking(move || {
            match cache.map(|cache| cache.lookup(&engine, &bytes)) {
                Some(Lookup::Found {
                    component,
                    description,
                    place,
                }) => Ok((component, Some(description), Some(place))),
                Some(Lookup::Missing(place)) => {
                    Component::new(&engine, &bytes).map(|c| (c, None, Some(place)))
                }
                None => Component::new(&engine, &bytes).map(|c| (c, None, None)),
            }
        })
        .await
        .map_err(|e| HostError::Compile(e.to_string()))?
        .map_err(|e| HostError::Compile(format!("{e:#}")))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| HostError::Link(format!("{e:#}")))?;
        let pre = bindings::PluginPre::new(instance_pre)
            .map_err(|e| HostError::Link(format!("{e:#}")))?;
        let mut connector = LoadedConnector {
            egress: Arc::new(EgressPolicy::from_manifest(&manifest)),
            manifest: Arc::new(manifest),
            pre,
            engine: self.engine.clone(),
            config: self.config.clone(),
            slots: self.slots.clone(),
            descriptor: Arc::new(ConnectorDescriptor {
                manifest: serde_json::Value::Null,
                actions: Vec::new(),
                triggers: Vec::new(),
            }),
            validators: None,
            compilation: Compilation::Compiled,
        };
        // A stored description was verified when it was stored.
        let stored = described.and_then(|text| match serde_json::from_str(&text) {
            Ok(descriptor) => Some(descriptor),
            Err(e) => {
                let reason = format!("the stored description is not readable: {e}");
                tracing::warn!(%reason, "describing the component again");
                if let Some(place) = &mut place {
                    place.refused = Some(reason);
                }
                None
            }
        });
        let descriptor = match stored {
            Some(descriptor) => {
                connector.compilation = Compilation::Cached;
                descriptor
            }
            None => {
                let descriptor = connector.describe_uncached().await?;
                descriptor.verify_schemas()?;
                if let Some(place) = place {
                    let text = serde_json::to_string(&descriptor)
                        .map_err(|e| HostError::Describe(e.to_string()))?;
                    let component = component.clone();
                    connector.compilation =
                        tokio::task::spawn_blocking(move || place.store(&component, &text))
                            .await
                            .map_err(|e| HostError::Compile(e.to_string()))?;
                }
                descriptor
            }
        };
        check_against_manifest(&connector.manifest, &descriptor)?;
        let descriptor = Arc::new(descriptor);
        connector.validators = Some(Arc::new(InputValidators::new(descriptor.clone())));
        connector.descriptor = descriptor;
        Ok(connector)
    }
}

/// Advances the engine's epoch every tick, for as long as the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("can start the epoch thread");
}

/// The component's description must match the installed manifest: the same
/// document, and the same actions in the same order.
fn check_against_manifest(
    manifest: &Manifest,
    descriptor: &ConnectorDescriptor,
) -> Result<(), HostError> {
    let installed = serde_json::to_value(manifest).expect("a manifest serializes");
    let mismatch = |difference: String| HostError::ManifestMismatch {
        installed: manifest.id.clone(),
        difference,
    };
    let embedded: Manifest = serde_json::from_value(descriptor.manifest.clone())
        .map_err(|e| mismatch(format!("the embedded manifest is not a manifest: {e}")))?;
    let embedded = serde_json::to_value(&embedded).expect("a manifest serializes");
    if embedded != installed {
        return Err(mismatch("their contents differ".into()));
    }
    let described: Vec<&str> = descriptor.actions.iter().map(|a| a.id.as_str()).collect();
    let declared: Vec<&str> = manifest.actions.iter().map(|a| a.id.as_str()).collect();
    if described != declared {
        return Err(mismatch(format!(
            "the component offers {described:?} and the manifest declares {declared:?}"
        )));
    }
    let described: Vec<&str> = descriptor.triggers.iter().map(|t| t.id.as_str()).collect();
    let declared: Vec<&str> = manifest.triggers.iter().map(|t| t.id.as_str()).collect();
    if described != declared {
        return Err(mismatch(format!(
            "the component offers the triggers {described:?} and the manifest declares {declared:?}"
        )));
    }
    for trigger in &descriptor.triggers {
        let pushable = manifest
            .trigger(&trigger.id)
            .is_some_and(|t| t.delivery.contains(&crate::manifest::Delivery::Push));
        if trigger.pushable != pushable {
            return Err(mismatch(format!(
                "the component says trigger `{}` can{} be pushed and the manifest says otherwise",
                trigger.id,
                if trigger.pushable { "" } else { "not" }
            )));
        }
    }
    Ok(())
}

/// A connector ready to run actions. Cloning is cheap and shares the
/// compiled component; each clone has its own routes.
#[derive(Clone)]
pub struct LoadedConnector {
    manifest: Arc<Manifest>,
    egress: Arc<EgressPolicy>,
    pre: bindings::PluginPre<ActionState>,
    engine: Engine,
    /// The runtime's instance-pool slots, when it has a pool.
    slots: Option<Arc<Semaphore>>,
    config: HostConfig,
    /// Shared: it holds every action's schemas, hundreds of kilobytes.
    descriptor: Arc<ConnectorDescriptor>,
    validators: Option<Arc<InputValidators>>,
    compilation: Compilation,
}

impl LoadedConnector {
    /// Whether the component was compiled for this load or taken from the
    /// compile cache.
    pub fn compilation(&self) -> &Compilation {
        &self.compilation
    }

    /// The installed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The connector's description of itself, read once at load.
    pub fn descriptor(&self) -> &ConnectorDescriptor {
        &self.descriptor
    }

    /// The pooled client this connector's requests go out through, for
    /// the host's own requests on its connections to share.
    pub fn transport(&self) -> Arc<Transport> {
        self.config.transport.clone()
    }

    /// This connector with other limits and timeouts.
    pub fn with_config(mut self, config: HostConfig) -> LoadedConnector {
        self.config = config;
        self
    }

    /// This connector with another deadline for each action.
    pub fn with_deadline(mut self, deadline: Duration) -> LoadedConnector {
        self.config.action_deadline = deadline;
        self
    }

    /// Sends the traffic of every API host (those that get credentials) to
    /// `origin`, such as a local emulator.
    pub fn route_api_hosts(&mut self, origin: &Origin) {
        Arc::make_mut(&mut self.egress).route_api_hosts(origin);
    }

    /// Replaces the routes of the component's traffic.
    pub fn set_routes(&mut self, routes: crate::egress::Routes) {
        Arc::make_mut(&mut self.egress).set_routes(routes);
    }

    /// Sends the traffic of the manifest's `host` to `origin`.
    pub fn route(&mut self, host: &str, origin: Origin) -> Result<(), String> {
        Arc::make_mut(&mut self.egress).route(host, origin)
    }

    /// Runs `action` with `input` (JSON text) on `connection`, and returns
    /// the action's output.
    pub async fn invoke(
        &self,
        connection: &Connection,
        action: &str,
        input: &str,
    ) -> Result<serde_json::Value, ActionError> {
        self.invoke_with(connection, action, input, &RunOptions::default())
            .await
    }

    /// Like [`LoadedConnector::invoke`], with a directory of files the run
    /// may read and a receiver of its progress.
    pub async fn invoke_with(
        &self,
        connection: &Connection,
        action: &str,
        input: &str,
        options: &RunOptions,
    ) -> Result<serde_json::Value, ActionError> {
        let span = tracing::info_span!(
            "action",
            otel.name = %format_args!("action {action}"),
            connector = %self.manifest.id,
            action,
            connection = %connection.facts.id,
            outcome = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self
            .invoke_checked(connection, action, input, options)
            .instrument(span.clone())
            .await;
        span.record("latency_ms", started.elapsed().as_millis() as u64);
        let outcome = result.as_ref().map_or_else(|e| e.kind(), |_| "ok");
        span.record("outcome", outcome);
        host_metrics::action(action, outcome, connection.tenant(), started.elapsed());
        let _entered = span.enter();
        match &result {
            Ok(_) => tracing::info!("action succeeded"),
            Err(e) => tracing::info!(error = %e, "action failed"),
        }
        result
    }

    async fn invoke_checked(
        &self,
        connection: &Connection,
        action: &str,
        input: &str,
        options: &RunOptions,
    ) -> Result<serde_json::Value, ActionError> {
        let input = self.validators().check(action, input)?;
        let call = Call::Invoke {
            action,
            input: input.to_string(),
        };
        let output: serde_json::Value = match self.call(connection, call, options).await? {
            Answer::Output(output) => serde_json::from_str(&output).map_err(|e| {
                ActionError::internal(format!(
                    "the connector returned output that is not JSON: {e}"
                ))
            })?,
            _ => unreachable!("an invoke answers with output"),
        };
        connection
            .record_usage(Operation::Action(action), &usage_of(&output))
            .await;
        Ok(output)
    }

    /// Asks the API, through the component, what happened for `trigger`
    /// since `cursor` (none: a new subscription, whose events are the
    /// present state, to be recorded as seen and not handed on). Runs like
    /// an action: a fresh instance, the same limits and deadline.
    pub async fn poll(
        &self,
        connection: &Connection,
        trigger: &str,
        configuration: &str,
        cursor: Option<&str>,
    ) -> Result<Polled, ActionError> {
        let configuration = self
            .validators()
            .check_configuration(trigger, configuration)?
            .to_string();
        let call = Call::Poll {
            trigger,
            configuration,
            cursor,
        };
        let span = self.trigger_span(connection, trigger, "poll");
        let polled = self
            .call(connection, call, &RunOptions::default())
            .instrument(span.clone())
            .await
            .and_then(|answer| match answer {
                Answer::Polled(result) => Ok(Polled {
                    events: events_of(result.events)?,
                    cursor: result.cursor,
                    usage: result
                        .usage
                        .into_iter()
                        .map(|u| (u.unit, u.count))
                        .collect(),
                }),
                _ => unreachable!("a poll answers with a poll result"),
            });
        record_outcome(&span, polled.as_ref().map(|p| p.events.len()));
        if let Ok(polled) = &polled {
            connection
                .record_usage(Operation::Trigger(trigger), &polled.usage)
                .await;
        }
        polled
    }

    /// The most recent event `trigger` would report, for a workflow builder.
    pub async fn sample(
        &self,
        connection: &Connection,
        trigger: &str,
        configuration: &str,
    ) -> Result<Option<TriggerEvent>, ActionError> {
        let configuration = self
            .validators()
            .check_configuration(trigger, configuration)?
            .to_string();
        let call = Call::Sample {
            trigger,
            configuration,
        };
        match self.call(connection, call, &RunOptions::default()).await? {
            Answer::Sampled(event) => Ok(events_of(event.into_iter().collect())?.pop()),
            _ => unreachable!("a sample answers with an event"),
        }
    }

    /// Turns a delivery the API pushed (its body, already verified by the
    /// host) into `trigger`'s events.
    pub async fn deliver(
        &self,
        connection: &Connection,
        trigger: &str,
        configuration: &str,
        payload: &str,
    ) -> Result<Vec<TriggerEvent>, ActionError> {
        let configuration = self
            .validators()
            .check_configuration(trigger, configuration)?
            .to_string();
        let call = Call::Deliver {
            trigger,
            configuration,
            payload,
        };
        let span = self.trigger_span(connection, trigger, "deliver");
        let delivered = self
            .call(connection, call, &RunOptions::default())
            .instrument(span.clone())
            .await
            .and_then(|answer| match answer {
                Answer::Delivered(events) => events_of(events),
                _ => unreachable!("a delivery answers with events"),
            });
        record_outcome(&span, delivered.as_ref().map(Vec::len));
        delivered
    }

    /// Registers `url` as the webhook the API pushes to, on an app-level
    /// connection; the API's id of it.
    pub async fn register_webhook(
        &self,
        connection: &Connection,
        url: &str,
    ) -> Result<String, ActionError> {
        match self
            .call(
                connection,
                Call::RegisterWebhook { url },
                &RunOptions::default(),
            )
            .await?
        {
            Answer::Registered(id) => Ok(id),
            _ => unreachable!("a registration answers with an id"),
        }
    }

    /// Asks the API to push `trigger`'s events for `connection`'s account
    /// to the webhook `webhook_id`; the API's id of that subscription.
    pub async fn subscribe_push(
        &self,
        connection: &Connection,
        trigger: &str,
        configuration: &str,
        webhook_id: &str,
    ) -> Result<String, ActionError> {
        let configuration = self
            .validators()
            .check_configuration(trigger, configuration)?
            .to_string();
        let call = Call::SubscribePush {
            trigger,
            configuration,
            webhook_id,
        };
        match self.call(connection, call, &RunOptions::default()).await? {
            Answer::Registered(id) => Ok(id),
            _ => unreachable!("a push subscription answers with an id"),
        }
    }

    /// Ends a push subscription, on the app-level connection.
    pub async fn unsubscribe_push(
        &self,
        connection: &Connection,
        trigger: &str,
        push_id: &str,
    ) -> Result<(), ActionError> {
        let call = Call::UnsubscribePush { trigger, push_id };
        self.call(connection, call, &RunOptions::default())
            .await
            .map(|_| ())
    }

    /// Asks the API to push again what it pushed to `webhook_id` between
    /// `since` and `until` (Unix seconds).
    pub async fn replay_push(
        &self,
        connection: &Connection,
        webhook_id: &str,
        since: u64,
        until: u64,
    ) -> Result<(), ActionError> {
        let call = Call::ReplayPush {
            webhook_id,
            since,
            until,
        };
        self.call(connection, call, &RunOptions::default())
            .await
            .map(|_| ())
    }

    /// Checks a configuration of `trigger` against its schema; the
    /// configuration, parsed.
    pub fn check_configuration(
        &self,
        trigger: &str,
        configuration: &str,
    ) -> Result<serde_json::Value, ActionError> {
        self.validators()
            .check_configuration(trigger, configuration)
    }

    fn validators(&self) -> &InputValidators {
        self.validators
            .as_ref()
            .expect("validators are compiled at load")
    }

    fn trigger_span(
        &self,
        connection: &Connection,
        trigger: &str,
        kind: &'static str,
    ) -> tracing::Span {
        tracing::info_span!(
            "trigger",
            otel.name = %format_args!("trigger {trigger}"),
            connector = %self.manifest.id,
            trigger,
            kind,
            connection = %connection.facts.id,
            outcome = tracing::field::Empty,
            events = tracing::field::Empty,
        )
    }

    /// Runs one call of the connector interface in a fresh instance, under
    /// the action's limits and deadline.
    async fn call(
        &self,
        connection: &Connection,
        call: Call<'_>,
        options: &RunOptions,
    ) -> Result<Answer, ActionError> {
        let _slot = self.slot().await;
        let journal = EgressJournal::default();
        let mut store = self.new_store(connection, journal.clone(), options)?;
        let result = tokio::time::timeout(self.config.action_deadline, async {
            let plugin = self.pre.instantiate_async(&mut store).await?;
            let connector = plugin.integration_connector_connector();
            wasmtime::Result::Ok(match call {
                Call::Invoke { action, input } => connector
                    .call_invoke(&mut store, action, &input)
                    .await?
                    .map(Answer::Output),
                Call::Poll {
                    trigger,
                    configuration,
                    cursor,
                } => connector
                    .call_poll(&mut store, trigger, &configuration, cursor)
                    .await?
                    .map(Answer::Polled),
                Call::Sample {
                    trigger,
                    configuration,
                } => connector
                    .call_sample(&mut store, trigger, &configuration)
                    .await?
                    .map(Answer::Sampled),
                Call::Deliver {
                    trigger,
                    configuration,
                    payload,
                } => connector
                    .call_deliver(&mut store, trigger, &configuration, payload)
                    .await?
                    .map(Answer::Delivered),
                Call::RegisterWebhook { url } => connector
                    .call_register_webhook(&mut store, url)
                    .await?
                    .map(Answer::Registered),
                Call::SubscribePush {
                    trigger,
                    configuration,
                    webhook_id,
                } => connector
                    .call_subscribe_push(&mut store, trigger, &configuration, webhook_id)
                    .await?
                    .map(Answer::Registered),
                Call::UnsubscribePush { trigger, push_id } => connector
                    .call_unsubscribe_push(&mut store, trigger, push_id)
                    .await?
                    .map(|()| Answer::Done),
                Call::ReplayPush {
                    webhook_id,
                    since,
                    until,
                } => connector
                    .call_replay_push(&mut store, webhook_id, since, until)
                    .await?
                    .map(|()| Answer::Done),
            })
        })
        .await;
        let stderr = store.data().stderr.contents();
        let memory_denied = store.data().limits.memory_denied;
        tracing::debug!(
            memory_peak_bytes = store.data().limits.peak_memory_bytes,
            "linear memory"
        );
        let outcome = match result {
            Err(_) => Err(ActionError::Timeout {
                detail: format!(
                    "the action did not finish within {} seconds",
                    self.config.action_deadline.as_secs()
                ),
            }),
            Ok(Err(trap)) => Err(trap_error(&trap, &stderr)),
            Ok(Ok(Err(e))) => Err(from_wit(e)),
            Ok(Ok(Ok(answer))) => Ok(answer),
        };
        // When the host stopped a request or an allocation, its reason
        // outranks the component's account of the failure.
        if outcome.is_err() {
            if let Some((limit, detail)) = journal.limit_exceeded() {
                return Err(ActionError::LimitExceeded {
                    limit: limit.to_string(),
                    detail,
                });
            }
            if memory_denied {
                return Err(ActionError::LimitExceeded {
                    limit: "memory".into(),
                    detail: format!(
                        "the connector needed more than the host's {} MiB of memory",
                        self.config.max_memory_bytes / (1024 * 1024)
                    ),
                });
            }
            if let Some(failure) = journal.credential_failure() {
                return Err(match failure {
                    CredentialError::Unavailable(_) => ActionError::Unavailable {
                        detail: failure.to_string(),
                    },
                    _ => ActionError::Unauthorized {
                        reason: failure.to_string(),
                    },
                });
            }
            if let Some(refusal) = journal.refused().into_iter().next() {
                return Err(ActionError::Forbidden {
                    missing_scopes: Vec::new(),
                    detail: format!("the host refused a request: {refusal}"),
                    reason: "resource".into(),
                    rule: Some("egress-denied".into()),
                    problem_type: None,
                });
            }
        }
        outcome
    }

    /// Waits for a free instance-pool slot, when there is a pool.
    async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        match &self.slots {
            Some(slots) => {
                let waiting = Instant::now();
                // The semaphore is never closed.
                let slot = slots.acquire().await.ok();
                host_metrics::metrics()
                    .action_slot_wait_seconds
                    .observe(waiting.elapsed().as_secs_f64());
                slot
            }
            None => None,
        }
    }

    fn new_store(
        &self,
        connection: &Connection,
        journal: EgressJournal,
        options: &RunOptions,
    ) -> Result<Store<ActionState>, ActionError> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(dir) = &options.files {
            wasi.preopened_dir(dir, FILES_MOUNT, FsPerms::ReadOnly)
                .map_err(|e| ActionError::InvalidInput {
                    field: "files".into(),
                    reason: format!("the directory {} cannot be opened: {e}", dir.display()),
                })?;
        }
        let wasi = wasi.build();
        let hooks = OutgoingHooks::new(
            self.config.transport.clone(),
            self.egress.clone(),
            connection.authorizer(),
            self.config.http,
            self.config.traffic,
            journal,
        );
        let state = ActionState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            facts: connection.facts.clone(),
            limits: PeakLimits {
                inner: StoreLimitsBuilder::new()
                    .memory_size(self.config.max_memory_bytes)
                    .instances(16)
                    .build(),
                peak_memory_bytes: 0,
                memory_denied: false,
            },
            stderr,
            progress: options.progress.clone(),
            deadline: std::time::Instant::now() + self.config.action_deadline,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to the executor every tick, so a busy component cannot hold a
        // thread past the action's deadline.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        Ok(store)
    }

    async fn describe_uncached(&self) -> Result<ConnectorDescriptor, HostError> {
        let facts = ConnectionFacts {
            id: "describe".into(),
            auth_kind: AuthKind::BearerToken,
            granted_scopes: Some(Vec::new()),
            account_id: None,
            account_facts: Default::default(),
        };
        let nobody = Connection::new(facts, Arc::new(NoCredentials));
        let _slot = self.slot().await;
        let mut store = self
            .new_store(&nobody, EgressJournal::default(), &RunOptions::default())
            .map_err(|e| HostError::Describe(e.to_string()))?;
        let described = tokio::time::timeout(self.config.action_deadline, async {
            let plugin = self.pre.instantiate_async(&mut store).await?;
            plugin
                .integration_connector_connector()
                .call_describe(&mut store)
                .await
        })
        .await
        .map_err(|_| HostError::Describe("describe did not return in time".into()))?
        .map_err(|e| HostError::Describe(format!("{e:#}")))?;
        let manifest = serde_json::from_str(&described.manifest)
            .map_err(|e| HostError::Describe(format!("the embedded manifest is not JSON: {e}")))?;
        let mut actions = Vec::new();
        for a in described.actions {
            let schema = |text: &str, which: &'static str| {
                Schema::from_text(text).map_err(|e| HostError::Schema {
                    action: a.id.clone(),
                    which,
                    reason: e.to_string(),
                })
            };
            actions.push(ActionDescriptor {
                input_schema: schema(&a.input_schema, "input")?,
                output_schema: schema(&a.output_schema, "output")?,
                id: a.id,
                title: a.title,
                description: a.description,
                required_scopes: a.required_scopes,
            });
        }
        let mut triggers = Vec::new();
        for t in described.triggers {
            let schema = |text: &str, which: &'static str| {
                Schema::from_text(text).map_err(|e| HostError::Schema {
                    action: t.id.clone(),
                    which,
                    reason: e.to_string(),
                })
            };
            triggers.push(TriggerDescriptor {
                configuration_schema: schema(&t.configuration_schema, "configuration")?,
                event_schema: schema(&t.event_schema, "event")?,
                id: t.id,
                title: t.title,
                description: t.description,
                required_scopes: t.required_scopes,
                pushable: t.pushable,
            });
        }
        Ok(ConnectorDescriptor {
            manifest,
            actions,
            triggers,
        })
    }
}

/// One call of the connector interface, with its arguments.
enum Call<'a> {
    Invoke {
        action: &'a str,
        input: String,
    },
    Poll {
        trigger: &'a str,
        configuration: String,
        cursor: Option<&'a str>,
    },
    Sample {
        trigger: &'a str,
        configuration: String,
    },
    Deliver {
        trigger: &'a str,
        configuration: String,
        payload: &'a str,
    },
    RegisterWebhook {
        url: &'a str,
    },
    SubscribePush {
        trigger: &'a str,
        configuration: String,
        webhook_id: &'a str,
    },
    UnsubscribePush {
        trigger: &'a str,
        push_id: &'a str,
    },
    ReplayPush {
        webhook_id: &'a str,
        since: u64,
        until: u64,
    },
}

/// What a call answered.
enum Answer {
    Output(String),
    Polled(wit::PollResult),
    Sampled(Option<wit::TriggerEvent>),
    Delivered(Vec<wit::TriggerEvent>),
    /// An id the API gave: a webhook's or a push subscription's.
    Registered(String),
    Done,
}

/// One thing that happened, as a trigger reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TriggerEvent {
    /// Stable across polls and deliveries: what "seen" is kept by.
    pub id: String,
    /// The event, fitting the trigger's event schema.
    pub data: serde_json::Value,
}

/// What a poll found: events, oldest first, and where the next starts.
#[derive(Debug, Clone)]
pub struct Polled {
    pub events: Vec<TriggerEvent>,
    pub cursor: String,
    /// What the poll consumed at the API, by billing unit.
    pub usage: Usage,
}

/// An action output's `usage`: its whole-number counts by unit.
fn usage_of(output: &serde_json::Value) -> Usage {
    output
        .get("usage")
        .and_then(serde_json::Value::as_object)
        .map(|units| {
            units
                .iter()
                .filter_map(|(unit, n)| Some((unit.clone(), n.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn events_of(events: Vec<wit::TriggerEvent>) -> Result<Vec<TriggerEvent>, ActionError> {
    events
        .into_iter()
        .map(|e| {
            let data = serde_json::from_str(&e.data).map_err(|error| {
                ActionError::internal(format!(
                    "the connector returned event {} that is not JSON: {error}",
                    e.id
                ))
            })?;
            Ok(TriggerEvent { id: e.id, data })
        })
        .collect()
}

fn record_outcome(span: &tracing::Span, result: Result<usize, &ActionError>) {
    match result {
        Ok(events) => {
            span.record("outcome", "ok");
            span.record("events", events as u64);
        }
        Err(e) => {
            span.record("outcome", e.kind());
        }
    }
}

/// The connection `describe` runs on: describing needs no request, and any
/// request it makes gets no credentials.
struct NoCredentials;

impl Authorizer for NoCredentials {
    fn authorize<'a>(
        &'a self,
        _request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<http::HeaderValue, CredentialError>> {
        Box::pin(async {
            Err(CredentialError::NeedsReconnect(
                "describe runs without a connection".into(),
            ))
        })
    }
}

fn trap_error(trap: &wasmtime::Error, stderr: &[u8]) -> ActionError {
    let mut detail = format!("the connector stopped abnormally: {}", trap.root_cause());
    let said = String::from_utf8_lossy(stderr);
    let said = said.trim();
    if !said.is_empty() {
        let said: String = said.chars().take(2000).collect();
        detail.push_str(&format!("; it wrote: {said}"));
    }
    ActionError::internal(detail)
}

fn from_wit(e: wit::ConnectorError) -> ActionError {
    use wit::ConnectorError as W;
    match e {
        W::InvalidInput(i) => ActionError::InvalidInput {
            field: i.field,
            reason: i.reason,
        },
        W::Unauthorized(reason) => ActionError::Unauthorized { reason },
        W::Forbidden(f) => ActionError::Forbidden {
            missing_scopes: f.missing_scopes,
            detail: f.detail,
            reason: refusal_name(f.reason).into(),
            rule: f.rule,
            problem_type: f.problem_type,
        },
        W::NotFound(detail) => ActionError::NotFound { detail },
        W::RateLimited(r) => ActionError::RateLimited {
            reset_at: r.reset_at,
            limit: r.limit,
            remaining: r.remaining,
            detail: r.detail,
        },
        W::Conflict(detail) => ActionError::Conflict { detail },
        W::Upstream(u) => ActionError::Upstream {
            status: u.status,
            title: u.title,
            detail: u.detail,
            problem_type: u.problem_type,
        },
        W::Timeout(detail) => ActionError::Timeout { detail },
        W::Internal(detail) => ActionError::Internal { detail },
    }
}

/// The WIT `refusal`'s name, as the JSON error carries it.
fn refusal_name(reason: wit::Refusal) -> &'static str {
    use wit::Refusal as R;
    match reason {
        R::MissingScopes => "missing-scopes",
        R::AccessLevel => "access-level",
        R::AccountPlan => "account-plan",
        R::Rule => "rule",
        R::Resource => "resource",
        R::Other => "other",
    }
}

/// The state of one action's store.
struct ActionState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutgoingHooks,
    facts: ConnectionFacts,
    limits: PeakLimits,
    stderr: MemoryOutputPipe,
    progress: Option<ProgressSink>,
    /// When the host ends the action.
    deadline: std::time::Instant,
}

/// The store's limits, remembering the largest linear memory the instance
/// reached (for logs and benchmarks).
struct PeakLimits {
    inner: StoreLimits,
    peak_memory_bytes: usize,
    /// Whether a growth past the cap was refused.
    memory_denied: bool,
}

impl wasmtime::ResourceLimiter for PeakLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.peak_memory_bytes = self.peak_memory_bytes.max(desired);
        } else {
            self.memory_denied = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for ActionState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ActionState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl wit::Host for ActionState {}

impl bindings::integration::connector::host::Host for ActionState {
    fn connection(&mut self) -> wit::ConnectionFacts {
        wit::ConnectionFacts {
            id: self.facts.id.clone(),
            auth_kind: match self.facts.auth_kind {
                AuthKind::Oauth2AuthorizationCode => wit::AuthKind::Oauth2AuthorizationCode,
                AuthKind::Oauth2ClientCredentials => wit::AuthKind::Oauth2ClientCredentials,
                AuthKind::BearerToken => wit::AuthKind::BearerToken,
                AuthKind::Oauth1 => wit::AuthKind::Oauth1,
            },
            granted_scopes: self.facts.granted_scopes.clone(),
            account_id: self.facts.account_id.clone(),
            account_facts: self.facts.account_facts.clone().into_iter().collect(),
        }
    }

    fn report_progress(&mut self, progress: bindings::integration::connector::host::Progress) {
        let progress = Progress {
            stage: progress.stage.chars().take(64).collect(),
            done: progress.done,
            total: progress.total,
        };
        tracing::trace!(stage = %progress.stage, done = progress.done, total = ?progress.total, "progress");
        if let Some(sink) = &self.progress {
            sink(&progress);
        }
    }

    fn time_left(&mut self) -> Option<u64> {
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        Some(left.as_nanos().min(u64::MAX as u128) as u64)
    }

    fn log(&mut self, level: bindings::integration::connector::host::LogLevel, message: String) {
        use bindings::integration::connector::host::LogLevel;
        const MAX: usize = 4096;
        let message: String = message.chars().take(MAX).collect();
        match level {
            LogLevel::Trace => tracing::trace!(target: "connector", "{message}"),
            LogLevel::Debug => tracing::debug!(target: "connector", "{message}"),
            LogLevel::Info => tracing::info!(target: "connector", "{message}"),
            LogLevel::Warn => tracing::warn!(target: "connector", "{message}"),
            LogLevel::Error => tracing::error!(target: "connector", "{message}"),
        }
    }
}
