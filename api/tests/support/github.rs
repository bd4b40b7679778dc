//! A local stand-in for GitHub that speaks the documented HTTP API for the endpoints Lectern
//! uses, and records every request, so tests assert on exactly what GitHub would be sent.
//! The real `oauth2` and `octocrab` clients talk to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// A course with an assignment, on a server pointed at the stand-in, and a student
/// `octocat` (enrolled first by development sign-in, then signed in with GitHub — the same
/// person) who administers the stand-in's `octocat/hw1`, whose `main` is at `head`.
pub struct World {
    pub github: FakeGithub,
    pub app: super::TestApp,
    pub ada: super::Client,
    pub octocat: super::Client,
    pub course: String,
    pub assignment: String,
}

impl World {
    pub async fn start(extra_env: &[(&str, &str)], head: &str) -> anyhow::Result<World> {
        let github = FakeGithub::start().await?;
        let mut builder = super::TestApp::builder().github(&github);
        for (name, value) in extra_env {
            builder = builder.env(name, value);
        }
        let app = builder.start().await?;
        let ada = app.sign_in("ada").await?;
        let course = app.course(&ada, "cs101").await?;
        let assignment = app.assignment(&ada, &course, "hw1", json!({})).await?;
        app.enroll(&ada, &course, "octocat", "STUDENT").await?;
        let account = github.account(583231, "octocat");
        github.repo(5001, "octocat/hw1", account.id, Some(head));
        let octocat = app.sign_in_with_github(&github, &account).await?;
        Ok(World {
            github,
            app,
            ada,
            octocat,
            course,
            assignment,
        })
    }
}

/// A GitHub account of the stand-in.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub email: String,
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

/// A repository of the stand-in.
#[derive(Clone, Debug)]
pub struct RemoteRepo {
    pub id: i64,
    pub full_name: String,
    pub default_branch: String,
    /// The default branch's head; `None` for an empty repository.
    pub head: Option<String>,
    /// Accounts with admin rights.
    pub admins: Vec<i64>,
    /// Accounts that can see it without admin rights.
    pub readers: Vec<i64>,
    pub hooks: HashMap<i64, RemoteHook>,
    /// Branches other than the default one, with their heads.
    pub other_branches: HashMap<String, String>,
}

/// A webhook registered on a stand-in repository.
#[derive(Clone, Debug)]
pub struct RemoteHook {
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub content_type: String,
}

#[derive(Default)]
struct Inner {
    repos: HashMap<String, RemoteRepo>,
    accounts: Vec<Account>,
    /// Who the browser is signed in to GitHub as.
    browser: Option<i64>,
    /// code -> (account, PKCE challenge, redirect_uri)
    codes: HashMap<String, (i64, String, String)>,
    tokens: HashMap<String, i64>,
    requests: Vec<Recorded>,
    counter: u64,
    /// How many of the next status posts answer 502.
    failing_statuses: u32,
}

/// The running stand-in.
#[derive(Clone)]
pub struct FakeGithub {
    pub base: String,
    pub client_id: String,
    pub client_secret: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGithub {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let github = FakeGithub {
            base,
            client_id: "Iv1.lecterntest".to_owned(),
            client_secret: "test-client-secret-0123456789".to_owned(),
            inner: Arc::default(),
        };
        let router = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/user", get(user))
            .route("/user/emails", get(emails))
            .route("/repos/{owner}/{name}", get(repository))
            .route("/repos/{owner}/{name}/branches", get(branches))
            .route("/repos/{owner}/{name}/branches/{branch}", get(branch))
            .route("/repos/{owner}/{name}/hooks", post(create_hook))
            .route(
                "/repos/{owner}/{name}/hooks/{id}",
                axum::routing::delete(delete_hook),
            )
            .route("/repos/{owner}/{name}/hooks/{id}/pings", post(ping_hook))
            .route("/repos/{owner}/{name}/statuses/{sha}", post(create_status))
            .with_state(github.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(github)
    }

    /// Adds an account and returns it.
    pub fn account(&self, id: i64, login: &str) -> Account {
        let account = Account {
            id,
            login: login.to_owned(),
            name: format!("{login} (GitHub)"),
            email: format!("{login}@users.example.com"),
        };
        self.inner
            .lock()
            .expect("lock")
            .accounts
            .push(account.clone());
        account
    }

    /// Adds a repository that `admin` administers.
    pub fn repo(&self, id: i64, full_name: &str, admin: i64, head: Option<&str>) {
        self.inner.lock().expect("lock").repos.insert(
            full_name.to_owned(),
            RemoteRepo {
                id,
                full_name: full_name.to_owned(),
                default_branch: "main".to_owned(),
                head: head.map(str::to_owned),
                admins: vec![admin],
                readers: Vec::new(),
                hooks: HashMap::new(),
                other_branches: HashMap::new(),
            },
        );
    }

    /// Lets `reader` see a repository without admin rights.
    pub fn grant_read(&self, full_name: &str, reader: i64) {
        if let Some(repo) = self.inner.lock().expect("lock").repos.get_mut(full_name) {
            repo.readers.push(reader);
        }
    }

    /// A repository as the stand-in holds it now.
    pub fn remote(&self, full_name: &str) -> Option<RemoteRepo> {
        self.inner
            .lock()
            .expect("lock")
            .repos
            .get(full_name)
            .cloned()
    }

    /// Deletes a hook on GitHub's side, as a repository owner might.
    pub fn remove_hooks(&self, full_name: &str) {
        if let Some(repo) = self.inner.lock().expect("lock").repos.get_mut(full_name) {
            repo.hooks.clear();
        }
    }

    /// Moves `branch` to `sha` without any webhook reaching Lectern (a missed push).
    pub fn push_silently(&self, full_name: &str, branch: &str, sha: &str) {
        if let Some(repo) = self.inner.lock().expect("lock").repos.get_mut(full_name) {
            if branch == repo.default_branch {
                repo.head = Some(sha.to_owned());
            } else {
                repo.other_branches
                    .insert(branch.to_owned(), sha.to_owned());
            }
        }
    }

    /// Deletes a repository on GitHub's side.
    pub fn remove_repo(&self, full_name: &str) {
        self.inner.lock().expect("lock").repos.remove(full_name);
    }

    /// Makes the next `n` commit-status posts fail with 502 Bad Gateway.
    pub fn fail_next_statuses(&self, n: u32) {
        self.inner.lock().expect("lock").failing_statuses = n;
    }

    /// The commit statuses posted so far: (sha, body), in order.
    pub fn statuses(&self) -> Vec<(String, Value)> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.contains("/statuses/") && !r.body.is_empty())
            .filter_map(|r| {
                let sha = r.path.rsplit('/').next()?.to_owned();
                Some((sha, serde_json::from_str(&r.body).ok()?))
            })
            .collect()
    }

    /// Signs the "browser" in to GitHub as `id`, so the authorize page approves at once.
    pub fn browser_signed_in_as(&self, id: i64) {
        self.inner.lock().expect("lock").browser = Some(id);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().expect("lock").requests.clone()
    }

    /// The environment that points Lectern at this stand-in.
    pub fn env(&self) -> [(&'static str, String); 4] {
        [
            ("GITHUB_URL", self.base.clone()),
            ("GITHUB_API_URL", self.base.clone()),
            ("GITHUB_CLIENT_ID", self.client_id.clone()),
            ("GITHUB_CLIENT_SECRET", self.client_secret.clone()),
        ]
    }

    fn record(&self, method: &str, path: &str, headers: &HeaderMap, body: String) {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.inner.lock().expect("lock").requests.push(Recorded {
            method: method.to_owned(),
            path: path.to_owned(),
            authorization,
            body,
        });
    }

    fn account_for_token(&self, headers: &HeaderMap) -> Option<Account> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("token "))
            })?;
        let inner = self.inner.lock().expect("lock");
        let id = *inner.tokens.get(token)?;
        inner.accounts.iter().find(|a| a.id == id).cloned()
    }
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
}

async fn authorize(
    State(gh): State<FakeGithub>,
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
    let mut inner = gh.inner.lock().expect("lock");
    let Some(account) = inner.browser else {
        return (
            StatusCode::UNAUTHORIZED,
            "nobody is signed in to GitHub in this browser",
        )
            .into_response();
    };
    inner.counter += 1;
    let code = format!("code{}", inner.counter);
    inner
        .codes
        .insert(code.clone(), (account, challenge, q.redirect_uri.clone()));
    Redirect::to(&format!("{}?code={code}&state={}", q.redirect_uri, q.state)).into_response()
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
    State(gh): State<FakeGithub>,
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
    let mut inner = gh.inner.lock().expect("lock");
    let Some((account, challenge, redirect)) = inner.codes.remove(&form.code) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "bad_verification_code", "error_description": "The code passed is incorrect or expired." }))).into_response();
    };
    let verifier = form.code_verifier.unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if computed != challenge || form.redirect_uri.as_deref() != Some(redirect.as_str()) {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": "PKCE or redirect_uri mismatch" }))).into_response();
    }
    inner.counter += 1;
    let token = format!("gho_standin{:08}", inner.counter);
    inner.tokens.insert(token.clone(), account);
    Json(json!({ "access_token": token, "token_type": "bearer", "scope": "admin:repo_hook,read:user,repo,user:email" })).into_response()
}

async fn user(State(gh): State<FakeGithub>, headers: HeaderMap) -> Response {
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

async fn emails(State(gh): State<FakeGithub>, headers: HeaderMap) -> Response {
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
    gh: &FakeGithub,
    headers: &HeaderMap,
    full_name: &str,
) -> Result<(RemoteRepo, bool), Denied> {
    let account = gh
        .account_for_token(headers)
        .ok_or(Denied::BadCredentials)?;
    let inner = gh.inner.lock().expect("lock");
    let repo = inner
        .repos
        .get(full_name)
        .cloned()
        .ok_or(Denied::NotFound)?;
    let admin = repo.admins.contains(&account.id);
    if !admin && !repo.readers.contains(&account.id) {
        return Err(Denied::NotFound);
    }
    Ok((repo, admin))
}

async fn repository(
    State(gh): State<FakeGithub>,
    headers: HeaderMap,
    axum::extract::Path((owner, name)): axum::extract::Path<(String, String)>,
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
        "id": repo.id, "name": name, "full_name": repo.full_name, "private": true,
        "owner": { "login": owner, "id": 1 },
        "html_url": format!("https://github.com/{}", repo.full_name),
        "clone_url": format!("https://github.com/{}.git", repo.full_name),
        "default_branch": repo.default_branch,
        "permissions": { "admin": admin, "maintain": admin, "push": admin, "triage": true, "pull": true }
    }))
    .into_response()
}

async fn branch(
    State(gh): State<FakeGithub>,
    headers: HeaderMap,
    axum::extract::Path((owner, name, branch)): axum::extract::Path<(String, String, String)>,
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
    match repo.head {
        Some(sha) if branch == repo.default_branch => {
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
    State(gh): State<FakeGithub>,
    headers: HeaderMap,
    axum::extract::Path((owner, name)): axum::extract::Path<(String, String)>,
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
    let mut inner = gh.inner.lock().expect("lock");
    inner.counter += 1;
    let id = 1000 + inner.counter as i64;
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
    if let Some(repo) = inner.repos.get_mut(&full_name) {
        repo.hooks.insert(id, hook);
    }
    (StatusCode::CREATED, Json(json!({ "type": "Repository", "id": id, "name": "web", "active": true, "events": body["events"], "config": { "url": body["config"]["url"], "content_type": "json", "insecure_ssl": "0" } })))
        .into_response()
}

async fn delete_hook(
    State(gh): State<FakeGithub>,
    headers: HeaderMap,
    axum::extract::Path((owner, name, id)): axum::extract::Path<(String, String, i64)>,
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
    let mut inner = gh.inner.lock().expect("lock");
    match inner
        .repos
        .get_mut(&full_name)
        .and_then(|r| r.hooks.remove(&id))
    {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(),
    }
}

async fn ping_hook(
    State(gh): State<FakeGithub>,
    headers: HeaderMap,
    axum::extract::Path((owner, name, id)): axum::extract::Path<(String, String, i64)>,
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
    let inner = gh.inner.lock().expect("lock");
    match inner
        .repos
        .get(&full_name)
        .map(|r| r.hooks.contains_key(&id))
    {
        Some(true) => StatusCode::NO_CONTENT.into_response(),
        _ => not_found(),
    }
}

async fn create_status(
    State(gh): State<FakeGithub>,
    headers: HeaderMap,
    axum::extract::Path((owner, name, sha)): axum::extract::Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    {
        let mut inner = gh.inner.lock().expect("lock");
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
    (StatusCode::CREATED, Json(json!({ "id": 1, "state": body["state"], "context": body["context"], "target_url": body["target_url"] })))
        .into_response()
}

async fn branches(
    State(gh): State<FakeGithub>,
    headers: HeaderMap,
    axum::extract::Path((owner, name)): axum::extract::Path<(String, String)>,
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
    let mut list: Vec<Value> = repo
        .head
        .iter()
        .map(|sha| json!({ "name": repo.default_branch, "commit": { "sha": sha }, "protected": false }))
        .collect();
    let mut others: Vec<_> = repo.other_branches.iter().collect();
    others.sort();
    list.extend(
        others.into_iter().map(
            |(name, sha)| json!({ "name": name, "commit": { "sha": sha }, "protected": false }),
        ),
    );
    Json(list).into_response()
}
