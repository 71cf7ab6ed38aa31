//! `host-harness actions [--json]`

use super::HostArgs;
use anyhow::Result;
use clap::Args;
use host_harness::descriptor::ActionDescriptor;
use serde_json::Value;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ActionsArgs {
    /// Print the full description, with every input and output schema, as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(host: &HostArgs, args: ActionsArgs) -> Result<ExitCode> {
    let connector = host.connector().await?;
    let descriptor = connector.descriptor();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&descriptor.actions)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} — {} actions\n",
        connector.manifest().display_name,
        descriptor.actions.len()
    );
    for action in &descriptor.actions {
        println!("{}  {}", action.id, action.title);
        println!("    {}", action.description);
        println!("    scopes: {}", action.required_scopes.join(" "));
        println!("    input:  {}", input_fields(action));
        println!();
    }
    println!("Full schemas: host-harness actions --json");
    Ok(ExitCode::SUCCESS)
}

/// `text: string (required), reply_to_post_id: string, ...` from the input schema.
fn input_fields(action: &ActionDescriptor) -> String {
    let schema = &action.input_schema;
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return "(none)".into();
    };
    if properties.is_empty() {
        return "(none)".into();
    }
    properties
        .iter()
        .map(|(name, property)| {
            let kind = type_name(property);
            if required.contains(&name.as_str()) {
                format!("{name}: {kind} (required)")
            } else {
                format!("{name}: {kind}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_name(property: &Value) -> String {
    match &property["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join("|"),
        _ if property.get("anyOf").is_some() || property.get("$ref").is_some() => "string".into(),
        _ => "any".into(),
    }
}
