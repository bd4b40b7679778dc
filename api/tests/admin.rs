//! `lectern admin …` against a real database, container engine and mail server.

mod support;

use support::mail::MailSink;

/// `lectern admin {args}` on the database at `database_url` with `env`: whether it
/// succeeded, and what it said (stdout, then stderr).
fn admin(
    database_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<(bool, String)> {
    let mut cmd = support::process::lectern(database_url);
    cmd.arg("admin").args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output()?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// `lectern admin check` with `env`.
fn check(database_url: &str, env: &[(&str, &str)]) -> anyhow::Result<(bool, String)> {
    admin(database_url, &["check"], env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_check_says_what_can_be_reached_and_what_to_try_when_not() -> anyhow::Result<()> {
    let db = support::TestDb::new().await?;
    let mail = MailSink::start(None)?;
    // A stand-in for GitHub's API: anything that answers HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let github = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(async move {
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "{}" }));
        let _ = axum::serve(listener, router).await;
    });
    let engine = std::env::var("DOCKER_HOST").unwrap_or_default();
    let smtp = mail.url();
    let good = [
        ("DOCKER_HOST", engine.as_str()),
        ("GITHUB_API_URL", github.as_str()),
        ("SMTP_URL", smtp.as_str()),
    ];
    let (ok, said) = check(&db.url, &good)?;
    assert!(ok, "{said}");
    for line in [
        "✓ PostgreSQL: connected;",
        "✓ builds: container engine",
        "✓ GitHub:",
        "✓ email:",
    ] {
        assert!(said.contains(line), "{line} in:\n{said}");
    }
    assert_eq!(mail.messages()?.len(), 0, "a check sends no mail");

    // Nothing listens where the mail server and the engine are said to be.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let smtp = format!("smtp://user:hunter2@127.0.0.1:{closed}");
    let (ok, said) = check(
        &db.url,
        &[
            ("DOCKER_HOST", "unix:///nonexistent/engine.sock"),
            ("GITHUB_API_URL", github.as_str()),
            ("SMTP_URL", smtp.as_str()),
        ],
    )?;
    assert!(!ok, "{said}");
    assert!(said.contains("✓ PostgreSQL"), "{said}");
    assert!(
        said.contains("✗ builds: the container engine does not answer"),
        "{said}"
    );
    assert!(
        said.contains("✗ email: the mail server (SMTP_URL) does not answer"),
        "{said}"
    );
    assert!(said.contains("hint: check SMTP_URL"), "{said}");
    assert!(said.contains("2 of 4 checks failed"), "{said}");
    assert!(
        !said.contains("hunter2"),
        "no password in the output:\n{said}"
    );

    // A database that does not exist.
    let (ok, said) = check(&support::url_for("lectern_no_such_database"), &good)?;
    assert!(!ok);
    assert!(said.contains("✗ PostgreSQL: cannot connect"), "{said}");
    assert!(said.contains("hint: is PostgreSQL running"), "{said}");
    Ok(())
}

#[test]
fn every_admin_command_has_help_and_those_that_change_things_a_dry_run() -> anyhow::Result<()> {
    let changing = [
        "create-course",
        "promote",
        "demote",
        "builds",
        "webhooks",
        "redeliver",
    ];
    let reading = ["check", "config", "admins"];
    for command in changing.iter().chain(&reading) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lectern"))
            .args(["admin", command, "--help"])
            .output()?;
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command} --help: {help}");
        assert!(help.contains("Usage: lectern admin"), "{command}: {help}");
        assert_eq!(
            help.contains("--dry-run"),
            changing.contains(command),
            "{command}: {help}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_course_makes_the_course_and_its_instructor_and_a_dry_run_nothing()
-> anyhow::Result<()> {
    let app = support::TestApp::new().await?;
    let create = |extra: &[&str]| {
        let mut args = vec![
            "create-course",
            "--slug",
            "cs201",
            "--name",
            "Data Structures",
            "--term",
            "Spring 2027",
            "--instructor",
            "grace",
        ];
        args.extend_from_slice(extra);
        admin(&app.db.url, &args, &[])
    };
    let (ok, said) = create(&["--dry-run"])?;
    assert!(ok, "{said}");
    assert!(said.contains("would create an account for grace"), "{said}");
    assert!(said.contains("would create the course `cs201`"), "{said}");
    let mut conn = app.db.conn().await?;
    assert!(
        lectern::db::models::Course::find_by_slug(&mut conn, "cs201")
            .await
            .is_err(),
        "a dry run creates nothing"
    );
    assert!(
        lectern::db::models::User::find_by_login(&mut conn, "grace")
            .await?
            .is_none()
    );

    let (ok, said) = create(&[])?;
    assert!(ok, "{said}");
    assert!(
        said.contains("created the course `cs201` (Data Structures) with grace as its instructor"),
        "{said}"
    );
    // Grace signs in and finds herself its instructor.
    let grace = app.sign_in("grace").await?;
    let course = grace
        .gql(
            "{ course(slug: \"cs201\") { name term viewerRole } }",
            serde_json::json!({}),
        )
        .await?
        .ok()?;
    assert_eq!(course.str_at("course.name")?, "Data Structures");
    assert_eq!(course.str_at("course.term")?, "Spring 2027");
    assert_eq!(course.str_at("course.viewerRole")?, "INSTRUCTOR");

    // Taken slugs and malformed input are refused with what to do.
    let (ok, said) = create(&[])?;
    assert!(!ok);
    assert!(
        said.contains("a course `cs201` exists already; choose another --slug"),
        "{said}"
    );
    let (ok, said) = admin(
        &app.db.url,
        &[
            "create-course",
            "--slug",
            "CS 201",
            "--name",
            "x",
            "--instructor",
            "grace",
        ],
        &[],
    )?;
    assert!(!ok);
    assert!(said.contains("--slug: "), "{said}");
    let (ok, said) = admin(
        &app.db.url,
        &[
            "create-course",
            "--slug",
            "cs202",
            "--name",
            "x",
            "--instructor",
            "not a login",
        ],
        &[],
    )?;
    assert!(!ok);
    assert!(
        said.contains("--instructor: `not a login` is not a GitHub login"),
        "{said}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_demote_change_who_administers_the_platform() -> anyhow::Result<()> {
    let app = support::TestApp::new().await?;
    let grace = app.sign_in("grace").await?;
    let is_admin = async |client: &support::Client| -> anyhow::Result<bool> {
        let me = client
            .gql("{ me { isAdmin } }", serde_json::json!({}))
            .await?
            .ok()?;
        Ok(me.at("me.isAdmin") == &serde_json::json!(true))
    };
    assert!(!is_admin(&grace).await?);

    let (ok, said) = admin(&app.db.url, &["promote", "grace", "--dry-run"], &[])?;
    assert!(ok, "{said}");
    assert!(
        said.contains("grace would be made a platform administrator"),
        "{said}"
    );
    assert!(!is_admin(&grace).await?, "a dry run changes nothing");

    let (ok, said) = admin(&app.db.url, &["promote", "GRACE"], &[])?;
    assert!(ok, "{said}");
    assert!(
        said.contains("grace is now a platform administrator"),
        "{said}"
    );
    assert!(is_admin(&grace).await?, "at once, in the session she has");
    let (_, said) = admin(&app.db.url, &["admins"], &[("LECTERN_ADMINS", "hopper")])?;
    assert!(said.contains("grace") && said.contains("marked"), "{said}");
    assert!(
        said.contains("hopper") && said.contains("LECTERN_ADMINS"),
        "{said}"
    );

    let (ok, said) = admin(&app.db.url, &["promote", "grace"], &[])?;
    assert!(ok);
    assert!(said.contains("already"), "{said}");
    let (ok, said) = admin(
        &app.db.url,
        &["demote", "grace"],
        &[("LECTERN_ADMINS", "grace")],
    )?;
    assert!(ok, "{said}");
    assert!(
        said.contains("grace is no longer a platform administrator"),
        "{said}"
    );
    assert!(said.contains("LECTERN_ADMINS names grace"), "{said}");
    assert!(!is_admin(&grace).await?);

    let (ok, said) = admin(&app.db.url, &["promote", "nobody-here"], &[])?;
    assert!(!ok);
    assert!(said.contains("there is no user `nobody-here`"), "{said}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_lists_the_stuck_and_cancels_them_when_asked() -> anyhow::Result<()> {
    use lectern::db::enums::{BuildStatus, ExecutorKind};
    use lectern::db::models::Build;

    let (app, repository) = support::TestApp::with_repository().await?;
    let mut conn = app.db.conn().await?;
    // Three builds: one claimed by a server that then vanished (its lease ran out), one
    // waiting for two hours, one queued a moment ago.
    let abandoned = app.manual_build_of(&repository, &"a".repeat(40)).await?;
    let claimed = Build::claim(
        &mut conn,
        "gone-host:1",
        ExecutorKind::Docker,
        std::time::Duration::from_secs(30),
        10,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("nothing to claim"))?;
    assert_eq!(claimed.id, abandoned.id);
    let waiting = app.manual_build_of(&repository, &"b".repeat(40)).await?;
    let fresh = app.manual_build_of(&repository, &"c".repeat(40)).await?;
    use diesel_async::SimpleAsyncConnection as _;
    conn.batch_execute(&format!(
        "UPDATE builds SET lease_expires_at = now() - interval '5 minutes' WHERE id = {};
         UPDATE builds SET queued_at = now() - interval '2 hours' WHERE id = {}",
        abandoned.id, waiting.id
    ))
    .await?;

    let (ok, said) = admin(&app.db.url, &["builds", "--older-than-minutes", "30"], &[])?;
    assert!(ok, "{said}");
    let row = |id: i64| {
        said.lines()
            .find(|l| l.trim_start().starts_with(&format!("{id} ")))
    };
    assert!(
        row(abandoned.id).is_some_and(|l| l.contains("lease")),
        "{said}"
    );
    assert!(
        row(waiting.id).is_some_and(|l| l.contains("queued") && l.contains("2h")),
        "{said}"
    );
    assert!(row(fresh.id).is_none(), "{said}");
    assert!(said.contains("2 build(s)"), "{said}");

    let (ok, said) = admin(
        &app.db.url,
        &[
            "builds",
            "--older-than-minutes",
            "30",
            "--cancel",
            "--dry-run",
        ],
        &[],
    )?;
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("would cancel build {}", waiting.id)),
        "{said}"
    );
    assert_eq!(
        Build::find(&mut conn, waiting.id).await?.status,
        BuildStatus::Queued
    );
    assert_eq!(
        Build::find(&mut conn, abandoned.id).await?.status,
        BuildStatus::Running
    );

    // The vanished server left its build's container behind.
    let engine = std::env::var("DOCKER_HOST")?;
    let docker = bollard::Docker::connect_with_unix(
        engine.trim_start_matches("unix://"),
        60,
        bollard::API_DEFAULT_VERSION,
    )?;
    let scope = lectern::executor::scope_for(&app.db.url);
    let left = lectern::executor::docker::container_name(&scope, abandoned.id);
    docker
        .create_container(
            Some(
                bollard::query_parameters::CreateContainerOptionsBuilder::new()
                    .name(&left)
                    .build(),
            ),
            bollard::models::ContainerCreateBody {
                image: Some("localhost/lectern-python:3.11".into()),
                cmd: Some(vec!["true".into()]),
                ..Default::default()
            },
        )
        .await?;
    let (ok, said) = admin(
        &app.db.url,
        &["builds", "--older-than-minutes", "30", "--cancel"],
        &[("LECTERN_EXECUTOR", "docker"), ("DOCKER_HOST", &engine)],
    )?;
    assert!(
        said.contains(&format!(
            "build {}: cancelled; the executor was asked to remove what it left",
            abandoned.id
        )),
        "{said}"
    );
    let gone = docker
        .inspect_container(
            &left,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await;
    assert!(
        matches!(
            gone,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })
        ),
        "{gone:?}"
    );
    assert!(ok, "{said}");
    for id in [abandoned.id, waiting.id] {
        let build = Build::find(&mut conn, id).await?;
        assert_eq!(build.status, BuildStatus::Cancelled, "{said}");
        assert!(build.finished_at.is_some());
        assert!(
            build
                .status_reason
                .as_deref()
                .is_some_and(|r| r.contains("administrator"))
        );
    }
    assert_eq!(
        Build::find(&mut conn, fresh.id).await?.status,
        BuildStatus::Queued
    );
    let (_, said) = admin(&app.db.url, &["builds", "--older-than-minutes", "30"], &[])?;
    assert!(
        said.contains("no build has waited or run longer than 30m"),
        "{said}"
    );
    Ok(())
}

/// The environment of admin commands run beside `world`'s server: its GitHub and URL.
fn world_env(world: &support::github::World) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = world.github.env().into_iter().collect();
    env.push(("LECTERN_PUBLIC_URL", world.app.base.clone()));
    env
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
const LINK: &str =
    "mutation($a: ID!) { linkRepository(assignmentId: $a, fullName: \"octocat/hw1\") { id } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_recreated_when_missing_and_their_secrets_rotated() -> anyhow::Result<()> {
    let world = support::github::World::start(&[], HEAD).await?;
    world
        .octocat
        .gql(LINK, serde_json::json!({ "a": world.assignment }))
        .await?
        .ok()?;
    let env = world_env(&world);
    let env = as_refs(&env);
    let hook = |github: &support::github::FakeGithub| {
        github
            .remote("octocat/hw1")
            .and_then(|r| r.hooks.into_iter().next())
    };
    let push = serde_json::json!({ "ref": "refs/heads/main", "after": "f".repeat(40), "deleted": false,
                       "head_commit": null, "repository": { "id": 5001, "full_name": "octocat/hw1" } });
    let body = serde_json::to_vec(&push)?;

    // In place: pinged, left alone.
    let (ok, said) = admin(&world.app.db.url, &["webhooks", "--all"], &env)?;
    assert!(ok, "{said}");
    assert!(
        said.contains("✓ octocat/hw1: the webhook is in place"),
        "{said}"
    );

    // Its owner deleted it on GitHub.
    world.github.remove_hooks("octocat/hw1");
    let (ok, said) = admin(
        &world.app.db.url,
        &["webhooks", "--course", "cs101", "--dry-run"],
        &env,
    )?;
    assert!(ok, "{said}");
    assert!(
        said.contains("would re-create the missing webhook"),
        "{said}"
    );
    assert!(
        hook(&world.github).is_none(),
        "a dry run changes nothing on GitHub"
    );
    let (ok, said) = admin(&world.app.db.url, &["webhooks", "--course", "cs101"], &env)?;
    assert!(ok, "{said}");
    assert!(said.contains("the missing webhook is re-created"), "{said}");
    let (_, recreated) = hook(&world.github).ok_or_else(|| anyhow::anyhow!("no hook"))?;
    assert_eq!(recreated.url, format!("{}/webhooks/github", world.app.base));
    let (status, answer) = world
        .app
        .deliver("push", "after-recreate", &body, Some(&recreated.secret))
        .await?;
    assert_eq!(status, 202, "signed with the new hook's secret: {answer}");

    // Rotated: the hook stays, its secret changes; the old one no longer verifies.
    let (ok, said) = admin(
        &world.app.db.url,
        &["webhooks", "--all", "--rotate-secrets"],
        &env,
    )?;
    assert!(ok, "{said}");
    assert!(said.contains("the webhook has a new secret"), "{said}");
    let (_, rotated) = hook(&world.github).ok_or_else(|| anyhow::anyhow!("no hook"))?;
    assert_ne!(rotated.secret, recreated.secret);
    assert_eq!(rotated.secret.len(), 14 + 64);
    // A delivery GitHub signed just before the switch still verifies…
    let (status, answer) = world
        .app
        .deliver("push", "old-secret", &body, Some(&recreated.secret))
        .await?;
    assert!(status == 200 || status == 202, "{status} {answer}");
    let (status, answer) = world
        .app
        .deliver("push", "new-secret", &body, Some(&rotated.secret))
        .await?;
    assert!(status == 200 || status == 202, "{status} {answer}");
    // …until the grace is over; then only the new secret does.
    {
        use diesel_async::SimpleAsyncConnection as _;
        let mut conn = world.app.db.conn().await?;
        conn.batch_execute(
            "UPDATE repositories SET webhook_secret_rotated_at = now() - interval '11 minutes'",
        )
        .await?;
    }
    let (status, _) = world
        .app
        .deliver("push", "old-secret-late", &body, Some(&recreated.secret))
        .await?;
    assert_eq!(status, 401);
    let (status, answer) = world
        .app
        .deliver("push", "new-secret-later", &body, Some(&rotated.secret))
        .await?;
    assert!(status == 200 || status == 202, "{status} {answer}");
    assert!(!said.contains(&rotated.secret) && !said.contains(&recreated.secret));

    // A course that does not exist.
    let (ok, said) = admin(&world.app.db.url, &["webhooks", "--course", "nope"], &env)?;
    assert!(!ok);
    assert!(said.contains("there is no course `nope`"), "{said}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliver_queues_pushes_whose_webhook_never_arrived() -> anyhow::Result<()> {
    use lectern::db::models::Build;
    let world = support::github::World::start(&[], HEAD).await?;
    let linked = world
        .octocat
        .gql(LINK, serde_json::json!({ "a": world.assignment }))
        .await?
        .ok()?;
    let repository: i64 = linked.str_at("linkRepository.id")?.parse()?;
    let env = world_env(&world);
    let env = as_refs(&env);
    let (ok, said) = admin(&world.app.db.url, &["redeliver", "--all"], &env)?;
    assert!(ok, "{said}");
    assert!(said.contains("0 missed push(es) in 1 repository"), "{said}");

    let missed = "fedcba9876543210fedcba9876543210fedcba98";
    world.github.push_silently("octocat/hw1", "main", missed);
    let builds_of = async || -> anyhow::Result<Vec<String>> {
        let mut conn = world.app.db.conn().await?;
        let builds =
            Build::list_for_repository(&mut conn, repository, &Default::default(), 50).await?;
        Ok(builds.into_iter().map(|b| b.commit_sha).collect())
    };
    let (ok, said) = admin(
        &world.app.db.url,
        &["redeliver", "--course", "cs101", "--dry-run"],
        &env,
    )?;
    assert!(ok, "{said}");
    assert!(
        said.contains("would queue octocat/hw1 main (fedcba9)"),
        "{said}"
    );
    assert!(!builds_of().await?.contains(&missed.to_owned()));

    let (ok, said) = admin(&world.app.db.url, &["redeliver", "--course", "cs101"], &env)?;
    assert!(ok, "{said}");
    assert!(said.contains("queued octocat/hw1 main (fedcba9)"), "{said}");
    assert!(said.contains("1 missed push(es)"), "{said}");
    assert_eq!(
        builds_of().await?.iter().filter(|s| *s == missed).count(),
        1
    );
    let (_, said) = admin(&world.app.db.url, &["redeliver", "--all"], &env)?;
    assert!(said.contains("0 missed push(es)"), "{said}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_shows_what_the_server_reads_with_secrets_masked() -> anyhow::Result<()> {
    let db = support::TestDb::new().await?;
    let url_with_password =
        db.url
            .replacen("postgres://postgres@", "postgres://postgres:pg-pass-77@", 1);
    let (ok, said) = admin(
        &url_with_password,
        &["config"],
        &[
            (
                "SMTP_URL",
                "smtps://mailer:smtp-pass-55@mail.example.edu:465",
            ),
            ("GITHUB_CLIENT_ID", "Iv1.public-id"),
            ("GITHUB_CLIENT_SECRET", "oauth-secret-99"),
            ("LECTERN_METRICS_TOKEN", "metrics-token-0123456789abcdef"),
            ("LECTERN_BUILD_CONCURRENCY", "7"),
        ],
    )?;
    assert!(ok, "{said}");
    for secret in [
        "pg-pass-77",
        "smtp-pass-55",
        "oauth-secret-99",
        "metrics-token-0123456789abcdef",
        "test-secret-key-test-secret-key-0123456789",
    ] {
        assert!(!said.contains(secret), "{secret} shown:\n{said}");
    }
    let line = |name: &str| {
        said.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l[name.len()..].trim().to_owned())
            .unwrap_or_default()
    };
    assert!(
        line("DATABASE_URL").starts_with("postgres://postgres:****@127.0.0.1"),
        "{said}"
    );
    assert_eq!(line("SMTP_URL"), "smtps://mailer:****@mail.example.edu:465");
    assert_eq!(line("GITHUB_CLIENT_ID"), "Iv1.public-id");
    assert_eq!(line("GITHUB_CLIENT_SECRET"), "(set, hidden)");
    assert_eq!(line("LECTERN_SECRET_KEY"), "(set, hidden)");
    assert_eq!(line("LECTERN_METRICS_TOKEN"), "(set, hidden)");
    assert_eq!(line("LECTERN_BUILD_CONCURRENCY"), "7");
    assert_eq!(
        line("LECTERN_LOG_MAX_BYTES"),
        "4194304",
        "defaults are filled in"
    );
    assert_eq!(line("LECTERN_REGISTRY_PASSWORD"), "(not set)");
    Ok(())
}
