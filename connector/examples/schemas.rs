//! Prints the JSON Schemas of every action and trigger of the X connector
//! as Rust statics, derived natively from the types that parse and produce
//! them. The component build includes them (`connector/src/prebuilt.rs`),
//! so that the component carries the schemas' text and not the code that
//! derives it; `connector/artifacts/build.rs` runs this first.
//!
//! Most schemas repeat the same definitions (`$defs`: X's field names, an
//! id, the usage units), so each definition is printed once and each
//! schema lists the ones it holds: the text is a third of what it would be.
//! The texts, one after another, are then compressed (LZ4's block format,
//! about a quarter of their size), and each schema and definition is named
//! by its span in them.

use serde_json::Value;
use std::fmt::Write as _;

/// Definitions by name, in the order first met.
#[derive(Default)]
struct Defs(Vec<(String, String)>);

/// Every text, one after another: what the component carries compressed.
#[derive(Default)]
struct Texts(String);

impl Texts {
    /// Adds `text`; its span.
    fn add(&mut self, text: &str) -> (usize, usize) {
        let start = self.0.len();
        self.0.push_str(text);
        (start, self.0.len())
    }
}

impl Defs {
    /// `schema` without its `$defs`, as text, and the indices of those
    /// definitions; a name defined two ways fails the build.
    fn split(&mut self, mut schema: Value, owner: &str) -> (String, Vec<usize>) {
        let mut indices = Vec::new();
        if let Some(Value::Object(defs)) = schema.as_object_mut().and_then(|o| o.remove("$defs")) {
            for (name, definition) in defs {
                let text = definition.to_string();
                let i = match self.0.iter().position(|(n, _)| *n == name) {
                    Some(i) if self.0[i].1 == text => i,
                    Some(_) => panic!("{owner}: `$defs/{name}` differs from another schema's"),
                    None => {
                        self.0.push((name, text));
                        self.0.len() - 1
                    }
                };
                indices.push(i);
            }
        }
        (schema.to_string(), indices)
    }
}

fn main() {
    let mut defs = Defs::default();
    let mut texts = Texts::default();
    let mut tables = String::new();
    // `{:?}` of a string is a Rust string literal with every escape needed.
    let mut row = |defs: &mut Defs, id: &str, first: Value, second: Value| {
        let (first, first_defs) = defs.split(first, id);
        let (second, second_defs) = defs.split(second, id);
        let (first, second) = (texts.add(&first), texts.add(&second));
        format!(
            "    ({id:?}, Schema({first:?}, &{first_defs:?}), Schema({second:?}, &{second_defs:?})),\n"
        )
    };
    tables.push_str("/// Each action's id, input schema and output schema.\n");
    tables.push_str("pub static ACTIONS: &[(&str, Schema, Schema)] = &[\n");
    for entry in x_connector::actions::catalogue() {
        let line = row(
            &mut defs,
            entry.id,
            entry.input_schema(),
            entry.output_schema(),
        );
        tables.push_str(&line);
    }
    tables.push_str("];\n");
    tables.push_str("/// Each trigger's id, configuration schema and event schema.\n");
    tables.push_str("pub static TRIGGERS: &[(&str, Schema, Schema)] = &[\n");
    for entry in x_connector::triggers::catalogue() {
        let line = row(
            &mut defs,
            entry.id,
            entry.configuration_schema(),
            entry.event_schema(),
        );
        tables.push_str(&line);
    }
    tables.push_str("];\n");
    let mut out = String::new();
    out.push_str("/// The definitions the schemas share, by name.\n");
    out.push_str("pub static DEFS: &[(&str, Span)] = &[\n");
    for (name, text) in &defs.0 {
        let span = texts.add(text);
        writeln!(out, "    ({name:?}, {span:?}),").unwrap();
    }
    out.push_str("];\n");
    out.push_str(&tables);
    let packed = lz4_flex::block::compress(texts.0.as_bytes());
    writeln!(
        out,
        "/// Every text above, LZ4-compressed ({} bytes of {}).\npub static PACKED: &[u8] = &{packed:?};\n/// Their length uncompressed.\npub const UNPACKED_LEN: usize = {};",
        packed.len(),
        texts.0.len(),
        texts.0.len()
    )
    .unwrap();
    print!("{out}");
}
