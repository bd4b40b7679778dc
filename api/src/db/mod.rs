//! PostgreSQL: the connection pool, the embedded migrations and the models.

pub mod enums;
pub mod models;
pub mod schema;

use std::time::Duration;

use anyhow::Context as _;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Key of the advisory lock that serialises migrations across server replicas.
const MIGRATION_LOCK: i64 = 0x6c65_6374_6572_6e00; // "lectern\0"

/// The shared pool of database connections.
pub type DbPool = deadpool::managed::Pool<Manager>;
/// One pooled connection.
pub type DbConn = deadpool::managed::Object<Manager>;

/// A connection in use this recently is handed out again without a liveness check.
const CHECK_WHEN_IDLE: Duration = Duration::from_secs(5);

/// The pool's manager: diesel-async's, except that the liveness check (`SELECT 1` before a
/// connection is handed out) is made only for connections idle longer than
/// [`CHECK_WHEN_IDLE`]. One in constant use is known to work (and one that broke is marked
/// broken and dropped), so a request does not pay a round trip per connection it takes.
pub struct Manager(AsyncDieselConnectionManager<AsyncPgConnection>);

impl deadpool::managed::Manager for Manager {
    type Type = AsyncPgConnection;
    type Error = diesel_async::pooled_connection::PoolError;

    async fn create(&self) -> Result<AsyncPgConnection, Self::Error> {
        self.0.create().await
    }

    async fn recycle(
        &self,
        conn: &mut AsyncPgConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        use diesel_async::pooled_connection::PoolableConnection as _;
        if metrics.last_used() < CHECK_WHEN_IDLE {
            if conn.is_broken() {
                return Err(deadpool::managed::RecycleError::message(
                    "the connection broke",
                ));
            }
            return Ok(());
        }
        self.0.recycle(conn, metrics).await
    }
}

/// Opens a pool of at most `size` connections; waiting for one times out after 10 s.
///
/// Each connection turns PostgreSQL's JIT compilation off: Lectern's queries are short, and
/// compiling one costs more than it saves (the grade matrix of a 300-student course took
/// 35 ms longer with it, once its estimated cost passed `jit_above_cost`).
pub fn pool(database_url: &str, size: usize) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.custom_setup = Box::new(|url| {
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute("SET jit = off")
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        })
    });
    let manager = Manager(AsyncDieselConnectionManager::new_with_config(
        database_url,
        config,
    ));
    DbPool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("could not create the database pool")
}

/// Applies every pending migration and returns the versions applied. Safe to run from several
/// processes at once: they take turns through an advisory lock.
///
/// Needs the multi-thread tokio runtime (diesel's migration harness blocks in place).
pub async fn migrate(database_url: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = connect(database_url).await?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .execute(&mut conn)
        .await
        .context("could not take the migration lock")?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
        .map_err(|e| anyhow::anyhow!("a migration failed: {e}"));
    let mut conn = harness.into_inner();
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .execute(&mut conn)
        .await
        .context("could not release the migration lock")?;
    applied
}

/// Reverts every applied migration, newest first. For tests of the migrations themselves.
pub async fn revert_all(database_url: &str) -> anyhow::Result<Vec<String>> {
    let conn = connect(database_url).await?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let reverted = harness
        .revert_all_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("reverting a migration failed: {e}"))?;
    Ok(reverted.iter().map(ToString::to_string).collect())
}

/// Applied and pending migration versions, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
}

/// Which of the embedded migrations the database has applied.
pub async fn migration_status(conn: &mut AsyncPgConnection) -> anyhow::Result<MigrationStatus> {
    use diesel::sql_types::{Bool, Text};

    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }

    let table: Exists =
        diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS exists")
            .get_result(conn)
            .await?;
    let applied: Vec<String> = if table.exists {
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
            .load::<Version>(conn)
            .await?
            .into_iter()
            .map(|v| v.version)
            .collect()
    } else {
        Vec::new()
    };
    let known = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("embedded migrations are unreadable: {e}"))?;
    let pending = known
        .iter()
        .map(|m| m.name().version().to_string())
        .filter(|version| !applied.contains(version))
        .collect();
    Ok(MigrationStatus { applied, pending })
}

/// A single connection outside the pool, for migrations and administration.
pub async fn connect(database_url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(database_url)
        .await
        .context("could not connect to PostgreSQL (is it running, and is DATABASE_URL right?)")
}

/// A connection of its own that LISTENs on `channels`: its notifications, ending when the
/// connection does (callers reconnect after a pause, and poll meanwhile).
pub async fn listen(
    database_url: &str,
    channels: &[&str],
) -> anyhow::Result<impl futures::Stream<Item = diesel::pg::PgNotification> + use<>> {
    use futures::StreamExt as _;
    let mut conn = connect(database_url).await?;
    for channel in channels {
        diesel::sql_query(format!("LISTEN {channel}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("could not LISTEN on {channel}"))?;
    }
    Ok(async_stream::stream! {
        let mut notifications = std::pin::pin!(conn.notifications_stream());
        while let Some(Ok(notification)) = notifications.next().await {
            yield notification;
        }
    })
}
