//! The JSON Schemas `describe` hands out, as text derived before the
//! component was built.
//!
//! Natively (tests, the host's own checks) the schemas are derived from
//! the types with schemars when asked for. In the component that code
//! would weigh more than the text it produces, and `describe` is the only
//! caller; so the component build runs the derivation natively first
//! (`connector/examples/schemas.rs`, from `connector/artifacts/build.rs`)
//! and includes its output here. The definitions schemas share (`$defs`)
//! are kept once and put back into each schema here. The texts travel
//! LZ4-compressed, about a quarter of their size, and are expanded once,
//! when `describe` first asks (the host asks once, when it loads the
//! component). A test holds the component's descriptions to the native
//! ones.

use std::sync::OnceLock;

/// Where a text starts and ends in the expanded texts.
pub type Span = (usize, usize);

/// A schema's text without its `$defs`, and the indices in `DEFS` of the
/// definitions it holds.
pub struct Schema(pub Span, pub &'static [usize]);

include!(env!("X_CONNECTOR_SCHEMAS"));

/// The texts, expanded once.
fn texts() -> &'static str {
    static EXPANDED: OnceLock<String> = OnceLock::new();
    EXPANDED.get_or_init(|| {
        lz4_flex::block::decompress(PACKED, UNPACKED_LEN)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default()
    })
}

/// The text at `span`; `{}` (any value) if the build wrote a span the
/// texts do not have, which the test of the descriptions rules out.
fn text_at(span: Span) -> &'static str {
    texts().get(span.0..span.1).unwrap_or("{}")
}

impl Schema {
    /// The whole schema, its definitions put back.
    fn text(&self) -> String {
        let Schema(span, defs) = self;
        let text = text_at(*span);
        if defs.is_empty() {
            return text.to_string();
        }
        let mut out = String::from("{\"$defs\":{");
        for (n, &i) in defs.iter().enumerate() {
            let (name, definition) = DEFS[i];
            if n > 0 {
                out.push(',');
            }
            // Definition names are Rust type names: nothing to escape.
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            out.push_str(text_at(definition));
        }
        out.push('}');
        let members = &text[1..];
        if members != "}" {
            out.push(',');
        }
        out.push_str(members);
        out
    }
}

/// The two schemas listed for `id` in `table`; `{}` (any value) for an id
/// the table lacks, which the build rules out.
pub fn schemas(table: &[(&str, Schema, Schema)], id: &str) -> (String, String) {
    table
        .iter()
        .find(|(listed, _, _)| *listed == id)
        .map_or_else(
            || ("{}".to_string(), "{}".to_string()),
            |(_, first, second)| (first.text(), second.text()),
        )
}
