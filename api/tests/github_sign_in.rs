//! Sign-in with GitHub: the real `oauth2` and `octocrab` clients against the local GitHub
//! stand-in, driven as a browser would.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::TestApp;
use support::github::FakeGithub;

async fn app_with(github: &FakeGithub) -> anyhow::Result<TestApp> {
    TestApp::builder()
        .env("LECTERN_DEV_LOGIN", "false")
        .github(github)
        .start()
        .await
}

fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_github_creates_the_user_with_a_sealed_token() -> anyhow::Result<()> {
    let github = FakeGithub::start().await?;
    let octocat = github.account(583231, "octocat");
    github.browser_signed_in_as(octocat.id);
    let app = app_with(&github).await?;
    let browser = browser()?;

    let start = browser
        .get(format!(
            "{}/auth/github/login?next=/courses/cs101",
            app.base
        ))
        .send()
        .await?;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = url::Url::parse(&location(&start))?;
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{}/login/oauth/authorize?", github.base)),
        "{authorize}"
    );
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], github.client_id);
    assert_eq!(
        query["redirect_uri"],
        format!("{}/auth/github/callback", app.base)
    );
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["state"].len() >= 16);
    for scope in ["read:user", "user:email", "repo", "admin:repo_hook"] {
        assert!(
            query["scope"].split(' ').any(|s| s == scope),
            "scope {scope} in {}",
            query["scope"]
        );
    }

    let approved = browser.get(authorize.as_str()).send().await?;
    let callback = location(&approved);
    assert!(
        callback.starts_with(&format!("{}/auth/github/callback?code=", app.base)),
        "{callback}"
    );
    let done = browser.get(&callback).send().await?;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await?
    );
    assert_eq!(
        location(&done),
        "/courses/cs101",
        "back where the sign-in started"
    );

    let me = browser
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "{ me { login name email avatarUrl } }" }))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?;
    assert_eq!(
        me["data"]["me"],
        json!({
            "login": "octocat", "name": "octocat (GitHub)", "email": "octocat@users.example.com",
            "avatarUrl": "https://avatars.githubusercontent.com/u/583231?v=4"
        })
    );

    // What GitHub was sent: a token exchange with the PKCE verifier, then the profile with
    // the token as a bearer credential.
    let requests = github.requests();
    let profile = requests
        .iter()
        .find(|r| r.path == "/user")
        .expect("profile requested");
    let token = profile
        .authorization
        .clone()
        .unwrap_or_default()
        .replace("Bearer ", "");
    assert!(token.starts_with("gho_standin"), "{profile:?}");

    // The token is stored sealed: not in the clear, and it opens to the token.
    let mut conn = app.db.conn().await?;
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>)]
        github_token_encrypted: Option<Vec<u8>>,
    }
    let stored: Stored = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query("SELECT github_token_encrypted FROM users WHERE github_id = 583231"),
        &mut conn,
    )
    .await?;
    let sealed = stored.github_token_encrypted.expect("token stored");
    assert!(
        !sealed.windows(token.len()).any(|w| w == token.as_bytes()),
        "token stored in the clear"
    );
    let opened = app
        .app
        .cipher
        .open(&lectern::db::models::User::token_context(583231), &sealed)?;
    assert_eq!(opened, token.as_bytes());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_state_opens_no_session() -> anyhow::Result<()> {
    let github = FakeGithub::start().await?;
    let octocat = github.account(1, "octocat");
    github.browser_signed_in_as(octocat.id);
    let app = app_with(&github).await?;

    // Started in one browser, finished in another (or forged): no state cookie.
    let first = browser()?;
    let start = first
        .get(format!("{}/auth/github/login", app.base))
        .send()
        .await?;
    let approved = first.get(location(&start)).send().await?;
    let callback = location(&approved);
    let other = browser()?;
    let resp = other.get(&callback).send().await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await?.contains("not started in this browser"));

    // Same browser, tampered state.
    let tampered = callback.replace("state=", "state=x");
    let resp = first.get(&tampered).send().await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await?.contains("state does not match"));

    // The person declined on GitHub.
    let resp = first.get(format!("{}/auth/github/callback?error=access_denied&error_description=The+user+has+denied+your+application+access.", app.base)).send().await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await?.contains("denied"));

    let me = first
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "{ me { login } }" }))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?;
    assert_eq!(me["data"]["me"], json!(null));
    assert!(
        !github
            .requests()
            .iter()
            .any(|r| r.path == "/login/oauth/access_token"),
        "no code was exchanged"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_code_is_refused_with_a_clear_message() -> anyhow::Result<()> {
    let github = FakeGithub::start().await?;
    let octocat = github.account(1, "octocat");
    github.browser_signed_in_as(octocat.id);
    let app = app_with(&github).await?;
    let browser = browser()?;
    let start = browser
        .get(format!("{}/auth/github/login", app.base))
        .send()
        .await?;
    let callback = location(&browser.get(location(&start)).send().await?);
    assert_eq!(
        browser.get(&callback).send().await?.status(),
        StatusCode::SEE_OTHER
    );
    // A second use of the same code and state (a replay) fails at GitHub and says so.
    let start_again = browser
        .get(format!("{}/auth/github/login", app.base))
        .send()
        .await?;
    let state = url::Url::parse(&location(&start_again))?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let code = url::Url::parse(&callback)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let replay = browser
        .get(format!(
            "{}/auth/github/callback?code={code}&state={state}",
            app.base
        ))
        .send()
        .await?;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(
        replay
            .text()
            .await?
            .contains("GitHub refused the sign-in code")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_login_taken_over_by_another_account_renames_the_stale_user() -> anyhow::Result<()>
{
    let github = FakeGithub::start().await?;
    let app = app_with(&github).await?;
    for (id, login) in [(10, "renamer"), (20, "renamer")] {
        // Account 10 signs in as "renamer"; later account 20 owns that login on GitHub.
        // sign_in_with_github fails unless the flow ends in a session.
        app.sign_in_with_github(&github, &github.account(id, login))
            .await?;
    }
    let mut conn = app.db.conn().await?;
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        github_id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        login: String,
    }
    let rows: Vec<Row> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT github_id, login FROM users WHERE github_id IS NOT NULL ORDER BY github_id",
        ),
        &mut conn,
    )
    .await?;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1],
        Row {
            github_id: 20,
            login: "renamer".into()
        }
    );
    assert!(rows[0].login.starts_with("renamed-"), "{rows:?}");
    Ok(())
}
