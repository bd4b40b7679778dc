//! The stand-in's HTTP routes: GitHub's documented endpoints, answered from its state.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{RemoteHook, RemoteRepo, Standin};

pub(super) fn router(standin: Standin) -> Router {
    Router::new()
        .route("/login/oauth/authorize", get(authorize))
        .route("/login/oauth/access_token", post(access_token))
        .route("/user", get(user))
        .route("/user/emails", get(emails))
        .route("/repos/{owner}/{name}", get(repository))
        .route("/repos/{owner}/{name}/branches", get(branches))
        .route("/repos/{owner}/{name}/branches/{branch}", get(branch))
        .route("/repos/{owner}/{name}/hooks", post(create_hook))
        .route("/repos/{owner}/{name}/hooks/{id}", delete(delete_hook))
        .route(
            "/repos/{owner}/{name}/hooks/{id}/config",
            axum::routing::patch(update_hook_config),
        )
        .route("/repos/{owner}/{name}/hooks/{id}/pings", post(ping_hook))
        .route("/repos/{owner}/{name}/statuses/{sha}", post(create_status))
        .layer(axum::middleware::map_response_with_state(
            standin.clone(),
            rate_limit_headers,
        ))
        .with_state(standin)
}

/// GitHub's rate-limit headers on every answer: 5000 an hour, one spent per request seen.
async fn rate_limit_headers(State(gh): State<Standin>, mut response: Response) -> Response {
    const LIMIT: usize = 5000;
    let remaining = LIMIT.saturating_sub(gh.lock().requests.len());
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", LIMIT.into());
    headers.insert("x-ratelimit-remaining", remaining.into());
    response
}

fn bad_credentials() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest" })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
    /// The account picked on the stand-in's sign-in page.
    as_account: Option<i64>,
}

async fn authorize(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    gh.record(
        "GET",
        &format!(
            "/login/oauth/authorize?scope={}",
            q.scope.clone().unwrap_or_default()
        ),
        &headers,
        String::new(),
    );
    if q.client_id != gh.client_id {
        return (StatusCode::NOT_FOUND, "unknown client_id").into_response();
    }
    let (Some(challenge), Some("S256")) =
        (q.code_challenge.clone(), q.code_challenge_method.as_deref())
    else {
        return (
            StatusCode::BAD_REQUEST,
            "PKCE S256 required by this stand-in",
        )
            .into_response();
    };
    if let Some(chosen) = q.as_account
        && gh.accounts().iter().any(|a| a.id == chosen)
    {
        gh.browser_signed_in_as(chosen);
    }
    let mut inner = gh.lock();
    let Some(account) = inner.browser else {
        drop(inner);
        return chooser(&gh, &q).into_response();
    };
    inner.saved.counter += 1;
    let code = format!("code{}{}", inner.saved.counter, super::rand_suffix());
    inner
        .codes
        .insert(code.clone(), (account, challenge, q.redirect_uri.clone()));
    drop(inner);
    let separator = if q.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let state = url::form_urlencoded::byte_serialize(q.state.as_bytes()).collect::<String>();
    Redirect::to(&format!(
        "{}{separator}code={code}&state={state}",
        q.redirect_uri
    ))
    .into_response()
}

/// The page GitHub would show to sign in: here, a choice of the stand-in's accounts.
fn chooser(gh: &Standin, q: &AuthorizeQuery) -> Html<String> {
    let hidden = |name: &str, value: &str| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            html_escape(value)
        )
    };
    let mut fields = hidden("client_id", &q.client_id)
        + &hidden("redirect_uri", &q.redirect_uri)
        + &hidden("state", &q.state);
    for (name, value) in [
        ("code_challenge", &q.code_challenge),
        ("code_challenge_method", &q.code_challenge_method),
        ("scope", &q.scope),
    ] {
        if let Some(value) = value {
            fields += &hidden(name, value);
        }
    }
    let buttons: String = gh
        .accounts()
        .iter()
        .map(|a| {
            format!(
                r#"<button name="as_account" value="{}">{}</button>"#,
                a.id,
                html_escape(&a.login)
            )
        })
        .collect();
    Html(format!(
        r#"<!doctype html><meta charset="utf-8"><title>GitHub stand-in: sign in</title>
<style>body{{font:16px system-ui;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;margin:.25rem;padding:.5rem 1rem;border-radius:6px;border:1px solid #888;background:#f6f8fa;cursor:pointer}}
.warn{{background:#fff8c5;border:1px solid #d4a72c;padding:.75rem;border-radius:6px}}</style>
<h1>GitHub stand-in</h1>
<p class="warn">This is not GitHub. Lectern's demo (or a test) runs a local stand-in that
speaks GitHub's API. Choose the GitHub account to authorize Lectern as:</p>
<form method="get" action="/login/oauth/authorize">{fields}{buttons}</form>"#
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize)]
struct TokenForm {
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn access_token(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    gh.record(
        "POST",
        "/login/oauth/access_token",
        &headers,
        format!("code={}", form.code),
    );
    // Client credentials by HTTP Basic (what oauth2 sends) or in the form.
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let credentials = basic.or_else(|| {
        Some(format!(
            "{}:{}",
            form.client_id.clone()?,
            form.client_secret.clone()?
        ))
    });
    let expected = format!("{}:{}", gh.client_id, gh.client_secret);
    if credentials.as_deref().map(|c| c.replace("%2E", ".")) != Some(expected) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    let Some((account, challenge, redirect)) = gh.lock().codes.remove(&form.code) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "bad_verification_code", "error_description": "The code passed is incorrect or expired." }))).into_response();
    };
    let verifier = form.code_verifier.unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if computed != challenge || form.redirect_uri.as_deref() != Some(redirect.as_str()) {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": "PKCE or redirect_uri mismatch" }))).into_response();
    }
    let token = gh.issue_token(account);
    Json(json!({ "access_token": token, "token_type": "bearer", "scope": "admin:repo_hook,read:user,repo,user:email" })).into_response()
}

async fn user(State(gh): State<Standin>, headers: HeaderMap) -> Response {
    gh.record("GET", "/user", &headers, String::new());
    let Some(account) = gh.account_for_token(&headers) else {
        return bad_credentials();
    };
    Json(json!({
        "login": account.login, "id": account.id, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", account.id),
        "type": "User", "site_admin": false, "name": account.name, "email": Value::Null,
    }))
    .into_response()
}

async fn emails(State(gh): State<Standin>, headers: HeaderMap) -> Response {
    gh.record("GET", "/user/emails", &headers, String::new());
    let Some(account) = gh.account_for_token(&headers) else {
        return bad_credentials();
    };
    Json(json!([
        { "email": format!("old-{}", account.email), "primary": false, "verified": true, "visibility": null },
        { "email": account.email, "primary": true, "verified": true, "visibility": "private" },
    ]))
    .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest" }),
        ),
    )
        .into_response()
}

/// Why the stand-in will not show a repository.
enum Denied {
    BadCredentials,
    NotFound,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::BadCredentials => bad_credentials(),
            Denied::NotFound => not_found(),
        }
    }
}

/// The repository, if the token's account can see it, with whether it administers it.
fn visible(
    gh: &Standin,
    headers: &HeaderMap,
    full_name: &str,
) -> Result<(RemoteRepo, bool), Denied> {
    let account = gh
        .account_for_token(headers)
        .ok_or(Denied::BadCredentials)?;
    let repo = gh.remote(full_name).ok_or(Denied::NotFound)?;
    let admin = repo.admins.contains(&account.id);
    if !admin && !repo.readers.contains(&account.id) {
        return Err(Denied::NotFound);
    }
    Ok((repo, admin))
}

async fn repository(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    gh.record(
        "GET",
        &format!("/repos/{full_name}"),
        &headers,
        String::new(),
    );
    let (repo, admin) = match visible(&gh, &headers, &full_name) {
        Ok(found) => found,
        Err(denied) => return denied.into_response(),
    };
    Json(json!({
        "id": repo.id, "name": name, "full_name": repo.full_name, "private": repo.git_dir.is_none(),
        "owner": { "login": owner, "id": 1 },
        "html_url": format!("https://github.com/{}", repo.full_name),
        "clone_url": repo.clone_url(),
        "default_branch": repo.default_branch,
        "permissions": { "admin": admin, "maintain": admin, "push": admin, "triage": true, "pull": true }
    }))
    .into_response()
}

async fn branch(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Path((owner, name, branch)): Path<(String, String, String)>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    gh.record(
        "GET",
        &format!("/repos/{full_name}/branches/{branch}"),
        &headers,
        String::new(),
    );
    let (repo, _) = match visible(&gh, &headers, &full_name) {
        Ok(found) => found,
        Err(denied) => return denied.into_response(),
    };
    match repo
        .branches()
        .into_iter()
        .find(|(name, _)| *name == branch)
    {
        Some((_, sha)) => {
            Json(json!({ "name": branch, "commit": { "sha": sha }, "protected": false }))
                .into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": "Branch not found" })),
        )
            .into_response(),
    }
}

async fn create_hook(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    gh.record(
        "POST",
        &format!("/repos/{full_name}/hooks"),
        &headers,
        body.to_string(),
    );
    let admin = match visible(&gh, &headers, &full_name) {
        Ok((_, admin)) => admin,
        Err(denied) => return denied.into_response(),
    };
    if !admin {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": "Not Found" })),
        )
            .into_response();
    }
    let hook = RemoteHook {
        url: body["config"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        secret: body["config"]["secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        events: body["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect(),
        content_type: body["config"]["content_type"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    let Some(id) = gh.add_hook(&full_name, hook) else {
        return not_found();
    };
    (StatusCode::CREATED, Json(json!({ "type": "Repository", "id": id, "name": "web", "active": true, "events": body["events"], "config": { "url": body["config"]["url"], "content_type": "json", "insecure_ssl": "0" } })))
        .into_response()
}

async fn delete_hook(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Path((owner, name, id)): Path<(String, String, i64)>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    gh.record(
        "DELETE",
        &format!("/repos/{full_name}/hooks/{id}"),
        &headers,
        String::new(),
    );
    if let Err(denied) = visible(&gh, &headers, &full_name) {
        return denied.into_response();
    }
    let removed = gh.update(|saved| {
        saved
            .repos
            .get_mut(&full_name)
            .and_then(|r| r.hooks.remove(&id))
    });
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(),
    }
}

/// `PATCH /repos/{owner}/{repo}/hooks/{hook_id}/config`: the fields given replace the
/// hook's (URL, content type, secret); answers with the configuration, secret masked.
async fn update_hook_config(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Path((owner, name, id)): Path<(String, String, i64)>,
    Json(body): Json<Value>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    gh.record(
        "PATCH",
        &format!("/repos/{full_name}/hooks/{id}/config"),
        &headers,
        body.to_string(),
    );
    match visible(&gh, &headers, &full_name) {
        Ok((_, true)) => {}
        Ok((_, false)) => return not_found(),
        Err(denied) => return denied.into_response(),
    }
    let updated = gh.update(|saved| {
        let hook = saved.repos.get_mut(&full_name)?.hooks.get_mut(&id)?;
        if let Some(url) = body["url"].as_str() {
            hook.url = url.to_owned();
        }
        if let Some(secret) = body["secret"].as_str() {
            hook.secret = secret.to_owned();
        }
        if let Some(content_type) = body["content_type"].as_str() {
            hook.content_type = content_type.to_owned();
        }
        Some(json!({ "url": hook.url, "content_type": hook.content_type,
                     "secret": "********", "insecure_ssl": "0" }))
    });
    match updated {
        Some(config) => Json(config).into_response(),
        None => not_found(),
    }
}

async fn ping_hook(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Path((owner, name, id)): Path<(String, String, i64)>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    gh.record(
        "POST",
        &format!("/repos/{full_name}/hooks/{id}/pings"),
        &headers,
        String::new(),
    );
    if let Err(denied) = visible(&gh, &headers, &full_name) {
        return denied.into_response();
    }
    match gh.remote(&full_name).map(|r| r.hooks.contains_key(&id)) {
        Some(true) => StatusCode::NO_CONTENT.into_response(),
        _ => not_found(),
    }
}

async fn create_status(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Path((owner, name, sha)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    {
        let mut inner = gh.lock();
        if inner.failing_statuses > 0 {
            inner.failing_statuses -= 1;
            drop(inner);
            gh.record(
                "POST",
                &format!("/repos/{full_name}/statuses/{sha}"),
                &headers,
                String::new(),
            );
            return (StatusCode::BAD_GATEWAY, "upstream trouble").into_response();
        }
    }
    gh.record(
        "POST",
        &format!("/repos/{full_name}/statuses/{sha}"),
        &headers,
        body.to_string(),
    );
    if let Err(denied) = visible(&gh, &headers, &full_name) {
        return denied.into_response();
    }
    // What GitHub would show on the commit, for whoever watches the demo's log.
    tracing::info!(
        repository = %full_name,
        commit = %sha.get(..7).unwrap_or(&sha),
        state = %body["state"].as_str().unwrap_or_default(),
        context = %body["context"].as_str().unwrap_or_default(),
        description = %body["description"].as_str().unwrap_or_default(),
        "GitHub stand-in received a commit status"
    );
    (StatusCode::CREATED, Json(json!({ "id": 1, "state": body["state"], "context": body["context"], "target_url": body["target_url"] })))
        .into_response()
}

async fn branches(
    State(gh): State<Standin>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    gh.record(
        "GET",
        &format!("/repos/{full_name}/branches"),
        &headers,
        String::new(),
    );
    let (repo, _) = match visible(&gh, &headers, &full_name) {
        Ok(found) => found,
        Err(denied) => return denied.into_response(),
    };
    let list: Vec<Value> = repo
        .branches()
        .into_iter()
        .map(|(name, sha)| json!({ "name": name, "commit": { "sha": sha }, "protected": false }))
        .collect();
    Json(list).into_response()
}
