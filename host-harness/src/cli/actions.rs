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
        let manifest = connector.manifest();
        // What the API refuses on which access level, by action.
        let restrictions: std::collections::BTreeMap<&str, _> = manifest
            .actions
            .iter()
            .filter(|a| !a.restrictions.is_empty())
            .map(|a| (a.id.as_str(), &a.restrictions))
            .collect();
        let listing = serde_json::json!({
            "actions": descriptor.actions,
            "triggers": descriptor.triggers,
            "access_levels": manifest.access_levels,
            "restrictions": restrictions,
        });
        println!("{}", serde_json::to_string_pretty(&listing)?);
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
        let manifest = connector.manifest();
        for r in manifest
            .action(&action.id)
            .map(|a| a.restrictions.as_slice())
            .unwrap_or_default()
        {
            let level = manifest
                .access_levels
                .iter()
                .find(|l| l.id == r.access_level)
                .map_or(r.access_level.as_str(), |l| l.label.as_str());
            println!("    restricted on {level} ({}): {}", r.rule, r.detail);
        }
        println!("    input:{}", input_fields(action));
        println!();
    }
    if !descriptor.triggers.is_empty() {
        println!("{} triggers\n", descriptor.triggers.len());
    }
    for trigger in &descriptor.triggers {
        let delivery = connector
            .manifest()
            .trigger(&trigger.id)
            .map(|t| {
                t.delivery
                    .iter()
                    .map(|d| match d {
                        host_harness::manifest::Delivery::Poll => "poll",
                        host_harness::manifest::Delivery::Push => "push",
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!("{}  {}", trigger.id, trigger.title);
        println!("    {}", trigger.description);
        println!("    scopes: {}", trigger.required_scopes.join(" "));
        println!("    delivery: {delivery}");
        println!(
            "    configuration:{}",
            fields_of(&trigger.configuration_schema)
        );
        println!();
    }
    println!("Full schemas: host-harness actions --json");
    Ok(ExitCode::SUCCESS)
}

/// One field of the input schema per line: `text: string (required)`,
/// and an object's members after it, `poll: object {options: array of
/// string (required), duration_minutes: integer (required)}`.
fn input_fields(action: &ActionDescriptor) -> String {
    fields_of(&action.input_schema)
}

/// The members of an object schema, one per line.
fn fields_of(schema: &Value) -> String {
    let Some(properties) = schema["properties"].as_object().filter(|p| !p.is_empty()) else {
        return " (none)".into();
    };
    properties
        .iter()
        .map(|(name, property)| {
            format!(
                "\n      {}",
                member(
                    schema,
                    name,
                    property,
                    required(schema).contains(&name.as_str()),
                    0
                )
            )
        })
        .collect()
}

fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn member(root: &Value, name: &str, property: &Value, required: bool, depth: usize) -> String {
    let mark = if required { " (required)" } else { "" };
    format!("{name}: {}{mark}", type_name(root, property, depth))
}

/// The schema `$ref` points to, within the root schema.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(pointer) => pointer
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or(schema),
        None => schema,
    }
}

/// A schema's type in words: `string`, `integer`, `array of string`, a
/// short list of allowed values, or an object with its members (two levels
/// deep; deeper ones are `object`).
fn type_name(root: &Value, schema: &Value, depth: usize) -> String {
    let schema = resolve(root, schema);
    for key in ["anyOf", "oneOf"] {
        if let Some(choices) = schema[key].as_array() {
            let choices: Vec<&Value> = choices
                .iter()
                .map(|c| resolve(root, c))
                .filter(|c| c["type"] != "null")
                .collect();
            if !choices.is_empty() && choices.iter().all(|c| c.get("const").is_some()) {
                let values: Vec<Value> = choices.iter().map(|c| c["const"].clone()).collect();
                return values_of(&values);
            }
            let mut names: Vec<String> =
                choices.iter().map(|c| type_name(root, c, depth)).collect();
            names.dedup();
            return names.join(" or ");
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        return values_of(values);
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("any"),
        _ => "any",
    };
    match kind {
        "array" => match type_name(root, &schema["items"], depth) {
            choice if choice.starts_with("one of") => format!("array of ({choice})"),
            items => format!("array of {items}"),
        },
        "object" => match schema["properties"].as_object().filter(|p| !p.is_empty()) {
            Some(members) if depth < 2 => {
                let required = required(schema);
                let members: Vec<String> = members
                    .iter()
                    .map(|(name, property)| {
                        member(
                            root,
                            name,
                            property,
                            required.contains(&name.as_str()),
                            depth + 1,
                        )
                    })
                    .collect();
                format!("object {{{}}}", members.join(", "))
            }
            _ => "object".into(),
        },
        other => other.to_string(),
    }
}

/// `one of: "replies", "retweets"`, or how many values when there are many.
fn values_of(values: &[Value]) -> String {
    if values.len() <= 6 {
        let shown: Vec<String> = values.iter().map(Value::to_string).collect();
        format!("one of {}", shown.join(", "))
    } else {
        let kind = if values.iter().all(Value::is_string) {
            "string"
        } else {
            "value"
        };
        format!("{kind} (one of {} values)", values.len())
    }
}
