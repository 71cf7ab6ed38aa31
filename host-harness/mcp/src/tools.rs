//! The tools, generated from what the component describes (each action's
//! id, title, description and schemas) and what the manifest says of each
//! action (its effect, whether repeating it changes more, whether it
//! reaches the API at all).

use host_core::LoadedConnector;
use host_core::manifest::{ActionMeta, Effect};
use rmcp::model::{JsonObject, MetaObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use std::sync::Arc;

/// One tool per action of `connector`, in the catalogue's order.
pub fn tools(connector: &LoadedConnector) -> Vec<Tool> {
    let manifest = connector.manifest();
    connector
        .descriptor()
        .actions
        .iter()
        .filter_map(|action| {
            let Some(input) = object(action.input_schema.value()) else {
                tracing::warn!(action = %action.id, "an input schema that is not an object cannot be a tool's");
                return None;
            };
            let meta = manifest.actions.iter().find(|a| a.id == action.id);
            let mut tool = Tool::new(action.id.clone(), action.description.clone(), input)
                .with_title(action.title.clone());
            if let Some(output) = object(action.output_schema.value()) {
                tool = tool.with_raw_output_schema(output);
            }
            if let Some(meta) = meta {
                tool = tool
                    .with_annotations(annotations(meta))
                    .with_meta(MetaObject(
                        json!({"scopes": meta.scopes, "contexts": meta.contexts})
                            .as_object()
                            .cloned()
                            .unwrap_or_default(),
                    ));
            }
            Some(tool)
        })
        .collect()
}

/// A schema of `type: object`, as MCP requires of a tool's schemas.
fn object(schema: &Value) -> Option<Arc<JsonObject>> {
    let object = schema.as_object()?;
    (object.get("type") == Some(&json!("object"))).then(|| Arc::new(object.clone()))
}

/// The hints of MCP's tool annotations, from the manifest's words; what
/// the manifest does not say is left out, so that a client assumes the
/// cautious default (may change and destroy, not idempotent).
fn annotations(meta: &ActionMeta) -> ToolAnnotations {
    let mut hints = ToolAnnotations::with_title(meta.title.clone()).open_world(!meta.offline);
    match meta.effect {
        Some(Effect::Read) => hints = hints.read_only(true),
        Some(Effect::Write) => hints = hints.read_only(false).destructive(false),
        Some(Effect::Remove) => hints = hints.read_only(false).destructive(true),
        None => {}
    }
    if let Some(idempotent) = meta.idempotent {
        hints = hints.idempotent(idempotent);
    }
    hints
}
