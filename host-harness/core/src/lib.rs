//! A wasmtime host for connector components of the `integration:connector`
//! world (`wit/connector.wit`).
//!
//! The host plays the integration platform. It knows no API: everything about
//! one comes from the connector's manifest, which it trusts for the hosts a
//! component may reach and the credentials they get. For each action it
//! validates the input against the action's schema, starts a fresh instance,
//! and serves the instance's HTTP requests through [`outgoing::OutgoingHooks`]:
//! refusing hosts outside the manifest, attaching credentials for API hosts,
//! and applying timeouts. A component never sees a secret.
//!
//! ```no_run
//! use host_core::{Connection, ConnectionFacts, HostConfig, Manifest, Runtime};
//! use host_core::manifest::AuthKind;
//! use secrecy::SecretString;
//!
//! # async fn run(component: &[u8], manifest_json: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(HostConfig::default())?;
//! let connector = runtime.load(component, Manifest::from_json(manifest_json)?).await?;
//! let connection = Connection::bearer(
//!     ConnectionFacts {
//!         id: "my-connection".into(),
//!         auth_kind: AuthKind::BearerToken,
//!         granted_scopes: None,
//!         account_id: None,
//!         account_facts: Default::default(),
//!     },
//!     SecretString::from(std::env::var("API_TOKEN")?),
//! );
//! let output = connector.invoke(&connection, "users.me", "{}").await?;
//! println!("{output}");
//! # Ok(()) }
//! ```

pub mod compile_cache;
pub mod credentials;
pub mod descriptor;
pub mod egress;
pub mod error;
pub mod labels;
pub mod manifest;
pub mod outgoing;
pub mod proxy;
mod runtime;
pub mod target_guard;
pub mod transport;

pub use compile_cache::{Compilation, CompileCache};
pub use credentials::{Connection, ConnectionFacts, Operation, Usage, UsageLedger};
pub use egress::{Origin, Routes};
pub use error::{ActionError, HostError};
pub use manifest::Manifest;
pub use runtime::{
    HostConfig, InstancePool, LoadedConnector, Polled, Progress, ProgressSink, RunOptions, Runtime,
    TriggerEvent,
};
