//! Python tools the tests install from PyPI themselves: a virtual
//! environment under cargo's temporary target directory, made on first
//! use, so that `cargo test` needs nothing installed by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python of virtual environment `name`, with `requirements` (a file
/// under `tests/`) installed; `module` is what must import for it to count
/// as ready.
pub fn venv(name: &str, module: &str, requirements: &str) -> PathBuf {
    // Tests of one binary run at once: one of them makes the environment
    // while the others wait for it.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin").join("python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs (this test needs Python 3)");
        assert!(status.success(), "python3 -m venv failed");
        let requirements = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests")
            .join(requirements);
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements)
            .status()
            .expect("pip runs");
        assert!(status.success(), "installing {module} from PyPI failed");
    }
    python
}
