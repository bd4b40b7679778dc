//! `lectern admin …` against a real database, container engine and mail server.

mod support;

use support::mail::MailSink;

/// `lectern admin check` on the database at `database_url` with `env`: whether it
/// succeeded, and what it said.
fn check(database_url: &str, env: &[(&str, &str)]) -> anyhow::Result<(bool, String)> {
    let mut cmd = support::process::lectern(database_url);
    cmd.args(["admin", "check"]);
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
