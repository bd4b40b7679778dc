//! The logs of a test run, kept when `LECTERN_TEST_LOG_DIR` is set (`scripts/test` sets
//! it): every in-process server's lines as JSON, and each `lectern serve` process's as
//! text, at `debug` — so that the run's last step (`tests/log_secrets.rs`) can search all of
//! them for the secrets the tests used.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// What is logged while logs are kept: everything at `debug`, the level an operator
/// chasing a problem turns on.
pub const FILTER: &str = "debug";

/// In a test process the tests' own HTTP clients log too; their cookie jar (which Lectern
/// does not use) logs each `Set-Cookie` it stores, session tokens included. Those lines
/// are the tests', not the server's.
/// Otherwise as `lectern serve` applies `debug` (see `telemetry::effective_filter`).
const IN_PROCESS_FILTER: &str = "debug,cookie_store=off,tokio_postgres=info";

/// Where this run's logs go, when they are kept.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os("LECTERN_TEST_LOG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Sends this test process's log lines to a file of their own (once per process).
pub fn capture_in_process() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(dir) = dir() else { return };
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tests".into());
        let path = dir.join(format!("{name}-{}.jsonl", std::process::id()));
        let Ok(file) = File::create(&path) else {
            eprintln!("cannot write the test log {}", path.display());
            return;
        };
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new(IN_PROCESS_FILTER))
            .with_writer(Mutex::new(file))
            .try_init();
    });
}

/// Has a `lectern` process log at `debug` into a file of its own, when logs are kept.
/// Set before the caller's own environment, so a test that chooses a level keeps it.
pub fn capture_process(cmd: &mut Command) {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let Some(dir) = dir() else { return };
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("serve-{}-{n}.log", std::process::id()));
    if let Ok(file) = File::create(&path) {
        cmd.env("LECTERN_LOG", FILTER).stderr(Stdio::from(file));
    }
}
