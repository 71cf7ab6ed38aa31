//! The contract is the whole truth: every import of every component built
//! for the `plugin` world is an interface the world lists, so a host that
//! offers exactly the world (and this host offers nothing more) can run
//! them. Interfaces match by package and name, versions by semver: a
//! component built against `0.2.6` of an interface takes the world's
//! `0.2.12`.

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// `(package/interface, version)` of each interface the world imports,
/// those it names and those they use.
fn world_imports() -> Vec<(String, String)> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit"))
        .expect("the WIT package parses");
    let world = resolve
        .select_world(&[package], Some("plugin"))
        .expect("the world `plugin`");
    resolve.worlds[world]
        .imports
        .values()
        .filter_map(|item| match item {
            wit_parser::WorldItem::Interface { id, .. } => resolve.id_of(*id),
            _ => None,
        })
        .map(|name| split(&name))
        .collect()
}

fn split(name: &str) -> (String, String) {
    match name.split_once('@') {
        Some((interface, version)) => (interface.to_string(), version.to_string()),
        None => (name.to_string(), String::new()),
    }
}

/// Semver compatibility as component hosts apply it: the same major
/// version, or for `0.x` the same minor.
fn compatible(wanted: &str, offered: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    let (wanted, offered) = (parts(wanted), parts(offered));
    match (wanted.as_slice(), offered.as_slice()) {
        ([0, minor, ..], [0, offered_minor, ..]) => minor == offered_minor,
        ([major, ..], [offered_major, ..]) => major == offered_major,
        _ => wanted == offered,
    }
}

fn imports_of(bytes: &[u8]) -> Vec<(String, String)> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::new(&engine, bytes).expect("the component compiles");
    component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| split(name))
        .collect()
}

fn outside_the_world(bytes: &[u8]) -> Vec<String> {
    let world = world_imports();
    imports_of(bytes)
        .into_iter()
        .filter(|(name, version)| {
            !world.iter().any(|(offered, offered_version)| {
                offered == name && compatible(version, offered_version)
            })
        })
        .map(|(name, version)| format!("{name}@{version}"))
        .collect()
}

#[test]
fn the_x_connector_imports_only_what_the_world_lists() {
    let outside = outside_the_world(component_artifacts::x_connector());

    assert!(
        outside.is_empty(),
        "imported but not in the world: {outside:?}"
    );
}

#[test]
fn the_fixture_components_import_only_what_the_world_lists() {
    for path in [
        component_artifacts::PROBE_COMPONENT_PATH,
        component_artifacts::HOSTILE_COMPONENT_PATH,
    ] {
        let outside = outside_the_world(&std::fs::read(path).unwrap());
        assert!(
            outside.is_empty(),
            "{path} imports, outside the world: {outside:?}"
        );
    }
}

#[test]
fn the_world_is_what_the_x_connector_needs_and_no_more() {
    let world = world_imports();
    let used = imports_of(component_artifacts::x_connector());

    let unused: Vec<String> = world
        .iter()
        .filter(|(name, version)| {
            !used.iter().any(|(wanted, wanted_version)| {
                wanted == name && compatible(wanted_version, version)
            })
        })
        .map(|(name, version)| format!("{name}@{version}"))
        .collect();

    println!("world: {world:?}\nx connector: {used:?}");
    assert!(unused.is_empty(), "listed but never imported: {unused:?}");
}

/// A component of `world` (declared in `wit`, a package that may use the
/// project's WIT), whose functions do nothing but trap.
fn component_of(wit: &str, world: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    resolve
        .push_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit"))
        .unwrap();
    let package = resolve.push_str("test.wit", wit).unwrap();
    let world = resolve.select_world(&[package], Some(world)).unwrap();
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// Why the host would not load the component, if it would not.
async fn load(bytes: &[u8]) -> Option<String> {
    let runtime = host_harness::Runtime::new(host_harness::HostConfig::default()).unwrap();
    let manifest = host_harness::Manifest::from_json(include_str!(
        "../tests/fixtures/hostile-component/manifest.json"
    ))
    .unwrap();
    runtime
        .load(bytes, manifest)
        .await
        .err()
        .map(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_links_exactly_the_world_and_refuses_a_component_that_needs_more() {
    let exact = component_of(
        "package test:exact; world exact { include integration:connector/plugin@0.1.0; }",
        "exact",
    );
    let greedy = component_of(
        "package test:greedy; world greedy { include integration:connector/plugin@0.1.0; import wasi:sockets/tcp@0.2.12; }",
        "greedy",
    );

    let exact = load(&exact).await.unwrap_or_default();
    let greedy = load(&greedy)
        .await
        .expect("a component needing sockets is refused");

    // The exact world links; this one then fails only because its
    // functions do nothing.
    assert!(exact.contains("while describing itself"), "{exact}");
    assert!(
        greedy.contains("does not fit") && greedy.contains("wasi:sockets/"),
        "{greedy}"
    );
}
