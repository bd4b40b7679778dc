//! The HTTP surface: GraphQL, sign-in, health and the web client, with the layers every
//! request passes (request ids, tracing, body limits, origin checks, security headers).

mod auth;
mod grades;
mod graphql;
mod health;
mod hidden_tests;
mod logs;
pub mod metrics;
mod subscriptions;
mod web;
mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::graphql::LecternSchema;

/// The header carrying each request's id, returned to the client for error reports.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest request body accepted anywhere (GraphQL documents are far smaller).
const MAX_BODY: usize = 256 * 1024;

/// Router state: the app and the GraphQL schema built over it.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub schema: LecternSchema,
}

impl axum::extract::FromRef<AppState> for App {
    fn from_ref(state: &AppState) -> App {
        state.app.clone()
    }
}

/// The whole application as one router.
pub fn router(app: App) -> Router {
    let schema = crate::graphql::schema(app.clone());
    let state = AppState {
        app: app.clone(),
        schema,
    };
    let api = Router::new()
        .route("/graphql", post(graphql::execute).get(graphql::graphiql))
        .route("/graphql/ws", get(subscriptions::subscribe))
        .route("/auth/dev/login", post(auth::dev_login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/github/login", get(auth::github_login))
        .route("/auth/github/callback", get(auth::github_callback))
        .route("/builds/{id}/log", get(logs::download))
        .route("/courses/{slug}/grades.csv", get(grades::csv))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .route_layer(middleware::from_fn_with_state(app.clone(), check_origin))
        .with_state(state.clone())
        .merge(web::router(&app))
        .layer(RequestBodyLimitLayer::new(MAX_BODY));
    // Webhooks are signed server-to-server requests with their own (larger) size limit,
    // enforced while reading the body so that refusals are recorded too.
    let webhooks = Router::new()
        .route("/webhooks/github", post(webhooks::receive))
        .with_state(state.clone());
    // Hidden tests arrive as archives larger than any other request.
    let uploads = Router::new()
        .route(
            "/assignments/{id}/hidden-tests",
            axum::routing::put(hidden_tests::upload).delete(hidden_tests::remove),
        )
        .route_layer(middleware::from_fn_with_state(app.clone(), check_origin))
        .layer(axum::extract::DefaultBodyLimit::max(hidden_tests::MAX_BODY))
        .layer(RequestBodyLimitLayer::new(hidden_tests::MAX_BODY))
        .with_state(state);
    api.merge(webhooks)
        .merge(uploads)
        // Applied per route, so the route's template is known (MatchedPath).
        .layer(middleware::from_fn(metrics::observe))
        .layer(middleware::map_response(close_when_body_refused))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                let span = tracing::info_span!("request", request_id, method = %request.method(), path = %request.uri().path());
                crate::telemetry::continue_trace(&span, request.headers());
                span
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::map_request(drop_unusable_request_id))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
}

/// A request id a client (or a proxy in front) sent is kept, so one id follows a request
/// through every hop — unless it is not a plain token of reasonable length, which would
/// bloat or garble every log line of the request: then a fresh one is made.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(REQUEST_ID).is_none_or(|id| {
        (1..=128).contains(&id.len())
            && id
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// A body refused as too large is left unread, which ends its connection: the response says
/// so, or a client could send its next request on a connection about to close (and see it
/// broken).
async fn close_when_body_refused(mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Refuses state-changing requests sent by another site: when a browser says where a POST
/// comes from (`Origin`), it must be this server's public origin. SameSite=Lax cookies
/// already keep sessions out of cross-site POSTs; this is the second lock.
async fn check_origin(State(app): State<App>, request: Request, next: Next) -> Response {
    // A WebSocket upgrade is a GET that carries the session: browsers send its Origin.
    let upgrade = request.headers().contains_key(header::UPGRADE);
    let unsafe_method =
        upgrade || (request.method() != Method::GET && request.method() != Method::HEAD);
    if unsafe_method && let Some(origin) = request.headers().get(header::ORIGIN) {
        let expected = app.config.public_url.origin().ascii_serialization();
        if origin.as_bytes() != expected.as_bytes() {
            return crate::error::AppError::BadRequest(format!(
                "cross-origin request refused: this server only accepts requests from {expected} (set LECTERN_PUBLIC_URL if that is wrong)"
            ))
            .into_response();
        }
    }
    next.run(request).await
}
