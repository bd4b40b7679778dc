//! No secret in any log line. `scripts/test` runs the whole suite with its logs kept
//! (`support::logs`, at `debug`), then this search over all of them: for the secrets the
//! tests configure, and for every kind of secret Lectern makes or receives, by its shape —
//! webhook secrets and session tokens (which carry prefixes for that), GitHub tokens,
//! webhook signatures, and passwords inside URLs.

mod support;

use std::path::Path;

use regex::Regex;

/// Secrets the tests configure by name (add new ones here).
const CONFIGURED: &[&str] = &[
    // LECTERN_SECRET_KEY of every test server.
    "test-secret-key-test-secret-key-0123456789",
    // The GitHub stand-in's OAuth client secret.
    lectern::forge::github::standin::CLIENT_SECRET,
    // The Slack incoming webhook's secret path (tests/notifications.rs).
    "secrethook",
    // Passwords in SMTP_URL (tests/admin.rs) and DATABASE_URL (tests/admin.rs).
    "hunter2",
    "pg-pass-77",
    "smtp-pass-55",
    "oauth-secret-99",
    // LECTERN_METRICS_TOKEN (tests/metrics.rs, tests/admin.rs).
    "metrics-token-for-the-tests-0123456789",
    "metrics-token-0123456789abcdef",
];

/// Secrets recognised by their shape, with what each is.
fn shapes() -> Vec<(&'static str, Regex)> {
    [
        ("a webhook secret", r"lectern_whsec_[0-9a-f]{8,}"),
        ("a session token", r"lectern_sess_[A-Za-z0-9_-]{8,}"),
        ("a GitHub token", r"\bgh[opsu]_[A-Za-z0-9]{8,}"),
        ("a webhook signature", r"sha256=[0-9a-f]{64}"),
        (
            "a password in a URL",
            r"[a-z][a-z0-9+.-]*://[^/\s:@'\x22]+:[^@\s/'\x22*]+@",
        ),
        (
            "an Authorization header",
            r"(?i)authorization\x22?\s*[:=]\s*\x22?(bearer|token|basic) [A-Za-z0-9]",
        ),
    ]
    .into_iter()
    .map(|(what, pattern)| (what, Regex::new(pattern).expect("a valid pattern")))
    .collect()
}

/// Every secret found in `line`: what it is.
fn leaks(line: &str, shapes: &[(&'static str, Regex)]) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = shapes
        .iter()
        .filter(|(_, re)| re.is_match(line))
        .map(|(what, _)| *what)
        .collect();
    if CONFIGURED.iter().any(|secret| line.contains(secret)) {
        found.push("a configured secret");
    }
    found
}

#[test]
fn each_kind_of_secret_is_recognised_and_ordinary_lines_are_not() {
    let shapes = shapes();
    let session = "lectern_sess_Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg";
    for (line, kind) in [
        (
            "{\"secret\":\"lectern_whsec_0123456789abcdef\"}",
            "a webhook secret",
        ),
        (
            &format!("cookie: lectern_session={session}") as &str,
            "a session token",
        ),
        ("token=gho_standin00000001abcdef", "a GitHub token"),
        (
            "x-hub-signature-256: sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a webhook signature",
        ),
        (
            "connecting to smtp://mailer:s3cret@mail:587",
            "a password in a URL",
        ),
        (
            "\"authorization\": \"Bearer abc\"",
            "an Authorization header",
        ),
        (
            "DATABASE_URL=postgres://lectern:pw@db/lectern",
            "a password in a URL",
        ),
        (
            "config: test-secret-key-test-secret-key-0123456789",
            "a configured secret",
        ),
    ] {
        assert_eq!(leaks(line, &shapes), [kind], "{line}");
    }
    for fine in [
        "{\"level\":\"INFO\",\"message\":\"build finished\",\"status\":\"passed\",\"log_bytes\":390}",
        "image sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "connecting to postgres://postgres@127.0.0.1:5432/lectern_test_1",
        "DATABASE_URL postgres://postgres:****@127.0.0.1/x",
        "commit 0123456789abcdef0123456789abcdef01234567",
        "webhook refused: signature (X-Hub-Signature-256) does not match the payload",
    ] {
        assert_eq!(leaks(fine, &shapes), Vec::<&str>::new(), "{fine}");
    }
}

/// Lines of one log file that hold a secret, as `file:line: what`.
fn search(path: &Path, shapes: &[(&'static str, Regex)]) -> anyhow::Result<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(path)?;
    let mut found = Vec::new();
    let mut lines = 0;
    for (n, line) in text.lines().enumerate() {
        lines += 1;
        for what in leaks(line, shapes) {
            let shown: String = line.chars().take(300).collect();
            found.push(format!("{}:{}: {what}: {shown}", path.display(), n + 1));
        }
    }
    Ok((lines, found))
}

#[test]
#[ignore = "run by scripts/test after the whole suite, on its logs (LECTERN_AUDIT_LOG_DIR)"]
fn logs_of_the_whole_run_hold_no_secret() -> anyhow::Result<()> {
    let dir = std::env::var("LECTERN_AUDIT_LOG_DIR").map_err(|_| {
        anyhow::anyhow!(
            "set LECTERN_AUDIT_LOG_DIR to the LECTERN_TEST_LOG_DIR of a finished test run (scripts/test does)"
        )
    })?;
    let shapes = shapes();
    let (mut files, mut lines, mut found) = (0, 0, Vec::new());
    let mut all = String::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let (n, leaks) = search(&path, &shapes)?;
        files += 1;
        lines += n;
        found.extend(leaks);
        all.push_str(&std::fs::read_to_string(&path)?);
    }
    println!("searched {lines} log lines in {files} files");
    // The logs are those of a run that did the work secrets pass through; a capture that
    // broke would leave nothing to find.
    for event in [
        "webhook accepted",
        "webhook refused",
        "build finished",
        "notification sent",
        "request_id",
        "build_id",
        "signed in",
    ] {
        anyhow::ensure!(
            all.contains(event),
            "the run's logs never say `{event}`: were they kept?"
        );
    }
    anyhow::ensure!(
        found.is_empty(),
        "{} log line(s) hold a secret:\n{}",
        found.len(),
        found.join("\n")
    );
    Ok(())
}
