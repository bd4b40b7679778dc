//! The web client: static files from `LECTERN_WEB_DIR`, and `index.html` for every other
//! path so the client-side router can take it (deep links and reloads work).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::App;

/// What the page may load: only this origin, wasm compilation, GitHub avatars.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: https://avatars.githubusercontent.com; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Routes for the built client, or a page that says how to build it.
pub fn router(app: &App) -> Router {
    let dir = app.config.web_dir.clone();
    let index = dir.join("index.html");
    let csp = SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    if !index.is_file() {
        tracing::warn!(dir = %dir.display(), "the web client is not built; serving a notice at /");
        return Router::new().fallback(not_built).layer(csp);
    }
    // scripts/build-web stores each file also as .br and .gz: sent to browsers that take them.
    let files = ServeDir::new(&dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(
            ServeFile::new(index)
                .precompressed_br()
                .precompressed_gzip(),
        );
    Router::new().fallback_service(files).layer(csp)
}

async fn not_built() -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(
            "<!doctype html><title>Lectern</title><h1>The web client is not built</h1>\
             <p>Run <code>scripts/build-web</code> (or <code>scripts/demo</code>), or point \
             <code>LECTERN_WEB_DIR</code> at a built client. The API is at <code>/graphql</code>.</p>",
        ),
    )
}
