//! The connector's actions as tools for AI agents, over the Model Context
//! Protocol: one tool per action, generated from the catalogue the
//! component describes and the manifest's hints, never written by hand.
//!
//! A tool call is an action run like any other: the host checks the input
//! against the action's schema, attaches the connection's credentials to
//! the hosts the manifest lists and refuses every other, applies the limits
//! and meters the usage. The agent never receives the connection's tokens;
//! it is handed a [`Grant`] (one tenant's connection and the tools it may
//! call) by whoever authenticated it: the `serve` API's key check, or the
//! operator who started `host-harness mcp` on a desktop.
//!
//! The server keeps nothing between requests but what the store keeps, so
//! a client's requests may reach any node sharing the store.

pub mod authorization;
mod grant;
mod resources;
mod results;
mod server;
mod tools;

pub use authorization::Authorizer;
pub use grant::{Grant, ToolSet, ToolSetError};
pub use server::McpServer;
pub use tools::tools;

/// The SDK, so that the server and the CLI mount the transports of the
/// same version.
pub use rmcp;
