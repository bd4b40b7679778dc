//! Liveness and readiness for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::AppState;
use crate::db;

/// `GET /healthz`: the process is alive and answering.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: PostgreSQL answers and every migration is applied; 503 otherwise, with
/// what is wrong.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let mut conn = match state.app.pool.get().await {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(error = %err, "readiness: no database connection");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "ready": false, "database": "unreachable" })),
            );
        }
    };
    match db::migration_status(&mut conn).await {
        Ok(status) if status.pending.is_empty() => (
            StatusCode::OK,
            Json(
                json!({ "ready": true, "database": "ok", "migrations": { "applied": status.applied.len(), "pending": [] } }),
            ),
        ),
        Ok(status) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "ready": false, "database": "ok",
                "migrations": { "applied": status.applied.len(), "pending": status.pending },
                "hint": "run `lectern migrate`, or start `lectern serve` without --no-migrate",
            })),
        ),
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "readiness: migration status unknown"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "ready": false, "database": "error" })),
            )
        }
    }
}
