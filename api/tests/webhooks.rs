//! `POST /webhooks/github` with GitHub's published example payloads, signed in the test.

mod support;

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use support::{LinkedRepo, TestApp};

/// The repository GitHub's examples are about (Codertocat/Hello-World).
const EXAMPLE_REPO_ID: i64 = 186_853_002;
const EXAMPLE_SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

fn fixture(event: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/fixtures/github/{event}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture exists"))
        .expect("fixture is JSON")
}

/// The first example of `event` for which `pick` holds, as bytes.
fn example(event: &str, pick: impl Fn(&Value) -> bool) -> Vec<u8> {
    let chosen = fixture(event)
        .into_iter()
        .find(|e| pick(e))
        .expect("a matching example");
    serde_json::to_vec(&chosen).expect("serialises")
}

fn branch_push() -> Vec<u8> {
    example("push", |e| {
        e["ref"] == "refs/heads/master" && e["deleted"] == false
    })
}

struct Setup {
    app: TestApp,
    repo: LinkedRepo,
}

async fn setup(allowed_branches: Value) -> anyhow::Result<Setup> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    let assignment = app
        .assignment(
            &ada,
            &course,
            "hw1",
            json!({ "allowedBranches": allowed_branches }),
        )
        .await?;
    let repo = app
        .link_repository(
            &assignment,
            "codertocat",
            EXAMPLE_REPO_ID,
            "Codertocat/Hello-World",
        )
        .await?;
    Ok(Setup { app, repo })
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct BuildRow {
    #[diesel(sql_type = BigInt)]
    number: i64,
    #[diesel(sql_type = Text)]
    trigger: String,
    #[diesel(sql_type = Nullable<Text>)]
    branch: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pr_number: Option<i64>,
    #[diesel(sql_type = Text)]
    commit_sha: String,
    #[diesel(sql_type = Text)]
    status: String,
}

async fn builds(app: &TestApp) -> anyhow::Result<Vec<BuildRow>> {
    let mut conn = app.db.conn().await?;
    Ok(diesel::sql_query(
        "SELECT number::int8 AS number, trigger, branch, pr_number::int8 AS pr_number, commit_sha, status FROM builds ORDER BY number",
    )
    .load(&mut conn)
    .await?)
}

#[derive(diesel::QueryableByName, Debug)]
struct DeliveryRow {
    #[diesel(sql_type = Nullable<Text>)]
    delivery_id: Option<String>,
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = Nullable<Text>)]
    detail: Option<String>,
    #[diesel(sql_type = BigInt)]
    status_code: i64,
}

async fn deliveries(app: &TestApp) -> anyhow::Result<Vec<DeliveryRow>> {
    let mut conn = app.db.conn().await?;
    Ok(diesel::sql_query(
        "SELECT delivery_id, outcome, detail, status_code::int8 AS status_code FROM webhook_deliveries ORDER BY id",
    )
    .load(&mut conn)
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_queues_one_build_and_a_redelivery_creates_nothing() -> anyhow::Result<()> {
    let Setup { app, repo } = setup(json!([])).await?;
    let body = branch_push();
    let (status, answer) = app
        .deliver("push", "d-1", &body, Some(&repo.secret))
        .await?;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["outcome"], "queued");
    assert_eq!(answer["build"]["number"], 1);
    assert_eq!(
        builds(&app).await?,
        [BuildRow {
            number: 1,
            trigger: "push".into(),
            branch: Some("master".into()),
            pr_number: None,
            commit_sha: EXAMPLE_SHA.into(),
            status: "queued".into()
        }]
    );

    let (status, answer) = app
        .deliver("push", "d-1", &body, Some(&repo.secret))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(answer["outcome"], "duplicate");
    assert_eq!(
        builds(&app).await?.len(),
        1,
        "a redelivery builds nothing new"
    );
    let recorded = deliveries(&app).await?;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].outcome.as_str(), recorded[0].status_code),
        ("queued", 202)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_unknown_repositories_and_malformed_bodies_create_nothing()
-> anyhow::Result<()> {
    let Setup { app, repo } = setup(json!([])).await?;
    let body = branch_push();

    let (status, answer) = app
        .deliver("push", "d-wrong", &body, Some("not-the-secret"))
        .await?;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = app.deliver("push", "d-unsigned", &body, None).await?;
    assert_eq!(status, 401);
    let mut tampered: Value = serde_json::from_slice(&body)?;
    let signature_body = body.clone();
    tampered["after"] = json!("b".repeat(40));
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/github", app.base))
        .header("x-github-event", "push")
        .header("x-github-delivery", "d-tampered")
        .header(
            "x-hub-signature-256",
            lectern::forge::github::webhook::sign(repo.secret.as_bytes(), &signature_body),
        )
        .body(serde_json::to_vec(&tampered)?)
        .send()
        .await?;
    assert_eq!(
        response.status().as_u16(),
        401,
        "a body changed after signing is refused"
    );

    let mut elsewhere: Value = serde_json::from_slice(&body)?;
    elsewhere["repository"]["id"] = json!(999);
    let (status, answer) = app
        .deliver(
            "push",
            "d-unknown",
            &serde_json::to_vec(&elsewhere)?,
            Some(&repo.secret),
        )
        .await?;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = app
        .deliver(
            "push",
            "d-garbage",
            b"{\"repository\": ",
            Some(&repo.secret),
        )
        .await?;
    assert_eq!(status, 400);
    let (status, _) = app.deliver("push", "", &body, Some(&repo.secret)).await?;
    assert_eq!(status, 400, "a delivery id is required");

    assert!(builds(&app).await?.is_empty(), "nothing was built");
    let recorded = deliveries(&app).await?;
    let codes: Vec<i64> = recorded.iter().map(|d| d.status_code).collect();
    assert_eq!(
        codes,
        [401, 401, 401, 404, 400, 400],
        "every refusal is recorded"
    );
    assert!(recorded.iter().all(|d| d.outcome == "rejected"));
    assert!(
        recorded[3]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("not linked"),
        "{:?}",
        recorded[3]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_delivery_cannot_block_the_genuine_one_with_the_same_id() -> anyhow::Result<()> {
    let Setup { app, repo } = setup(json!([])).await?;
    let body = branch_push();
    let (status, _) = app
        .deliver("push", "d-shared", &body, Some("forger"))
        .await?;
    assert_eq!(status, 401);
    let (status, answer) = app
        .deliver("push", "d-shared", &body, Some(&repo.secret))
        .await?;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(builds(&app).await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_branch_deletions_and_excluded_branches_are_recorded_as_ignored() -> anyhow::Result<()>
{
    let Setup { app, repo } = setup(json!(["main", "release/*"])).await?;
    let tag = example("push", |e| {
        e["ref"] == "refs/tags/simple-tag" && e["deleted"] == false
    });
    let mut deletion: Value = serde_json::from_slice(&branch_push())?;
    deletion["ref"] = json!("refs/heads/release/old");
    deletion["deleted"] = json!(true);
    deletion["after"] = json!("0".repeat(40));
    deletion["head_commit"] = Value::Null;
    let cases = [
        ("d-tag", tag, "is not a branch"),
        ("d-del", serde_json::to_vec(&deletion)?, "was deleted"),
        (
            "d-master",
            branch_push(),
            "does not match the assignment's branches",
        ),
    ];
    for (id, body, reason) in cases {
        let (status, answer) = app.deliver("push", id, &body, Some(&repo.secret)).await?;
        assert_eq!(status, 200, "{id}: {answer}");
        assert_eq!(answer["outcome"], "ignored", "{id}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(reason),
            "{id}: {answer}"
        );
    }
    let mut to_release: Value = serde_json::from_slice(&branch_push())?;
    to_release["ref"] = json!("refs/heads/release/1.0");
    let (status, _) = app
        .deliver(
            "push",
            "d-rel",
            &serde_json::to_vec(&to_release)?,
            Some(&repo.secret),
        )
        .await?;
    assert_eq!(status, 202, "a branch matching a pattern builds");
    let built = builds(&app).await?;
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].branch.as_deref(), Some("release/1.0"));
    assert_eq!(
        deliveries(&app)
            .await?
            .iter()
            .filter(|d| d.outcome == "ignored")
            .count(),
        3
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_requests_build_their_head_closed_ones_are_ignored() -> anyhow::Result<()> {
    let Setup { app, repo } = setup(json!([])).await?;
    for (n, action) in ["opened", "synchronize", "reopened", "closed"]
        .iter()
        .enumerate()
    {
        let body = example("pull_request", |e| e["action"] == *action);
        let (status, answer) = app
            .deliver(
                "pull_request",
                &format!("pr-{n}"),
                &body,
                Some(&repo.secret),
            )
            .await?;
        let expected = if *action == "closed" { 200 } else { 202 };
        assert_eq!(status, expected, "{action}: {answer}");
    }
    // A pull request from a fork builds the fork's head commit on the base repository.
    let mut fork: Value =
        serde_json::from_slice(&example("pull_request", |e| e["action"] == "opened"))?;
    fork["pull_request"]["head"]["repo"]["full_name"] = json!("someone-else/Hello-World");
    fork["pull_request"]["head"]["repo"]["id"] = json!(1);
    fork["pull_request"]["head"]["sha"] = json!("c".repeat(40));
    let (status, _) = app
        .deliver(
            "pull_request",
            "pr-fork",
            &serde_json::to_vec(&fork)?,
            Some(&repo.secret),
        )
        .await?;
    assert_eq!(status, 202);

    let built = builds(&app).await?;
    assert_eq!(built.len(), 4);
    assert!(
        built
            .iter()
            .all(|b| b.trigger == "pull_request" && b.pr_number == Some(2)),
        "{built:?}"
    );
    assert_eq!(built[3].commit_sha, "c".repeat(40));
    assert_eq!(
        built.iter().map(|b| b.number).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_marks_the_hook_healthy() -> anyhow::Result<()> {
    let Setup { app, repo } = setup(json!([])).await?;
    let mut ping: Value = fixture("ping")
        .into_iter()
        .find(|p| p["repository"].is_object())
        .expect("repo ping");
    ping["repository"]["id"] = json!(repo.github_repo_id);
    let (status, answer) = app
        .deliver(
            "ping",
            "ping-1",
            &serde_json::to_vec(&ping)?,
            Some(&repo.secret),
        )
        .await?;
    assert_eq!(status, 200, "{answer}");
    let mut conn = app.db.conn().await?;
    let repository = lectern::db::models::Repository::find(&mut conn, repo.id).await?;
    assert_eq!(
        repository.webhook_status,
        lectern::db::enums::WebhookStatus::Active
    );
    assert!(builds(&app).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payloads_are_refused_and_recorded() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("LECTERN_WEBHOOK_MAX_BYTES", "4096")
        .start()
        .await?;
    let body = branch_push();
    assert!(body.len() > 4096);
    let (status, answer) = app
        .deliver("push", "d-big", &body, Some("whatever"))
        .await?;
    assert_eq!(status, 413, "{answer}");
    let recorded = deliveries(&app).await?;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].delivery_id.as_deref(), recorded[0].status_code),
        (Some("d-big"), 413)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_are_all_kept_and_numbered_without_gaps() -> anyhow::Result<()> {
    let Setup { app, repo } = setup(json!([])).await?;
    let body = branch_push();
    let sends = (0..30).map(|i| {
        let (app, body, secret) = (&app, body.clone(), repo.secret.clone());
        // Every delivery twice, at once: each id must still build exactly once.
        async move {
            let id = format!("burst-{}", i % 15);
            app.deliver("push", &id, &body, Some(&secret)).await
        }
    });
    let answers = futures::future::join_all(sends).await;
    for answer in &answers {
        let (status, body) = answer.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        assert!(*status == 202 || *status == 200, "{status} {body}");
    }
    let numbers: Vec<i64> = builds(&app).await?.iter().map(|b| b.number).collect();
    assert_eq!(numbers, (1..=15).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_see_recent_deliveries_owners_see_their_builds_others_nothing() -> anyhow::Result<()>
{
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    let assignment = app.assignment(&ada, &course, "hw1", json!({})).await?;
    let owner = app.enroll(&ada, &course, "codertocat", "STUDENT").await?;
    let classmate = app.enroll(&ada, &course, "alan", "STUDENT").await?;
    let grace = app.enroll(&ada, &course, "grace", "TA").await?;
    let outsider = app.sign_in("eve").await?;
    let repo = app
        .link_repository(
            &assignment,
            "codertocat",
            EXAMPLE_REPO_ID,
            "Codertocat/Hello-World",
        )
        .await?;
    app.deliver("push", "g-1", &branch_push(), Some(&repo.secret))
        .await?;
    app.deliver("push", "g-2", &branch_push(), Some("forged"))
        .await?;

    const REPO: &str = "query($id: ID!) { repository(id: $id) { fullName owner { login } builds { number branch commitSha status } } }";
    const DELIVERIES: &str = "query($id: ID!) { repository(id: $id) { deliveries { deliveryId outcome statusCode detail } } }";
    let id = json!({ "id": repo.id.to_string() });

    let seen = grace.gql(DELIVERIES, id.clone()).await?.ok()?;
    let list = seen.at("repository.deliveries");
    assert_eq!(list[0]["outcome"], "REJECTED");
    assert_eq!(list[0]["statusCode"], 401);
    assert_eq!(
        list[1],
        json!({ "deliveryId": "g-1", "outcome": "QUEUED", "statusCode": 202, "detail": null })
    );

    let mine = owner.gql(REPO, id.clone()).await?.ok()?;
    assert_eq!(mine.at("repository.owner.login"), "codertocat");
    assert_eq!(
        mine.at("repository.builds"),
        &json!([{ "number": 1, "branch": "master", "commitSha": EXAMPLE_SHA, "status": "QUEUED" }])
    );
    assert_eq!(
        owner.gql(DELIVERIES, id.clone()).await?.error_code(),
        Some("FORBIDDEN")
    );
    assert_eq!(
        classmate.gql(REPO, id.clone()).await?.error_code(),
        Some("FORBIDDEN")
    );
    assert_eq!(
        outsider.gql(REPO, id.clone()).await?.error_code(),
        Some("NOT_FOUND")
    );

    const LISTED: &str = "query($id: ID!) { assignment(id: $id) { repositories { fullName } } }";
    let by_id = json!({ "id": assignment });
    assert_eq!(
        grace
            .gql(LISTED, by_id.clone())
            .await?
            .ok()?
            .at("assignment.repositories")
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        owner
            .gql(LISTED, by_id.clone())
            .await?
            .ok()?
            .at("assignment.repositories")
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        classmate
            .gql(LISTED, by_id)
            .await?
            .ok()?
            .at("assignment.repositories"),
        &json!([])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_refused_deliveries_are_purged_accepted_ones_kept() -> anyhow::Result<()> {
    let Setup { app, repo } = setup(json!([])).await?;
    app.deliver("push", "kept", &branch_push(), Some(&repo.secret))
        .await?;
    app.deliver("push", "junk-old", &branch_push(), Some("forged"))
        .await?;
    app.deliver("push", "junk-new", &branch_push(), Some("forged"))
        .await?;
    let mut conn = app.db.conn().await?;
    diesel::sql_query("UPDATE webhook_deliveries SET received_at = now() - interval '30 days' WHERE delivery_id IN ('kept', 'junk-old')")
        .execute(&mut conn)
        .await?;
    let before = chrono::Utc::now() - chrono::TimeDelta::days(14);
    let purged = lectern::db::models::WebhookDelivery::purge_rejected(&mut conn, before).await?;
    assert_eq!(purged, 1);
    let left: Vec<Option<String>> = deliveries(&app)
        .await?
        .into_iter()
        .map(|d| d.delivery_id)
        .collect();
    assert_eq!(left, [Some("kept".to_owned()), Some("junk-new".to_owned())]);
    Ok(())
}
