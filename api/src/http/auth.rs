//! Sign-in and sign-out endpoints. GitHub OAuth arrives in its own module; until then the
//! development sign-in serves demos and local work, and only when configured.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::auth::Viewer;
use crate::auth::session::{clear_cookie, cookie_value, session_cookie, token_from_headers};
use crate::db::models::user::is_valid_login;
use crate::db::models::{GithubIdentity, Session, User};
use crate::error::AppError;
use crate::forge::github::{api, oauth};

/// The development sign-in form.
#[derive(Deserialize)]
pub struct DevLogin {
    login: String,
    /// Where to go afterwards: a path on this server.
    next: Option<String>,
}

/// A path on this server to return to, or `/`: never another site.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}

fn with_cookie(
    response: impl IntoResponse,
    cookie: &cookie::Cookie<'_>,
) -> Result<Response, AppError> {
    let mut response = response.into_response();
    let value =
        HeaderValue::from_str(&cookie.to_string()).map_err(|e| AppError::Internal(e.into()))?;
    response.headers_mut().append(SET_COOKIE, value);
    Ok(response)
}

/// `POST /auth/dev/login` (form: `login`, `next`): signs in as `login`, creating the user if
/// needed. 404 unless `LECTERN_DEV_LOGIN=true`.
pub async fn dev_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<DevLogin>,
) -> Result<Response, AppError> {
    let app = &state.app;
    if !app.config.dev_login {
        return Err(AppError::NotFound);
    }
    let login = form.login.trim();
    if !is_valid_login(login) {
        return Err(AppError::invalid(
            "login",
            "use 1 to 39 letters, digits or hyphens, like a GitHub login",
        ));
    }
    let mut conn = app.db().await?;
    let user = User::find_or_create_local(&mut conn, login, None).await?;
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let (token, _) =
        Session::create(&mut conn, user.id, app.config.session_ttl, user_agent).await?;
    tracing::warn!(user = user.id, login = %user.login, "development sign-in (LECTERN_DEV_LOGIN is on)");
    with_cookie(
        Redirect::to(local_path(form.next.as_deref())),
        &session_cookie(&app.config, token),
    )
}

/// `POST /auth/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let app = &state.app;
    if viewer.0.is_some()
        && let Some(token) = token_from_headers(&headers, &app.config)
    {
        let mut conn = app.db().await?;
        Session::delete_by_token(&mut conn, &token).await?;
    }
    with_cookie(Redirect::to("/"), &clear_cookie(&app.config))
}

/// The short-lived cookie that carries the OAuth `state`, the PKCE verifier and where to
/// return, sealed so the browser can neither read nor forge it.
const OAUTH_COOKIE: &str = "lectern_oauth";
const OAUTH_CONTEXT: &str = "oauth-sign-in";
const OAUTH_LIFETIME_SECS: i64 = 600;

#[derive(Serialize, Deserialize)]
struct PendingSignIn {
    state: String,
    verifier: String,
    next: String,
    expires: i64,
}

fn oauth_cookie(value: String, max_age: i64, secure: bool) -> cookie::Cookie<'static> {
    cookie::Cookie::build((OAUTH_COOKIE, value))
        .path("/auth/github")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
}

/// Query of `GET /auth/github/login`.
#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /auth/github/login`: sends the browser to GitHub to sign in.
pub async fn github_login(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let app = &state.app;
    let oauth = app.config.github_oauth.as_ref().ok_or_else(|| {
        AppError::BadRequest("GitHub sign-in is not configured on this server (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET)".into())
    })?;
    let authorization = oauth::authorize(&app.config, oauth)?;
    let pending = PendingSignIn {
        state: authorization.state,
        verifier: authorization.pkce_verifier,
        next: local_path(query.next.as_deref()).to_owned(),
        expires: chrono::Utc::now().timestamp() + OAUTH_LIFETIME_SECS,
    };
    let sealed = app.cipher.seal(
        OAUTH_CONTEXT,
        &serde_json::to_vec(&pending).map_err(|e| AppError::Internal(e.into()))?,
    );
    let cookie = oauth_cookie(
        URL_SAFE_NO_PAD.encode(sealed),
        OAUTH_LIFETIME_SECS,
        app.config.secure_cookies(),
    );
    with_cookie(Redirect::to(authorization.url.as_str()), &cookie)
}

/// Query of `GET /auth/github/callback`.
#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/github/callback`: checks the state, exchanges the code, reads the profile,
/// creates or updates the user and opens a session.
pub async fn github_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let app = &state.app;
    let oauth = app.config.github_oauth.as_ref().ok_or(AppError::NotFound)?;
    let restart = "start the sign-in again from Lectern's sign-in page";
    if let Some(error) = query.error {
        let why = query.error_description.unwrap_or(error);
        return Err(AppError::BadRequest(format!(
            "GitHub did not sign you in: {why}; {restart}"
        )));
    }
    let pending = cookie_value(&headers, OAUTH_COOKIE)
        .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
        .and_then(|sealed| app.cipher.open(OAUTH_CONTEXT, &sealed).ok())
        .and_then(|json| serde_json::from_slice::<PendingSignIn>(&json).ok())
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "this sign-in was not started in this browser, or it expired; {restart}"
            ))
        })?;
    if pending.expires < chrono::Utc::now().timestamp() {
        return Err(AppError::BadRequest(format!(
            "this sign-in took too long and expired; {restart}"
        )));
    }
    if query.state.as_deref() != Some(pending.state.as_str()) {
        return Err(AppError::BadRequest(format!(
            "the sign-in state does not match; {restart}"
        )));
    }
    let code = query
        .code
        .ok_or_else(|| AppError::BadRequest(format!("GitHub sent no code; {restart}")))?;
    let grant = oauth::exchange(&app.config, oauth, &app.http, &code, &pending.verifier)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let github = api::client(&app.config, &grant.access_token)?;
    let (profile, email) = api::profile(&github).await.map_err(|e| {
        AppError::BadRequest(format!(
            "could not read your GitHub profile ({}); {restart}",
            api::describe(&e)
        ))
    })?;
    let sealed = app.cipher.seal(
        &User::token_context(profile.id),
        grant.access_token.as_bytes(),
    );
    let mut conn = app.db().await?;
    let user = User::upsert_from_github(
        &mut conn,
        &GithubIdentity {
            github_id: profile.id,
            login: &profile.login,
            name: profile.name.as_deref(),
            email: email.as_deref(),
            avatar_url: profile.avatar_url.as_deref(),
            sealed_token: &sealed,
            scopes: grant.scopes.as_deref(),
        },
    )
    .await?;
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let (token, _) =
        Session::create(&mut conn, user.id, app.config.session_ttl, user_agent).await?;
    tracing::info!(user = user.id, login = %user.login, "signed in with GitHub");
    let response = with_cookie(
        Redirect::to(&pending.next),
        &session_cookie(&app.config, token),
    )?;
    with_cookie(
        response,
        &oauth_cookie(String::new(), 0, app.config.secure_cookies()),
    )
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/courses/cs101")), "/courses/cs101");
        for outside in [
            Some("//evil.example"),
            Some("https://evil.example"),
            Some("/\\evil"),
            Some(""),
            None,
        ] {
            assert_eq!(local_path(outside), "/");
        }
    }
}
