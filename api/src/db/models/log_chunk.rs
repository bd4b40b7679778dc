//! Build output: ordered chunks of raw bytes per build, numbered from 0.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::enums::LogStream;
use crate::db::schema::log_chunks;

/// One stored chunk of a build's output.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = log_chunks, check_for_backend(diesel::pg::Pg))]
pub struct LogChunk {
    pub build_id: i64,
    pub seq: i32,
    pub stream: LogStream,
    pub data: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// A chunk to store.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = log_chunks)]
pub struct NewLogChunk {
    pub build_id: i64,
    pub seq: i32,
    pub stream: LogStream,
    pub data: Vec<u8>,
}

impl LogChunk {
    /// Stores `chunks` in one statement.
    pub async fn insert_all(
        conn: &mut AsyncPgConnection,
        chunks: &[NewLogChunk],
    ) -> QueryResult<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        diesel::insert_into(log_chunks::table)
            .values(chunks)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// What the tests printed, both streams in order (Lectern's own lines aside), as
    /// text: what grading reads results from. The visible run's output, or with `hidden`
    /// the hidden tests' run's.
    pub async fn output_text(
        conn: &mut AsyncPgConnection,
        build_id: i64,
        hidden: bool,
    ) -> QueryResult<String> {
        let streams = if hidden {
            [LogStream::HiddenStdout, LogStream::HiddenStderr]
        } else {
            [LogStream::Stdout, LogStream::Stderr]
        };
        let data: Vec<Vec<u8>> = log_chunks::table
            .filter(log_chunks::build_id.eq(build_id))
            .filter(log_chunks::stream.eq_any(streams))
            .order(log_chunks::seq)
            .select(log_chunks::data)
            .load(conn)
            .await?;
        Ok(String::from_utf8_lossy(&data.concat()).into_owned())
    }

    /// The bytes stored so far on `stream` (a run followed again after its server died
    /// goes on after them).
    pub async fn stream_bytes(
        conn: &mut AsyncPgConnection,
        build_id: i64,
        stream: LogStream,
    ) -> QueryResult<i64> {
        let bytes: Option<i64> = log_chunks::table
            .filter(log_chunks::build_id.eq(build_id))
            .filter(log_chunks::stream.eq(stream))
            .select(diesel::dsl::sum(diesel::dsl::sql::<
                diesel::sql_types::Integer,
            >("length(data)")))
            .first(conn)
            .await?;
        Ok(bytes.unwrap_or(0))
    }

    /// The chunks after sequence number `after` (all with `None`), at most `limit`.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        build_id: i64,
        after: Option<i32>,
        limit: i64,
    ) -> QueryResult<Vec<LogChunk>> {
        log_chunks::table
            .filter(log_chunks::build_id.eq(build_id))
            .filter(log_chunks::seq.gt(after.unwrap_or(-1)))
            .order(log_chunks::seq)
            .limit(limit)
            .select(LogChunk::as_select())
            .load(conn)
            .await
    }

    /// The next free sequence number and the bytes stored so far (a build run again after
    /// its server died goes on where its log stopped).
    pub async fn tail(conn: &mut AsyncPgConnection, build_id: i64) -> QueryResult<(i32, i64)> {
        use diesel::dsl::{max, sum};
        let (seq, bytes): (Option<i32>, Option<i64>) = log_chunks::table
            .filter(log_chunks::build_id.eq(build_id))
            .select((
                max(log_chunks::seq),
                sum(diesel::dsl::sql::<diesel::sql_types::Integer>(
                    "length(data)",
                )),
            ))
            .first(conn)
            .await?;
        Ok((seq.map_or(0, |s| s + 1), bytes.unwrap_or(0)))
    }
}
