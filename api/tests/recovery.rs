//! A server killed with SIGKILL in the middle of a build loses nothing: when it starts
//! again, the build it held is queued again, runs, and ends — none stays `running`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::bail;
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use lectern::db::enums::BuildStatus;
use lectern::db::models::Build;
use serde_json::json;
use support::TestApp;
use support::git::GitRepo;
use support::process::{LOCAL_BUILDS, ServerProcess};

async fn wait_for(
    conn: &mut diesel_async::AsyncPgConnection,
    id: i64,
    what: &str,
    done: impl Fn(&Build) -> bool,
) -> anyhow::Result<Build> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let build = Build::find(conn, id).await?;
        if done(&build) {
            return Ok(build);
        }
        if Instant::now() > deadline {
            bail!(
                "build {id} never {what}: {:?} {:?}",
                build.status,
                build.status_reason
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_survives_kill_9_of_its_server() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    let marker = std::env::temp_dir().join(format!("lectern-recovery-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let command = format!(
        "if [ -e {m} ]; then echo second run; else touch {m}; echo first run; sleep 120; fi",
        m = marker.display()
    );
    let assignment = app
        .assignment(
            &ada,
            &course,
            "hw1",
            json!({ "testCommand": command, "timeoutSeconds": 300 }),
        )
        .await?;
    let git = GitRepo::new()?;
    let sha = git.commit("main", &[("README", "hello\n")], "First")?;
    let repository = app.local_repository(&assignment, "alan", &git).await?;
    let build = app.manual_build_of(&repository, &sha).await?;
    let mut conn = app.db.conn().await?;

    let mut first = ServerProcess::start(&app.db.url, LOCAL_BUILDS).await?;
    let running = wait_for(&mut conn, build.id, "ran", |b| {
        b.status == BuildStatus::Running && b.log_bytes > 0 && marker.exists()
    })
    .await;
    // Let the first run's output reach the database, then kill the server outright.
    tokio::time::sleep(Duration::from_millis(800)).await;
    first.kill();
    let running = running?;
    assert_eq!(
        Build::find(&mut conn, build.id).await?.status,
        BuildStatus::Running
    );

    let mut second = ServerProcess::start(&app.db.url, LOCAL_BUILDS).await?;
    let ended = wait_for(&mut conn, build.id, "finished", |b| b.status.is_finished()).await;
    second.kill();
    let _ = std::fs::remove_file(&marker);
    let ended = ended?;
    // The first run's orphaned `sleep` was killed when the build was recovered.
    let orphans = Command::new("pgrep")
        .args(["-f", &format!("touch {}", marker.display())])
        .output()?;
    assert!(
        orphans.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&orphans.stdout)
    );
    assert_eq!(
        ended.status,
        BuildStatus::Passed,
        "{:?}",
        ended.status_reason
    );
    assert_eq!(ended.recoveries, 1);
    assert_ne!(ended.worker_id, running.worker_id);
    let log =
        support::pipeline::log_text(&app.sign_in("ada").await?, &build.id.to_string()).await?;
    let first_run = log
        .find("\nfirst run\n")
        .expect("the first run's output is kept");
    let notice = log
        .find("the server running this build stopped; it is queued to run again")
        .expect("the log says what happened");
    let second_run = log.find("\nsecond run\n").expect("the second run's output");
    assert!(first_run < notice && notice < second_run, "{log}");
    let stuck: i64 = lectern::db::schema::builds::table
        .filter(lectern::db::schema::builds::status.eq("running"))
        .count()
        .get_result(&mut conn)
        .await?;
    assert_eq!(stuck, 0);
    Ok(())
}
