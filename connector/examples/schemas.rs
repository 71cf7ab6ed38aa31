//! Prints the JSON Schemas of every action and trigger of the X connector
//! as Rust statics, derived natively from the types that parse and produce
//! them. The component build includes them (`connector/src/prebuilt.rs`),
//! so that the component carries the schemas' text and not the code that
//! derives it; `connector/artifacts/build.rs` runs this first.

use std::fmt::Write as _;

fn main() {
    let mut out = String::new();
    // `{:?}` of a string is a Rust string literal with every escape needed.
    out.push_str("/// Each action's id, input schema and output schema.\n");
    out.push_str("pub static ACTIONS: &[(&str, &str, &str)] = &[\n");
    for entry in x_connector::actions::catalogue() {
        let input = entry.input_schema().to_string();
        let output = entry.output_schema().to_string();
        writeln!(out, "    ({:?}, {input:?}, {output:?}),", entry.id).unwrap();
    }
    out.push_str("];\n");
    out.push_str("/// Each trigger's id, configuration schema and event schema.\n");
    out.push_str("pub static TRIGGERS: &[(&str, &str, &str)] = &[\n");
    for entry in x_connector::triggers::catalogue() {
        let configuration = entry.configuration_schema().to_string();
        let event = entry.event_schema().to_string();
        writeln!(out, "    ({:?}, {configuration:?}, {event:?}),", entry.id).unwrap();
    }
    out.push_str("];\n");
    print!("{out}");
}
