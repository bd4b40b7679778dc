//! `GET /metrics`: the Prometheus text exposition, on the main listener for a bearer of
//! `LECTERN_METRICS_TOKEN`, or openly on the private `LECTERN_METRICS_LISTEN`; and the
//! middleware that times every request.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::App;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` on the main listener: only with the configured bearer token.
pub async fn scrape(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(token) = &app.config.metrics.token else {
        return (
            StatusCode::NOT_FOUND,
            "metrics are not served on this listener: set LECTERN_METRICS_TOKEN (and scrape with \
             `Authorization: Bearer …`) or LECTERN_METRICS_LISTEN (a private listener)\n",
        )
            .into_response();
    };
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !crate::crypto::constant_time_eq(offered.as_bytes(), token.expose().as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "send `Authorization: Bearer <LECTERN_METRICS_TOKEN>`\n",
        )
            .into_response();
    }
    exposition(&app).await
}

/// The router of the private metrics listener: `/metrics`, open to whoever reaches it.
pub fn private_router(app: App) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(async |State(app): State<App>| exposition(&app).await),
        )
        .with_state(app)
}

async fn exposition(app: &App) -> Response {
    let body = crate::metrics::get().render(app).await;
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}

/// Times each request into `lectern_http_request_duration_seconds`, labelled with the
/// route's template (`/builds/{id}/log`), never the path itself.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let response = next.run(request).await;
    crate::metrics::get()
        .http_requests
        .with_label_values(&[&route, method_label(&method), response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Methods as labels: the usual ones, and `other` (clients choose methods).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
