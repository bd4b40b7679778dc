//! Linking a repository: GitHub's API is called through octocrab against the stand-in,
//! which records the hook Lectern registers; deliveries signed with that hook's secret are
//! then accepted.

mod support;

use serde_json::json;
use support::github::World;

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
const LINK: &str = "mutation($a: ID!, $r: String!) { linkRepository(assignmentId: $a, fullName: $r) { id fullName webhookStatus builds { number trigger branch commitSha } } }";

async fn world() -> anyhow::Result<World> {
    World::start(&[], HEAD).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_registers_a_signed_hook_and_queues_a_first_build() -> anyhow::Result<()> {
    let World {
        github,
        app,
        octocat,
        assignment,
        ..
    } = world().await?;
    let linked = octocat
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1" }))
        .await?
        .ok()?;
    assert_eq!(linked.str_at("linkRepository.fullName")?, "octocat/hw1");
    assert_eq!(linked.str_at("linkRepository.webhookStatus")?, "PENDING");
    assert_eq!(
        linked.at("linkRepository.builds"),
        &json!([{ "number": 1, "trigger": "MANUAL", "branch": "main", "commitSha": HEAD }])
    );

    let remote = github.remote("octocat/hw1").expect("repo");
    assert_eq!(remote.hooks.len(), 1);
    let hook = remote.hooks.values().next().expect("hook");
    assert_eq!(hook.url, format!("{}/webhooks/github", app.base));
    assert_eq!(hook.events, ["push", "pull_request"]);
    assert_eq!(hook.content_type, "json");
    assert_eq!(hook.secret.len(), 14 + 64, "a fresh 256-bit secret");
    assert!(hook.secret.starts_with("lectern_whsec_"));

    // GitHub signs deliveries with that secret; Lectern accepts them.
    let push = json!({ "ref": "refs/heads/main", "after": "f".repeat(40), "deleted": false, "head_commit": null,
                       "repository": { "id": 5001, "full_name": "octocat/hw1" } });
    let (status, answer) = app
        .deliver(
            "push",
            "after-link",
            &serde_json::to_vec(&push)?,
            Some(&hook.secret),
        )
        .await?;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["build"]["number"], 2);

    // The secret is nowhere in the database in the clear.
    let mut conn = app.db.conn().await?;
    #[derive(diesel::QueryableByName)]
    struct Dump {
        #[diesel(sql_type = diesel::sql_types::Text)]
        dump: String,
    }
    let dump: Dump = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query("SELECT string_agg(r::text, ' ') AS dump FROM repositories r"),
        &mut conn,
    )
    .await?;
    assert!(!dump.dump.contains(&hook.secret) && !dump.dump.contains(&hex_of(&hook.secret)));
    Ok(())
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_twice_or_without_rights_is_refused_and_leaves_nothing_behind() -> anyhow::Result<()>
{
    let World {
        github,
        app,
        ada,
        octocat,
        course,
        assignment,
    } = world().await?;
    octocat
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1" }))
        .await?
        .ok()?;
    let again = octocat
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1" }))
        .await?;
    assert_eq!(again.error_code(), Some("CONFLICT"), "{}", again.body);
    assert_eq!(
        github.remote("octocat/hw1").map(|r| r.hooks.len()),
        Some(1),
        "no second hook"
    );

    let missing = octocat
        .gql(LINK, json!({ "a": assignment, "r": "octocat/nope" }))
        .await?;
    assert!(
        missing
            .error_message()
            .unwrap_or_default()
            .contains("has no repository octocat/nope"),
        "{}",
        missing.body
    );
    let malformed = octocat
        .gql(LINK, json!({ "a": assignment, "r": "just-a-name" }))
        .await?;
    assert_eq!(
        malformed.body["errors"][0]["extensions"]["field"],
        "fullName"
    );

    // A classmate who can read the repository but not administer it.
    app.enroll(&ada, &course, "hubot", "STUDENT").await?;
    let hubot = github.account(2, "hubot");
    github.repo(5002, "octocat/hw1-copy", 583231, Some(HEAD));
    github.grant_read("octocat/hw1-copy", hubot.id);
    let hubot = app.sign_in_with_github(&github, &hubot).await?;
    let refused = hubot
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1-copy" }))
        .await?;
    assert!(
        refused
            .error_message()
            .unwrap_or_default()
            .contains("need admin rights"),
        "{}",
        refused.body
    );
    assert_eq!(
        github.remote("octocat/hw1-copy").map(|r| r.hooks.len()),
        Some(0)
    );

    // Someone signed in without GitHub has no authorization to use.
    let alan = app.enroll(&ada, &course, "alan", "STUDENT").await?;
    let local = alan
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1-copy" }))
        .await?;
    assert!(
        local
            .error_message()
            .unwrap_or_default()
            .contains("signing in with GitHub"),
        "{}",
        local.body
    );

    // An outsider learns nothing about the assignment.
    let eve = app.sign_in("eve").await?;
    assert_eq!(
        eve.gql(LINK, json!({ "a": assignment, "r": "octocat/hw1-copy" }))
            .await?
            .error_code(),
        Some("NOT_FOUND")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_deleted_on_github_is_repaired_with_a_fresh_secret() -> anyhow::Result<()> {
    let World {
        github,
        app,
        octocat,
        assignment,
        ..
    } = world().await?;
    let linked = octocat
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1" }))
        .await?
        .ok()?;
    let id = linked.str_at("linkRepository.id")?.to_owned();
    let old_secret = github
        .remote("octocat/hw1")
        .and_then(|r| r.hooks.values().next().map(|h| h.secret.clone()))
        .unwrap_or_default();

    const REPAIR: &str = "mutation($id: ID!) { repairWebhook(id: $id) { webhookStatus } }";
    // While the hook exists, repairing only pings it.
    octocat.gql(REPAIR, json!({ "id": id })).await?.ok()?;
    assert_eq!(github.remote("octocat/hw1").map(|r| r.hooks.len()), Some(1));
    assert!(
        github
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/pings"))
    );

    github.remove_hooks("octocat/hw1");
    let repaired = octocat.gql(REPAIR, json!({ "id": id })).await?.ok()?;
    assert_eq!(repaired.str_at("repairWebhook.webhookStatus")?, "PENDING");
    let new_secret = github
        .remote("octocat/hw1")
        .and_then(|r| r.hooks.values().next().map(|h| h.secret.clone()))
        .unwrap_or_default();
    assert_ne!(new_secret, old_secret);

    let push = serde_json::to_vec(
        &json!({ "ref": "refs/heads/main", "after": "e".repeat(40), "deleted": false,
        "repository": { "id": 5001, "full_name": "octocat/hw1" } }),
    )?;
    assert_eq!(
        app.deliver("push", "old-secret", &push, Some(&old_secret))
            .await?
            .0,
        401
    );
    assert_eq!(
        app.deliver("push", "new-secret", &push, Some(&new_secret))
            .await?
            .0,
        202
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinking_removes_the_hook_keeps_the_builds_and_allows_linking_again() -> anyhow::Result<()>
{
    let World {
        github,
        app,
        ada,
        octocat,
        course,
        assignment,
    } = world().await?;
    let linked = octocat
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1" }))
        .await?
        .ok()?;
    let id = linked.str_at("linkRepository.id")?.to_owned();
    let secret = github
        .remote("octocat/hw1")
        .and_then(|r| r.hooks.values().next().map(|h| h.secret.clone()))
        .unwrap_or_default();

    // A classmate may not unlink it.
    let alan = app.enroll(&ada, &course, "alan", "STUDENT").await?;
    const UNLINK: &str =
        "mutation($id: ID!) { unlinkRepository(id: $id) { unlinkedAt builds { number } } }";
    assert_eq!(
        alan.gql(UNLINK, json!({ "id": id })).await?.error_code(),
        Some("FORBIDDEN")
    );

    let unlinked = octocat.gql(UNLINK, json!({ "id": id })).await?.ok()?;
    assert!(unlinked.at("unlinkRepository.unlinkedAt").is_string());
    assert_eq!(
        unlinked.at("unlinkRepository.builds"),
        &json!([{ "number": 1 }]),
        "builds are kept"
    );
    assert_eq!(
        github.remote("octocat/hw1").map(|r| r.hooks.len()),
        Some(0),
        "the hook is gone from GitHub"
    );

    let push = serde_json::to_vec(
        &json!({ "ref": "refs/heads/main", "after": "d".repeat(40), "deleted": false,
        "repository": { "id": 5001, "full_name": "octocat/hw1" } }),
    )?;
    assert_eq!(
        app.deliver("push", "after-unlink", &push, Some(&secret))
            .await?
            .0,
        404
    );

    let relinked = octocat
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1" }))
        .await?
        .ok()?;
    assert_ne!(relinked.str_at("linkRepository.id")?, id, "a new link");
    let listed = ada
        .gql(
            "query($a: ID!) { assignment(id: $a) { repositories { id } } }",
            json!({ "a": assignment }),
        )
        .await?
        .ok()?;
    assert_eq!(
        listed.at("assignment.repositories"),
        &json!([{ "id": relinked.str_at("linkRepository.id")? }])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_queues_pushes_whose_webhook_never_arrived_once() -> anyhow::Result<()> {
    let World {
        github,
        app,
        octocat,
        assignment,
        ..
    } = world().await?;
    let linked = octocat
        .gql(LINK, json!({ "a": assignment, "r": "octocat/hw1" }))
        .await?
        .ok()?;
    let id = linked.str_at("linkRepository.id")?.to_owned();
    let (moved, feature) = ("a".repeat(40), "b".repeat(40));
    github.push_silently("octocat/hw1", "main", &moved);
    github.push_silently("octocat/hw1", "feature/x", &feature);

    const SYNC: &str = "mutation($id: ID!) { syncRepository(id: $id) }";
    let synced = octocat.gql(SYNC, json!({ "id": id })).await?.ok()?;
    assert_eq!(synced.at("syncRepository"), &json!(2));
    let again = octocat.gql(SYNC, json!({ "id": id })).await?.ok()?;
    assert_eq!(
        again.at("syncRepository"),
        &json!(0),
        "nothing is queued twice"
    );

    let builds = octocat
        .gql(
            "query($id: ID!) { repository(id: $id) { builds { number branch commitSha } } }",
            json!({ "id": id }),
        )
        .await?
        .ok()?;
    assert_eq!(
        builds.at("repository.builds"),
        &json!([
            { "number": 3, "branch": "feature/x", "commitSha": feature },
            { "number": 2, "branch": "main", "commitSha": moved },
            { "number": 1, "branch": "main", "commitSha": HEAD },
        ])
    );
    let outsider = app.sign_in("eve").await?;
    assert_eq!(
        outsider.gql(SYNC, json!({ "id": id })).await?.error_code(),
        Some("NOT_FOUND")
    );
    Ok(())
}
