//! Per-test results of a build, in report order, with the points each earned.

use bigdecimal::BigDecimal;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::enums::TestOutcome;
use crate::db::schema::test_results;

/// One test of one build.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = test_results, check_for_backend(diesel::pg::Pg))]
pub struct TestResult {
    pub id: i64,
    pub build_id: i64,
    pub position: i32,
    pub suite: String,
    pub name: String,
    pub outcome: TestOutcome,
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
    pub points: Option<BigDecimal>,
    pub max_points: Option<BigDecimal>,
    pub hidden: bool,
}

/// A result to store.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = test_results)]
pub struct NewTestResult {
    pub build_id: i64,
    pub position: i32,
    pub suite: String,
    pub name: String,
    pub outcome: TestOutcome,
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
    pub points: Option<BigDecimal>,
    pub max_points: Option<BigDecimal>,
    pub hidden: bool,
}

/// Rows per INSERT: 10 values each, well under PostgreSQL's 65 535 parameters.
const BATCH: usize = 2_000;

impl TestResult {
    /// Stores `results` (a build's whole report) in as few statements as the size allows.
    pub async fn insert_all(
        conn: &mut AsyncPgConnection,
        results: &[NewTestResult],
    ) -> QueryResult<()> {
        for batch in results.chunks(BATCH) {
            diesel::insert_into(test_results::table)
                .values(batch)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// A build's results in report order.
    pub async fn for_build(
        conn: &mut AsyncPgConnection,
        build_id: i64,
    ) -> QueryResult<Vec<TestResult>> {
        test_results::table
            .filter(test_results::build_id.eq(build_id))
            .order(test_results::position)
            .select(TestResult::as_select())
            .load(conn)
            .await
    }
}
