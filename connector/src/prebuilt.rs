//! The JSON Schemas `describe` hands out, as text derived before the
//! component was built.
//!
//! Natively (tests, the host's own checks) the schemas are derived from
//! the types with schemars when asked for. In the component that code
//! would weigh more than the text it produces, and `describe` is the only
//! caller; so the component build runs the derivation natively first
//! (`connector/examples/schemas.rs`, from `connector/artifacts/build.rs`)
//! and includes its output here. A test holds the component's
//! descriptions to the native ones.

include!(env!("X_CONNECTOR_SCHEMAS"));

/// The two schemas listed for `id` in `table`; `{}` (any value) for an id
/// the table lacks, which the build rules out.
pub fn schemas(table: &[(&str, &str, &str)], id: &str) -> (String, String) {
    table
        .iter()
        .find(|(listed, _, _)| *listed == id)
        .map_or_else(
            || ("{}".to_string(), "{}".to_string()),
            |(_, first, second)| (first.to_string(), second.to_string()),
        )
}
