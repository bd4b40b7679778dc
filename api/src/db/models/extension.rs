//! Extensions: one student's own deadline for one assignment.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::extensions;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = extensions, check_for_backend(diesel::pg::Pg))]
pub struct Extension {
    pub assignment_id: i64,
    pub user_id: i64,
    pub due_at: DateTime<Utc>,
    pub granted_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl Extension {
    /// `user_id`'s own deadline for the assignment, if they were given one.
    pub async fn due_for(
        conn: &mut AsyncPgConnection,
        assignment_id: i64,
        user_id: i64,
    ) -> QueryResult<Option<DateTime<Utc>>> {
        extensions::table
            .find((assignment_id, user_id))
            .select(extensions::due_at)
            .first(conn)
            .await
            .optional()
    }

    /// Gives `user_id` the deadline `due_at` (replacing one given before).
    pub async fn grant(
        conn: &mut AsyncPgConnection,
        assignment_id: i64,
        user_id: i64,
        due_at: DateTime<Utc>,
        granted_by: i64,
    ) -> QueryResult<Extension> {
        diesel::insert_into(extensions::table)
            .values((
                extensions::assignment_id.eq(assignment_id),
                extensions::user_id.eq(user_id),
                extensions::due_at.eq(due_at),
                extensions::granted_by.eq(granted_by),
            ))
            .on_conflict((extensions::assignment_id, extensions::user_id))
            .do_update()
            .set((
                extensions::due_at.eq(excluded(extensions::due_at)),
                extensions::granted_by.eq(excluded(extensions::granted_by)),
            ))
            .returning(Extension::as_returning())
            .get_result(conn)
            .await
    }

    /// Takes an extension back; whether there was one.
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        assignment_id: i64,
        user_id: i64,
    ) -> QueryResult<bool> {
        let n = diesel::delete(extensions::table.find((assignment_id, user_id)))
            .execute(conn)
            .await?;
        Ok(n > 0)
    }

    /// The assignment's extensions, earliest deadline first.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        assignment_id: i64,
    ) -> QueryResult<Vec<Extension>> {
        extensions::table
            .filter(extensions::assignment_id.eq(assignment_id))
            .order((extensions::due_at, extensions::user_id))
            .select(Extension::as_select())
            .load(conn)
            .await
    }
}
