//! The X (formerly Twitter) connector.
//!
//! A WebAssembly component of the `integration:connector/plugin` world
//! (`wit/connector.wit`). It knows the X API v2: its paths, parameters, bodies,
//! answers and errors. It knows nothing of credentials: the host attaches them
//! to every request bound for `api.x.com` and refuses every other destination.
//!
//! The crate also builds natively, so that its pure parts (input checks,
//! schemas, error mapping, text counting) are unit tested without a runtime.

pub mod actions;
mod api;
mod context;
mod describe;
mod error;
mod http;
mod input;
mod json_path;
pub mod manifest;
mod media;
#[cfg(prebuilt_schemas)]
mod prebuilt;
mod push;
mod retry;
pub mod text;
pub mod triggers;
mod usage;

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "integration:connector/plugin",
        generate_all,
    });
}

use bindings::exports::integration::connector::connector::Guest;
use bindings::integration::connector::types::{
    ConnectorError, Descriptor, PollResult, TriggerEvent,
};

/// The exported component.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct XConnector;

impl Guest for XConnector {
    fn describe() -> Descriptor {
        describe::describe()
    }

    fn invoke(action_id: String, input: String) -> Result<String, ConnectorError> {
        actions::invoke(&action_id, &input)
    }

    fn poll(
        trigger_id: String,
        configuration: String,
        cursor: Option<String>,
    ) -> Result<PollResult, ConnectorError> {
        triggers::poll(&trigger_id, &configuration, cursor.as_deref())
    }

    fn sample(
        trigger_id: String,
        configuration: String,
    ) -> Result<Option<TriggerEvent>, ConnectorError> {
        triggers::sample(&trigger_id, &configuration)
    }

    fn deliver(
        trigger_id: String,
        configuration: String,
        payload: String,
    ) -> Result<Vec<TriggerEvent>, ConnectorError> {
        triggers::deliver(&trigger_id, &configuration, &payload)
    }

    fn register_webhook(url: String) -> Result<String, ConnectorError> {
        push::register_webhook(&url)
    }

    fn subscribe_push(
        trigger_id: String,
        configuration: String,
        webhook_id: String,
    ) -> Result<String, ConnectorError> {
        push::subscribe(&trigger_id, &configuration, &webhook_id)
    }

    fn unsubscribe_push(_trigger_id: String, push_id: String) -> Result<(), ConnectorError> {
        push::unsubscribe(&push_id)
    }

    fn replay_push(webhook_id: String, since: u64, until: u64) -> Result<(), ConnectorError> {
        push::replay(&webhook_id, since, until)
    }
}

// Exported symbols carry WIT names (`integration:connector/...#invoke`) that
// only a wasm linker accepts; native builds are for unit tests.
#[cfg(target_arch = "wasm32")]
bindings::export!(XConnector with_types_in bindings);
