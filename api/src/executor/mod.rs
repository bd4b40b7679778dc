//! Executors run a build's test command in a sandbox. Each one implements the same
//! lifecycle — prepare → start → run (stream output, wait) → clean up, with `stop` for
//! timeouts and cancellation — and [`drive`] runs that lifecycle the same way for all of
//! them: the timeout, cancellation, and clean-up that happens whatever went wrong.

pub mod docker;
pub mod kubernetes;
pub mod local;
pub mod report;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::builds::log::LogSink;
use crate::db::enums::ExecutorKind;

pub use docker::DockerExecutor;
pub use local::LocalExecutor;

/// The scope of an installation: a short digest of its database's identity. Build ids are
/// unique only within one database, so executors put the scope in the names (containers,
/// images, user ids) they give builds.
pub fn scope_for(database_url: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(database_url.as_bytes())[..4])
}

/// Everything an executor needs to run one build.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub build_id: i64,
    /// The checked-out commit (no `.git`).
    pub checkout: PathBuf,
    /// The assignment's base image.
    pub image: String,
    pub command: String,
    pub timeout: Duration,
    pub memory_mb: u64,
    pub cpu_millis: u64,
    pub pids_limit: i64,
    /// Size of the writable workspace.
    pub workspace_mb: u64,
    /// Build the image from the repository's own Dockerfile (the assignment allows it and
    /// the repository has one).
    pub use_dockerfile: bool,
    /// The test report the assignment names, relative to the workspace.
    pub report_path: Option<String>,
    /// The line after which a container prints the report (see [`report`]).
    pub report_marker: String,
    /// Where the checkout came from, for executors that fetch it themselves (a Kubernetes
    /// Job's init container); `None` when only the checkout on this server will do.
    pub origin: Option<Origin>,
    /// Run an image built for this build rather than fetch the commit into the assignment's
    /// image (Kubernetes; the other executors always build one).
    pub image_per_build: bool,
    /// The run of the hidden tests, after the student's own.
    pub hidden: bool,
}

/// Where a build's code comes from, and what it belongs to.
#[derive(Clone, Debug)]
pub struct Origin {
    pub course_id: i64,
    pub assignment_id: i64,
    pub clone_url: String,
    pub commit: String,
    /// The token a private repository is fetched with.
    pub token: Option<crate::config::Secret>,
}

/// How the command ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, when it exited rather than being killed by a signal.
    pub code: Option<i64>,
    /// Killed for using more memory than allowed.
    pub oom_killed: bool,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// The report the assignment names, as the executor found it in the finished sandbox
    /// (`Err`: why there is none to read); `None` when the assignment names none.
    pub report: Option<Result<String, String>>,
    /// The image the command ran in (`sha256:…`), when the executor made one.
    pub image: Option<String>,
    /// The sandbox itself stopped the command at the time limit (a Job's deadline).
    pub timed_out: bool,
}

/// An executor could not do its part; the build ends as `errored` with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

impl ExecError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// One way of running builds.
pub trait Executor: Send + Sync + 'static {
    /// What a started build holds on to.
    type Handle: Send + Sync;

    fn kind(&self) -> ExecutorKind;

    /// Makes what the command runs in (an image, a directory), saying what it does in `log`.
    fn prepare(
        &self,
        spec: &RunSpec,
        log: &LogSink,
    ) -> impl Future<Output = Result<Self::Handle, ExecError>> + Send;

    /// Starts the command.
    fn start(
        &self,
        spec: &RunSpec,
        handle: &mut Self::Handle,
    ) -> impl Future<Output = Result<(), ExecError>> + Send;

    /// Streams the command's output into `log` until it ends, then says how it ended.
    fn run(
        &self,
        handle: &Self::Handle,
        log: &LogSink,
    ) -> impl Future<Output = Result<Exit, ExecError>> + Send;

    /// Stops the command at once (timeout or cancel); `run` then returns soon.
    fn stop(&self, handle: &Self::Handle) -> impl Future<Output = ()> + Send;

    /// Removes whatever build `build_id` left behind. Idempotent, and safe after a failed
    /// prepare or start, or for a build of a server that died.
    fn cleanup(&self, build_id: i64) -> impl Future<Output = ()> + Send;
}

/// How a build's run ended, as the build's status will say.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    Exited { exit: Exit, after: Duration },
    TimedOut(Duration),
    Cancelled,
    Errored(String),
}

/// Runs `spec` on `executor` to the end: prepare, start, stream, wait, and clean up in
/// every case; stops the command on timeout or when `cancel` fires.
pub async fn drive<E: Executor>(
    executor: &E,
    spec: &RunSpec,
    log: &LogSink,
    cancel: &CancellationToken,
) -> Ending {
    let ending = drive_inner(executor, spec, log, cancel).await;
    executor.cleanup(spec.build_id).await;
    ending
}

async fn drive_inner<E: Executor>(
    executor: &E,
    spec: &RunSpec,
    log: &LogSink,
    cancel: &CancellationToken,
) -> Ending {
    let mut handle = tokio::select! {
        prepared = executor.prepare(spec, log) => match prepared {
            Ok(handle) => handle,
            Err(err) => return Ending::Errored(err.0),
        },
        () = cancel.cancelled() => return Ending::Cancelled,
    };
    if cancel.is_cancelled() {
        return Ending::Cancelled;
    }
    log.system(format!("running: {}", spec.command)).await;
    if let Err(err) = executor.start(spec, &mut handle).await {
        return Ending::Errored(err.0);
    }
    follow(executor, &handle, spec.timeout, log, cancel).await
}

/// Follows a build an earlier server started (`handle`, from the executor's own means of
/// finding it) to the end, as [`drive`] would have, within `timeout`, and cleans up.
pub async fn drive_attached<E: Executor>(
    executor: &E,
    build_id: i64,
    handle: &E::Handle,
    timeout: Duration,
    log: &LogSink,
    cancel: &CancellationToken,
) -> Ending {
    let ending = follow(executor, handle, timeout, log, cancel).await;
    executor.cleanup(build_id).await;
    ending
}

/// Streams a started command's output until it ends, is stopped at `timeout`, or is
/// cancelled.
async fn follow<E: Executor>(
    executor: &E,
    handle: &E::Handle,
    timeout: Duration,
    log: &LogSink,
    cancel: &CancellationToken,
) -> Ending {
    let started = Instant::now();
    let run = executor.run(handle, log);
    tokio::pin!(run);
    let stopped = tokio::select! {
        result = &mut run => {
            return match result {
                Ok(exit) if exit.timed_out => Ending::TimedOut(timeout),
                Ok(exit) => Ending::Exited { exit, after: started.elapsed() },
                Err(err) => Ending::Errored(err.0),
            };
        }
        () = tokio::time::sleep(timeout) => Ending::TimedOut(timeout),
        () = cancel.cancelled() => Ending::Cancelled,
    };
    executor.stop(handle).await;
    // Collect what the command printed before it was stopped, for a short while.
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
    stopped
}
