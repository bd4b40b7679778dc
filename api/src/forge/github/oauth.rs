//! GitHub's OAuth web flow with PKCE, through the `oauth2` crate, against `GITHUB_URL`
//! (github.com or a GitHub Enterprise Server).

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _, TokenUrl,
};
use url::Url;

use crate::config::{Config, GithubOAuth};

/// What Lectern asks GitHub for: who you are, your verified email, and — on repositories you
/// link — webhooks, commit statuses and read access (private repositories included).
pub const SCOPES: &[&str] = &["read:user", "user:email", "repo", "admin:repo_hook"];

/// Where a sign-in starts, and what must be remembered until GitHub sends the person back.
pub struct Authorization {
    pub url: Url,
    pub state: String,
    pub pkce_verifier: String,
}

/// A granted access token and the scopes GitHub says it carries.
pub struct Grant {
    pub access_token: String,
    pub scopes: Option<String>,
}

/// Why the code could not be exchanged.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("GitHub refused the sign-in code ({0}); start the sign-in again")]
    Refused(String),
    #[error("could not reach GitHub to finish signing in: {0}")]
    Unreachable(String),
}

/// The callback GitHub redirects to.
pub fn redirect_url(config: &Config) -> String {
    format!(
        "{}/auth/github/callback",
        config.public_url.as_str().trim_end_matches('/')
    )
}

fn endpoint(config: &Config, path: &str) -> String {
    format!(
        "{}/{path}",
        config.github_url.as_str().trim_end_matches('/')
    )
}

/// The authorize URL with a fresh `state` and an S256 PKCE challenge.
pub fn authorize(config: &Config, oauth: &GithubOAuth) -> anyhow::Result<Authorization> {
    let client = BasicClient::new(ClientId::new(oauth.client_id.clone()))
        .set_auth_uri(AuthUrl::new(endpoint(config, "login/oauth/authorize"))?)
        .set_redirect_uri(RedirectUrl::new(redirect_url(config))?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
        .set_pkce_challenge(challenge)
        .url();
    Ok(Authorization {
        url,
        state: state.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// Exchanges the code GitHub returned for an access token.
pub async fn exchange(
    config: &Config,
    oauth: &GithubOAuth,
    http: &reqwest::Client,
    code: &str,
    pkce_verifier: &str,
) -> Result<Grant, ExchangeError> {
    let token_url = TokenUrl::new(endpoint(config, "login/oauth/access_token"))
        .map_err(|e| ExchangeError::Unreachable(e.to_string()))?;
    let redirect = RedirectUrl::new(redirect_url(config))
        .map_err(|e| ExchangeError::Unreachable(e.to_string()))?;
    let client = BasicClient::new(ClientId::new(oauth.client_id.clone()))
        .set_client_secret(ClientSecret::new(oauth.client_secret.expose().to_owned()))
        .set_token_uri(token_url)
        .set_redirect_uri(redirect);
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .request_async(http)
        .await
        .map_err(|err| match err {
            oauth2::RequestTokenError::ServerResponse(response) => {
                ExchangeError::Refused(response.error().to_string())
            }
            oauth2::RequestTokenError::Request(e) => ExchangeError::Unreachable(e.to_string()),
            other => ExchangeError::Unreachable(other.to_string()),
        })?;
    let scopes = response.scopes().map(|scopes| {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    Ok(Grant {
        access_token: response.access_token().secret().clone(),
        scopes,
    })
}
