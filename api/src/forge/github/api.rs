//! GitHub's REST API through `octocrab`, against `GITHUB_API_URL`.

use http_body_util::combinators::BoxBody;
use octocrab::Octocrab;
use serde::Deserialize;

use crate::config::Config;

/// The signed-in person's GitHub profile.
#[derive(Clone, Debug, Deserialize)]
pub struct Profile {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

/// A client acting as the person whose token it carries.
pub fn client(config: &Config, token: &str) -> anyhow::Result<Octocrab> {
    Ok(Octocrab::builder()
        .base_uri(config.github_api_url.as_str())?
        .personal_token(token.to_owned())
        .build()?)
}

/// One call to GitHub, counted in the metrics by its endpoint's template and status, with
/// the rate limit GitHub says is left. Every call Lectern makes passes here.
async fn send<B: serde::Serialize + ?Sized>(
    github: &Octocrab,
    method: http::Method,
    path: &str,
    body: Option<&B>,
) -> octocrab::Result<http::Response<BoxBody<bytes::Bytes, octocrab::Error>>> {
    let endpoint = crate::metrics::github_endpoint(path);
    let request = github.build_request(http::Request::builder().method(method).uri(path), body)?;
    let answer = github.execute(request).await;
    let (status, remaining) = match &answer {
        Ok(response) => (
            Some(response.status().as_u16()),
            crate::metrics::rate_limit_remaining(response.headers()),
        ),
        Err(octocrab::Error::GitHub { source, .. }) => (Some(source.status_code.as_u16()), None),
        Err(_) => (None, None),
    };
    crate::metrics::get().github_answered(&endpoint, status, remaining);
    answer
}

/// A call whose JSON answer is read as `R`; an error status is an [`octocrab::Error`].
async fn call<R: octocrab::FromResponse, B: serde::Serialize + ?Sized>(
    github: &Octocrab,
    method: http::Method,
    path: &str,
    body: Option<&B>,
) -> octocrab::Result<R> {
    let response = send(github, method, path, body).await?;
    R::from_response(octocrab::map_github_error(response).await?).await
}

/// A `GET` whose JSON answer is read as `R`.
async fn get<R: octocrab::FromResponse>(github: &Octocrab, path: &str) -> octocrab::Result<R> {
    call(github, http::Method::GET, path, None::<&()>).await
}

/// The profile and primary verified email behind a token.
pub async fn profile(github: &Octocrab) -> Result<(Profile, Option<String>), octocrab::Error> {
    let profile: Profile = get(github, "/user").await?;
    let emails: Vec<Email> = get(github, "/user/emails").await.unwrap_or_default();
    let email = emails
        .into_iter()
        .find(|e| e.primary && e.verified)
        .map(|e| e.email);
    Ok((profile, email))
}

/// A GitHub failure in words for people: the status and GitHub's message, never a token.
pub fn describe(err: &octocrab::Error) -> String {
    match err {
        octocrab::Error::GitHub { source, .. } => {
            format!("GitHub answered {}: {}", source.status_code, source.message)
        }
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => {
            "GitHub could not be reached".to_owned()
        }
        _ => "unexpected answer from GitHub".to_owned(),
    }
}

/// A failure talking to GitHub, in the terms a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("GitHub has no repository {0}, or your account cannot see it")]
    NotFound(String),
    #[error("GitHub refused: {0}")]
    Forbidden(String),
    #[error("your GitHub authorization is no longer valid; sign in with GitHub again")]
    Unauthorized,
    #[error("GitHub's rate limit is reached; try again in a few minutes")]
    RateLimited,
    #[error("GitHub is unavailable right now ({0}); try again shortly")]
    Unavailable(String),
}

impl ForgeError {
    pub fn from_octocrab(err: octocrab::Error, what: &str) -> Self {
        match &err {
            octocrab::Error::GitHub { source, .. } => match source.status_code.as_u16() {
                401 => Self::Unauthorized,
                404 => Self::NotFound(what.to_owned()),
                403 | 429 if source.message.to_ascii_lowercase().contains("rate limit") => {
                    Self::RateLimited
                }
                429 => Self::RateLimited,
                403 | 422 => Self::Forbidden(source.message.clone()),
                status => Self::Unavailable(format!("status {status}")),
            },
            _ => Self::Unavailable(describe(&err)),
        }
    }
}

/// A repository as GitHub describes it to the signed-in person.
#[derive(Clone, Debug, Deserialize)]
pub struct RemoteRepository {
    pub id: i64,
    pub full_name: String,
    pub clone_url: String,
    pub default_branch: String,
    pub private: bool,
    #[serde(default)]
    pub permissions: Option<Permissions>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Permissions {
    #[serde(default)]
    pub admin: bool,
}

#[derive(Deserialize)]
struct Branch {
    commit: BranchCommit,
}

#[derive(Deserialize)]
struct BranchCommit {
    sha: String,
}

#[derive(Deserialize)]
struct Hook {
    id: i64,
}

/// Reads a repository the person can see.
pub async fn repository(
    github: &Octocrab,
    full_name: &str,
) -> Result<RemoteRepository, ForgeError> {
    get(github, &format!("/repos/{full_name}"))
        .await
        .map_err(|e| ForgeError::from_octocrab(e, full_name))
}

/// The commit a branch points at, or `None` for an empty repository or missing branch.
pub async fn branch_head(
    github: &Octocrab,
    full_name: &str,
    branch: &str,
) -> Result<Option<String>, ForgeError> {
    match get::<Branch>(github, &format!("/repos/{full_name}/branches/{branch}")).await {
        Ok(branch) => Ok(Some(branch.commit.sha)),
        Err(err) => match ForgeError::from_octocrab(err, full_name) {
            ForgeError::NotFound(_) => Ok(None),
            other => Err(other),
        },
    }
}

/// Registers Lectern's webhook (`push` and `pull_request`, JSON, signed with `secret`).
pub async fn create_hook(
    github: &Octocrab,
    full_name: &str,
    url: &str,
    secret: &str,
) -> Result<i64, ForgeError> {
    let body = serde_json::json!({
        "name": "web",
        "active": true,
        "events": ["push", "pull_request"],
        "config": { "url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0" }
    });
    let path = format!("/repos/{full_name}/hooks");
    let hook: Hook = call(github, http::Method::POST, &path, Some(&body))
        .await
        .map_err(|e| ForgeError::from_octocrab(e, full_name))?;
    Ok(hook.id)
}

/// Updates a webhook's configuration (`PATCH …/hooks/{id}/config`): its URL and a new secret.
pub async fn set_hook_config(
    github: &Octocrab,
    full_name: &str,
    hook_id: i64,
    url: &str,
    secret: &str,
) -> Result<(), ForgeError> {
    let body = serde_json::json!({
        "url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"
    });
    let path = format!("/repos/{full_name}/hooks/{hook_id}/config");
    call::<serde_json::Value, _>(github, http::Method::PATCH, &path, Some(&body))
        .await
        .map(drop)
        .map_err(|e| ForgeError::from_octocrab(e, full_name))
}

/// Removes a webhook; one that is already gone counts as removed.
pub async fn delete_hook(
    github: &Octocrab,
    full_name: &str,
    hook_id: i64,
) -> Result<(), ForgeError> {
    let response = send(
        github,
        http::Method::DELETE,
        &format!("/repos/{full_name}/hooks/{hook_id}"),
        None::<&()>,
    )
    .await;
    match response {
        Ok(r) if r.status().is_success() || r.status().as_u16() == 404 => Ok(()),
        Ok(r) => Err(ForgeError::Unavailable(format!("status {}", r.status()))),
        Err(err) => match ForgeError::from_octocrab(err, full_name) {
            ForgeError::NotFound(_) => Ok(()),
            other => Err(other),
        },
    }
}

/// Asks GitHub to ping the hook; `false` when the hook no longer exists.
pub async fn ping_hook(
    github: &Octocrab,
    full_name: &str,
    hook_id: i64,
) -> Result<bool, ForgeError> {
    let response = send(
        github,
        http::Method::POST,
        &format!("/repos/{full_name}/hooks/{hook_id}/pings"),
        None::<&()>,
    )
    .await;
    match response {
        Ok(r) if r.status().is_success() => Ok(true),
        Ok(r) if r.status().as_u16() == 404 => Ok(false),
        Ok(r) => Err(ForgeError::Unavailable(format!("status {}", r.status()))),
        Err(err) => match ForgeError::from_octocrab(err, full_name) {
            ForgeError::NotFound(_) => Ok(false),
            other => Err(other),
        },
    }
}

/// A commit status as `POST /repos/{owner}/{repo}/statuses/{sha}` takes it.
#[derive(Debug, serde::Serialize)]
pub struct Status<'a> {
    pub state: &'a str,
    pub target_url: &'a str,
    pub description: &'a str,
    pub context: &'a str,
}

/// Sets a commit status.
pub async fn post_status(
    github: &Octocrab,
    full_name: &str,
    sha: &str,
    status: &Status<'_>,
) -> Result<(), ForgeError> {
    let response = send(
        github,
        http::Method::POST,
        &format!("/repos/{full_name}/statuses/{sha}"),
        Some(status),
    )
    .await;
    match response {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(match r.status().as_u16() {
            401 => ForgeError::Unauthorized,
            404 => ForgeError::NotFound(full_name.to_owned()),
            403 | 422 => ForgeError::Forbidden(format!("status {}", r.status())),
            429 => ForgeError::RateLimited,
            _ => ForgeError::Unavailable(format!("status {}", r.status())),
        }),
        Err(err) => Err(ForgeError::from_octocrab(err, full_name)),
    }
}

/// A branch and the commit it points at.
#[derive(Clone, Debug, Deserialize)]
pub struct BranchHead {
    pub name: String,
    pub commit: BranchSha,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BranchSha {
    pub sha: String,
}

/// Every branch of a repository with its head (following GitHub's pagination).
pub async fn branches(github: &Octocrab, full_name: &str) -> Result<Vec<BranchHead>, ForgeError> {
    let mut all = Vec::new();
    for page in 1..=20u32 {
        let batch: Vec<BranchHead> = get(
            github,
            &format!("/repos/{full_name}/branches?per_page=100&page={page}"),
        )
        .await
        .map_err(|e| ForgeError::from_octocrab(e, full_name))?;
        let last = batch.len() < 100;
        all.extend(batch);
        if last {
            break;
        }
    }
    Ok(all)
}
