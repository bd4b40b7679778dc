//! Generated and declared things that must not drift: the GraphQL SDL, the migrations'
//! reversibility, and the rules the database itself enforces.

mod support;

use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use support::TestDb;

#[test]
fn schema_graphql_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = lectern::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is out of date; regenerate it with `cargo run -q -- print-schema > schema.graphql`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_revert_and_apply_again() -> anyhow::Result<()> {
    let db = TestDb::empty().await?;
    let applied = lectern::db::migrate(&db.url).await?;
    assert!(!applied.is_empty());
    assert!(
        lectern::db::migrate(&db.url).await?.is_empty(),
        "a second run applies nothing"
    );
    let reverted = lectern::db::revert_all(&db.url).await?;
    assert_eq!(reverted.len(), applied.len());

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = db.conn().await?;
    let left: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'",
    )
    .get_result(&mut conn)
    .await?;
    assert_eq!(left.n, 0, "down migrations leave no table behind");
    assert_eq!(lectern::db::migrate(&db.url).await?, applied);
    Ok(())
}

/// Inserts a course, an assignment, a student's repository and one build, returning its id.
async fn one_build(conn: &mut diesel_async::AsyncPgConnection) -> anyhow::Result<i64> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let id: Id = diesel::sql_query(
        "WITH u AS (INSERT INTO users (login) VALUES ('alan') RETURNING id),
              c AS (INSERT INTO courses (slug, name) VALUES ('c1', 'C') RETURNING id),
              a AS (INSERT INTO assignments (course_id, slug, title, image, test_command)
                    SELECT c.id, 'hw1', 'HW', 'python:3.12', 'pytest' FROM c RETURNING id, course_id),
              r AS (INSERT INTO repositories (course_id, assignment_id, owner_id, github_repo_id, full_name, clone_url)
                    SELECT a.course_id, a.id, u.id, 42, 'alan/hw1', 'https://github.com/alan/hw1.git' FROM a, u
                    RETURNING id, course_id, assignment_id)
         INSERT INTO builds (repository_id, course_id, assignment_id, number, trigger, branch, commit_sha)
         SELECT r.id, r.course_id, r.assignment_id, 1, 'push', 'main', repeat('a', 40) FROM r RETURNING id",
    )
    .get_result(conn)
    .await?;
    Ok(id.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_rejects_impossible_build_transitions() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let mut conn = db.conn().await?;
    let id = one_build(&mut conn).await?;
    let set = |status: &str| {
        format!(
            "UPDATE builds SET status = '{status}', started_at = coalesce(started_at, now()), finished_at = CASE WHEN '{status}' IN ('queued','running') THEN NULL ELSE now() END WHERE id = {id}"
        )
    };

    let err = diesel::sql_query(set("passed"))
        .execute(&mut conn)
        .await
        .expect_err("queued -> passed");
    assert!(
        err.to_string()
            .contains("impossible status transition queued -> passed"),
        "{err}"
    );
    diesel::sql_query(set("running")).execute(&mut conn).await?;
    diesel::sql_query(set("failed")).execute(&mut conn).await?;
    for next in ["running", "queued", "passed"] {
        let err = diesel::sql_query(set(next))
            .execute(&mut conn)
            .await
            .expect_err("finished builds stay finished");
        assert!(
            err.to_string()
                .contains("impossible status transition failed"),
            "{err}"
        );
    }
    let err = diesel::sql_query(format!(
        "UPDATE builds SET status = 'exploded' WHERE id = {id}"
    ))
    .execute(&mut conn)
    .await
    .expect_err("unknown status");
    assert!(
        err.to_string().contains("impossible status transition")
            || err.to_string().contains("check constraint"),
        "{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_are_numbered_uniquely_per_repository_and_shas_are_checked() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let mut conn = db.conn().await?;
    let id = one_build(&mut conn).await?;
    let dup = diesel::sql_query(format!(
        "INSERT INTO builds (repository_id, course_id, assignment_id, number, trigger, commit_sha)
         SELECT repository_id, course_id, assignment_id, number, 'push', commit_sha FROM builds WHERE id = {id}"
    ))
    .execute(&mut conn)
    .await
    .expect_err("duplicate number");
    assert!(
        dup.to_string().contains("builds_repository_id_number_key"),
        "{dup}"
    );
    let bad_sha = diesel::sql_query(format!(
        "INSERT INTO builds (repository_id, course_id, assignment_id, number, trigger, commit_sha)
         SELECT repository_id, course_id, assignment_id, 2, 'push', 'HEAD; rm -rf /' FROM builds WHERE id = {id}"
    ))
    .execute(&mut conn)
    .await
    .expect_err("bad sha");
    assert!(
        bad_sha.to_string().contains("check constraint"),
        "{bad_sha}"
    );
    Ok(())
}

/// Every Rust enum variant is accepted by its column's CHECK constraint, and nothing else
/// is: the two lists cannot drift apart silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enum_check_constraints_match_the_rust_enums() -> anyhow::Result<()> {
    use lectern::db::enums::{
        BuildStatus, BuildTrigger, ExecutorKind, LogStream, Role, TestOutcome, WebhookStatus,
    };

    #[derive(diesel::QueryableByName)]
    struct Def {
        #[diesel(sql_type = Text)]
        def: String,
    }
    let db = TestDb::new().await?;
    let mut conn = db.conn().await?;
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "memberships",
            "role",
            Role::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "invites",
            "role",
            Role::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "builds",
            "status",
            BuildStatus::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "builds",
            "trigger",
            BuildTrigger::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "builds",
            "executor",
            ExecutorKind::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "log_chunks",
            "stream",
            LogStream::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "test_results",
            "outcome",
            TestOutcome::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "repositories",
            "webhook_status",
            WebhookStatus::ALL.iter().map(|v| v.as_str()).collect(),
        ),
    ];
    for (table, column, variants) in cases {
        let defs: Vec<Def> = diesel::sql_query(format!(
            "SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
             JOIN pg_class t ON t.oid = c.conrelid
             WHERE t.relname = '{table}' AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE 'CHECK (({column} = ANY%'"
        ))
        .load(&mut conn)
        .await?;
        assert_eq!(defs.len(), 1, "{table}.{column} has one list constraint");
        let mut listed: Vec<String> = defs[0]
            .def
            .split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        listed.sort();
        let mut expected: Vec<String> = variants.iter().map(|v| (*v).to_owned()).collect();
        expected.sort();
        assert_eq!(listed, expected, "{table}.{column}");
    }
    Ok(())
}
