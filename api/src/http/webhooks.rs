//! `POST /webhooks/github`: verify, deduplicate, record, queue — and answer. Nothing slow
//! (no git, no GitHub call) happens here; the delivery row and the build are committed
//! before the 2xx.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use diesel::result::DatabaseErrorKind;
use diesel_async::AsyncConnection as _;
use serde_json::json;

use super::AppState;
use crate::db::enums::{DeliveryOutcome, WebhookStatus};
use crate::db::models::{Assignment, Build, NewDelivery, Repository, WebhookDelivery};
use crate::error::AppError;
use crate::forge::github::webhook::{self, Decision, Envelope};

/// What the request said about itself, as far as it got.
#[derive(Default)]
struct Seen {
    event: Option<String>,
    delivery_id: Option<String>,
    action: Option<String>,
    github_repo_id: Option<i64>,
    repository_id: Option<i64>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Receives one delivery.
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let received_at = Utc::now();
    let mut seen = Seen {
        event: header(&headers, "x-github-event").map(|e| e.chars().take(100).collect()),
        delivery_id: header(&headers, "x-github-delivery").map(|d| d.chars().take(100).collect()),
        ..Seen::default()
    };
    let answer = handle(&state, &headers, body, &mut seen, received_at).await;
    let outcome = match &answer {
        Ok((_, outcome)) => *outcome,
        Err(Refusal(status, _)) => refusal_outcome(*status),
    };
    crate::metrics::get()
        .webhook_deliveries
        .with_label_values(&[event_label(seen.event.as_deref()), outcome])
        .inc();
    match answer {
        Ok((response, _)) => response,
        Err(Refusal(status, reason)) => {
            tracing::info!(delivery = ?seen.delivery_id, event = ?seen.event, status = status.as_u16(), reason, "webhook refused");
            if let Err(err) = record_refusal(&state, &seen, status, &reason, received_at).await {
                tracing::error!(error = %err, "could not record a refused webhook delivery");
            }
            (status, Json(json!({ "error": reason }))).into_response()
        }
    }
}

/// The event as a metric label: GitHub's events Lectern acts on, or `other`.
fn event_label(event: Option<&str>) -> &'static str {
    match event {
        Some("push") => "push",
        Some("pull_request") => "pull_request",
        Some("ping") => "ping",
        None => "missing",
        Some(_) => "other",
    }
}

/// Why a delivery was turned away, as a metric label.
fn refusal_outcome(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "rejected_signature",
        StatusCode::NOT_FOUND => "rejected_unknown_repository",
        StatusCode::PAYLOAD_TOO_LARGE => "rejected_too_large",
        status if status.is_client_error() => "rejected_malformed",
        _ => "error",
    }
}

/// A delivery turned away, with the status and reason GitHub will show.
struct Refusal(StatusCode, String);

impl From<AppError> for Refusal {
    fn from(err: AppError) -> Self {
        let status = err.status();
        Refusal(status, err.public_message())
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    seen: &mut Seen,
    received_at: DateTime<Utc>,
) -> Result<(Response, &'static str), Refusal> {
    let app = &state.app;
    let Some(event) = seen.event.clone() else {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "missing X-GitHub-Event header".into(),
        ));
    };
    let Some(delivery_id) = seen.delivery_id.clone() else {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "missing X-GitHub-Delivery header".into(),
        ));
    };
    let body: Bytes = axum::body::to_bytes(body, app.config.webhook_max_bytes)
        .await
        .map_err(|_| {
            Refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "payload larger than {} bytes (LECTERN_WEBHOOK_MAX_BYTES)",
                    app.config.webhook_max_bytes
                ),
            )
        })?;
    let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON payload: {e}"),
        )
    })?;
    seen.action = envelope.action.clone();
    let Some(repo_ref) = envelope.repository else {
        return Err(Refusal(
            StatusCode::NOT_FOUND,
            "the payload names no repository".into(),
        ));
    };
    seen.github_repo_id = Some(repo_ref.id);
    let mut conn = app.db().await?;
    let repository = Repository::find_by_github_id(&mut conn, repo_ref.id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| {
            Refusal(
                StatusCode::NOT_FOUND,
                format!(
                    "repository {} ({}) is not linked to Lectern",
                    repo_ref.full_name, repo_ref.id
                ),
            )
        })?;
    seen.repository_id = Some(repository.id);
    // The secret, and during a rotation's grace the one it replaced.
    let sealed = repository.accepted_secrets(received_at);
    if sealed.is_empty() {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "this repository has no webhook secret yet".into(),
        ));
    }
    let context = Repository::secret_context(repository.github_repo_id);
    let secrets = sealed
        .into_iter()
        .map(|sealed| app.cipher.open(&context, sealed))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::Internal(e.into()))?;
    let signature = header(headers, "x-hub-signature-256");
    if !secrets
        .iter()
        .any(|secret| webhook::verify_signature(secret, &body, signature))
    {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "signature (X-Hub-Signature-256) does not match the payload".into(),
        ));
    }

    let assignment = Assignment::find(&mut conn, repository.assignment_id)
        .await
        .map_err(AppError::from)?;
    let decision = webhook::decide(&event, &body, &assignment.branch_patterns()).map_err(|e| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("malformed {event} payload: {e}"),
        )
    })?;

    let action = seen.action.clone();
    let stored = conn
        .transaction(async |conn| {
            let (outcome, detail, build, status) = match &decision {
                Decision::Build(request) => {
                    let build = Build::enqueue(
                        conn,
                        &repository,
                        request,
                        Some(&delivery_id),
                        received_at,
                        state.app.config.builds.supersede_queued,
                    )
                    .await?;
                    (
                        DeliveryOutcome::Queued,
                        None,
                        Some(build),
                        StatusCode::ACCEPTED,
                    )
                }
                Decision::Ping => {
                    Repository::set_webhook_status(conn, repository.id, WebhookStatus::Active)
                        .await?;
                    (
                        DeliveryOutcome::Ignored,
                        Some("ping: the webhook works".to_owned()),
                        None,
                        StatusCode::OK,
                    )
                }
                Decision::Ignore(reason) => (
                    DeliveryOutcome::Ignored,
                    Some(reason.clone()),
                    None,
                    StatusCode::OK,
                ),
            };
            let delivery = WebhookDelivery::record(
                conn,
                &NewDelivery {
                    delivery_id: Some(delivery_id.clone()),
                    event: event.clone(),
                    action: action.clone(),
                    github_repo_id: Some(repository.github_repo_id),
                    repository_id: Some(repository.id),
                    build_id: build.as_ref().map(|b| b.id),
                    outcome,
                    detail,
                    received_at,
                    status_code: status.as_u16() as i16,
                },
            )
            .await?;
            Ok::<_, diesel::result::Error>((delivery, build))
        })
        .await;
    let (delivery, build) = match stored {
        Ok(stored) => stored,
        // A redelivery (or the same delivery twice at once): the unique delivery id refused
        // this copy, and the transaction took its build back with it.
        Err(diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info))
            if info.constraint_name() == Some("webhook_deliveries_delivery_id_key") =>
        {
            let previous = WebhookDelivery::find_accepted(&mut conn, &delivery_id)
                .await
                .map_err(AppError::from)?;
            let response =
                previous.map_or_else(|| StatusCode::OK.into_response(), |p| duplicate(&p));
            return Ok((response, "duplicate"));
        }
        Err(other) => return Err(AppError::from(other).into()),
    };

    tracing::info!(delivery = %delivery_id, event, outcome = %delivery.outcome, build = ?build.as_ref().map(|b| b.id), "webhook accepted");
    let status = StatusCode::from_u16(delivery.status_code as u16).unwrap_or(StatusCode::OK);
    let outcome = match delivery.outcome {
        DeliveryOutcome::Queued => "queued",
        DeliveryOutcome::Ignored => "ignored",
        DeliveryOutcome::Failed => "error",
        DeliveryOutcome::Rejected => "rejected_malformed",
    };
    let response = (
        status,
        Json(json!({
            "delivery": delivery.id,
            "outcome": delivery.outcome.as_str(),
            "detail": delivery.detail,
            "build": build.map(|b| json!({ "id": b.id, "number": b.number })),
        })),
    )
        .into_response();
    Ok((response, outcome))
}

fn duplicate(previous: &WebhookDelivery) -> Response {
    (
        StatusCode::OK,
        Json(json!({
            "delivery": previous.id,
            "outcome": "duplicate",
            "detail": "this delivery was already received; nothing new was created",
            "build": previous.build_id.map(|id| json!({ "id": id })),
        })),
    )
        .into_response()
}

async fn record_refusal(
    state: &AppState,
    seen: &Seen,
    status: StatusCode,
    reason: &str,
    received_at: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut conn = state.app.db().await?;
    WebhookDelivery::record(
        &mut conn,
        &NewDelivery {
            delivery_id: seen.delivery_id.clone(),
            event: seen.event.clone().unwrap_or_else(|| "unknown".into()),
            action: seen.action.clone(),
            github_repo_id: seen.github_repo_id,
            repository_id: seen.repository_id,
            build_id: None,
            outcome: DeliveryOutcome::Rejected,
            detail: Some(reason.chars().take(2000).collect()),
            received_at,
            status_code: status.as_u16() as i16,
        },
    )
    .await?;
    Ok(())
}
