//! The local executor: the test command as a plain process on the server's machine, in the
//! checkout, in its own process group, with a scrubbed environment and resource limits
//! (`prlimit`: address space, file size, CPU time, open files; when the server runs as
//! root, also as an unprivileged user id of the build's own, with a process limit). The whole group is killed
//! on timeout or cancel. It is not a sandbox: the command can read what any unprivileged user can and
//! reach the network. Development and demos only; the configuration refuses it unless
//! `LECTERN_ALLOW_LOCAL_EXECUTOR=true`.

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bytes::Bytes;
use tokio::io::AsyncReadExt as _;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::{ExecError, Executor, Exit, RunSpec};
use crate::builds::log::LogSink;
use crate::db::enums::{ExecutorKind, LogStream};

/// When the server runs as root, each build runs as its own unprivileged user id (no
/// account needed), so per-user limits such as the process count apply to that build alone
/// and a stop can kill every process it made.
/// Installations (scopes) get ranges of 100 000 ids from 2 000 000 up, one of 40 000 by their
/// scope: two installations on one machine (the tests run dozens at once) share a range, and
/// can kill each other's builds, once in 40 000 pairs rather than once in 1 000.
fn build_uid(scope: u32, build_id: i64) -> u32 {
    2_000_000
        + (scope % 40_000) * 100_000
        + u32::try_from(build_id.rem_euclid(100_000)).unwrap_or(0)
}

/// Runs builds as local processes.
#[derive(Clone, Debug, Default)]
pub struct LocalExecutor {
    /// Distinguishes this installation's builds from others' on the same machine (build ids
    /// are only unique within one database).
    scope: u32,
}

impl LocalExecutor {
    /// An executor for the installation `scope` (see `executor::scope_for`).
    pub fn new(scope: &str) -> Self {
        Self {
            scope: u32::from_str_radix(scope.get(..8).unwrap_or(scope), 16).unwrap_or(0),
        }
    }
}

/// A started local build.
pub struct LocalHandle {
    dir: PathBuf,
    child: Mutex<Option<Child>>,
    pgid: Option<i32>,
    /// The build's own user id, when the server runs as root.
    uid: Option<u32>,
    /// The report the assignment names, relative to `dir`.
    report_path: Option<String>,
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Gives the checkout to `uid`, so the build can write where it runs.
fn give_to(dir: &Path, uid: u32) -> std::io::Result<()> {
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid))?;
        if path.is_dir() && !path.is_symlink() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// `prlimit` arguments for `spec`'s limits.
fn limits(spec: &RunSpec, as_root: bool) -> Vec<String> {
    let mb = 1024 * 1024;
    let mut args = vec![
        // Address space: the memory limit plus room for runtimes that reserve more than
        // they use.
        format!("--as={}", (spec.memory_mb + 256) * mb),
        format!("--fsize={}", spec.workspace_mb * mb),
        format!("--cpu={}", spec.timeout.as_secs() + 5),
        "--nofile=1024".to_owned(),
        "--core=0".to_owned(),
    ];
    if as_root {
        // Counted per user: meaningful for the build's own user id, not for a developer's account.
        args.push(format!("--nproc={}", spec.pids_limit));
    }
    args
}

impl Executor for LocalExecutor {
    type Handle = LocalHandle;

    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Local
    }

    async fn prepare(&self, spec: &RunSpec, log: &LogSink) -> Result<LocalHandle, ExecError> {
        log.system("preparing a local run (no container: development mode)")
            .await;
        if running_as_root() {
            let dir = spec.checkout.clone();
            let uid = build_uid(self.scope, spec.build_id);
            tokio::task::spawn_blocking(move || give_to(&dir, uid))
                .await
                .map_err(|e| ExecError::new(format!("could not prepare the checkout: {e}")))?
                .map_err(|e| ExecError::new(format!("could not prepare the checkout: {e}")))?;
        }
        Ok(LocalHandle {
            dir: spec.checkout.clone(),
            report_path: spec.report_path.clone(),
            child: Mutex::new(None),
            pgid: None,
            uid: running_as_root().then(|| build_uid(self.scope, spec.build_id)),
        })
    }

    async fn start(&self, spec: &RunSpec, handle: &mut LocalHandle) -> Result<(), ExecError> {
        let as_root = running_as_root();
        let mut cmd = Command::new("prlimit");
        cmd.args(limits(spec, as_root))
            .arg("--")
            .args(["/bin/sh", "-c", &spec.command])
            .current_dir(&handle.dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &handle.dir)
            .env("TMPDIR", &handle.dir)
            .env("LANG", "C.UTF-8")
            .env("CI", "true")
            .env("LECTERN", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(uid) = handle.uid {
            cmd.uid(uid).gid(uid);
        }
        let child = cmd
            .spawn()
            .map_err(|e| ExecError::new(format!("could not start the command: {e}")))?;
        handle.pgid = child.id().and_then(|id| i32::try_from(id).ok());
        *handle.child.lock().await = Some(child);
        Ok(())
    }

    async fn run(&self, handle: &LocalHandle, log: &LogSink) -> Result<Exit, ExecError> {
        let Some(mut child) = handle.child.lock().await.take() else {
            return Err(ExecError::new("the command was not started"));
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        tokio::join!(
            pump(stdout, LogStream::Stdout, log),
            pump(stderr, LogStream::Stderr, log)
        );
        let status = child
            .wait()
            .await
            .map_err(|e| ExecError::new(format!("lost the command: {e}")))?;
        Ok(Exit {
            code: status.code().map(i64::from),
            oom_killed: false,
            signal: status.signal(),
            // The tests ran in the server's checkout: the report is read there.
            report: match handle.report_path.clone() {
                Some(relative) => {
                    let dir = handle.dir.clone();
                    Some(
                        tokio::task::spawn_blocking(move || {
                            super::report::read_in_checkout(&dir, &relative)
                        })
                        .await
                        .unwrap_or_else(|e| Err(format!("reading the report failed: {e}"))),
                    )
                }
                None => None,
            },
            // No image: the command ran on the server itself.
            image: None,
            timed_out: false,
        })
    }

    async fn stop(&self, handle: &LocalHandle) {
        if let Some(uid) = handle.uid {
            // Everything the build's own user runs is the build's, in any process group.
            let _ = Command::new("pkill")
                .args(["-KILL", "-U", &uid.to_string()])
                .status()
                .await;
        }
        let Some(pgid) = handle.pgid else {
            return;
        };
        // A process forking at the moment of the kill can leave a child behind: repeat until
        // the group is empty (or give up after a second).
        for _ in 0..20 {
            let killed = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
            if killed.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn cleanup(&self, build_id: i64) {
        // Processes the build left running in the background (detached from its output)
        // end with it. The checkout belongs to the pipeline, which removes it.
        if running_as_root() {
            let _ = Command::new("pkill")
                .args(["-KILL", "-U", &build_uid(self.scope, build_id).to_string()])
                .status()
                .await;
        }
    }
}

/// Copies one output pipe into the log until it closes.
async fn pump(pipe: Option<impl tokio::io::AsyncRead + Unpin>, stream: LogStream, log: &LogSink) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => log.write(stream, Bytes::copy_from_slice(&buf[..n])).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec() -> RunSpec {
        RunSpec {
            build_id: 1,
            checkout: PathBuf::from("/tmp/x"),
            image: String::new(),
            command: "true".into(),
            timeout: Duration::from_secs(60),
            memory_mb: 256,
            cpu_millis: 1000,
            pids_limit: 64,
            workspace_mb: 100,
            use_dockerfile: false,
            report_path: None,
            report_marker: String::new(),
            origin: None,
            image_per_build: false,
            hidden: false,
        }
    }

    #[test]
    fn each_build_of_each_installation_has_its_own_user() {
        assert_ne!(build_uid(1, 7), build_uid(2, 7));
        assert_ne!(build_uid(1, 7), build_uid(1, 8));
        assert!(build_uid(999_999, 99_999) >= 2_000_000);
        // Every id stays below the largest Linux allows (u32::MAX - 1 is reserved).
        assert!(build_uid(39_999, 99_999) < u32::MAX - 1);
        assert!(build_uid(u32::MAX, i64::MAX) < u32::MAX - 1);
    }

    #[test]
    fn limits_follow_the_assignment() {
        let args = limits(&spec(), true);
        assert!(args.contains(&format!("--as={}", 512 * 1024 * 1024)));
        assert!(args.contains(&format!("--fsize={}", 100 * 1024 * 1024)));
        assert!(args.contains(&"--cpu=65".to_owned()));
        assert!(args.contains(&"--nproc=64".to_owned()));
        assert!(
            !limits(&spec(), false)
                .iter()
                .any(|a| a.starts_with("--nproc"))
        );
    }
}
