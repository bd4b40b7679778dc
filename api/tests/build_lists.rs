//! A repository's builds page by page with filters, the branches and pull requests they came
//! from, and a build's log as a download: through GraphQL and HTTP, as the dashboard uses them.

mod support;

use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use serde_json::json;
use support::pipeline::{Pipeline, finished};

const PAGE: &str = "query($r: ID!, $before: Int, $status: BuildStatus, $branch: String, $pr: Int) {
  repository(id: $r) {
    branches pullRequests
    builds(first: 50, before: $before, status: $status, branch: $branch, pullRequest: $pr) { number status branch pullRequest }
  } }";

fn numbers(page: &support::Gql) -> Vec<i64> {
    page.at("repository.builds")
        .as_array()
        .map(|b| b.iter().filter_map(|b| b["number"].as_i64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_page_by_number_and_filter_by_status_branch_and_pull_request() -> anyhow::Result<()>
{
    let p = Pipeline::start("none", json!({}), &[]).await?;
    let repository = p.repository_id().await?;
    // 199 more builds of the first one's repository: on main, on a feature branch every
    // third, from pull request 7 every tenth; every fifth failed.
    let mut conn = p.app.db.conn().await?;
    diesel::sql_query(
        "INSERT INTO builds (repository_id, course_id, assignment_id, number, trigger, branch, pr_number,
                             commit_sha, commit_message, status, started_at, finished_at)
         SELECT repository_id, course_id, assignment_id, n,
                CASE WHEN n % 10 = 0 THEN 'pull_request' ELSE 'push' END,
                CASE WHEN n % 3 = 0 THEN 'feature' ELSE 'main' END,
                CASE WHEN n % 10 = 0 THEN 7 END,
                commit_sha, 'commit ' || n,
                CASE WHEN n % 5 = 0 THEN 'failed' ELSE 'passed' END, now(), now()
         FROM builds, generate_series(2, 200) AS n WHERE id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(p.first_build.parse::<i64>()?)
    .execute(&mut conn)
    .await?;

    // Newest first, fifty at a time, each page after the last number of the one before.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = p
            .octocat
            .gql(PAGE, json!({ "r": repository, "before": before }))
            .await?
            .ok()?;
        let got = numbers(&page);
        if got.is_empty() {
            break;
        }
        before = got.last().copied();
        seen.extend(got);
    }
    assert_eq!(seen, (1..=200).rev().collect::<Vec<i64>>());

    // Filters, alone and together.
    let failed = p
        .octocat
        .gql(PAGE, json!({ "r": repository, "status": "FAILED" }))
        .await?
        .ok()?;
    assert_eq!(
        numbers(&failed),
        (1..=40).rev().map(|n| n * 5).take(50).collect::<Vec<i64>>()
    );
    let feature_failed = p
        .octocat
        .gql(
            PAGE,
            json!({ "r": repository, "status": "FAILED", "branch": "feature" }),
        )
        .await?
        .ok()?;
    assert_eq!(
        numbers(&feature_failed),
        (1..=200)
            .rev()
            .filter(|n| n % 15 == 0)
            .collect::<Vec<i64>>()
    );
    let pull = p
        .octocat
        .gql(PAGE, json!({ "r": repository, "pr": 7, "before": 100 }))
        .await?
        .ok()?;
    assert_eq!(numbers(&pull), [90, 80, 70, 60, 50, 40, 30, 20, 10]);

    // Where builds came from, most recent first; pull requests listed apart.
    assert_eq!(
        failed.at("repository.branches"),
        &json!(["main", "feature"])
    );
    assert_eq!(failed.at("repository.pullRequests"), &json!([7]));

    // Another student sees none of it.
    let mallory = p
        .app
        .enroll(&p.ada, &p.course, "mallory", "STUDENT")
        .await?;
    let refused = mallory.gql(PAGE, json!({ "r": repository })).await?;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_log_downloads_whole_for_who_may_see_it() -> anyhow::Result<()> {
    let command = "printf '\\033[31mred\\033[0m\\n'; for i in $(seq 1 3000); do echo \"line $i\"; done; echo oops >&2";
    let p = Pipeline::start("local", json!({ "testCommand": command }), &[]).await?;
    let build = finished(&p.octocat, &p.first_build, Duration::from_secs(30)).await?;
    assert_eq!(build["status"], "PASSED");
    let url = format!("{}/builds/{}/log", p.app.base, p.first_build);

    let response = p.octocat.http.get(&url).send().await?;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"octocat-hw1-build-1.log\""
    );
    let text = response.text().await?;
    // Escape sequences as written, every line, in order, both streams.
    assert!(text.contains("\u{1b}[31mred\u{1b}[0m\n"));
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(lines.len(), 3000);
    assert_eq!(lines.last(), Some(&"line 3000"));
    assert!(text.contains("oops\n"));
    assert_eq!(
        i64::try_from(text.len())?,
        build["logBytes"].as_i64().unwrap_or(-1)
    );

    // Staff may; another student, someone outside the course and nobody may not.
    let staff = p.ada.http.get(&url).send().await?;
    assert_eq!(staff.status(), 200);
    let mallory = p
        .app
        .enroll(&p.ada, &p.course, "mallory", "STUDENT")
        .await?;
    assert_eq!(mallory.http.get(&url).send().await?.status(), 403);
    let stranger = p.app.sign_in("stranger").await?;
    assert_eq!(
        stranger.http.get(&url).send().await?.status(),
        404,
        "not even told it exists"
    );
    assert_eq!(reqwest::get(&url).await?.status(), 401);
    let missing = format!("{}/builds/999999/log", p.app.base);
    assert_eq!(p.octocat.http.get(&missing).send().await?.status(), 404);
    let junk = format!("{}/builds/abc/log", p.app.base);
    assert_eq!(p.octocat.http.get(&junk).send().await?.status(), 400);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_cards_show_the_latest_build_the_viewer_may_see() -> anyhow::Result<()> {
    let p = Pipeline::start("none", json!({}), &[]).await?;
    const CARDS: &str =
        "{ me { courses { slug latestBuild { id number status repository { fullName } } } } }";
    let mallory = p
        .app
        .enroll(&p.ada, &p.course, "mallory", "STUDENT")
        .await?;
    // A second course of ada's with nothing built in it.
    p.app.course(&p.ada, "cs102").await?;

    let staff = p.ada.gql(CARDS, json!({})).await?.ok()?;
    let courses = staff
        .at("me.courses")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let card = |slug: &str| {
        courses
            .iter()
            .find(|c| c["slug"] == slug)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(card("cs101")["latestBuild"]["id"], json!(p.first_build));
    assert_eq!(
        card("cs101")["latestBuild"]["repository"]["fullName"],
        "octocat/hw1"
    );
    assert_eq!(card("cs102")["latestBuild"], json!(null));

    // The student who pushed sees their own build; another student sees none of it.
    let owner = p.octocat.gql(CARDS, json!({})).await?.ok()?;
    assert_eq!(
        owner.at("me.courses.0.latestBuild.id"),
        &json!(p.first_build)
    );
    let other = mallory.gql(CARDS, json!({})).await?.ok()?;
    assert_eq!(other.at("me.courses.0.latestBuild"), &json!(null));
    Ok(())
}
