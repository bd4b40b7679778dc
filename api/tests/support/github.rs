//! Tests use the product's GitHub stand-in (`lectern::forge::github::standin`), which speaks
//! the documented HTTP API for the endpoints Lectern uses and records every request, so
//! tests assert on exactly what GitHub would be sent. The real `oauth2` and `octocrab`
//! clients talk to it.

use serde_json::json;

pub use lectern::forge::github::standin::{Account, Standin as FakeGithub};

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
