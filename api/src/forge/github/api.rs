//! GitHub's REST API through `octocrab`, against `GITHUB_API_URL`.

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

/// The profile and primary verified email behind a token.
pub async fn profile(github: &Octocrab) -> Result<(Profile, Option<String>), octocrab::Error> {
    let profile: Profile = github.get("/user", None::<&()>).await?;
    let emails: Vec<Email> = github
        .get("/user/emails", None::<&()>)
        .await
        .unwrap_or_default();
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
