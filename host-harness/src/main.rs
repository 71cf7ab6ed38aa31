//! `host-harness`: run connector actions from the command line.
//!
//! The binary bundles the X connector, its manifest, its demo workflow and
//! its local emulator (see `cli::bundled`); everything else is the
//! connector-neutral host library.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_HOST_ERROR);
        }
    };
    let export = {
        let _within = runtime.enter();
        match cli::init_tracing(&args) {
            Ok(export) => export,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(cli::EXIT_HOST_ERROR);
            }
        }
    };
    let code = runtime.block_on(cli::run(args));
    // The spans still held leave while the runtime still runs.
    if let Some(export) = export {
        export.shutdown();
    }
    // A component may have left a host call blocked in a thread (opening a
    // FIFO it was granted waits for a writer): the action already ended at
    // its deadline, and the process does not wait for the thread either.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}
