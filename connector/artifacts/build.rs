//! Compiles the guest crates to WebAssembly components with a nested cargo.
//!
//! The nested build uses its own target directory (`target/components`), so
//! it never waits on the outer build's lock, and the `component` profile
//! (small, optimised). The `wasm32-wasip2` standard library is added with
//! rustup when it is missing, so a fresh clone needs no set-up step.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "component";

/// Guest packages, and the environment variable that carries each one's path.
const COMPONENTS: &[(&str, &str)] = &[
    ("x-connector", "X_CONNECTOR_WASM"),
    ("probe-component", "PROBE_COMPONENT_WASM"),
    ("hostile-component", "HOSTILE_COMPONENT_WASM"),
];

/// Inputs of the guest builds, relative to the workspace root.
const INPUTS: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "wit",
    "manifests",
    "connector/Cargo.toml",
    "connector/src",
    "connector/examples",
    "connector/build.rs",
    "connector/text/Cargo.toml",
    "connector/text/src",
    "connector/text/build.rs",
    "tests/fixtures/probe-component/Cargo.toml",
    "tests/fixtures/probe-component/src",
    "tests/fixtures/probe-component/manifest.json",
    "tests/fixtures/hostile-component/Cargo.toml",
    "tests/fixtures/hostile-component/src",
    "tests/fixtures/hostile-component/manifest.json",
];

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = crate_dir
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }

    ensure_target_installed();

    let target_dir = workspace.join("target").join("components");
    let schemas = prebuilt_schemas(&workspace, &target_dir);

    let mut command = nested_cargo(&workspace, &target_dir);
    command.args(["build", "--target", TARGET, "--profile", PROFILE]);
    for (package, _) in COMPONENTS {
        command.args(["--package", package]);
    }
    // The X connector carries its schemas' text rather than the code that
    // derives them (see `connector/src/prebuilt.rs`).
    command.env("X_CONNECTOR_SCHEMAS", &schemas);
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the components: {e}"));
    if !status.success() {
        panic!("building the WebAssembly components failed ({status}); see the cargo output above");
    }

    let out = target_dir.join(TARGET).join(PROFILE);
    for (package, var) in COMPONENTS {
        let wasm = out.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(wasm.exists(), "the build produced no {}", wasm.display());
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
}

/// A cargo for the nested builds, in `target_dir`, without the settings
/// meant for the outer (host) build.
fn nested_cargo(workspace: &Path, target_dir: &Path) -> Command {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace).arg("--quiet");
    command.env("CARGO_TARGET_DIR", target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        command.env_remove(var);
    }
    command
}

/// Derives the X connector's JSON Schemas natively (its `schemas`
/// example) and writes them as Rust statics for the component build: the
/// derivation code is then left out of the component, which gets smaller
/// by more than the schemas' text weighs.
fn prebuilt_schemas(workspace: &Path, target_dir: &Path) -> PathBuf {
    let output = nested_cargo(workspace, target_dir)
        .args(["run", "--package", "x-connector", "--example", "schemas"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to derive the connector's schemas: {e}"));
    if !output.status.success() {
        panic!(
            "deriving the connector's schemas failed ({}); see the cargo output above",
            output.status
        );
    }
    let path = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("schemas.rs");
    std::fs::write(&path, &output.stdout)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Adds the wasm32-wasip2 standard library with rustup when it is missing.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if libdir.as_deref().is_some_and(|dir| Path::new(dir).exists()) {
        return;
    }
    println!("cargo:warning=adding the {TARGET} target with rustup (first build only)");
    let mut command = Command::new("rustup");
    command.args(["target", "add", TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        command.args(["--toolchain", &toolchain]);
    }
    let status = command.status().unwrap_or_else(|e| {
        panic!("the {TARGET} target is missing and rustup could not be run to add it: {e}; run `rustup target add {TARGET}`")
    });
    if !status.success() {
        panic!("`rustup target add {TARGET}` failed ({status})");
    }
}
