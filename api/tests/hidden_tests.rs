//! Hidden tests end to end: an instructor uploads them, they run after the student's own
//! tests in a fresh copy of the commit (so the student's code can neither read them during
//! the visible run nor replace them), and a student sees nothing of them — names, output,
//! counts or points — through any API until the instructor releases them. Around that:
//! protected paths, the limit on graded runs, the grade's receipt, and a regrade's summary.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::git::{GitRepo, python_exercise};
use support::pipeline::{Pipeline, build_of, finished, hidden_greet_tests, log_text};
use support::ws::{End, WsClient};

const WAIT: Duration = Duration::from_secs(90);

/// A secret only the hidden tests print.
const SECRET: &str = "SECRET-OUTPUT-4711";

const BUILD: &str = "query($id: ID!) { build(id: $id) {
    status score maxScore scoreBeforePenalty testsPassed testsFailed testsSkipped
    hiddenTestsWithheld hiddenTestsDigest imageDigest protectedEdits gradedRun ungradedReason
    reportProblem testResults { name suite outcome points hidden } } }";

fn hidden_tests(empty_name_passes: bool) -> anyhow::Result<Vec<u8>> {
    let expected = if empty_name_passes {
        "Hello, !"
    } else {
        "Hello, stranger!"
    };
    hidden_greet_tests(SECRET, expected)
}

async fn upload(p: &Pipeline, archive: Vec<u8>) -> anyhow::Result<Value> {
    p.upload_hidden_tests(archive).await
}

/// The first email whose subject or text contains `needle`, once it has arrived.
async fn mail_about(mail: &support::mail::MailSink, needle: &str) -> anyhow::Result<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = mail.messages()?.into_iter().find(|m| {
            m["subject"].to_string().contains(needle) || m["parts"].to_string().contains(needle)
        }) {
            return Ok(found);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no email about {needle}: {:#?}",
            mail.messages()?
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn build(client: &support::Client, id: &str) -> anyhow::Result<Value> {
    Ok(client
        .gql(BUILD, json!({ "id": id }))
        .await?
        .ok()?
        .at("build")
        .clone())
}

/// Everything the build's log subscription sends `client`, to its end.
async fn subscribed_log(
    p: &Pipeline,
    client: &support::Client,
    id: &str,
) -> anyhow::Result<String> {
    let mut ws = WsClient::connect(&p.app.base, &client.cookie_header(), None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ws.subscribe(
        "log",
        "subscription($id: ID!) { buildLog(buildId: $id) { seq stream text } }",
        json!({ "id": id }),
    )
    .await?;
    let mut text = String::new();
    loop {
        match ws.next_data("log").await? {
            Ok(data) => text.push_str(&data.to_string()),
            Err(End::Complete) => break,
            Err(other) => anyhow::bail!("the log subscription ended with {other:?}"),
        }
    }
    ws.close().await;
    Ok(text)
}

/// The plain-text download of the build's log.
async fn downloaded_log(client: &support::Client, id: &str) -> anyhow::Result<String> {
    Ok(client
        .http
        .get(format!("{}/builds/{id}/log", client.base))
        .send()
        .await?
        .text()
        .await?)
}

fn names(build: &Value) -> Vec<String> {
    build["testResults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_tests_run_apart_and_stay_hidden_from_students_until_released() -> anyhow::Result<()>
{
    scenario("local").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_tests_run_apart_in_containers_too() -> anyhow::Result<()> {
    scenario("docker").await
}

async fn scenario(executor: &str) -> anyhow::Result<()> {
    // The starter the students got: its test file is protected.
    let starter = GitRepo::new()?;
    starter.commit("main", &python_exercise(false), "Starter")?;
    // The student hears of every build by email: what it says must withhold them too.
    let mail = support::mail::MailSink::start(None)?;
    let smtp = mail.url();
    let p = Pipeline::start(
        executor,
        json!({
            "points": "10",
            "hiddenTestsCommand": "python3 -m unittest discover -v -s hidden_tests -t .",
            "starterRepo": format!("file://{}", starter.bare.display()),
            "protectedPaths": ["test_greet.py"],
            "gradedRunLimit": 2,
        }),
        &[("SMTP_URL", &smtp)],
    )
    .await?;
    finished(&p.octocat, &p.first_build, WAIT).await?;
    p.octocat
        .gql(
            "mutation { setNotificationPreference(email: ALWAYS) }",
            json!({}),
        )
        .await?
        .ok()?;
    let repository = p.repository_id().await?;

    // A broken archive is refused with a reason; a student may not upload at all.
    let refused = p
        .put_hidden_tests(&p.ada, b"not an archive".to_vec())
        .await?;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await?.contains("gzipped tar"));
    let forbidden = p.put_hidden_tests(&p.octocat, hidden_tests(false)?).await?;
    assert_eq!(forbidden.status(), 403);
    let uploaded = upload(&p, hidden_tests(false)?).await?;
    assert_eq!(uploaded["files"], 2);
    let digest = uploaded["digest"].as_str().unwrap_or_default().to_owned();
    assert_eq!(digest.len(), 64);

    // The student's push: a test that peeks for the hidden tests during the visible run, a
    // fake hidden test of their own at the hidden tests' path, and an edited protected file.
    let mut files = python_exercise(true);
    files[1].1 = "import unittest\nfrom greet import greet\n\nclass GreetTest(unittest.TestCase):\n    def test_greets_by_name(self):\n        self.assertEqual(greet(\"Ada\"), \"Hello, Ada!\")\n\n    def test_greets_again(self):\n        self.assertEqual(greet(\"Bo\"), \"Hello, Bo!\")\n";
    files.push((
        "test_peek.py",
        "import os, unittest\n\nclass PeekTest(unittest.TestCase):\n    def test_peek(self):\n        found = []\n        for root, _, names in os.walk('.'):\n            for name in names:\n                with open(os.path.join(root, name), errors='replace') as f:\n                    found.append('-'.join(['SECRET', 'OUTPUT']) in f.read())\n        print('PEEK-FOUND' if any(found) else 'PEEK-NOTHING')\n",
    ));
    files.push((
        "hidden_tests/test_secret.py",
        "import unittest\n\nclass SecretTest(unittest.TestCase):\n    def test_fake(self):\n        pass\n",
    ));
    let sha = p.git.commit("main", &files, "Greet, peek and fake")?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    finished(&p.octocat, &id, WAIT).await?;

    // Staff see everything: 5 tests at 2 points, the hidden run's output, the receipt.
    let staff = build(&p.ada, &id).await?;
    let staff_log = log_text(&p.ada, &id).await?;
    assert_eq!(staff["status"], "PASSED", "{staff:#}\n{staff_log}");
    assert_eq!(staff["score"], "8", "{staff:#}\n{staff_log}");
    assert_eq!(
        (&staff["testsPassed"], &staff["testsFailed"]),
        (&json!(4), &json!(1))
    );
    assert_eq!(staff["hiddenTestsWithheld"], false);
    assert_eq!(staff["hiddenTestsDigest"], digest.as_str());
    assert_eq!(staff["protectedEdits"], json!(["test_greet.py"]));
    // The receipt names the image the tests ran in, where there was one.
    let image = staff["imageDigest"].as_str().unwrap_or_default();
    assert_eq!(
        image.starts_with("sha256:"),
        executor == "docker",
        "{image}"
    );
    let staff_names = names(&staff);
    assert!(
        staff_names.contains(&"test_secret_empty".to_owned()),
        "{staff_names:?}"
    );
    assert!(
        !staff_names.contains(&"test_fake".to_owned()),
        "the student's file at the hidden tests' path was replaced: {staff_names:?}"
    );
    let hidden: Vec<&Value> = staff["testResults"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["hidden"] == true)
        .collect();
    assert_eq!(hidden.len(), 2);
    assert!(staff_log.contains(SECRET), "{staff_log}");
    assert!(
        staff_log.contains("PEEK-NOTHING"),
        "the visible run could not read the hidden tests: {staff_log}"
    );
    assert!(staff_log.contains("this commit changes files the assignment protects: test_greet.py"));

    // The student sees the visible part only, through every way in.
    let student = build(&p.octocat, &id).await?;
    assert_eq!(student["hiddenTestsWithheld"], true);
    assert_eq!(student["score"], "6", "{student:#}");
    assert_eq!(student["scoreBeforePenalty"], Value::Null);
    assert_eq!(
        (&student["testsPassed"], &student["testsFailed"]),
        (&json!(3), &json!(0))
    );
    assert_eq!(student["protectedEdits"], json!(["test_greet.py"]));
    assert_eq!(names(&student).len(), 3);
    let student_text = student.to_string().to_lowercase();
    assert!(!student_text.contains("secret"), "{student_text}");
    let student_log = log_text(&p.octocat, &id).await?;
    assert!(!student_log.contains(SECRET) && !student_log.contains("test_secret"));
    assert!(
        student_log.contains("running the hidden tests"),
        "{student_log}"
    );
    // The summary line a student reads counts their visible tests and points only.
    assert!(
        student_log.contains(
            "tests: 3 passed, 0 failed, 0 skipped (from the unittest report); score 6 of 10"
        ),
        "{student_log}"
    );
    assert!(!student_log.contains("score 8"), "{student_log}");
    assert!(staff_log.contains(
        "tests: 4 passed, 1 failed, 0 skipped (from the unittest report); score 8 of 10"
    ));
    let downloaded = downloaded_log(&p.octocat, &id).await?;
    assert!(downloaded.contains("PEEK-NOTHING") && !downloaded.contains(SECRET));
    assert!(downloaded_log(&p.ada, &id).await?.contains(SECRET));
    let streamed = subscribed_log(&p, &p.octocat, &id).await?;
    assert!(
        streamed.contains("PEEK-NOTHING")
            && !streamed.contains(SECRET)
            && !streamed.contains("test_secret")
    );
    assert!(subscribed_log(&p, &p.ada, &id).await?.contains(SECRET));
    let mut ws = WsClient::connect(&p.app.base, &p.octocat.cookie_header(), None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ws.subscribe(
        "tests",
        "subscription($id: ID!) { buildTestResults(buildId: $id) { name hidden } }",
        json!({ "id": id }),
    )
    .await?;
    let Ok(pushed) = ws.next_data("tests").await? else {
        anyhow::bail!("no test results were pushed");
    };
    assert_eq!(pushed["buildTestResults"].as_array().map(Vec::len), Some(3));
    assert!(!pushed.to_string().contains("secret"), "{pushed}");
    ws.close().await;
    // The repository's build list says no more.
    let listed = p
        .octocat
        .gql(
            "query($id: ID!) { repository(id: $id) { builds(first: 5) { id score testsPassed testsFailed testResults { name } } } }",
            json!({ "id": repository }),
        )
        .await?
        .ok()?;
    let listed = listed.body.to_string().to_lowercase();
    assert!(
        !listed.contains("secret") && !listed.contains("\"8\""),
        "{listed}"
    );

    // Over the limit of graded runs: the next push runs the visible tests only, ungraded.
    let sha = p.git.commit("main", &files, "Once more")?;
    let over = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    finished(&p.octocat, &over, WAIT).await?;
    let over_build = build(&p.ada, &over).await?;
    assert_eq!(over_build["gradedRun"], false, "{over_build:#}");
    assert_eq!(over_build["score"], Value::Null);
    assert_eq!(over_build["hiddenTestsDigest"], Value::Null);
    assert!(
        over_build["ungradedReason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no graded runs left (2 per 24 h); the next one is available at ")
    );
    assert!(!log_text(&p.ada, &over).await?.contains(SECRET));
    let runs = p
        .octocat
        .gql(
            "query($id: ID!) { assignment(id: $id) { gradedRunLimit myGradedRuns { limit used left periodHours nextAt } } }",
            json!({ "id": p.assignment }),
        )
        .await?
        .ok()?;
    let mine = runs.at("assignment.myGradedRuns");
    assert_eq!((&mine["used"], &mine["left"]), (&json!(2), &json!(0)));
    assert!(mine["nextAt"].is_string());

    // The student's email says hidden tests ran, and nothing of them.
    let email = mail_about(&mail, &format!("/builds/{id}")).await?;
    let text = email["parts"].to_string();
    assert!(text.contains("come later"), "{text}");
    assert!(!text.to_lowercase().contains("secret"), "{text}");
    // The visible tests' points only, as the dashboard shows it (8 counts the hidden ones).
    assert!(text.contains("Score: 6 of 10 (visible tests"), "{text}");
    assert!(!text.contains("8 of 10"), "{text}");

    // Released: the student sees it all.
    p.ada
        .gql(
            "mutation($id: ID!) { releaseHiddenTests(assignmentId: $id) { hiddenTestsReleasedAt } }",
            json!({ "id": p.assignment }),
        )
        .await?
        .ok()?;
    let released = build(&p.octocat, &id).await?;
    assert_eq!(released["hiddenTestsWithheld"], false);
    assert_eq!(released["score"], "8");
    assert_eq!(names(&released).len(), 5);
    assert!(log_text(&p.octocat, &id).await?.contains(SECRET));

    // The instructor fixes a hidden test and regrades: the summary names the change, and
    // the receipt the new hidden tests.
    let fixed = upload(&p, hidden_tests(true)?).await?;
    assert_ne!(fixed["digest"], digest.as_str());
    let regraded = p
        .ada
        .gql(
            "mutation($id: ID!) { regradeAssignment(assignmentId: $id) { id } }",
            json!({ "id": p.assignment }),
        )
        .await?
        .ok()?;
    let ids: Vec<String> = regraded
        .at("regradeAssignment")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 1);
    finished(&p.ada, &ids[0], WAIT).await?;
    let summary = p
        .ada
        .gql(
            "query($ids: [ID!]!) { regradeSummary(buildIds: $ids) { pending unchanged changed { before after build { id hiddenTestsDigest retriedBuild { id } } } } }",
            json!({ "ids": ids }),
        )
        .await?
        .ok()?;
    let summary = summary.at("regradeSummary");
    assert_eq!(
        (&summary["pending"], &summary["unchanged"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(summary["changed"][0]["before"], "8", "{summary:#}");
    assert_eq!(summary["changed"][0]["after"], "10");
    assert_eq!(
        summary["changed"][0]["build"]["hiddenTestsDigest"],
        fixed["digest"]
    );
    assert_eq!(
        summary["changed"][0]["build"]["retriedBuild"]["id"],
        id.as_str()
    );
    // The student hears of the regrade: the score went from 8 to 10.
    let regrade = mail_about(&mail, "regraded").await?;
    assert_eq!(
        regrade["subject"], "[cs101] HW1 regraded: 8 → 10",
        "{regrade:#}"
    );
    // Students cannot ask for a summary.
    let denied = p
        .octocat
        .gql(
            "query($ids: [ID!]!) { regradeSummary(buildIds: $ids) { pending } }",
            json!({ "ids": ids }),
        )
        .await?;
    assert_eq!(denied.error_code(), Some("FORBIDDEN"));
    Ok(())
}
