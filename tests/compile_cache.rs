//! A platform engineer points the host at a compile cache: the first load
//! compiles the X connector and stores it, later loads (as a new process
//! would) map the stored artifact instead, and an entry that is damaged,
//! truncated, compiled from another component or by another engine is
//! never used: it is compiled again and replaced.

mod support;

use host_harness::{Compilation, CompileCache, HostConfig, LoadedConnector, Manifest, Runtime};
use std::path::Path;
use std::time::{Duration, Instant};
use support::X_MANIFEST;

/// A fresh runtime, as a new host process would start, loading the X
/// connector through `cache`.
async fn load(cache: &Path) -> (LoadedConnector, Duration) {
    let runtime = Runtime::new(HostConfig::default())
        .unwrap()
        .with_compile_cache(CompileCache::new(cache));
    let started = Instant::now();
    let connector = runtime
        .load(
            component_artifacts::x_connector(),
            Manifest::from_json(X_MANIFEST).unwrap(),
        )
        .await
        .expect("the connector loads");
    (connector, started.elapsed())
}

/// The one entry in the cache: its artifact and its note.
fn entry(cache: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut files: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "cwasm", "{files:?}");
    assert_eq!(files[1], files[0].with_extension("meta"), "{files:?}");
    (files[0].clone(), files[1].clone())
}

/// The connector still works: it counts a text without calling anything.
async fn works(connector: &LoadedConnector) {
    let connection = support::pasted_token_connection("unused".into());
    let out = connector
        .invoke(&connection, "post.validate", r#"{"text": "cached"}"#)
        .await
        .unwrap();
    assert_eq!(out["weighted_length"], 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_load_takes_the_compiled_component_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("compiled");

    let (first, compile_time) = load(&cache).await;
    let (second, cached_time) = load(&cache).await;

    assert_eq!(first.compilation(), &Compilation::CompiledAndStored);
    assert_eq!(second.compilation(), &Compilation::Cached);
    works(&second).await;
    let (artifact, note) = entry(&cache);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache), 0o700);
        assert_eq!(mode(&artifact), 0o600);
        assert_eq!(mode(&note), 0o600);
    }
    // The second load read its description from the cache, as the first
    // load had it from the component.
    assert_eq!(
        serde_json::to_value(second.descriptor()).unwrap(),
        serde_json::to_value(first.descriptor()).unwrap()
    );
    // Not a timing test: a cached load skips Cranelift, which shows even here.
    assert!(
        cached_time < compile_time,
        "{cached_time:?} vs {compile_time:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_or_foreign_entry_is_compiled_again_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("compiled");
    load(&cache).await;
    let (path, note) = entry(&cache);
    let good = std::fs::read(&path).unwrap();
    let good_note = std::fs::read(&note).unwrap();

    // One flipped bit in the machine code.
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(&path, &flipped).unwrap();
    let (after_flip, _) = load(&cache).await;
    let repaired = std::fs::read(&path).unwrap();

    // Half an artifact.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let (after_truncation, _) = load(&cache).await;

    // A note that is not a note at all.
    std::fs::write(&note, b"garbage").unwrap();
    let (after_garbage, _) = load(&cache).await;

    // A sound artifact, but made by an engine with other settings, with a
    // note that matches it.
    let mut other = wasmtime::Config::new();
    other.wasm_component_model(true).epoch_interruption(false);
    let other_engine = wasmtime::Engine::new(&other).unwrap();
    let foreign_artifact =
        wasmtime::component::Component::new(&other_engine, component_artifacts::x_connector())
            .unwrap()
            .serialize()
            .unwrap();
    let mut foreign_note = good_note.clone();
    foreign_note[8..12].copy_from_slice(&crc32fast::hash(&foreign_artifact).to_le_bytes());
    foreign_note[12..20].copy_from_slice(&(foreign_artifact.len() as u64).to_le_bytes());
    std::fs::write(&path, &foreign_artifact).unwrap();
    std::fs::write(&note, &foreign_note).unwrap();
    let (after_foreign, _) = load(&cache).await;
    let (finally, _) = load(&cache).await;

    let reason = |c: &Compilation| match c {
        Compilation::Recompiled { reason } => reason.clone(),
        other => panic!("expected a recompilation, got {other:?}"),
    };
    assert!(reason(after_flip.compilation()).contains("checksum"));
    assert_eq!(repaired, good, "the entry was rewritten whole");
    assert!(reason(after_truncation.compilation()).contains("checksum"));
    assert!(reason(after_garbage.compilation()).contains("header"));
    assert!(
        reason(after_foreign.compilation()).contains("wasmtime refused"),
        "{:?}",
        after_foreign.compilation()
    );
    assert_eq!(finally.compilation(), &Compilation::Cached);
    for connector in [
        &after_flip,
        &after_truncation,
        &after_garbage,
        &after_foreign,
    ] {
        works(connector).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_that_cannot_be_written_does_not_stop_the_load() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the cache directory should be.
    let blocked = dir.path().join("not-a-directory");
    std::fs::write(&blocked, b"").unwrap();

    let (connector, _) = load(&blocked.join("compiled")).await;

    assert_eq!(connector.compilation(), &Compilation::Compiled);
    works(&connector).await;
}
