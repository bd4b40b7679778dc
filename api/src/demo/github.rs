//! The demo's GitHub, played by the stand-in: an account per demo person, a real git
//! repository per student, Alan's and Barbara's linked to the demo assignment (hook
//! registered, first build queued) and Edsger's left for a newcomer to link. Pushes made
//! after the repositories were registered are delivered as webhooks once the server (and
//! with it the stand-in) runs: a failing branch, a fix, and a branch whose tests never end.

use std::path::Path;

use anyhow::Context as _;
use chrono::Utc;
use diesel_async::AsyncPgConnection;

use crate::app::App;
use crate::db::enums::{BuildTrigger, WebhookStatus};
use crate::db::models::{
    Assignment, Build, BuildRequest, GithubIdentity, NewRepository, Repository, User,
};
use crate::forge::github::standin::{LocalRepo, RemoteHook, Standin};
use crate::forge::github::webhook;

const GREET_PASSING: &str = "def greet(name):\n    return f\"Hello, {name}!\"\n";
const GREET_FAILING: &str = "def greet(name):\n    return \"Hello, world!\"\n";
const TEST: &str = "import unittest\n\nfrom greet import greet\n\n\nclass GreetTest(unittest.TestCase):\n    def test_greets_by_name(self):\n        self.assertEqual(greet(\"Ada\"), \"Hello, Ada!\")\n\n    def test_greets_anyone(self):\n        self.assertEqual(greet(\"Grace\"), \"Hello, Grace!\")\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n";
const LOOP: &str =
    "import time\n\nwhile True:\n    print(\"thinking...\", flush=True)\n    time.sleep(1)\n";

/// What one student's repository gets: (login, linked, first commit passes).
const STUDENTS: &[(&str, bool, bool)] = &[
    ("alan", true, true),
    ("barbara", true, false),
    ("edsger", false, true),
];

/// Seeds the stand-in in `dir` and links the repositories in Lectern (idempotent: nothing
/// is done for a repository the stand-in has already).
pub async fn seed(
    app: &App,
    conn: &mut AsyncPgConnection,
    dir: &Path,
    course_id: i64,
) -> anyhow::Result<Vec<String>> {
    let standin = Standin::open(app.config.github_url.as_str(), Some(dir))?;
    let assignment = Assignment::find_by_slug(conn, course_id, "hello").await?;
    let mut notes = Vec::new();
    for (i, (login, name, _)) in super::PEOPLE.iter().enumerate() {
        let github_id = 9000 + i64::try_from(i)?;
        let account = standin.account(github_id, login);
        // Signed in once already, as linking needs: their token sealed in Lectern.
        let user = User::find_or_create_local(conn, login, Some(name)).await?;
        if User::github_token(conn, user.id).await?.is_none() {
            let token = standin.issue_token(account.id);
            let sealed = app
                .cipher
                .seal(&User::token_context(github_id), token.as_bytes());
            User::upsert_from_github(
                conn,
                &GithubIdentity {
                    github_id,
                    login,
                    name: Some(name),
                    email: Some(&account.email),
                    avatar_url: None,
                    sealed_token: &sealed,
                    scopes: Some("repo,admin:repo_hook,read:user,user:email"),
                },
            )
            .await?;
        }
    }
    for (i, (login, linked, passing)) in STUDENTS.iter().enumerate() {
        let full_name = format!("{login}/hello");
        let bare = dir.join("git").join(login).join("hello.git");
        if standin.remote(&full_name).is_some() {
            continue;
        }
        let repo = LocalRepo::create(&bare)?;
        let greet = if *passing {
            GREET_PASSING
        } else {
            GREET_FAILING
        };
        let head = repo.commit(
            "main",
            &[("greet.py", greet), ("test_greet.py", TEST)],
            "Greet by name",
        )?;
        let owner = standin
            .accounts()
            .into_iter()
            .find(|a| a.login == *login)
            .context("demo account")?;
        let github_repo_id = 7000 + i64::try_from(i)?;
        standin
            .git_repo(github_repo_id, &full_name, owner.id, &bare)
            .await?;
        notes.push(format!("git clone {}", bare.display()));
        let already = Repository::find_by_github_id(conn, github_repo_id).await?;
        if !*linked || already.is_some() {
            continue;
        }
        let user = User::find_by_login(conn, login)
            .await?
            .context("demo user")?;
        let repository = Repository::create(
            conn,
            &NewRepository {
                course_id,
                assignment_id: assignment.id,
                owner_id: user.id,
                github_repo_id,
                full_name: full_name.clone(),
                clone_url: format!("file://{}", bare.display()),
                default_branch: "main".into(),
                private: false,
            },
        )
        .await?;
        let secret = webhook::new_secret();
        let hook = standin
            .add_hook(
                &full_name,
                RemoteHook {
                    url: webhook::hook_url(&app.config),
                    secret: secret.clone(),
                    events: vec!["push".into(), "pull_request".into()],
                    content_type: "json".into(),
                },
            )
            .context("demo hook")?;
        let sealed = webhook::seal_secret(&app.cipher, github_repo_id, &secret);
        Repository::set_webhook(
            conn,
            repository.id,
            Some(hook),
            &sealed,
            WebhookStatus::Active,
        )
        .await?;
        let request = BuildRequest {
            trigger: BuildTrigger::Manual,
            branch: Some("main".into()),
            pr_number: None,
            commit_sha: head,
            commit_message: "First build after linking".into(),
            commit_author: Some((*login).to_owned()),
        };
        Build::enqueue(conn, &repository, &request, None, Utc::now(), false).await?;
        // Pushed after registration: delivered as webhooks once the server runs.
        if *passing {
            repo.commit(
                "wip",
                &[("greet.py", GREET_FAILING)],
                "Try a shorter greeting",
            )?;
        } else {
            repo.commit("main", &[("greet.py", GREET_PASSING)], "Fix the greeting")?;
            repo.commit("loop", &[("test_greet.py", LOOP)], "Think forever")?;
        }
    }
    Ok(notes)
}
