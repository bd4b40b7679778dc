//! The build pipeline: workers claim queued builds from PostgreSQL (woken by `LISTEN
//! lectern_builds`, polling as a fallback), hold a lease they renew while the build runs,
//! fetch the exact commit, run it on the configured executor, store its output, finish it
//! with the right status, and queue the commit statuses. Builds of servers that died are
//! recovered at start and whenever a lease runs out.

pub mod checkout;
pub mod grade;
pub mod hidden;
pub mod images;
pub mod log;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::app::App;
use crate::config::ExecutorChoice;
use crate::db::enums::{BuildStatus, LogStream};
use crate::db::models::build_queue::{
    CANCEL_CHANNEL, QUEUED_CHANNEL, Recovered, RunRecord, Verdict,
};
use crate::db::models::{Assignment, Build, LogChunk, NewLogChunk, Repository};
use crate::executor::kubernetes::KubernetesExecutor;
use crate::executor::kubernetes::manifest::Followed;
use crate::executor::{self, DockerExecutor, Ending, Executor, LocalExecutor, RunSpec};
use crate::jobs::commit_status::{self, State};
use log::{LogSink, LogWriter};

/// How often the queue is polled when no notification arrives, and leases are checked.
const POLL: Duration = Duration::from_secs(2);

/// The executor this server runs builds on.
#[derive(Clone)]
pub enum Executors {
    Docker(DockerExecutor),
    Local(LocalExecutor),
    Kubernetes(Box<KubernetesExecutor>),
}

impl Executors {
    /// The executor the configuration names, or `None` when this server runs no builds.
    pub async fn from_config(app: &App) -> anyhow::Result<Option<Self>> {
        let builds = &app.config.builds;
        let scope = crate::executor::scope_for(app.config.database_url.expose());
        Ok(match builds.executor {
            ExecutorChoice::Kubernetes => Some(Self::Kubernetes(Box::new(
                KubernetesExecutor::connect(
                    crate::executor::kubernetes::Settings::from_config(builds, &scope)?,
                    &scope,
                )
                .await?,
            ))),
            ExecutorChoice::None => None,
            ExecutorChoice::Local => Some(Self::Local(LocalExecutor::new(&scope))),
            ExecutorChoice::Docker => Some(Self::Docker(DockerExecutor::connect(
                builds.docker_host.as_deref(),
                builds.keep_images,
                &scope,
            )?)),
        })
    }

    /// Removes what a build left in the executor (its container and image, its Job, its
    /// processes); nothing when it left nothing.
    pub async fn cleanup(&self, build_id: i64) {
        match self {
            Self::Docker(e) => e.cleanup(build_id).await,
            Self::Local(e) => e.cleanup(build_id).await,
            Self::Kubernetes(e) => e.cleanup(build_id).await,
        }
    }

    /// Which kind of executor this is.
    pub fn kind(&self) -> crate::db::enums::ExecutorKind {
        match self {
            Self::Docker(e) => e.kind(),
            Self::Local(e) => e.kind(),
            Self::Kubernetes(e) => e.kind(),
        }
    }
}

/// Builds this process runs, with the means to stop each.
type Running = Arc<Mutex<HashMap<i64, CancellationToken>>>;

/// A worker's identity: host, process and a random part, so a restarted server can tell
/// its dead predecessors' builds from builds other live servers hold.
fn worker_id() -> String {
    format!(
        "{}:{}:{}",
        hostname(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Workers among `workers` that ran on this host in processes that no longer exist.
fn dead_on_this_host(workers: &[String]) -> Vec<String> {
    let host = hostname();
    workers
        .iter()
        .filter(|w| {
            let mut parts = w.split(':');
            parts.next() == Some(host.as_str())
                && parts
                    .next()
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| {
                        pid != std::process::id()
                            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                    })
        })
        .cloned()
        .collect()
}

/// Starts the build workers, unless this server runs no builds.
pub async fn spawn(app: App) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(executors) = Executors::from_config(&app).await? else {
        tracing::info!("LECTERN_EXECUTOR=none: this server runs no builds");
        return Ok(None);
    };
    Ok(Some(spawn_on(app, executors)))
}

/// Starts the build workers on `executors` (a test's Kubernetes stand-in, say).
pub fn spawn_on(app: App, executors: Executors) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(Workers {
        worker: worker_id(),
        wake: Arc::new(Notify::new()),
        running: Arc::default(),
        slots: Arc::new(Semaphore::new(app.config.builds.concurrency)),
        app,
        executors,
    }))
}

/// This server's build workers: what the claim loop shares with the builds it runs.
#[derive(Clone)]
struct Workers {
    app: App,
    executors: Executors,
    /// This process's worker id.
    worker: String,
    /// Wakes the claim loop.
    wake: Arc<Notify>,
    running: Running,
    /// One permit per build this server may run at once.
    slots: Arc<Semaphore>,
}

impl Workers {
    /// Runs `body` for build `id` in its own task, which `cancel` (registered for the
    /// cancel listener) stops; frees `permit` and wakes the claim loop at the end.
    fn track(
        &self,
        build: &Build,
        cancel: CancellationToken,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
        body: impl Future<Output = ()> + Send + 'static,
    ) {
        let id = build.id;
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, cancel);
        let (running, wake) = (self.running.clone(), self.wake.clone());
        let span = tracing::info_span!("build", build_id = id, number = build.number);
        tokio::spawn(
            async move {
                body.await;
                running
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
                drop(permit);
                // A slot is free, and this student may have more queued.
                wake.notify_one();
            }
            .instrument(span),
        );
    }
}

async fn run(workers: Workers) {
    let Workers {
        app,
        executors,
        worker,
        wake,
        slots,
        ..
    } = workers.clone();
    if let Executors::Local(_) = &executors {
        tracing::warn!(
            "!!! LECTERN_EXECUTOR=local: students' code runs as plain processes on this machine, \
             without a container. Development and demos only. !!!"
        );
    }
    if let Executors::Kubernetes(kubernetes) = &executors
        && kubernetes.per_build().is_some()
    {
        tokio::spawn(images::sweep_every(app.clone(), (**kubernetes).clone()));
    }
    let mut engine = EngineWatch::default();
    tokio::spawn(listen(app.clone(), wake.clone(), workers.running.clone()));
    recover(&workers, true).await;
    let mut last_recovery = tokio::time::Instant::now();
    loop {
        // No claims while the container engine is down: the builds wait in the queue.
        while engine.ready(&executors).await {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let kind = executors.kind();
            let claimed = match app.db().await {
                Ok(mut conn) => {
                    let b = &app.config.builds;
                    Build::claim(&mut conn, &worker, kind, b.lease, b.per_student)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match claimed {
                Ok(Some(build)) => {
                    let waited =
                        build.started_at.unwrap_or_else(chrono::Utc::now) - build.queued_at;
                    crate::metrics::get()
                        .build_started(kind.as_str(), crate::metrics::seconds(waited));
                    let cancel = CancellationToken::new();
                    let (app, executors, worker) = (app.clone(), executors.clone(), worker.clone());
                    let body = {
                        let (build, cancel) = (build.clone(), cancel.clone());
                        async move {
                            match &executors {
                                Executors::Docker(e) => {
                                    execute(&app, e, &worker, build, cancel).await;
                                }
                                Executors::Local(e) => {
                                    execute(&app, e, &worker, build, cancel).await;
                                }
                                Executors::Kubernetes(e) => {
                                    execute(&app, &**e, &worker, build, cancel).await;
                                }
                            }
                        }
                    };
                    workers.track(&build, cancel, Some(permit), body);
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim a build; retrying shortly");
                    break;
                }
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
        if last_recovery.elapsed() >= POLL * 5 {
            recover(&workers, false).await;
            last_recovery = tokio::time::Instant::now();
        }
    }
}

/// Whether the executor can take builds, checked at most every few seconds, saying so in
/// the log when that changes.
#[derive(Default)]
struct EngineWatch {
    checked: Option<(tokio::time::Instant, bool)>,
}

impl EngineWatch {
    const EVERY: Duration = Duration::from_secs(5);

    async fn ready(&mut self, executors: &Executors) -> bool {
        let Executors::Docker(docker) = executors else {
            return true;
        };
        if let Some((at, ready)) = self.checked
            && at.elapsed() < Self::EVERY
        {
            return ready;
        }
        let was = self.checked.map(|(_, ready)| ready);
        let ready = match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
            Ok(Ok(version)) => {
                if was != Some(true) {
                    tracing::info!(engine = %version, "builds run in containers");
                }
                true
            }
            Ok(Err(err)) => {
                if was != Some(false) {
                    tracing::error!(error = %err, "the container engine does not answer (DOCKER_HOST); builds wait in the queue until it does");
                }
                false
            }
            Err(_) => {
                if was != Some(false) {
                    tracing::error!(
                        "the container engine did not answer within 3 s (DOCKER_HOST); builds wait in the queue until it does"
                    );
                }
                false
            }
        };
        self.checked = Some((tokio::time::Instant::now(), ready));
        ready
    }
}

/// Deals with builds whose server died (expired leases; at start, also builds of earlier
/// processes on this host): on Kubernetes, a build whose Job is still in the cluster is
/// followed on (see [`adopt_jobs`]); the others are queued again or ended, and what they
/// left in the executor is removed.
async fn recover(workers: &Workers, at_start: bool) {
    let Workers { app, executors, .. } = workers;
    let recovered = async {
        let mut conn = app.db().await?;
        let dead = if at_start {
            dead_on_this_host(&Build::running_workers(&mut conn).await?)
        } else {
            Vec::new()
        };
        if let Executors::Kubernetes(kubernetes) = executors {
            adopt_jobs(workers, &mut conn, kubernetes, &dead).await;
        }
        Ok::<_, crate::error::AppError>(Build::recover(&mut conn, &dead).await?)
    }
    .await;
    let recovered = match recovered {
        Ok(r) => r,
        Err(err) => {
            tracing::warn!(error = %err, "could not look for builds of stopped servers");
            return;
        }
    };
    for item in recovered {
        let (build, line) = match &item {
            Recovered::Requeued(b) => (
                b,
                "the server running this build stopped; it is queued to run again",
            ),
            Recovered::Ended(b) => (b, "the server running this build stopped; the build ended"),
        };
        executors.cleanup(build.id).await;
        let _ = append_system_line(app, build.id, line).await;
        if let Recovered::Ended(b) = &item {
            crate::metrics::get().build_ended(b);
            queue_final_status(app, b).await;
        }
    }
}

/// Takes over the lost builds whose Job is still in the cluster (running, or finished and
/// not yet collected) and follows each on to its end. A build whose hidden tests were to
/// run after its tests, or that was running them, is not: the copy of the commit they run
/// in went with the server, so it runs again from the start (see [`Build::recover`]).
async fn adopt_jobs(
    workers: &Workers,
    conn: &mut crate::db::DbConn,
    kubernetes: &KubernetesExecutor,
    dead: &[String],
) {
    let Workers { app, worker, .. } = workers;
    let adopted = async {
        let lost = Build::lost(conn, dead).await?;
        if lost.is_empty() {
            return Ok(Vec::new());
        }
        let jobs = match kubernetes.find_jobs().await {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for the Jobs of builds whose server stopped; they run again");
                return Ok(Vec::new());
            }
        };
        let mut adopted = Vec::new();
        for build in lost {
            let Some(job) = jobs.iter().find(|j| j.build_id == build.id) else {
                continue;
            };
            let assignment = Assignment::find(conn, build.assignment_id).await?;
            let hidden_to_run = build.graded_run && hidden::Source::of(&assignment).is_some();
            if job.hidden || hidden_to_run {
                continue;
            }
            let lease = app.config.builds.lease;
            if let Some(build) = Build::adopt(conn, build.id, worker, lease, dead).await? {
                adopted.push((build, job.clone()));
            }
        }
        Ok::<_, crate::error::AppError>(adopted)
    }
    .await;
    let adopted = adopted.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "could not take over builds whose server stopped");
        Vec::new()
    });
    for (build, job) in adopted {
        tracing::warn!(build = build.id, job = %job.name, "following on the Job of a build whose server stopped");
        let cancel = CancellationToken::new();
        // It runs in the cluster already: a slot if one is free, but it goes on regardless.
        let permit = workers.slots.clone().try_acquire_owned().ok();
        let (app, worker, kubernetes) = (app.clone(), worker.clone(), kubernetes.clone());
        let body = {
            let (build, cancel) = (build.clone(), cancel.clone());
            async move { resume(&app, &kubernetes, &worker, build, job, cancel).await }
        };
        workers.track(&build, cancel, permit, body);
    }
}

/// Adds one system line to a build's stored log when no writer is running for it.
async fn append_system_line(
    app: &App,
    build_id: i64,
    line: &str,
) -> Result<(), crate::error::AppError> {
    append_lines(app, build_id, &[(LogStream::System, line.to_owned())]).await
}

/// Adds lines (each on its stream) to a build's stored log when no writer is running for it.
async fn append_lines(
    app: &App,
    build_id: i64,
    lines: &[(LogStream, String)],
) -> Result<(), crate::error::AppError> {
    let mut conn = app.db().await?;
    let (seq, mut bytes) = LogChunk::tail(&mut conn, build_id).await?;
    let chunks: Vec<NewLogChunk> = lines
        .iter()
        .zip(seq..)
        .map(|((stream, line), seq)| {
            let data = format!("{line}\n").into_bytes();
            bytes += i64::try_from(data.len()).unwrap_or(0);
            NewLogChunk {
                build_id,
                seq,
                stream: *stream,
                data,
            }
        })
        .collect();
    LogChunk::insert_all(&mut conn, &chunks).await?;
    Build::set_log_size(&mut conn, build_id, bytes, false).await?;
    let added: usize = chunks.iter().map(|c| c.data.len()).sum();
    crate::metrics::get().log_bytes.inc_by(added as u64);
    Ok(())
}

/// Listens for queued builds (wakes the claim loop) and cancel requests (stops the build
/// if this process runs it), reconnecting after a pause when the connection drops.
async fn listen(app: App, wake: Arc<Notify>, running: Running) {
    loop {
        let url = app.config.database_url.expose();
        match crate::db::listen(url, &[QUEUED_CHANNEL, CANCEL_CHANNEL]).await {
            Ok(notifications) => {
                let mut notifications = std::pin::pin!(notifications);
                while let Some(notification) = notifications.next().await {
                    if notification.channel != CANCEL_CHANNEL {
                        wake.notify_one();
                    } else if let Ok(id) = notification.payload.parse::<i64>() {
                        let token = running
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get(&id)
                            .cloned();
                        if let Some(token) = token {
                            token.cancel();
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "build listener cannot listen; polling only");
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Why a running build stops early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interrupt {
    Cancel,
    /// Another server took the build over (this one's lease ran out).
    LostLease,
}

/// Runs one claimed build to its end.
async fn execute<E: Executor>(
    app: &App,
    executor: &E,
    worker: &str,
    build: Build,
    cancel: CancellationToken,
) {
    tracing::info!(sha = %build.commit_sha, "build started");
    queue_status(app, build.id, State::Pending, "Running the tests").await;
    carry(
        app,
        worker,
        build,
        cancel,
        async |build, sink, workdir, cancel| {
            run_steps(app, executor, build, worker, sink, workdir, cancel).await
        },
    )
    .await;
}

/// Follows on a build whose server stopped while its `job` went on in the cluster.
async fn resume(
    app: &App,
    executor: &KubernetesExecutor,
    worker: &str,
    build: Build,
    job: Followed,
    cancel: CancellationToken,
) {
    carry(
        app,
        worker,
        build,
        cancel,
        async |build, sink, _, cancel| follow_on(app, executor, build, job, sink, cancel).await,
    )
    .await;
}

/// Carries a build this worker holds to its end: opens its log, keeps its lease, runs
/// `steps`, then grades it, finishes it and queues its final commit status.
async fn carry(
    app: &App,
    worker: &str,
    build: Build,
    cancel: CancellationToken,
    steps: impl AsyncFnOnce(&Build, &LogSink, &std::path::Path, &CancellationToken) -> Ran,
) {
    let (sink, writer) =
        match LogWriter::start(app, build.id, app.config.builds.log_max_bytes).await {
            Ok(pair) => pair,
            Err(err) => {
                // The lease runs out and another worker (or this one) tries again.
                tracing::error!(error = %err, "could not open the build's log");
                return;
            }
        };
    let interrupt = Arc::new(Mutex::new(None::<Interrupt>));
    let lease = tokio::spawn(keep_lease(
        app.clone(),
        build.id,
        worker.to_owned(),
        cancel.clone(),
        interrupt.clone(),
    ));
    // Build ids are unique within one database: the installation's scope keeps two
    // installations (or test servers) on one machine out of each other's checkouts.
    let workdir = app
        .config
        .builds
        .work_dir
        .join(crate::executor::scope_for(app.config.database_url.expose()))
        .join(format!("build-{}", build.id));
    let ran = steps(&build, &sink, &workdir, &cancel).await;
    lease.abort();
    let interrupted = *interrupt
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if interrupted == Some(Interrupt::LostLease) {
        tracing::warn!("another server took this build over; dropping this run's result");
        drop(sink);
        writer.finish().await;
        let _ = tokio::fs::remove_dir_all(&workdir).await;
        return;
    }
    let mut build = build;
    if ran.ending() == &Ending::Cancelled {
        // The reason (who cancelled) was written when the cancel was asked for.
        if let Ok(mut conn) = app.db().await
            && let Ok(current) = Build::find(&mut conn, build.id).await
        {
            build = current;
        }
    }
    let verdict = outcome(ran.ending(), &build);
    let status = verdict.status;
    sink.system(summary_line(&ran.visible)).await;
    if let Some(hidden) = &ran.hidden {
        sink.hidden().system(summary_line(hidden)).await;
    }
    drop(sink);
    let log = writer.finish().await;
    // Only a graded run whose tests reached a verdict is graded.
    let graded = match (&ran.visible, status, &ran.loaded) {
        (
            Ending::Exited { exit, .. },
            BuildStatus::Passed | BuildStatus::Failed,
            Some((assignment, owner_id)),
        ) if ran.graded_run => {
            let hidden = ran.hidden.as_ref().map(|hidden| match hidden {
                Ending::Exited { exit, .. } => (exit.report.clone(), exit.code == Some(0)),
                // Timed out: whatever the hidden tests printed before counts, nothing more.
                _ => (None, false),
            });
            let visible = (exit.report.clone(), exit.code == Some(0));
            grade::grade(app, &build, assignment, *owner_id, visible, hidden).await
        }
        _ => None,
    };
    let _ = tokio::fs::remove_dir_all(&workdir).await;
    if let Some(graded) = &graded {
        // With hidden tests, what students may read says nothing of them; the whole goes
        // on the hidden stream.
        let mut lines = vec![(LogStream::System, grade::summary(graded, false))];
        if ran.hidden.is_some() {
            if let Some(problem) = &graded.hidden_problem {
                lines.push((
                    LogStream::HiddenSystem,
                    format!("the hidden tests' report: {problem}"),
                ));
            }
            lines.push((LogStream::HiddenSystem, grade::summary(graded, true)));
        }
        if let Err(err) = append_lines(app, build.id, &lines).await {
            tracing::warn!(error = %err, "could not write the results' summary to the log");
        }
    }
    let finished = async {
        let mut conn = app.db().await?;
        Ok::<_, crate::error::AppError>(
            Build::finish(
                &mut conn,
                build.id,
                worker,
                &verdict,
                graded.as_ref(),
                &ran.record,
                &crate::notify::outbox::Outbox::of(&app.config),
            )
            .await?,
        )
    }
    .await;
    match finished {
        Ok(Some(done)) => {
            tracing::info!(status = %done.status, log_bytes = log.bytes, truncated = log.truncated, "build finished");
            crate::metrics::get().build_ended(&done);
            queue_final_status(app, &done).await;
        }
        Ok(None) => tracing::warn!("the build was taken over before it could be finished"),
        Err(err) => {
            tracing::error!(error = %err, "could not record the build's end; it will be recovered");
        }
    }
}

/// Renews the lease until aborted; stops the build when a cancel is asked for (also when
/// the notification was missed) or when the lease is lost.
async fn keep_lease(
    app: App,
    build_id: i64,
    worker: String,
    cancel: CancellationToken,
    interrupt: Arc<Mutex<Option<Interrupt>>>,
) {
    let lease = app.config.builds.lease;
    let every = (lease / 3).min(Duration::from_secs(5));
    loop {
        tokio::time::sleep(every).await;
        let renewed = async {
            let mut conn = app.db().await?;
            Ok::<_, crate::error::AppError>(
                Build::renew_lease(&mut conn, build_id, &worker, lease).await?,
            )
        }
        .await;
        let stop = match renewed {
            Ok(Some(false)) => None,
            Ok(Some(true)) => Some(Interrupt::Cancel),
            Ok(None) => Some(Interrupt::LostLease),
            Err(err) => {
                tracing::warn!(error = %err, "could not renew the build's lease");
                None
            }
        };
        if let Some(stop) = stop {
            *interrupt
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(stop);
            cancel.cancel();
            return;
        }
    }
}

/// What running a build's steps came to.
struct Ran {
    /// How the visible run ended.
    visible: Ending,
    /// How the hidden tests' run ended, when there was one.
    hidden: Option<Ending>,
    record: RunRecord,
    /// Whether the build is graded (false: over the student's limit of graded runs).
    graded_run: bool,
    /// The assignment and the repository's owner, as loaded to run the build (grading reads
    /// them too); `None` when the build ended before they were.
    loaded: Option<(Assignment, i64)>,
}

impl Ran {
    /// A build that ended before its tests could run.
    fn ended(visible: Ending) -> Self {
        Self {
            visible,
            hidden: None,
            record: RunRecord::default(),
            graded_run: true,
            loaded: None,
        }
    }

    /// The ending the build's status follows: the visible run's, unless the hidden tests'
    /// run could not be done (cancelled, or Lectern failed to run it).
    fn ending(&self) -> &Ending {
        match &self.hidden {
            Some(hidden @ (Ending::Cancelled | Ending::Errored(_))) => hidden,
            _ => &self.visible,
        }
    }
}

/// The run of `build` that `job` goes on with in the cluster, followed from where the stored
/// log ends (a Job that finished meanwhile is collected the same way).
async fn follow_on(
    app: &App,
    executor: &KubernetesExecutor,
    build: &Build,
    job: Followed,
    sink: &LogSink,
    cancel: &CancellationToken,
) -> Ran {
    let loaded = async {
        let mut conn = app.db().await?;
        let repository = Repository::find(&mut conn, build.repository_id).await?;
        let assignment = Assignment::find(&mut conn, build.assignment_id).await?;
        let stored = LogChunk::stream_bytes(&mut conn, build.id, LogStream::Stdout).await?;
        Ok::<_, crate::error::AppError>((repository, assignment, stored))
    }
    .await;
    let (repository, assignment, stored) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            return Ran::ended(Ending::Errored(format!(
                "could not load the build's repository: {}",
                err.public_message()
            )));
        }
    };
    sink.system(format!(
        "the server running this build stopped; its Job {} went on in the cluster, and this server follows it on",
        job.name
    ))
    .await;
    let handle = executor.reattach(job, u64::try_from(stored).unwrap_or(0));
    // The Job's own deadline ends it in time; this is for a cluster that does not.
    let limit = time_limit(&assignment);
    let elapsed = build
        .started_at
        .and_then(|at| (chrono::Utc::now() - at).to_std().ok())
        .unwrap_or_default();
    let timeout = limit.saturating_sub(elapsed).max(Duration::from_secs(60));
    let visible =
        executor::drive_attached(executor, build.id, &handle, timeout, sink, cancel).await;
    let image_digest = match &visible {
        Ending::Exited { exit, .. } => exit.image.clone(),
        _ => None,
    };
    Ran {
        visible,
        hidden: None,
        record: RunRecord {
            image_digest,
            hidden_tests_sha256: None,
            protected_edits: build.protected_edits.iter().flatten().cloned().collect(),
        },
        graded_run: build.graded_run,
        loaded: Some((assignment, repository.owner_id)),
    }
}

/// How long `assignment`'s tests may run.
fn time_limit(assignment: &Assignment) -> Duration {
    Duration::from_secs(u64::try_from(assignment.timeout_seconds).unwrap_or(600))
}

/// What a build needs from the database before it runs.
struct Loaded {
    repository: Repository,
    assignment: Assignment,
    /// The student's token, for a private repository.
    token: Option<String>,
    /// An instructor's token, for the course's own repositories (starter, hidden tests).
    course_token: Option<String>,
}

async fn load(app: &App, build: &Build) -> Result<Loaded, crate::error::AppError> {
    let mut conn = app.db().await?;
    let repository = Repository::find(&mut conn, build.repository_id).await?;
    let assignment = Assignment::find(&mut conn, build.assignment_id).await?;
    let token = if repository.private {
        crate::forge::github::token_for_user(app, &mut conn, repository.owner_id).await?
    } else {
        None
    };
    let course_token =
        if assignment.hidden_tests_repo.is_some() || assignment.starter_repo.is_some() {
            crate::forge::github::token_for_course(app, &mut conn, assignment.course_id).await?
        } else {
            None
        };
    Ok(Loaded {
        repository,
        assignment,
        token,
        course_token,
    })
}

/// Fetch, check, then run on the executor: the visible tests, and the hidden tests after
/// them when the assignment has some. Every failure becomes an [`Ending`].
async fn run_steps<E: Executor>(
    app: &App,
    executor: &E,
    build: &Build,
    worker: &str,
    sink: &LogSink,
    workdir: &std::path::Path,
    cancel: &CancellationToken,
) -> Ran {
    let Loaded {
        repository,
        assignment,
        token,
        course_token,
    } = match load(app, build).await {
        Ok(loaded) => loaded,
        Err(err) => {
            return Ran::ended(Ending::Errored(format!(
                "could not load the build's repository: {}",
                err.public_message()
            )));
        }
    };
    let short = &build.commit_sha[..build.commit_sha.len().min(7)];
    let what = match (&build.branch, build.pr_number) {
        (_, Some(pr)) => format!("pull request #{pr}"),
        (Some(branch), None) => format!("branch {branch}"),
        (None, None) => "commit".to_owned(),
    };
    sink.system(format!(
        "build #{} of {} ({what}), attempt {}",
        build.number, repository.full_name, build.attempt
    ))
    .await;
    sink.system(format!("fetching {short}")).await;
    let _ = tokio::fs::remove_dir_all(workdir).await;
    let src: PathBuf = workdir.join("src");
    let b = &app.config.builds;
    let limits = checkout::Limits {
        max_bytes: b.checkout_max_bytes,
        max_files: b.checkout_max_files,
        timeout: b.checkout_timeout,
        allow_local: app.config.dev_mode,
    };
    let fetched = tokio::select! {
        fetched = checkout::fetch(&repository.clone_url, &build.commit_sha, token.as_deref(), &src, &limits) => fetched,
        () = cancel.cancelled() => return Ran::ended(Ending::Cancelled),
    };
    match fetched {
        Ok((files, bytes)) => {
            sink.system(format!(
                "fetched {short}: {files} files, {} KB",
                bytes.div_ceil(1024)
            ))
            .await;
        }
        Err(err) => return Ran::ended(Ending::Errored(format!("could not fetch {short}: {err}"))),
    }
    let graded_run =
        spend_graded_run(app, build, worker, &assignment, repository.owner_id, sink).await;
    let course = CourseFetch {
        app,
        sink,
        workdir,
        token: course_token.as_deref(),
        limits: &limits,
        cancel,
    };
    let protected_edits = check_protected(&course, &assignment, &src).await;
    if !protected_edits.is_empty() {
        // Kept at once: a server that follows the build on after this one stops reads them.
        let recorded = async {
            let mut conn = app.db().await?;
            Build::record_protected_edits(&mut conn, build.id, worker, &protected_edits).await?;
            Ok::<_, crate::error::AppError>(())
        }
        .await;
        if let Err(err) = recorded {
            tracing::warn!(error = %err, "could not record the protected files the commit changed");
        }
    }
    let use_dockerfile = assignment.allow_dockerfile && src.join("Dockerfile").is_file();
    let spec = RunSpec {
        build_id: build.id,
        checkout: src.clone(),
        image: assignment.image.clone(),
        command: assignment.test_command.clone(),
        timeout: time_limit(&assignment),
        memory_mb: u64::try_from(assignment.memory_mb).unwrap_or(512),
        cpu_millis: u64::try_from(assignment.cpu_millis).unwrap_or(1000),
        pids_limit: b.pids_limit,
        workspace_mb: b.workspace_mb,
        use_dockerfile,
        report_path: assignment.report_path.clone(),
        report_marker: crate::executor::report::marker(),
        origin: Some(executor::Origin {
            course_id: build.course_id,
            assignment_id: build.assignment_id,
            clone_url: repository.clone_url.clone(),
            commit: build.commit_sha.clone(),
            token: token.clone().map(crate::config::Secret::new),
        }),
        image_per_build: assignment.image_source == crate::db::enums::ImageSource::PerBuild,
        hidden: false,
    };
    // Hidden tests run only in graded runs, in a copy of the commit as fetched, taken now.
    let hidden_source = hidden::Source::of(&assignment).filter(|_| graded_run);
    let pristine = if hidden_source.is_some() {
        let (from, into) = (src.clone(), workdir.join("hidden-run"));
        tokio::task::spawn_blocking(move || hidden::copy_tree(&from, &into).map(|()| into))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    } else {
        Err(std::io::Error::other("no hidden tests"))
    };
    let visible = executor::drive(executor, &spec, sink, cancel).await;
    let image_digest = match &visible {
        Ending::Exited { exit, .. } => exit.image.clone(),
        _ => None,
    };
    let mut ran = Ran {
        visible,
        hidden: None,
        record: RunRecord {
            image_digest,
            hidden_tests_sha256: None,
            protected_edits,
        },
        graded_run,
        loaded: None,
    };
    let hidden_source = hidden_source.filter(|_| matches!(ran.visible, Ending::Exited { .. }));
    if let Some(source) = hidden_source {
        ran.hidden = Some(
            run_hidden(
                &course,
                executor,
                &assignment,
                source,
                &spec,
                pristine,
                &mut ran.record,
            )
            .await,
        );
    }
    ran.loaded = Some((assignment, repository.owner_id));
    ran
}

/// What fetching the course's own code (starter, hidden tests) for one build needs.
struct CourseFetch<'a> {
    app: &'a App,
    sink: &'a LogSink,
    /// The build's working directory.
    workdir: &'a std::path::Path,
    /// An instructor's token, for the course's private repositories.
    token: Option<&'a str>,
    limits: &'a checkout::Limits,
    cancel: &'a CancellationToken,
}

/// Gets the hidden tests — only now, after the visible run, so nothing of it is left to read
/// them — puts them into the copy of the commit taken before it (`pristine`: where, or why
/// taking it failed), and runs them there, on the hidden streams. Their digest goes into
/// `record`.
async fn run_hidden<E: Executor>(
    course: &CourseFetch<'_>,
    executor: &E,
    assignment: &Assignment,
    source: hidden::Source,
    spec: &RunSpec,
    pristine: std::io::Result<PathBuf>,
    record: &mut RunRecord,
) -> Ending {
    let CourseFetch {
        sink,
        workdir,
        cancel,
        ..
    } = *course;
    let dest = workdir.join("hidden-tests");
    let got = tokio::select! {
        got = get_hidden_tests(course, assignment.id, source, &dest) => got,
        () = cancel.cancelled() => return Ending::Cancelled,
    };
    let digest = match got {
        Ok(digest) => digest,
        Err(why) => {
            sink.hidden()
                .system(format!("could not get the hidden tests: {why}"))
                .await;
            return Ending::Errored(
                "could not get the assignment's hidden tests; the course staff can see why on this build".into(),
            );
        }
    };
    record.hidden_tests_sha256 = Some(digest);
    let relative = assignment.hidden_tests_path.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        let into = pristine?;
        hidden::overlay(&into, &relative, &dest).map(|()| into)
    })
    .await;
    let Ok(Ok(hidden_src)) = prepared else {
        sink.hidden()
            .system(format!(
                "could not put the hidden tests in place: {prepared:?}"
            ))
            .await;
        return Ending::Errored("could not put the hidden tests in place".into());
    };
    sink.system("running the hidden tests: their names, output and points are shown once the course releases them")
        .await;
    let hidden_spec = RunSpec {
        checkout: hidden_src,
        command: assignment
            .hidden_tests_command
            .clone()
            .unwrap_or_else(|| assignment.test_command.clone()),
        report_marker: crate::executor::report::marker(),
        // The hidden tests exist only in this server's copy: no executor may fetch the
        // plain commit in its place.
        origin: None,
        image_per_build: true,
        hidden: true,
        ..spec.clone()
    };
    executor::drive(executor, &hidden_spec, &sink.hidden(), cancel).await
}

/// Whether this build spends one of the student's graded runs, recording it on the build
/// when it cannot (over the limit). Builds staff started (regrades) always count.
async fn spend_graded_run(
    app: &App,
    build: &Build,
    worker: &str,
    assignment: &Assignment,
    owner_id: i64,
    sink: &LogSink,
) -> bool {
    let Some(limit) = assignment.graded_run_limit else {
        return true;
    };
    if build.triggered_by.is_some_and(|by| by != owner_id) {
        return true;
    }
    let period = chrono::TimeDelta::hours(i64::from(assignment.graded_run_period_hours));
    let checked = async {
        let mut conn = app.db().await?;
        let window = (build.received_at - period, build.received_at);
        let runs =
            Build::graded_runs(&mut conn, assignment.id, owner_id, window, Some(build.id)).await?;
        let allowance = crate::grading::allowance::at(limit, period, &runs, build.received_at);
        if allowance.left() > 0 {
            return Ok::<_, crate::error::AppError>(None);
        }
        let reason =
            crate::grading::allowance::refusal(&allowance, assignment.graded_run_period_hours);
        Build::mark_ungraded(&mut conn, build.id, worker, &reason).await?;
        Ok(Some(reason))
    }
    .await;
    match checked {
        Ok(None) => true,
        Ok(Some(reason)) => {
            sink.system(reason).await;
            false
        }
        Err(err) => {
            // Counting failed: the student is not charged for Lectern's trouble.
            tracing::warn!(error = %err, "could not count the student's graded runs");
            true
        }
    }
}

/// The protected files the checkout at `src` changed against the assignment's starter,
/// said in the log when there are any.
async fn check_protected(
    course: &CourseFetch<'_>,
    assignment: &Assignment,
    src: &std::path::Path,
) -> Vec<String> {
    let CourseFetch {
        sink,
        workdir,
        token,
        limits,
        ..
    } = *course;
    let patterns: Vec<String> = assignment
        .protected_paths
        .iter()
        .flatten()
        .cloned()
        .collect();
    let (false, Some(url)) = (patterns.is_empty(), &assignment.starter_repo) else {
        return Vec::new();
    };
    let reference = assignment.starter_ref.as_deref().unwrap_or("HEAD");
    let starter = workdir.join("starter");
    if let Err(err) = checkout::fetch(url, reference, token, &starter, limits).await {
        sink.system(format!(
            "could not fetch the starter code to check protected files: {err}"
        ))
        .await;
        return Vec::new();
    }
    let (from, to) = (starter.clone(), src.to_path_buf());
    let edits = tokio::task::spawn_blocking(move || hidden::protected_edits(&patterns, &from, &to))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let _ = tokio::fs::remove_dir_all(&starter).await;
    if !edits.is_empty() {
        sink.system(format!(
            "this commit changes files the assignment protects: {}",
            edits.join(", ")
        ))
        .await;
    }
    edits
}

/// The hidden tests of `assignment_id`, put at `dest`; returns their digest.
async fn get_hidden_tests(
    course: &CourseFetch<'_>,
    assignment_id: i64,
    source: hidden::Source,
    dest: &std::path::Path,
) -> Result<String, String> {
    match source {
        hidden::Source::Git { url, reference } => {
            checkout::fetch(&url, &reference, course.token, dest, course.limits)
                .await
                .map_err(|e| e.to_string())?;
        }
        hidden::Source::Archive => {
            let archive = async {
                let mut conn = course.app.db().await?;
                Ok::<_, crate::error::AppError>(
                    Assignment::hidden_archive(&mut conn, assignment_id).await?,
                )
            }
            .await
            .map_err(|e| e.public_message())?
            .ok_or("the uploaded archive was removed")?;
            let to = dest.to_path_buf();
            tokio::task::spawn_blocking(move || hidden::unpack(&archive, &to))
                .await
                .map_err(|e| e.to_string())??;
        }
    }
    let at = dest.to_path_buf();
    tokio::task::spawn_blocking(move || hidden::digest(&at))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// The build's status, the reason shown with it, and its exit code.
fn outcome(ending: &Ending, build: &Build) -> Verdict {
    let (status, reason, exit_code) = match ending {
        Ending::Exited { exit, .. } if exit.oom_killed => (
            BuildStatus::Failed,
            Some("killed: the tests used more memory than the assignment allows".into()),
            exit.code.and_then(|c| i32::try_from(c).ok()),
        ),
        Ending::Exited { exit, .. } => match exit.code {
            Some(0) => (BuildStatus::Passed, None, Some(0)),
            Some(code) => (BuildStatus::Failed, None, i32::try_from(code).ok()),
            None => (
                BuildStatus::Failed,
                Some(format!(
                    "the tests were killed by signal {}",
                    exit.signal.unwrap_or_default()
                )),
                None,
            ),
        },
        Ending::TimedOut(after) => (
            BuildStatus::TimedOut,
            Some(format!("the tests ran longer than {} s", after.as_secs())),
            None,
        ),
        Ending::Cancelled => (
            BuildStatus::Cancelled,
            build
                .status_reason
                .clone()
                .or_else(|| Some("cancelled".into())),
            None,
        ),
        Ending::Errored(why) => (BuildStatus::Errored, Some(why.clone()), None),
    };
    Verdict {
        status,
        reason,
        exit_code,
    }
}

/// The last system line of a build's log.
fn summary_line(ending: &Ending) -> String {
    match ending {
        Ending::Exited { exit, after } => match exit.code {
            _ if exit.oom_killed => format!(
                "killed for using too much memory after {:.1} s",
                after.as_secs_f64()
            ),
            Some(code) => format!("exit code {code} after {:.1} s", after.as_secs_f64()),
            None => format!(
                "killed by signal {} after {:.1} s",
                exit.signal.unwrap_or_default(),
                after.as_secs_f64()
            ),
        },
        Ending::TimedOut(after) => format!("timed out after {} s; stopped", after.as_secs()),
        Ending::Cancelled => "cancelled; stopped".to_owned(),
        Ending::Errored(why) => format!("error: {why}"),
    }
}

async fn queue_status(app: &App, build_id: i64, state: State, description: &str) {
    let queued = async {
        let mut conn = app.db().await?;
        commit_status::enqueue(&mut conn, build_id, state, description).await?;
        Ok::<_, crate::error::AppError>(())
    }
    .await;
    if let Err(err) = queued {
        tracing::warn!(error = %err, "could not queue a commit status");
    }
}

/// Queues the commit status that says how `build` ended.
async fn queue_final_status(app: &App, build: &Build) {
    let (state, description) = match build.status {
        BuildStatus::Passed => (State::Success, "Tests passed".to_owned()),
        BuildStatus::Failed => (
            State::Failure,
            match build.exit_code {
                Some(code) => format!("Tests failed (exit code {code})"),
                None => "Tests failed".to_owned(),
            },
        ),
        BuildStatus::TimedOut => (State::Failure, "Tests timed out".to_owned()),
        BuildStatus::Cancelled => (State::Error, "Build cancelled".to_owned()),
        BuildStatus::Errored => (State::Error, "Lectern could not run the tests".to_owned()),
        BuildStatus::Queued | BuildStatus::Running => return,
    };
    queue_status(app, build.id, state, &description).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Exit;

    #[test]
    fn summary_lines_say_how_the_run_ended() {
        let exited = |code, oom| Ending::Exited {
            exit: Exit {
                code,
                oom_killed: oom,
                signal: None,
                report: None,
                image: None,
                timed_out: false,
            },
            after: Duration::from_millis(3200),
        };
        assert_eq!(
            summary_line(&exited(Some(1), false)),
            "exit code 1 after 3.2 s"
        );
        assert_eq!(
            summary_line(&exited(Some(137), true)),
            "killed for using too much memory after 3.2 s"
        );
        assert_eq!(
            summary_line(&Ending::TimedOut(Duration::from_secs(60))),
            "timed out after 60 s; stopped"
        );
    }

    #[test]
    fn only_workers_of_dead_processes_on_this_host_count_as_dead() {
        let host = hostname();
        let me = format!("{host}:{}:abcd", std::process::id());
        let dead = format!("{host}:999999999:abcd");
        let elsewhere = "other-host:1:abcd".to_owned();
        let found = dead_on_this_host(&[me, dead.clone(), elsewhere]);
        assert_eq!(found, vec![dead]);
    }
}
