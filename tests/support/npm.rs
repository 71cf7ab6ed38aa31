//! Node.js packages the tests install from npm themselves: a directory
//! under cargo's temporary target directory, made on first use, so that
//! `cargo test` needs nothing installed by hand but Node.js and npm.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `script` (a file under `tests/`) copied into directory `name`, where the
/// packages of `package` (a `package.json` under `tests/`) are installed;
/// `module` is the package whose presence means they are.
pub fn script_with_packages(name: &str, package: &str, module: &str, script: &str) -> PathBuf {
    // Tests of one binary run at once: one of them installs while the
    // others wait.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let wanted = std::fs::read(tests.join(package)).unwrap();
    let installed = std::fs::read(dir.join("package.json")).ok();
    let ready = installed.as_ref() == Some(&wanted)
        && dir
            .join("node_modules")
            .join(module)
            .join("package.json")
            .exists();
    if !ready {
        std::fs::write(dir.join("package.json"), &wanted).unwrap();
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (this test needs Node.js and npm)");
        assert!(status.success(), "installing {module} from npm failed");
    }
    let copied = dir.join(Path::new(script).file_name().unwrap());
    std::fs::copy(tests.join(script), &copied).unwrap();
    copied
}
