//! Notifications end to end: builds run (local executor), end, and their student hears of it
//! through a real SMTP server (`scripts/smtp-sink`, aiosmtpd) — the mail parsed and checked —
//! or the course's Slack channel through a local receiver playing Slack's webhook. Failure
//! paths: the mail server down (retried until it is back), Slack answering 500 and 429 with
//! `Retry-After` (honoured), a channel that keeps failing (given up on and shown to the
//! staff), and a server killed between sending an email and recording it (no second one).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::git::python_exercise;
use support::mail::MailSink;
use support::pipeline::{Pipeline, build_of, finished};

const WAIT: Duration = Duration::from_secs(60);

/// A build's notifications as `client` sees them.
async fn notifications_of(client: &support::Client, build: &str) -> anyhow::Result<Value> {
    Ok(client
        .gql(
            "query($id: ID!) { build(id: $id) { notifications { kind channel recipient status attempts lastError sentAt } } }",
            json!({ "id": build }),
        )
        .await?
        .ok()?
        .at("build.notifications")
        .clone())
}

/// Waits until `build`'s notifications (as `client` sees them) satisfy `done`.
async fn notifications_until(
    client: &support::Client,
    build: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = notifications_of(client, build).await?;
        if done(&list) {
            return Ok(list);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "notifications never got there: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pushes `files` to `main` and waits for the build to end.
async fn push(
    p: &Pipeline,
    files: &[(&str, &str)],
    message: &str,
) -> anyhow::Result<(String, String)> {
    let repository = p.repository_id().await?;
    let sha = p.git.commit("main", files, message)?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    finished(&p.octocat, &id, WAIT).await?;
    Ok((id, sha))
}

/// The course's id, as its instructor reads it.
async fn course_id(p: &Pipeline) -> anyhow::Result<String> {
    Ok(p.ada
        .gql("query { course(slug: \"cs101\") { id } }", json!({}))
        .await?
        .ok()?
        .str_at("course.id")?
        .to_owned())
}

async fn email_of(client: &support::Client) -> anyhow::Result<String> {
    Ok(client
        .gql("{ me { email } }", json!({}))
        .await?
        .ok()?
        .str_at("me.email")?
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_hears_of_a_failure_by_email_as_their_preferences_say() -> anyhow::Result<()> {
    let mail = MailSink::start(None)?;
    let p = Pipeline::start("local", json!({}), &[("SMTP_URL", &mail.url())]).await?;
    let first = finished(&p.octocat, &p.first_build, WAIT).await?;
    assert_eq!(first["status"], "PASSED");
    // A student hears of failures by default: a pass is news to no one. (The outbox is
    // written with the verdict, so this is already final.)
    assert_eq!(notifications_of(&p.ada, &p.first_build).await?, json!([]));

    let address = email_of(&p.octocat).await?;
    let (failed, sha) = push(&p, &python_exercise(false), "Oops <b>").await?;
    let messages = mail.wait_for(1, WAIT).await?;
    let m = &messages[0];
    assert_eq!(m["envelope_to"], json!([address]));
    assert_eq!(
        m["subject"],
        format!("[cs101] ✗ HW1 failed on main ({}, build #2)", &sha[..7])
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    assert!(
        m["message_id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("<notification-")
    );
    let text = m["parts"]["text/plain"].as_str().unwrap_or_default();
    let html = m["parts"]["text/html"].as_str().unwrap_or_default();
    let link = format!("{}/builds/{failed}", p.app.base);
    for part in [text, html] {
        assert!(
            part.contains("test_greets_by_name"),
            "the failing test: {part}"
        );
        assert!(part.contains(&link), "the link: {part}");
        assert!(part.contains("octocat"), "{part}");
    }
    assert!(
        text.contains("Oops <b>") && html.contains("Oops &lt;b&gt;"),
        "{html}"
    );
    // The staff see what went out; the student sees no such list.
    let sent = notifications_until(&p.ada, &failed, |l| l[0]["status"] == "SENT").await?;
    assert_eq!(sent.as_array().map(Vec::len), Some(1));
    assert_eq!(sent[0]["channel"], "EMAIL");
    assert_eq!(sent[0]["recipient"], "octocat");
    assert_eq!(sent[0]["attempts"], 1);
    assert_eq!(notifications_of(&p.octocat, &failed).await?, json!([]));

    // Changes of status only: the fix is news, a second pass is not.
    let course_id = course_id(&p).await?;
    p.octocat
        .gql(
            "mutation($c: ID!) { setNotificationPreference(courseId: $c, email: CHANGES) }",
            json!({ "c": course_id }),
        )
        .await?
        .ok()?;
    let mine = p
        .octocat
        .gql("query { course(slug: \"cs101\") { myNotifications { email source emailEnabled address } } }", json!({}))
        .await?
        .ok()?;
    assert_eq!(
        mine.at("course.myNotifications"),
        &json!({ "email": "CHANGES", "source": "COURSE", "emailEnabled": true, "address": address })
    );
    let (fixed, _) = push(&p, &python_exercise(true), "Fixed").await?;
    let messages = mail.wait_for(2, WAIT).await?;
    assert!(
        messages[1]["subject"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[cs101] ✓ HW1 passed on main"),
        "{:#}",
        messages[1]
    );
    assert_eq!(
        notifications_of(&p.ada, &fixed)
            .await?
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let (again, _) = push(&p, &[("README", "still passing\n")], "Docs").await?;
    assert_eq!(notifications_of(&p.ada, &again).await?, json!([]));
    // A daily digest is for staff.
    let refused = p
        .octocat
        .gql(
            "mutation($c: ID!) { setNotificationPreference(courseId: $c, email: ALWAYS, dailyDigest: true) }",
            json!({ "c": course_id }),
        )
        .await?;
    assert_eq!(refused.error_code(), Some("BAD_USER_INPUT"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.messages()?.len(), 2, "no other mail");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_while_the_mail_server_is_down_and_goes_when_it_is_back() -> anyhow::Result<()> {
    // A port nothing listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("smtp://127.0.0.1:{port}");
    let p = Pipeline::start("local", json!({}), &[("SMTP_URL", &url)]).await?;
    finished(&p.octocat, &p.first_build, WAIT).await?;
    let (failed, _) = push(&p, &python_exercise(false), "Oops").await?;
    let waiting = notifications_until(&p.ada, &failed, |l| {
        l[0]["status"] == "PENDING" && l[0]["attempts"].as_i64().unwrap_or(0) >= 2
    })
    .await?;
    assert!(
        waiting[0]["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("mail server"),
        "{waiting:#}"
    );
    let mail = MailSink::start_on(port, None)?;
    let messages = mail.wait_for(1, WAIT).await?;
    assert!(
        messages[0]["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("HW1 failed")
    );
    let sent = notifications_until(&p.ada, &failed, |l| l[0]["status"] == "SENT").await?;
    assert!(sent[0]["attempts"].as_i64().unwrap_or(0) >= 3, "{sent:#}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.messages()?.len(), 1, "sent once");
    Ok(())
}

/// A stand-in for Slack's incoming webhook: answers each post with the next status (the
/// last one from then on), with `Retry-After: 2` on a 429, and keeps what it got and when.
struct SlackReceiver {
    url: String,
    got: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl SlackReceiver {
    async fn start(answers: Vec<u16>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!(
            "http://{}/services/T0/B0/secrethook",
            listener.local_addr()?
        );
        let got: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
        let seen = got.clone();
        let router =
            axum::Router::new().route(
                "/services/T0/B0/secrethook",
                axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                    let seen = seen.clone();
                    let answers = answers.clone();
                    async move {
                        let n = {
                            let mut seen = seen
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            seen.push((Instant::now(), body));
                            seen.len()
                        };
                        let status = answers[(n - 1).min(answers.len() - 1)];
                        let mut response = axum::response::Response::new(axum::body::Body::from(
                            if status == 200 { "ok" } else { "no" },
                        ));
                        *response.status_mut() =
                            axum::http::StatusCode::from_u16(status).unwrap_or_default();
                        if status == 429 {
                            response
                                .headers_mut()
                                .insert("retry-after", axum::http::HeaderValue::from_static("2"));
                        }
                        response
                    }
                }),
            );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { url, got })
    }

    fn host(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    fn got(&self) -> Vec<(Instant, Value)> {
        self.got
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn set_slack(p: &Pipeline, url: &str, when: &str) -> anyhow::Result<support::Gql> {
    let course_id = course_id(p).await?;
    p.ada
        .gql(
            &format!("mutation($c: ID!, $u: String) {{ setCourseSlack(courseId: $c, webhookUrl: $u, when: {when}) {{ configured webhookHint when }} }}"),
            json!({ "c": course_id, "u": url }),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_block_kit_after_a_500_and_a_429_whose_retry_after_is_honoured()
-> anyhow::Result<()> {
    let slack = SlackReceiver::start(vec![500, 429, 200]).await?;
    let p = Pipeline::start(
        "local",
        json!({}),
        &[("LECTERN_SLACK_HOSTS", &slack.host())],
    )
    .await?;
    finished(&p.octocat, &p.first_build, WAIT).await?;
    // Only an instructor sets it, only to an allowed host, and it is never shown back.
    let refused = set_slack(&p, "https://evil.example/hook", "ALWAYS").await?;
    assert_eq!(refused.error_code(), Some("BAD_USER_INPUT"));
    let set = set_slack(&p, &slack.url, "ALWAYS").await?.ok()?;
    let settings = set.at("setCourseSlack");
    assert_eq!(settings["configured"], true);
    assert!(!settings.to_string().contains("secrethook"), "{settings}");
    assert!(
        settings["webhookHint"]
            .as_str()
            .unwrap_or_default()
            .ends_with("hook")
    );
    let student = p
        .octocat
        .gql(
            "query { course(slug: \"cs101\") { slack { configured } } }",
            json!({}),
        )
        .await?
        .ok()?;
    assert_eq!(student.at("course.slack"), &Value::Null);
    // Encrypted at rest.
    {
        use diesel::{ExpressionMethods as _, QueryDsl as _};
        use diesel_async::RunQueryDsl as _;
        use lectern::db::schema::courses;
        let mut conn = p.app.db.conn().await?;
        let sealed: Option<Vec<u8>> = courses::table
            .filter(courses::slug.eq("cs101"))
            .select(courses::slack_webhook)
            .first(&mut conn)
            .await?;
        let sealed = sealed.unwrap_or_default();
        assert!(!sealed.is_empty());
        assert!(!String::from_utf8_lossy(&sealed).contains("secrethook"));
    }

    let (failed, sha) = push(&p, &python_exercise(false), "Oops").await?;
    let sent = notifications_until(&p.ada, &failed, |l| {
        l.as_array().is_some_and(|l| {
            l.iter()
                .any(|n| n["channel"] == "SLACK" && n["status"] == "SENT")
        })
    })
    .await?;
    let slack_note = sent
        .as_array()
        .and_then(|l| l.iter().find(|n| n["channel"] == "SLACK"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(slack_note["attempts"], 3, "{sent:#}");
    assert_eq!(slack_note["recipient"], Value::Null);
    let got = slack.got();
    assert_eq!(got.len(), 3);
    let waited = got[2].0.duration_since(got[1].0);
    assert!(
        waited >= Duration::from_secs(2),
        "Retry-After: 2 honoured; waited {waited:?}"
    );
    let message = &got[2].1;
    let blocks = message["blocks"].to_string();
    assert_eq!(message["blocks"][0]["type"], "header");
    assert!(blocks.contains("HW1 failed"), "{blocks}");
    assert!(
        blocks.contains("octocat") && blocks.contains(&sha[..7]),
        "{blocks}"
    );
    assert!(blocks.contains(&format!("/builds/{failed}")), "{blocks}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_keeps_failing_is_given_up_on_and_shown_to_the_staff() -> anyhow::Result<()>
{
    let slack = SlackReceiver::start(vec![500]).await?;
    let p = Pipeline::start(
        "local",
        json!({}),
        &[
            ("LECTERN_SLACK_HOSTS", &slack.host()),
            ("LECTERN_NOTIFY_MAX_ATTEMPTS", "3"),
        ],
    )
    .await?;
    finished(&p.octocat, &p.first_build, WAIT).await?;
    set_slack(&p, &slack.url, "FAILURES").await?.ok()?;
    let (failed, _) = push(&p, &python_exercise(false), "Oops").await?;
    let given_up = notifications_until(&p.ada, &failed, |l| l[0]["status"] == "FAILED").await?;
    assert_eq!(given_up[0]["attempts"], 3);
    assert!(
        given_up[0]["lastError"]
            .as_str()
            .unwrap_or_default()
            .starts_with("gave up after 3 attempts"),
        "{given_up:#}"
    );
    // Not retried any more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(slack.got().len(), 3);
    let query =
        "query { course(slug: \"cs101\") { notificationProblems { channel failures lastError } } }";
    let problems = p.ada.gql(query, json!({})).await?.ok()?;
    let problems = problems.at("course.notificationProblems");
    assert_eq!(problems[0]["channel"], "SLACK");
    assert_eq!(problems[0]["failures"], 1);
    assert!(
        !problems.to_string().contains("secrethook"),
        "the URL is a secret: {problems}"
    );
    let student = p.octocat.gql(query, json!({})).await?.ok()?;
    assert_eq!(student.at("course.notificationProblems"), &json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_between_sending_and_recording_sends_no_second_email() -> anyhow::Result<()>
{
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    use lectern::db::enums::NotificationStatus;
    use lectern::db::models::notification::Notification;
    use lectern::db::schema::users;
    use support::process::{LOCAL_BUILDS, ServerProcess};

    // The mail server stores each message, then holds its reply back: the window in which
    // the sender is killed, after sending and before it can record that it did.
    let mail = MailSink::start(Some(Duration::from_secs(5)))?;
    // This in-process server only sets the course up; the servers under test are processes.
    let app = support::TestApp::builder()
        .env("LECTERN_RUN_JOBS", "false")
        .start()
        .await?;
    let local = app.local_build("echo failing; exit 1").await?;
    let ada = app.sign_in("ada").await?;
    let mut conn = app.db.conn().await?;
    diesel::update(users::table.filter(users::login.eq("alan")))
        .set(users::email.eq("alan@example.edu"))
        .execute(&mut conn)
        .await?;
    let build = &local.build;
    let smtp = mail.url();
    let mut env: Vec<(&str, &str)> = LOCAL_BUILDS.to_vec();
    env.extend([
        ("SMTP_URL", smtp.as_str()),
        ("LECTERN_JOB_LEASE_SECONDS", "2"),
        ("LECTERN_JOB_RETRY_BASE_MS", "100"),
    ]);

    let mut first = ServerProcess::start(&app.db.url, &env).await?;
    let arrived = mail.wait_for(1, WAIT).await;
    first.kill();
    let arrived = arrived?;
    assert_eq!(arrived[0]["envelope_to"], json!(["alan@example.edu"]));
    let sending = Notification::for_build(&mut conn, build.id).await?;
    assert_eq!(sending.len(), 1);
    let (sending, recipient) = &sending[0];
    assert_eq!(recipient.as_deref(), Some("alan"));
    assert_eq!(
        sending.status,
        NotificationStatus::Sending,
        "killed before recording it"
    );

    let mut second = ServerProcess::start(&app.db.url, &env).await?;
    let deadline = Instant::now() + WAIT;
    let settled = loop {
        let n = Notification::find(&mut conn, sending.id).await?;
        if n.status != NotificationStatus::Sending {
            break n;
        }
        anyhow::ensure!(Instant::now() < deadline, "never settled: {n:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Give a wrong second send every chance to happen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    second.kill();
    assert_eq!(
        settled.status,
        NotificationStatus::Unconfirmed,
        "{settled:?}"
    );
    assert_eq!(mail.messages()?.len(), 1, "no second email");
    let problems = ada
        .gql("query { course(slug: \"cs101\") { notificationProblems { channel failures lastError } } }", json!({}))
        .await?
        .ok()?;
    let problems = problems.at("course.notificationProblems");
    assert_eq!(problems[0]["channel"], "EMAIL");
    assert!(
        problems[0]["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("may have arrived"),
        "{problems}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_who_ask_get_one_digest_a_day() -> anyhow::Result<()> {
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    use lectern::db::schema::users;
    use lectern::notify::digest::enqueue_due;
    use lectern::notify::outbox::Outbox;

    let mail = MailSink::start(None)?;
    let p = Pipeline::start("local", json!({}), &[("SMTP_URL", &mail.url())]).await?;
    finished(&p.octocat, &p.first_build, WAIT).await?;
    let mut conn = p.app.db.conn().await?;
    diesel::update(users::table.filter(users::login.eq("ada")))
        .set(users::email.eq("ada@example.edu"))
        .execute(&mut conn)
        .await?;
    let course_id = course_id(&p).await?;
    // Staff who ask hear of every student's build.
    p.ada
        .gql(
            "mutation($c: ID!) { setNotificationPreference(courseId: $c, email: ALWAYS) }",
            json!({ "c": course_id }),
        )
        .await?
        .ok()?;
    push(&p, &python_exercise(false), "Oops").await?;
    let both = mail.wait_for(2, WAIT).await?;
    let mut to: Vec<String> = both
        .iter()
        .map(|m| m["envelope_to"][0].to_string())
        .collect();
    to.sort();
    assert_eq!(to[0], "\"ada@example.edu\"");
    assert!(to[1].contains("octocat"), "{to:?}");
    p.ada
        .gql(
            "mutation($c: ID!) { setNotificationPreference(courseId: $c, email: NEVER, dailyDigest: true) }",
            json!({ "c": course_id }),
        )
        .await?
        .ok()?;
    let outbox = Outbox {
        email: true,
        max_attempts: 8,
    };
    let today = chrono::Utc::now().date_naive();
    let at = |hour| {
        today
            .and_hms_opt(hour, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default()
    };
    assert_eq!(
        enqueue_due(&mut conn, at(6), 7, &outbox).await?,
        0,
        "not before the hour"
    );
    assert_eq!(enqueue_due(&mut conn, at(8), 7, &outbox).await?, 1);
    assert_eq!(
        enqueue_due(&mut conn, at(9), 7, &outbox).await?,
        0,
        "once a day"
    );
    let messages = mail.wait_for(3, WAIT).await?;
    let digest = &messages[2];
    assert_eq!(digest["envelope_to"], json!(["ada@example.edu"]));
    assert_eq!(
        digest["subject"],
        "[cs101] The day's builds: 2, 1 not passing"
    );
    let text = digest["parts"]["text/plain"].as_str().unwrap_or_default();
    assert!(
        text.contains("✓ passed: 1") && text.contains("✗ failed: 1"),
        "{text}"
    );
    assert!(text.contains("octocat, HW1: failed"), "{text}");
    assert!(
        text.contains(&format!("{}/courses/cs101", p.app.base)),
        "{text}"
    );
    Ok(())
}
