//! Turns the parts of `manifests/x.json` the connector reads into Rust
//! statics, so that no action pays for parsing the manifest: every action
//! runs in a fresh instance, which would otherwise parse all of it again.
//! A manifest the connector cannot read fails the build, naming the field.

use serde::Deserialize;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Manifest {
    api: Api,
    actions: Vec<ActionMeta>,
    #[serde(default)]
    triggers: Vec<TriggerMeta>,
    usage: Usage,
}

#[derive(Deserialize)]
struct Usage {
    units: Vec<Unit>,
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct Unit {
    id: String,
    label: String,
}

#[derive(Deserialize)]
struct Endpoint {
    method: String,
    path: String,
    data: Option<String>,
    owned: Option<String>,
    #[serde(default)]
    includes: std::collections::BTreeMap<String, String>,
    request: Option<String>,
    request_with_url: Option<String>,
    body_has: Option<String>,
}

#[derive(Deserialize)]
struct Restriction {
    rule: String,
    detail: String,
}

#[derive(Deserialize)]
struct TriggerMeta {
    id: String,
    title: String,
    description: String,
    scopes: Vec<String>,
    contexts: Vec<String>,
    delivery: Vec<String>,
}

#[derive(Deserialize)]
struct Api {
    base_url: String,
}

#[derive(Deserialize)]
struct ActionMeta {
    id: String,
    title: String,
    description: String,
    scopes: Vec<String>,
    contexts: Vec<String>,
    #[serde(default)]
    restrictions: Vec<Restriction>,
}

fn main() {
    // A component build given the schemas' text derived natively (see
    // connector/artifacts/build.rs) carries it instead of deriving it.
    println!("cargo::rustc-check-cfg=cfg(prebuilt_schemas)");
    println!("cargo:rerun-if-env-changed=X_CONNECTOR_SCHEMAS");
    if let Ok(schemas) = std::env::var("X_CONNECTOR_SCHEMAS") {
        println!("cargo:rerun-if-changed={schemas}");
        println!("cargo:rustc-cfg=prebuilt_schemas");
    }

    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let path = crate_dir.join("../manifests/x.json");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let manifest: Manifest = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} is not a manifest the connector can read: {e}",
            path.display()
        )
    });

    // `{:?}` of a string is a Rust string literal with every escape needed.
    let strings = |list: &[String]| {
        let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
        format!("&[{}]", items.join(", "))
    };
    let mut code = String::new();
    writeln!(
        code,
        "/// The manifest's parts the connector reads, from `manifests/x.json`."
    )
    .unwrap();
    writeln!(code, "pub static MANIFEST: Manifest = Manifest {{").unwrap();
    writeln!(
        code,
        "    api: Api {{ base_url: {:?} }},",
        manifest.api.base_url
    )
    .unwrap();
    writeln!(code, "    actions: &[").unwrap();
    for a in &manifest.actions {
        writeln!(
            code,
            "        ActionMeta {{ id: {:?}, title: {:?}, description: {:?}, scopes: {}, contexts: {}, restrictions: &[{}] }},",
            a.id,
            a.title,
            a.description,
            strings(&a.scopes),
            strings(&a.contexts),
            a.restrictions
                .iter()
                .map(|r| format!("Restriction {{ rule: {:?}, detail: {:?} }}", r.rule, r.detail))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .unwrap();
    }
    writeln!(code, "    ],").unwrap();
    writeln!(code, "    triggers: &[").unwrap();
    for t in &manifest.triggers {
        writeln!(
            code,
            "        TriggerMeta {{ id: {:?}, title: {:?}, description: {:?}, scopes: {}, contexts: {}, pushable: {} }},",
            t.id,
            t.title,
            t.description,
            strings(&t.scopes),
            strings(&t.contexts),
            t.delivery.iter().any(|d| d == "push")
        )
        .unwrap();
    }
    writeln!(code, "    ],").unwrap();
    // The usage table: units by position, endpoints naming them by index.
    let unit = |id: &Option<String>, what: &str| -> String {
        match id {
            None => "None".into(),
            Some(id) => match manifest.usage.units.iter().position(|u| &u.id == id) {
                Some(i) => format!("Some({i})"),
                None => panic!(
                    "usage: {what} names the unit `{id}`, which usage.units does not declare"
                ),
            },
        }
    };
    assert!(
        manifest
            .usage
            .units
            .first()
            .is_some_and(|u| u.id == "requests"),
        "usage.units must start with `requests`, which every request sent counts in"
    );
    writeln!(code, "    usage_units: &[").unwrap();
    for u in &manifest.usage.units {
        writeln!(
            code,
            "        UsageUnit {{ id: {:?}, label: {:?} }},",
            u.id, u.label
        )
        .unwrap();
    }
    writeln!(code, "    ],").unwrap();
    writeln!(code, "    usage_endpoints: &[").unwrap();
    for e in &manifest.usage.endpoints {
        let at = format!("{} {}", e.method, e.path);
        let includes: Vec<String> = e
            .includes
            .iter()
            .map(|(kind, id)| {
                let i = unit(&Some(id.clone()), &at);
                format!(
                    "({kind:?}, {})",
                    i.trim_start_matches("Some(").trim_end_matches(')')
                )
            })
            .collect();
        writeln!(
            code,
            "        UsageEndpoint {{ method: {:?}, path: {:?}, body_has: {:?}, data: {}, owned: {}, includes: &[{}], request: {}, request_with_url: {} }},",
            e.method,
            e.path,
            e.body_has.as_deref(),
            unit(&e.data, &at),
            unit(&e.owned, &at),
            includes.join(", "),
            unit(&e.request, &at),
            unit(&e.request_with_url, &at),
        )
        .unwrap();
    }
    writeln!(code, "    ],\n}};").unwrap();
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("manifest_meta.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));

    // The manifest `describe` hands out, without the whitespace between
    // its tokens: the same JSON, a third smaller in the component.
    let out = out.with_file_name("manifest.min.json");
    std::fs::write(&out, minified(&text))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

/// `json` without whitespace outside its strings, every member in place.
fn minified(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}
