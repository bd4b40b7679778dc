//! A course whose student links a git-backed repository of the GitHub stand-in, on a server
//! that runs builds: the whole path from a push to a finished build and its statuses.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use super::git::{GitRepo, python_exercise};
use super::github::FakeGithub;
use super::{Client, TestApp};

pub struct Pipeline {
    pub github: FakeGithub,
    pub app: TestApp,
    pub ada: Client,
    pub octocat: Client,
    pub course: String,
    pub assignment: String,
    pub git: GitRepo,
    /// The first build, queued by linking (of a passing commit).
    pub first_build: String,
    pub first_sha: String,
}

/// The environment for an executor: `local`, or `docker` against `DOCKER_HOST`.
pub fn executor_env(executor: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![("LECTERN_EXECUTOR", executor.to_owned())];
    if executor == "local" {
        env.push(("LECTERN_ALLOW_LOCAL_EXECUTOR", "true".to_owned()));
    }
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        env.push(("DOCKER_HOST", host));
    }
    env
}

impl Pipeline {
    /// Starts everything with `executor` and `assignment` fields (image, command, limits).
    pub async fn start(
        executor: &str,
        assignment: Value,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let github = FakeGithub::start().await?;
        let git = GitRepo::new()?;
        let first_sha = git.commit("main", &python_exercise(true), "Greet by name")?;
        let mut builder = TestApp::builder()
            .github(&github)
            .env("LECTERN_DEV_MODE", "true")
            .env("LECTERN_JOB_RETRY_BASE_MS", "100");
        for (name, value) in executor_env(executor) {
            builder = builder.env(name, &value);
        }
        for (name, value) in extra_env {
            builder = builder.env(name, value);
        }
        let app = builder.start().await?;
        let ada = app.sign_in("ada").await?;
        let course = app.course(&ada, "cs101").await?;
        let mut fields = json!({
            "image": "localhost/lectern-python:3.11",
            "testCommand": "python3 -m unittest -v",
            "timeoutSeconds": 60,
            "memoryMb": 256,
        });
        if let (Some(f), Some(extra)) = (fields.as_object_mut(), assignment.as_object()) {
            f.extend(extra.clone());
        }
        let assignment = app.assignment(&ada, &course, "hw1", fields).await?;
        app.enroll(&ada, &course, "octocat", "STUDENT").await?;
        let account = github.account(583231, "octocat");
        github
            .git_repo(5001, "octocat/hw1", account.id, &git.bare)
            .await?;
        let octocat = app.sign_in_with_github(&github, &account).await?;
        let linked = octocat
            .gql(
                "mutation($a: ID!) { linkRepository(assignmentId: $a, fullName: \"octocat/hw1\") { builds { id } } }",
                json!({ "a": assignment }),
            )
            .await?
            .ok()?;
        let first_build = linked.str_at("linkRepository.builds.0.id")?.to_owned();
        Ok(Self {
            github,
            app,
            ada,
            octocat,
            course,
            assignment,
            git,
            first_build,
            first_sha,
        })
    }

    /// Sends `body` to the assignment's hidden tests' upload as `client`; the answer as it is.
    pub async fn put_hidden_tests(
        &self,
        client: &Client,
        body: Vec<u8>,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(client
            .http
            .put(format!(
                "{}/assignments/{}/hidden-tests",
                client.base, self.assignment
            ))
            .header("content-type", "application/gzip")
            .body(body)
            .send()
            .await?)
    }

    /// Uploads `archive` as the assignment's hidden tests (as the instructor); returns the
    /// server's answer (`files`, `digest`).
    pub async fn upload_hidden_tests(&self, archive: Vec<u8>) -> anyhow::Result<Value> {
        let response = self.put_hidden_tests(&self.ada, archive).await?;
        anyhow::ensure!(response.status() == 200, "upload: {}", response.status());
        Ok(response.json().await?)
    }

    /// The repository's id as GraphQL knows it.
    pub async fn repository_id(&self) -> anyhow::Result<String> {
        let mut conn = self.app.db.conn().await?;
        let build = lectern::db::models::Build::find(&mut conn, self.first_build.parse()?).await?;
        Ok(build.repository_id.to_string())
    }
}

/// The fields of a build the tests look at.
pub const BUILD_FIELDS: &str = "id number status statusReason exitCode attempt retryOf executor startedAt finishedAt logBytes logTruncated commitSha branch";

/// Waits until build `id` has ended, then returns it (with its whole log as `text`).
pub async fn finished(client: &Client, id: &str, within: Duration) -> anyhow::Result<Value> {
    let deadline = Instant::now() + within;
    loop {
        let build = client
            .gql(
                &format!("query($id: ID!) {{ build(id: $id) {{ {BUILD_FIELDS} }} }}"),
                json!({ "id": id }),
            )
            .await?
            .ok()?;
        let status = build.str_at("build.status")?.to_owned();
        if !matches!(status.as_str(), "QUEUED" | "RUNNING") {
            let mut value = build.at("build").clone();
            value["log"] = Value::String(log_text(client, id).await?);
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("build {id} still {status} after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until build `id` is running.
pub async fn running(client: &Client, id: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let build = client
            .gql(
                "query($id: ID!) { build(id: $id) { status } }",
                json!({ "id": id }),
            )
            .await?
            .ok()?;
        match build.str_at("build.status")? {
            "RUNNING" => return Ok(()),
            "QUEUED" => {}
            other => bail!("build {id} ended as {other} before it was seen running"),
        }
        if Instant::now() > deadline {
            bail!("build {id} did not start within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A build's whole stored log, every stream, in order.
pub async fn log_text(client: &Client, id: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    let mut after: Option<i64> = None;
    loop {
        let page = client
            .gql(
                "query($id: ID!, $after: Int) { build(id: $id) { log(after: $after, limit: 500) { hasMore chunks { seq stream text } } } }",
                json!({ "id": id, "after": after }),
            )
            .await?
            .ok()?;
        let chunks = page
            .at("build.log.chunks")
            .as_array()
            .cloned()
            .unwrap_or_default();
        for chunk in &chunks {
            text.push_str(chunk["text"].as_str().unwrap_or_default());
            after = chunk["seq"].as_i64();
        }
        if !page.at("build.log.hasMore").as_bool().unwrap_or(false) {
            return Ok(text);
        }
    }
}

/// The newest build of a repository whose commit is `sha`, waiting for it to appear.
pub async fn build_of(
    client: &Client,
    repository: &str,
    sha: &str,
    within: Duration,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let builds = client
            .gql(
                "query($id: ID!) { repository(id: $id) { builds(first: 50) { id commitSha } } }",
                json!({ "id": repository }),
            )
            .await?
            .ok()?;
        let found = builds
            .at("repository.builds")
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["commitSha"] == sha)
            .and_then(|b| b["id"].as_str().map(str::to_owned));
        if let Some(id) = found {
            return Ok(id);
        }
        if Instant::now() > deadline {
            bail!("no build of {sha} appeared within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the stand-in has received statuses for `sha` in the states `want`, in order.
pub async fn statuses_for(
    github: &FakeGithub,
    sha: &str,
    want: &[&str],
    within: Duration,
) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + within;
    loop {
        let got: Vec<Value> = github
            .statuses()
            .into_iter()
            .filter(|(s, _)| s == sha)
            .map(|(_, body)| body)
            .collect();
        let states: Vec<&str> = got.iter().filter_map(|b| b["state"].as_str()).collect();
        if states == want {
            return Ok(got);
        }
        if Instant::now() > deadline {
            bail!("statuses for {sha}: got {states:?}, want {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A gzipped tar of `files` (path, content), as an instructor uploads hidden tests.
pub fn tar_gz(files: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, data.as_bytes())?;
    }
    Ok(tar.into_inner()?.finish()?)
}

/// Hidden tests for the Python exercise: one prints `secret` and passes with the usual
/// `greet`; the other expects `empty_greeting` for an empty name.
pub fn hidden_greet_tests(secret: &str, empty_greeting: &str) -> anyhow::Result<Vec<u8>> {
    let test = format!(
        "import unittest\nfrom greet import greet\n\nclass SecretTest(unittest.TestCase):\n    def test_secret_unicode(self):\n        print(\"{secret}\")\n        self.assertEqual(greet(\"Zoë\"), \"Hello, Zoë!\")\n\n    def test_secret_empty(self):\n        self.assertEqual(greet(\"\"), \"{empty_greeting}\")\n"
    );
    tar_gz(&[("__init__.py", ""), ("test_secret.py", &test)])
}
