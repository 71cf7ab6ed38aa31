//! `host-harness`: the command line of the connector host, with the X
//! connector, its manifest, its demo workflow and its local emulator
//! bundled (the `cli` feature).
//!
//! The host itself is split by concern, each crate depending only on those
//! before it: [`host_core`] (the runtime, the egress policy, the
//! transport: what an embedder takes alone), [`host_auth`] (sign-in,
//! refresh, the connection manager), [`host_triggers`] (subscriptions,
//! deliveries, push) and [`host_server`] (`serve`). This crate re-exports
//! them under one name for the command line, its tests and its benches.

pub use host_core::*;

pub use host_auth as auth;
pub use host_auth::connections;
pub use host_auth::{ConnectError, ConnectRequest, ConnectionManager, TestReport};
pub use host_mcp as mcp;
pub use host_server as web;
pub use host_telemetry as telemetry;
pub use host_triggers as triggers;

pub mod workflow;
