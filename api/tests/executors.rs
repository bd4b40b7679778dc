//! One conformance suite, run against every executor: each hostile or ordinary test command
//! ends as the policy says, its output is stored exactly (or capped), the server's memory
//! stays bounded, and a build running beside a hostile one is not disturbed. The docker
//! executor runs against real Podman (`DOCKER_HOST`, started by scripts/test).

mod support;

use std::time::{Duration, Instant};

use lectern::builds::log::{LogSummary, LogWriter};
use lectern::db::enums::{BuildTrigger, LogStream};
use lectern::db::models::{Build, BuildRequest, LogChunk, Repository};
use lectern::executor::{self, DockerExecutor, Ending, Executor, LocalExecutor, RunSpec};
use support::TestApp;

/// A server with one linked repository, to hang builds (and their logs) on.
struct Bench {
    app: TestApp,
    repository: Repository,
}

impl Bench {
    async fn new() -> anyhow::Result<Self> {
        let (app, repository) = TestApp::with_repository().await?;
        Ok(Self { app, repository })
    }
}

/// Each executor as a server on `bench`'s database would make it.
trait Make: Executor + Sized {
    fn make(bench: &Bench) -> Self;
}

impl Make for DockerExecutor {
    fn make(bench: &Bench) -> Self {
        let host = std::env::var("DOCKER_HOST").ok();
        let scope = lectern::executor::scope_for(&bench.app.db.url);
        DockerExecutor::connect(host.as_deref(), false, &scope)
            .expect("DOCKER_HOST is a usable address")
    }
}

impl Make for LocalExecutor {
    fn make(bench: &Bench) -> Self {
        LocalExecutor::new(&lectern::executor::scope_for(&bench.app.db.url))
    }
}

/// What one run produced.
struct Run {
    ending: Ending,
    log: LogSummary,
    chunks: Vec<LogChunk>,
    took: Duration,
}

impl Run {
    fn stream(&self, stream: LogStream) -> Vec<u8> {
        self.chunks
            .iter()
            .filter(|c| c.stream == stream)
            .flat_map(|c| c.data.clone())
            .collect()
    }

    fn text(&self) -> String {
        self.chunks
            .iter()
            .map(|c| String::from_utf8_lossy(&c.data).into_owned())
            .collect()
    }

    fn exit_code(&self) -> Option<i64> {
        match &self.ending {
            Ending::Exited { exit, .. } => exit.code,
            _ => None,
        }
    }

    /// Ended by the command itself, unsuccessfully (a `failed` build).
    fn failed(&self) -> bool {
        matches!(&self.ending, Ending::Exited { exit, .. } if exit.oom_killed || exit.code != Some(0))
    }
}

/// A run's settings; tests change what they need.
fn spec(command: &str) -> RunSpec {
    support::run_spec(command)
}

/// Runs `spec` to its end on `executor`, cancelling after `cancel_after` when given.
async fn run<E: Executor>(
    bench: &Bench,
    executor: &E,
    mut spec: RunSpec,
    log_cap: u64,
    cancel_after: Option<Duration>,
) -> anyhow::Result<Run> {
    let mut conn = bench.app.db.conn().await?;
    let request = BuildRequest {
        trigger: BuildTrigger::Manual,
        branch: Some("main".into()),
        pr_number: None,
        commit_sha: "0123456789abcdef0123456789abcdef01234567".into(),
        commit_message: "conformance".into(),
        commit_author: None,
    };
    let build = Build::enqueue(
        &mut conn,
        &bench.repository,
        &request,
        None,
        chrono::Utc::now(),
        false,
    )
    .await?;
    let checkout = std::env::temp_dir().join(format!(
        "lectern-conformance-{}-{}",
        std::process::id(),
        build.id
    ));
    std::fs::create_dir_all(&checkout)?;
    std::fs::write(checkout.join("README"), "conformance\n")?;
    spec.build_id = build.id;
    spec.checkout = checkout.clone();
    let (sink, writer) = LogWriter::start(&bench.app.app, build.id, log_cap).await?;
    let cancel = support::cancel_after(cancel_after);
    let started = Instant::now();
    let ending = executor::drive(executor, &spec, &sink, &cancel).await;
    let took = started.elapsed();
    drop(sink);
    let log = writer.finish().await;
    let _ = std::fs::remove_dir_all(&checkout);
    let chunks = LogChunk::list(&mut conn, build.id, None, 100_000).await?;
    Ok(Run {
        ending,
        log,
        chunks,
        took,
    })
}

const CAP: u64 = 4 * 1024 * 1024;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn passes_and_keeps_both_streams<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let run = run(
        &bench,
        e,
        spec("echo out; echo err >&2; cat README"),
        CAP,
        None,
    )
    .await?;
    assert_eq!(run.exit_code(), Some(0), "{:?}\n{}", run.ending, run.text());
    assert_eq!(run.stream(LogStream::Stdout), b"out\nconformance\n");
    assert_eq!(run.stream(LogStream::Stderr), b"err\n");
    assert!(String::from_utf8_lossy(&run.stream(LogStream::System)).contains("running: echo out"));
    Ok(())
}

async fn keeps_the_exit_code<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let run = run(&bench, e, spec("echo failing; exit 3"), CAP, None).await?;
    assert_eq!(run.exit_code(), Some(3), "{:?}", run.ending);
    Ok(())
}

async fn times_out<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let mut s = spec("echo waiting; sleep 60");
    s.timeout = Duration::from_secs(2);
    let run = run(&bench, e, s, CAP, None).await?;
    assert_eq!(run.ending, Ending::TimedOut(Duration::from_secs(2)));
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);
    assert_eq!(run.stream(LogStream::Stdout), b"waiting\n");
    Ok(())
}

async fn cancels<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let run = run(
        &bench,
        e,
        spec("sleep 60"),
        CAP,
        Some(Duration::from_secs(1)),
    )
    .await?;
    assert_eq!(run.ending, Ending::Cancelled);
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
    Ok(())
}

/// A fork bomb ends (at the timeout, or failing), and a build beside it passes.
async fn survives_a_fork_bomb<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let mut bomb = spec("bomb() { bomb | bomb & }; bomb; sleep 30");
    bomb.timeout = Duration::from_secs(5);
    let mut honest = spec("sleep 2; echo fine");
    honest.timeout = Duration::from_secs(60);
    let (bomb, honest) = tokio::join!(
        run(&bench, e, bomb, CAP, None),
        run(&bench, e, honest, CAP, None)
    );
    let (bomb, honest) = (bomb?, honest?);
    assert!(
        matches!(bomb.ending, Ending::TimedOut(_)) || bomb.failed(),
        "{:?}",
        bomb.ending
    );
    assert_eq!(
        honest.exit_code(),
        Some(0),
        "{:?}\n{}",
        honest.ending,
        honest.text()
    );
    assert_eq!(honest.stream(LogStream::Stdout), b"fine\n");
    Ok(())
}

async fn refuses_2_gb_of_memory<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let run = run(
        &bench,
        e,
        spec("python3 -c 'b = bytearray(2 * 1024**3); print(len(b))'"),
        CAP,
        None,
    )
    .await?;
    assert!(run.failed(), "{:?}\n{}", run.ending, run.text());
    assert!(run.stream(LogStream::Stdout).is_empty());
    Ok(())
}

async fn refuses_a_1_gb_file<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let run = run(
        &bench,
        e,
        spec("head -c 1073741824 /dev/zero > big && echo wrote"),
        CAP,
        None,
    )
    .await?;
    assert!(run.failed(), "{:?}\n{}", run.ending, run.text());
    assert!(run.stream(LogStream::Stdout).is_empty());
    Ok(())
}

async fn caps_an_endless_output_and_stays_small<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let before = rss_kb();
    let mut s = spec("yes 'all work and no play'");
    s.timeout = Duration::from_secs(4);
    let cap = 256 * 1024;
    let run = run(&bench, e, s, cap, None).await?;
    let grown_mb = rss_kb().saturating_sub(before) / 1024;
    assert_eq!(run.ending, Ending::TimedOut(Duration::from_secs(4)));
    assert!(run.log.truncated);
    let stored: usize = run.chunks.iter().map(|c| c.data.len()).sum();
    assert!(stored as u64 <= cap + 200, "stored {stored}");
    assert!(
        run.text()
            .contains("the log reached its limit of 262144 bytes")
    );
    assert!(grown_mb < 100, "the server grew by {grown_mb} MB");
    Ok(())
}

async fn stores_a_10_mb_line_exactly<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let run = run(
        &bench,
        e,
        spec("head -c 10485760 /dev/zero | tr '\\0' x"),
        16 * 1024 * 1024,
        None,
    )
    .await?;
    assert_eq!(run.exit_code(), Some(0), "{:?}", run.ending);
    let out = run.stream(LogStream::Stdout);
    assert_eq!(out.len(), 10 * 1024 * 1024);
    assert!(out.iter().all(|b| *b == b'x'));
    assert!(run.chunks.iter().all(|c| c.data.len() <= 64 * 1024));
    assert!(!run.log.truncated);
    Ok(())
}

async fn keeps_bytes_that_are_not_utf8<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let run = run(&bench, e, spec("printf '\\377\\376abc\\n'"), CAP, None).await?;
    assert_eq!(run.exit_code(), Some(0), "{:?}", run.ending);
    assert_eq!(run.stream(LogStream::Stdout), b"\xff\xfeabc\n");
    Ok(())
}

macro_rules! conformance {
    ($module:ident, $executor:ty, [$($case:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> anyhow::Result<()> {
                    super::$case::<$executor>().await
                }
            )*
        }
    };
}

conformance!(
    docker_executor,
    DockerExecutor,
    [
        passes_and_keeps_both_streams,
        keeps_the_exit_code,
        times_out,
        cancels,
        survives_a_fork_bomb,
        refuses_2_gb_of_memory,
        refuses_a_1_gb_file,
        caps_an_endless_output_and_stays_small,
        stores_a_10_mb_line_exactly,
        keeps_bytes_that_are_not_utf8,
        cannot_reach_the_network,
    ]
);

conformance!(
    local_executor,
    LocalExecutor,
    [
        passes_and_keeps_both_streams,
        keeps_the_exit_code,
        times_out,
        cancels,
        survives_a_fork_bomb,
        refuses_2_gb_of_memory,
        refuses_a_1_gb_file,
        caps_an_endless_output_and_stays_small,
        stores_a_10_mb_line_exactly,
        keeps_bytes_that_are_not_utf8,
    ]
);

/// Containers have no network at all (the local executor makes no such promise).
async fn cannot_reach_the_network<E: Make>() -> anyhow::Result<()> {
    let bench = Bench::new().await?;
    let e = &E::make(&bench);
    let run = run(
        &bench,
        e,
        spec("python3 -c \"import socket; socket.create_connection(('1.1.1.1', 80), timeout=3); print('connected')\""),
        CAP,
        None,
    )
    .await?;
    assert!(run.failed(), "{:?}\n{}", run.ending, run.text());
    assert!(
        run.text().contains("Network is unreachable"),
        "{}",
        run.text()
    );
    Ok(())
}
