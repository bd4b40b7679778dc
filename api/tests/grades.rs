//! Grading end to end: builds run real test runners, their results are read from the
//! output or from a JUnit report left in the sandbox, scored by the assignment's points,
//! and shown per test, in the staff's grade matrix and in its CSV export.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::git::python_exercise;
use support::pipeline::{Pipeline, build_of, finished};

const WAIT: Duration = Duration::from_secs(60);

const RESULTS: &str = "query($id: ID!) { build(id: $id) {
    status score maxScore reportFormat reportProblem testsPassed testsFailed testsSkipped
    testResults { position suite name outcome message points maxPoints } } }";

async fn results(client: &support::Client, id: &str) -> anyhow::Result<Value> {
    finished(client, id, WAIT).await?;
    Ok(client
        .gql(RESULTS, json!({ "id": id }))
        .await?
        .ok()?
        .at("build")
        .clone())
}

fn outcomes(build: &Value) -> Vec<(String, String)> {
    build["testResults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_are_graded_per_test_and_land_in_the_grade_matrix() -> anyhow::Result<()> {
    let p = Pipeline::start("local", json!({ "points": "10" }), &[]).await?;
    let repository = p.repository_id().await?;

    // The first build: one unittest test passes; all ten points.
    let first = results(&p.octocat, &p.first_build).await?;
    assert_eq!(first["status"], "PASSED");
    assert_eq!(first["reportFormat"], "unittest");
    assert_eq!(first["score"], "10");
    assert_eq!(first["maxScore"], "10");
    assert_eq!(
        outcomes(&first),
        [("test_greets_by_name".to_owned(), "PASSED".to_owned())]
    );
    assert_eq!(first["testResults"][0]["suite"], "test_greet.GreetTest");

    // A push with the recorded unittest project beside it: 3 of 6 pass; every outcome and
    // the failure's reason come through; the points are spread evenly.
    let mut files = python_exercise(true);
    files.push((
        "test_calc.py",
        include_str!("fixtures/runners/projects/unittest/test_calc.py"),
    ));
    let sha = p.git.commit("main", &files, "Add the calculator")?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    let second = results(&p.octocat, &id).await?;
    assert_eq!(second["status"], "FAILED");
    assert_eq!(
        (
            &second["testsPassed"],
            &second["testsFailed"],
            &second["testsSkipped"]
        ),
        (&json!(3), &json!(2), &json!(1))
    );
    assert_eq!(second["score"], "5");
    let by_name = |name: &str| {
        second["testResults"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_name("test_divides")["outcome"], "ERRORED");
    assert_eq!(by_name("test_later")["outcome"], "SKIPPED");
    assert_eq!(by_name("test_later")["message"], "not graded yet");
    assert_eq!(
        by_name("test_subtracts")["message"],
        "AssertionError: 2 != 1 : 5 - 3 should be 2"
    );
    assert_eq!(by_name("test_adds")["points"], "1.666667");
    assert_eq!(by_name("test_subtracts")["points"], "0");
    let log = finished(&p.octocat, &id, WAIT).await?["log"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        log.contains(
            "tests: 3 passed, 2 failed, 1 skipped (from the unittest report); score 5 of 10"
        ),
        "{log}"
    );

    // The instructor names a JUnit report and gives points by name: the report is read out
    // of the sandbox and wins over the output.
    p.ada
        .gql(
            "mutation($id: ID!, $input: UpdateAssignmentInput!) { updateAssignment(id: $id, input: $input) { testPoints { pattern points } } }",
            json!({ "id": p.assignment, "input": {
                "reportPath": "out/report.xml",
                "testCommand": "mkdir -p out && cp expected.xml out/report.xml && python3 -m unittest -v",
                "testPoints": [{ "pattern": "test_strings.test_shouts*", "points": "3" },
                               { "pattern": "*", "points": "0.5" }],
            } }),
        )
        .await?
        .ok()?;
    files.push((
        "expected.xml",
        include_str!("fixtures/runners/pytest-junit.xml"),
    ));
    let sha = p.git.commit("main", &files, "With a report")?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    let third = results(&p.octocat, &id).await?;
    assert_eq!(third["reportFormat"], "JUnit XML");
    assert_eq!(third["reportProblem"], Value::Null);
    assert_eq!(outcomes(&third).len(), 6, "{third:#}");
    // Three shouts at 3 points, capped at the assignment's 10; the rest at 0.5 failed or
    // were skipped.
    assert_eq!(third["score"], "9");
    assert_eq!(third["testResults"][0]["maxPoints"], "3");
    assert_eq!(third["testResults"][3]["maxPoints"], "0.5");

    // A report that is missing: said on the build, results from the output instead.
    p.ada
        .gql(
            "mutation($id: ID!) { updateAssignment(id: $id, input: { reportPath: \"nowhere.xml\" }) { id } }",
            json!({ "id": p.assignment }),
        )
        .await?
        .ok()?;
    let sha = p.git.commit("main", &[("README", "again\n")], "Again")?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    let fourth = results(&p.octocat, &id).await?;
    assert_eq!(fourth["reportFormat"], "unittest");
    assert!(
        fourth["reportProblem"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no report at nowhere.xml"),
        "{fourth:#}"
    );
    let fourth_score = fourth["score"].as_str().unwrap_or_default().to_owned();

    // The matrix: staff only; one row per student, linked or not; the cell is the latest
    // graded build of the default branch.
    let alan = p.app.enroll(&p.ada, &p.course, "alan", "STUDENT").await?;
    const MATRIX: &str = "query($c: ID!) { gradeMatrix(courseId: $c) {
        assignments { slug }
        rows { student { login } total cells { assignmentId repositoryId gradedBuildId score maxScore latestStatus } } } }";
    let matrix = p.ada.gql(MATRIX, json!({ "c": p.course })).await?.ok()?;
    assert_eq!(
        matrix.at("gradeMatrix.assignments"),
        &json!([{ "slug": "hw1" }])
    );
    let rows = matrix.at("gradeMatrix.rows").clone();
    assert_eq!(rows[0]["student"]["login"], "alan");
    assert_eq!(rows[0]["cells"][0]["repositoryId"], Value::Null);
    assert_eq!(rows[0]["total"], "0");
    assert_eq!(rows[1]["student"]["login"], "octocat");
    assert_eq!(rows[1]["cells"][0]["gradedBuildId"], json!(id));
    assert_eq!(rows[1]["cells"][0]["score"], json!(fourth_score));
    assert_eq!(rows[1]["cells"][0]["maxScore"], "10");
    assert_eq!(rows[1]["total"], json!(fourth_score));
    let refused = alan.gql(MATRIX, json!({ "c": p.course })).await?;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));

    // The export: the same grades, for staff only.
    let url = format!("{}/courses/cs101/grades.csv", p.app.base);
    let response = p.ada.http.get(&url).send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await?;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "login,name,email,HW1,total");
    assert!(lines[1].starts_with("alan,"), "{csv}");
    assert!(lines[1].ends_with(",,0"), "{csv}");
    assert!(lines[2].starts_with("octocat,"), "{csv}");
    assert!(
        lines[2].ends_with(&format!(",{fourth_score},{fourth_score}")),
        "{csv}"
    );
    assert_eq!(alan.http.get(&url).send().await?.status(), 403);
    assert_eq!(reqwest::get(&url).await?.status(), 401);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_mark_late_work_and_the_policies_pick_the_grading_build() -> anyhow::Result<()> {
    // Due 49 hours before the first push: three started days late.
    let due = (chrono::Utc::now() - chrono::TimeDelta::hours(49)).to_rfc3339();
    let p = Pipeline::start(
        "local",
        json!({ "points": "10", "dueAt": due, "latePolicy": "PENALTY", "latePenaltyPercent": "10" }),
        &[],
    )
    .await?;
    let repository = p.repository_id().await?;
    const BUILD: &str =
        "query($id: ID!) { build(id: $id) { late lateDays score scoreBeforePenalty } }";
    let build = |id: String| {
        let client = &p.octocat;
        async move {
            finished(client, &id, WAIT).await?;
            Ok::<_, anyhow::Error>(
                client
                    .gql(BUILD, json!({ "id": id }))
                    .await?
                    .ok()?
                    .at("build")
                    .clone(),
            )
        }
    };
    let first = build(p.first_build.clone()).await?;
    assert_eq!(first["late"], true);
    assert_eq!(first["lateDays"], 3);
    assert_eq!(first["scoreBeforePenalty"], "10");
    assert_eq!(first["score"], "7", "30% off");

    // An extension makes the next push on time; it fails: 0 points.
    let octocat_id = p
        .octocat
        .gql("{ me { id } }", json!({}))
        .await?
        .ok()?
        .str_at("me.id")?
        .to_owned();
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let granted = p
        .ada
        .gql(
            "mutation($a: ID!, $u: ID!, $d: DateTime!) { grantExtension(assignmentId: $a, userId: $u, dueAt: $d) { userId } }",
            json!({ "a": p.assignment, "u": octocat_id, "d": tomorrow }),
        )
        .await?
        .ok()?;
    assert_eq!(granted.at("grantExtension.userId"), &json!(octocat_id));
    let refused = p
        .octocat
        .gql(
            "mutation($a: ID!, $u: ID!, $d: DateTime!) { grantExtension(assignmentId: $a, userId: $u, dueAt: $d) { userId } }",
            json!({ "a": p.assignment, "u": octocat_id, "d": tomorrow }),
        )
        .await?;
    assert_eq!(
        refused.error_code(),
        Some("FORBIDDEN"),
        "students cannot extend their own deadline"
    );
    let failing = p.git.commit("main", &python_exercise(false), "Oops")?;
    let second_id = build_of(&p.octocat, &repository, &failing, WAIT).await?;
    let second = build(second_id.clone()).await?;
    assert_eq!(
        (&second["late"], &second["lateDays"], &second["score"]),
        (&json!(false), &Value::Null, &json!("0"))
    );

    const MATRIX: &str = "query($c: ID!) { gradeMatrix(courseId: $c) { rows { cells { gradedBuildId score late } } } }";
    let graded = |expect: &'static str| {
        let (ada, course) = (&p.ada, p.course.clone());
        async move {
            let m = ada.gql(MATRIX, json!({ "c": course })).await?.ok()?;
            let cell = m.at("gradeMatrix.rows.0.cells.0").clone();
            anyhow::ensure!(
                cell["score"] == expect,
                "expected a score of {expect}: {cell}"
            );
            Ok::<_, anyhow::Error>(cell)
        }
    };
    // Latest: the failing build counts.
    assert_eq!(graded("0").await?["gradedBuildId"], json!(second_id));
    // Best: the late first build's 7 counts.
    let set = |input: Value| {
        let (ada, assignment) = (&p.ada, p.assignment.clone());
        async move {
            ada.gql(
                "mutation($id: ID!, $input: UpdateAssignmentInput!) { updateAssignment(id: $id, input: $input) { latePolicy gradePolicy } }",
                json!({ "id": assignment, "input": input }),
            )
            .await?
            .ok()
        }
    };
    set(json!({ "gradePolicy": "BEST" })).await?;
    let best = graded("7").await?;
    assert_eq!(
        (&best["gradedBuildId"], &best["late"]),
        (&json!(p.first_build), &json!(true))
    );

    // Refused late work: without the extension a passing push is late and does not count;
    // the newest on-time build does.
    set(json!({ "gradePolicy": "LATEST", "latePolicy": "REFUSE" })).await?;
    p.ada
        .gql(
            "mutation($a: ID!, $u: ID!) { revokeExtension(assignmentId: $a, userId: $u) }",
            json!({ "a": p.assignment, "u": octocat_id }),
        )
        .await?
        .ok()?;
    let passing = p
        .git
        .commit("main", &python_exercise(true), "Fixed, late")?;
    let third_id = build_of(&p.octocat, &repository, &passing, WAIT).await?;
    let third = build(third_id).await?;
    assert_eq!(
        (&third["late"], &third["score"]),
        (&json!(true), &json!("10")),
        "refused work keeps its score"
    );
    assert_eq!(graded("0").await?["gradedBuildId"], json!(second_id));

    // A penalty must be a percentage.
    let bad = p
        .ada
        .gql(
            "mutation($id: ID!) { updateAssignment(id: $id, input: { latePenaltyPercent: \"120\" }) { id } }",
            json!({ "id": p.assignment }),
        )
        .await?;
    assert_eq!(bad.error_code(), Some("BAD_USER_INPUT"));
    assert_eq!(
        bad.body["errors"][0]["extensions"]["field"],
        "latePenaltyPercent"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_written_in_a_container_is_carried_out_of_it() -> anyhow::Result<()> {
    let p = Pipeline::start(
        "docker",
        json!({ "points": "12", "reportPath": "out/report.xml",
                "testCommand": "mkdir -p out && cp expected.xml out/report.xml; python3 -m unittest -v" }),
        &[],
    )
    .await?;
    let repository = p.repository_id().await?;
    // No report written (nothing to copy yet): said so, the output graded instead.
    let first = results(&p.octocat, &p.first_build).await?;
    assert_eq!(first["reportFormat"], "unittest");
    assert!(
        first["reportProblem"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no report at out/report.xml"),
        "{first:#}"
    );

    let mut files = python_exercise(true);
    files.push((
        "expected.xml",
        include_str!("fixtures/runners/pytest-junit.xml"),
    ));
    let sha = p.git.commit("main", &files, "With a report")?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    let carried = results(&p.octocat, &id).await?;
    assert_eq!(carried["status"], "PASSED");
    assert_eq!(carried["reportFormat"], "JUnit XML", "{carried:#}");
    assert_eq!(outcomes(&carried).len(), 6);
    assert_eq!(carried["score"], "6", "3 of 6 tests at 2 points each");
    // The report is not part of the log; the tests' own output is.
    let log = finished(&p.octocat, &id, WAIT).await?["log"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(log.contains("test_greets_by_name"), "{log}");
    assert!(!log.contains("<testsuites"), "{log}");
    assert!(!log.contains("LECTERN-REPORT"), "{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regrade_runs_every_grading_build_again_and_shows_what_changed() -> anyhow::Result<()> {
    let p = Pipeline::start("local", json!({ "points": "10" }), &[]).await?;
    let first = results(&p.octocat, &p.first_build).await?;
    assert_eq!(first["score"], "10");
    // The assignment is worth more now; a regrade scores the same commit again.
    p.ada
        .gql(
            "mutation($id: ID!) { updateAssignment(id: $id, input: { points: \"20\" }) { id } }",
            json!({ "id": p.assignment }),
        )
        .await?
        .ok()?;
    const REGRADE: &str =
        "mutation($a: ID!) { regradeAssignment(assignmentId: $a) { id attempt commitSha } }";
    let refused = p.octocat.gql(REGRADE, json!({ "a": p.assignment })).await?;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));
    let regrade = p
        .ada
        .gql(REGRADE, json!({ "a": p.assignment }))
        .await?
        .ok()?;
    let queued = regrade
        .at("regradeAssignment")
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["attempt"], 2);
    assert_eq!(queued[0]["commitSha"], json!(p.first_sha));
    let id = queued[0]["id"].as_str().unwrap_or_default().to_owned();
    finished(&p.octocat, &id, WAIT).await?;
    let compared = p
        .octocat
        .gql(
            "query($id: ID!) { build(id: $id) { status score retriedBuild { id score } } }",
            json!({ "id": id }),
        )
        .await?
        .ok()?;
    assert_eq!(compared.at("build.status"), "PASSED");
    assert_eq!(compared.at("build.score"), "20");
    assert_eq!(compared.at("build.retriedBuild.score"), "10");
    assert_eq!(compared.at("build.retriedBuild.id"), &json!(p.first_build));
    let matrix = p
        .ada
        .gql(
            "query($c: ID!) { gradeMatrix(courseId: $c) { rows { cells { gradedBuildId score } } } }",
            json!({ "c": p.course }),
        )
        .await?
        .ok()?;
    assert_eq!(
        matrix.at("gradeMatrix.rows.0.cells.0.gradedBuildId"),
        &json!(id)
    );
    assert_eq!(matrix.at("gradeMatrix.rows.0.cells.0.score"), "20");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_builds_tests_show_as_its_output_reports_them() -> anyhow::Result<()> {
    let p = Pipeline::start(
        "local",
        json!({ "testCommand": "python3 -m unittest -v; sleep 4" }),
        &[],
    )
    .await?;
    const SO_FAR: &str =
        "query($id: ID!) { build(id: $id) { status testResults { name outcome points } } }";
    let deadline = std::time::Instant::now() + WAIT;
    let seen = loop {
        let now = p
            .octocat
            .gql(SO_FAR, json!({ "id": p.first_build }))
            .await?
            .ok()?;
        let build = now.at("build").clone();
        if build["status"] == "RUNNING"
            && build["testResults"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
        {
            break build;
        }
        anyhow::ensure!(
            !matches!(
                build["status"].as_str(),
                Some("PASSED" | "FAILED" | "ERRORED")
            ),
            "the build ended before its results were seen running: {build}"
        );
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no results while running"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        seen["testResults"],
        json!([{ "name": "test_greets_by_name", "outcome": "PASSED", "points": null }])
    );
    // At the end, the graded results with their points.
    let done = results(&p.octocat, &p.first_build).await?;
    assert_eq!(done["testResults"][0]["points"], "100");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_results_subscription_sends_each_change_then_the_graded_results()
-> anyhow::Result<()> {
    let p = Pipeline::start(
        "local",
        json!({ "testCommand": "python3 -m unittest -v; sleep 3" }),
        &[],
    )
    .await?;
    let mut ws = support::ws::WsClient::connect(&p.app.base, &p.octocat.cookie_header(), None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ws.subscribe(
        "tests",
        "subscription($id: ID!) { buildTestResults(buildId: $id) { name outcome points } }",
        json!({ "id": p.first_build }),
    )
    .await?;
    let mut lists = Vec::new();
    loop {
        match ws.next_data("tests").await? {
            Ok(data) => lists.push(data["buildTestResults"].clone()),
            Err(support::ws::End::Complete) => break,
            Err(other) => anyhow::bail!("the subscription ended with {other:?}"),
        }
    }
    ws.close().await;
    // Each list differs from the one before; the test showed while the build ran (no
    // points yet), and the last list is the graded one.
    assert!(lists.windows(2).all(|w| w[0] != w[1]), "{lists:?}");
    assert!(
        lists.contains(
            &json!([{ "name": "test_greets_by_name", "outcome": "PASSED", "points": null }])
        ),
        "{lists:?}"
    );
    assert_eq!(
        lists.last(),
        Some(&json!([{ "name": "test_greets_by_name", "outcome": "PASSED", "points": "100" }]))
    );
    Ok(())
}
