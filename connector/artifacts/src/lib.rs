//! The workspace's WebAssembly components, compiled by this crate's build
//! script for `wasm32-wasip2`.
//!
//! Depending on this crate is how the host binary and the tests get fresh
//! components: a change to a guest crate, the WIT or a manifest rebuilds them.

/// Path of the X connector component.
pub const X_CONNECTOR_PATH: &str = env!("X_CONNECTOR_WASM");

/// Path of the probe test fixture: a component that makes whatever HTTP
/// request its input describes, to test what the host lets through.
pub const PROBE_COMPONENT_PATH: &str = env!("PROBE_COMPONENT_WASM");

/// Path of the hostile test fixture: a component that misbehaves on
/// purpose, one way per action, to test the host's limits.
pub const HOSTILE_COMPONENT_PATH: &str = env!("HOSTILE_COMPONENT_WASM");

/// The X connector component's bytes.
pub fn x_connector() -> &'static [u8] {
    include_bytes!(env!("X_CONNECTOR_WASM"))
}
