//! The session cookie and the extractors that turn it into the signed-in user.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use cookie::{Cookie, SameSite};

use crate::app::App;
use crate::config::Config;
use crate::db::models::{Session, User};
use crate::error::AppError;

/// The signed-in person behind a request.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub user: User,
    pub session_id: i64,
    /// A platform administrator (flag in the database or `LECTERN_ADMINS`).
    pub is_admin: bool,
}

/// The person behind a request, if anyone is signed in.
#[derive(Clone, Debug, Default)]
pub struct Viewer(pub Option<CurrentUser>);

impl Viewer {
    /// The signed-in user, or `Unauthenticated`.
    pub fn require(&self) -> Result<&CurrentUser, AppError> {
        self.0.as_ref().ok_or(AppError::Unauthenticated)
    }
}

/// The cookie's name: with the `__Host-` prefix when served over https, which makes browsers
/// refuse it unless it is Secure, host-only and for path `/`.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies() {
        "__Host-lectern_session"
    } else {
        "lectern_session"
    }
}

/// The Set-Cookie value that stores a new session token.
pub fn session_cookie(config: &Config, token: String) -> Cookie<'static> {
    Cookie::build((cookie_name(config), token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.secure_cookies())
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(config.session_ttl.as_secs()).unwrap_or(i64::MAX),
        ))
        .build()
}

/// The Set-Cookie value that removes the session cookie.
pub fn clear_cookie(config: &Config) -> Cookie<'static> {
    Cookie::build((cookie_name(config), ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.secure_cookies())
        .max_age(cookie::time::Duration::ZERO)
        .build()
}

/// The session token from the request's cookies, if present.
pub fn token_from_headers(headers: &HeaderMap, config: &Config) -> Option<String> {
    cookie_value(headers, cookie_name(config))
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| Cookie::split_parse(header.to_owned()))
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

impl<S> FromRequestParts<S> for Viewer
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = App::from_ref(state);
        if let Some(viewer) = parts.extensions.get::<Viewer>() {
            return Ok(viewer.clone());
        }
        let Some(token) = token_from_headers(&parts.headers, &app.config) else {
            return Ok(Viewer(None));
        };
        let mut conn = app.db().await?;
        let resolved = Session::resolve(&mut conn, &token, app.config.session_ttl).await?;
        let viewer = Viewer(resolved.map(|(session, user)| CurrentUser {
            is_admin: user.is_admin || app.config.is_admin_login(&user.login),
            session_id: session.id,
            user,
        }));
        parts.extensions.insert(viewer.clone());
        Ok(viewer)
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Viewer::from_request_parts(parts, state)
            .await?
            .0
            .ok_or(AppError::Unauthenticated)
    }
}
