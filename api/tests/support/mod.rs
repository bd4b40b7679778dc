//! Test support: a real PostgreSQL database per test (cloned from a template migrated once
//! per test process), a real server on 127.0.0.1, and HTTP clients that sign in through the
//! real endpoints and speak GraphQL.

#![allow(dead_code, clippy::unwrap_used)]

pub mod git;
pub mod github;
pub mod logs;
pub mod mail;
pub mod pipeline;
pub mod process;
pub mod registry;
pub mod ws;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lectern::app::App;
use lectern::config::Config;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// The server the tests create databases on. `scripts/test` sets it; the default is the
/// PostgreSQL the project's machines run on 127.0.0.1:5432.
pub fn admin_url() -> String {
    std::env::var("LECTERN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `admin_url` with its database replaced by `name`.
pub fn url_for(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("LECTERN_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

async fn admin() -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(&admin_url())
        .await
        .with_context(|| {
            "cannot reach the test PostgreSQL; start it or set LECTERN_TEST_DATABASE_URL"
                .to_string()
        })
}

/// Databases of test processes that are gone: named `lectern_t…_{pid}_…`.
async fn sweep_stale(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let names: Vec<Name> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'lectern\\_tpl\\_%' OR datname LIKE 'lectern\\_test\\_%'",
    )
    .load(conn)
    .await?;
    for Name { datname } in names {
        let pid = datname
            .split('_')
            .nth(2)
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{datname}\" WITH (FORCE)"
            ))
            .execute(conn)
            .await;
        }
    }
    Ok(())
}

async fn template() -> anyhow::Result<&'static str> {
    let name = TEMPLATE
        .get_or_try_init(|| async {
            let name = format!("lectern_tpl_{}", std::process::id());
            let mut conn = admin().await?;
            sweep_stale(&mut conn).await?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await?;
            lectern::db::migrate(&url_for(&name)).await?;
            Ok::<_, anyhow::Error>(name)
        })
        .await?;
    Ok(name.as_str())
}

/// A fresh, migrated database of its own, dropped when this value is.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> anyhow::Result<Self> {
        let template = template().await?;
        Self::create(Some(template)).await
    }

    /// An empty database (no migrations), for testing the migrations themselves.
    pub async fn empty() -> anyhow::Result<Self> {
        Self::create(None).await
    }

    async fn create(template: Option<&str>) -> anyhow::Result<Self> {
        let name = format!(
            "lectern_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand_suffix()
        );
        let sql = match template {
            Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        let mut conn = admin().await?;
        let mut attempts = 0;
        loop {
            match diesel::sql_query(&sql).execute(&mut conn).await {
                Ok(_) => break,
                // Another CREATE from the same template can hold it for a moment.
                Err(err) if attempts < 20 && err.to_string().contains("being accessed") => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(Self {
            url: url_for(&name),
            name,
        })
    }

    pub async fn conn(&self) -> anyhow::Result<AsyncPgConnection> {
        Ok(AsyncPgConnection::establish(&self.url).await?)
    }
}

fn rand_suffix() -> String {
    use rand::Rng as _;
    let n: u32 = rand::rng().random();
    format!("{n:08x}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on another thread does the work.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = admin().await.ok()?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A running server on its own database.
pub struct TestApp {
    pub base: String,
    pub app: App,
    pub db: TestDb,
}

/// Builds a [`TestApp`] with extra environment.
#[derive(Default)]
pub struct TestAppBuilder {
    env: HashMap<String, String>,
}

impl TestAppBuilder {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Points GitHub (OAuth and API) at the stand-in.
    pub fn github(mut self, github: &github::FakeGithub) -> Self {
        for (name, value) in github.env() {
            self = self.env(name, &value);
        }
        self
    }

    pub async fn start(self) -> anyhow::Result<TestApp> {
        logs::capture_in_process();
        let db = TestDb::new().await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", db.url.clone()),
            (
                "LECTERN_SECRET_KEY",
                "test-secret-key-test-secret-key-0123456789".to_owned(),
            ),
            ("LECTERN_LISTEN", addr.to_string()),
            ("LECTERN_PUBLIC_URL", format!("http://{addr}")),
            ("LECTERN_DEV_LOGIN", "true".to_owned()),
            ("LECTERN_WEB_DIR", "/nonexistent/lectern-web".to_owned()),
            ("LECTERN_DB_POOL_SIZE", "4".to_owned()),
            // Tests that run builds choose an executor.
            ("LECTERN_EXECUTOR", "none".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(self.env);
        let config = Config::from_lookup(|name| env.get(name).cloned())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let app = App::new(config)?;
        let router = lectern::http::router(app.clone());
        lectern::jobs::spawn(app.clone());
        lectern::live::spawn(app.clone());
        lectern::builds::spawn(app.clone()).await?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(TestApp {
            base: format!("http://{addr}"),
            app,
            db,
        })
    }
}

impl TestApp {
    pub async fn new() -> anyhow::Result<Self> {
        TestAppBuilder::default().start().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// A client with no session.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.base, "anonymous")
    }

    /// A client signed in as `login` through the development sign-in.
    pub async fn sign_in(&self, login: &str) -> anyhow::Result<Client> {
        let client = Client::new(&self.base, login);
        let resp = client
            .http
            .post(format!("{}/auth/dev/login", self.base))
            .form(&[("login", login)])
            .send()
            .await?;
        if resp.status() != reqwest::StatusCode::SEE_OTHER {
            bail!(
                "sign-in as {login} answered {}: {}",
                resp.status(),
                resp.text().await?
            );
        }
        Ok(client)
    }

    /// A client signed in through the GitHub OAuth flow against the stand-in, as `account`.
    pub async fn sign_in_with_github(
        &self,
        github: &github::FakeGithub,
        account: &github::Account,
    ) -> anyhow::Result<Client> {
        github.browser_signed_in_as(account.id);
        let client = Client::new(&self.base, &account.login);
        let location = |resp: &reqwest::Response| {
            resp.headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let start = client
            .http
            .get(format!("{}/auth/github/login", self.base))
            .send()
            .await?;
        let approved = client.http.get(location(&start)).send().await?;
        let done = client.http.get(location(&approved)).send().await?;
        if done.status() != reqwest::StatusCode::SEE_OTHER {
            bail!(
                "GitHub sign-in as {} answered {}: {}",
                account.login,
                done.status(),
                done.text().await?
            );
        }
        Ok(client)
    }

    /// A course created by `instructor` (signed in as a fresh client), with its id.
    pub async fn course(&self, instructor: &Client, slug: &str) -> anyhow::Result<String> {
        let resp = instructor
            .gql(
                "mutation($input: CreateCourseInput!) { createCourse(input: $input) { id } }",
                json!({ "input": { "slug": slug, "name": format!("Course {slug}"), "term": "Fall 2026" } }),
            )
            .await?;
        Ok(resp.str_at("createCourse.id")?.to_owned())
    }

    /// An assignment of `course_id` (test command `pytest` on `python:3.12` unless `fields`
    /// say otherwise), created by `instructor`; returns its id.
    pub async fn assignment(
        &self,
        instructor: &Client,
        course_id: &str,
        slug: &str,
        fields: Value,
    ) -> anyhow::Result<String> {
        let mut input = json!({ "courseId": course_id, "slug": slug, "title": slug.to_uppercase(),
                                "image": "python:3.12", "testCommand": "pytest" });
        if let (Some(input), Some(fields)) = (input.as_object_mut(), fields.as_object()) {
            input.extend(fields.clone());
        }
        let created = instructor
            .gql("mutation($input: CreateAssignmentInput!) { createAssignment(input: $input) { id } }", json!({ "input": input }))
            .await?
            .ok()?;
        Ok(created.str_at("createAssignment.id")?.to_owned())
    }

    /// Makes `login` a member of the course with `role` through a one-use invite.
    pub async fn enroll(
        &self,
        instructor: &Client,
        course_id: &str,
        login: &str,
        role: &str,
    ) -> anyhow::Result<Client> {
        let invite = instructor
            .gql(
                "mutation($input: CreateInviteInput!) { createInvite(input: $input) { code } }",
                json!({ "input": { "courseId": course_id, "role": role, "maxUses": 1 } }),
            )
            .await?;
        let code = invite.str_at("createInvite.code")?.to_owned();
        let client = self.sign_in(login).await?;
        client
            .gql(
                "mutation($code: String!) { joinCourse(code: $code) { id } }",
                json!({ "code": code }),
            )
            .await?
            .ok()?;
        Ok(client)
    }
}

/// A repository linked straight in the database, with a sealed webhook secret, for tests of
/// what happens after linking. (Linking through GitHub's API has its own tests.)
pub struct LinkedRepo {
    pub id: i64,
    pub github_repo_id: i64,
    pub secret: String,
}

/// A token that is cancelled `after` this long (never without it).
pub fn cancel_after(after: Option<Duration>) -> tokio_util::sync::CancellationToken {
    let cancel = tokio_util::sync::CancellationToken::new();
    if let Some(after) = after {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            cancel.cancel();
        });
    }
    cancel
}

/// A run of `command` in the Python base image with small limits (30 s, 256 MiB, one CPU,
/// 128 processes, a 64 MB workspace), for a build and checkout the caller sets.
pub fn run_spec(command: &str) -> lectern::executor::RunSpec {
    lectern::executor::RunSpec {
        build_id: 0,
        checkout: std::path::PathBuf::new(),
        image: "localhost/lectern-python:3.11".into(),
        command: command.into(),
        timeout: Duration::from_secs(30),
        memory_mb: 256,
        cpu_millis: 1000,
        pids_limit: 128,
        workspace_mb: 64,
        use_dockerfile: false,
        report_path: None,
        report_marker: String::new(),
        origin: None,
        image_per_build: false,
        hidden: false,
    }
}

impl TestApp {
    /// A server with a course (`ada` teaching), an assignment and octocat's linked
    /// repository: somewhere to hang builds and their logs.
    pub async fn with_repository() -> anyhow::Result<(Self, lectern::db::models::Repository)> {
        let app = Self::new().await?;
        let repository = app.linked_repository().await?;
        Ok((app, repository))
    }

    /// On this server: a course (`ada` teaching), an assignment and octocat's repository
    /// linked to it.
    pub async fn linked_repository(&self) -> anyhow::Result<lectern::db::models::Repository> {
        let ada = self.sign_in("ada").await?;
        let course = self.course(&ada, "cs101").await?;
        let assignment = self.assignment(&ada, &course, "hw1", json!({})).await?;
        let linked = self
            .link_repository(&assignment, "octocat", 77, "octocat/hw1")
            .await?;
        let mut conn = self.db.conn().await?;
        Ok(lectern::db::models::Repository::find(&mut conn, linked.id).await?)
    }

    /// A manual build of a fixed commit of `repository`, queued.
    pub async fn manual_build(
        &self,
        repository: &lectern::db::models::Repository,
    ) -> anyhow::Result<lectern::db::models::Build> {
        self.manual_build_of(repository, "0123456789abcdef0123456789abcdef01234567")
            .await
    }

    /// `owner`'s repository for `assignment`, linked as `owner/hw1` and backed by `git`
    /// (file://), for servers that run builds as local processes (the course's images go
    /// unused).
    pub async fn local_repository(
        &self,
        assignment: &str,
        owner: &str,
        git: &git::GitRepo,
    ) -> anyhow::Result<lectern::db::models::Repository> {
        use lectern::db::schema::{assignments, repositories};
        let linked = self
            .link_repository(assignment, owner, 9, &format!("{owner}/hw1"))
            .await?;
        let mut conn = self.db.conn().await?;
        diesel::update(repositories::table.find(linked.id))
            .set(repositories::clone_url.eq(format!("file://{}", git.bare.display())))
            .execute(&mut conn)
            .await?;
        diesel::update(assignments::table)
            .set(assignments::image.eq("unused-by-the-local-executor"))
            .execute(&mut conn)
            .await?;
        Ok(lectern::db::models::Repository::find(&mut conn, linked.id).await?)
    }

    /// A course `cs101` whose assignment runs `command`, alan's repository for it backed by
    /// a local git repository (for servers that run builds as local processes), and a
    /// manual build of its first commit, queued.
    pub async fn local_build(&self, command: &str) -> anyhow::Result<LocalBuild> {
        let ada = self.sign_in("ada").await?;
        let course = self.course(&ada, "cs101").await?;
        let assignment = self
            .assignment(&ada, &course, "hw1", json!({ "testCommand": command }))
            .await?;
        let git = git::GitRepo::new()?;
        let sha = git.commit("main", &[("README", "hello\n")], "First")?;
        let repository = self.local_repository(&assignment, "alan", &git).await?;
        let build = self.manual_build_of(&repository, &sha).await?;
        Ok(LocalBuild {
            git,
            repository,
            build,
        })
    }

    /// A manual build of commit `sha` of `repository`, queued.
    pub async fn manual_build_of(
        &self,
        repository: &lectern::db::models::Repository,
        sha: &str,
    ) -> anyhow::Result<lectern::db::models::Build> {
        let mut conn = self.db.conn().await?;
        Ok(lectern::db::models::Build::enqueue(
            &mut conn,
            repository,
            &lectern::db::models::BuildRequest {
                trigger: lectern::db::enums::BuildTrigger::Manual,
                branch: Some("main".into()),
                pr_number: None,
                commit_sha: sha.into(),
                commit_message: "a manual build".into(),
                commit_author: None,
            },
            None,
            chrono::Utc::now(),
            false,
        )
        .await?)
    }

    /// Links `github_repo_id`/`full_name` to the assignment for `owner_login`.
    pub async fn link_repository(
        &self,
        assignment_id: &str,
        owner_login: &str,
        github_repo_id: i64,
        full_name: &str,
    ) -> anyhow::Result<LinkedRepo> {
        use lectern::db::enums::WebhookStatus;
        use lectern::db::models::{Assignment, NewRepository, Repository, User};
        let mut conn = self.db.conn().await?;
        let assignment = Assignment::find(&mut conn, assignment_id.parse()?).await?;
        let owner = User::find_or_create_local(&mut conn, owner_login, None).await?;
        let repository = Repository::create(
            &mut conn,
            &NewRepository {
                course_id: assignment.course_id,
                assignment_id: assignment.id,
                owner_id: owner.id,
                github_repo_id,
                full_name: full_name.to_owned(),
                clone_url: format!("https://github.com/{full_name}.git"),
                default_branch: "main".to_owned(),
                private: false,
            },
        )
        .await?;
        let secret = format!("whsec-{}", rand_suffix());
        let sealed =
            lectern::forge::github::webhook::seal_secret(&self.app.cipher, github_repo_id, &secret);
        Repository::set_webhook(
            &mut conn,
            repository.id,
            Some(1),
            &sealed,
            WebhookStatus::Pending,
        )
        .await?;
        Ok(LinkedRepo {
            id: repository.id,
            github_repo_id,
            secret,
        })
    }

    /// Posts a webhook delivery as GitHub does; `secret: None` sends no signature.
    pub async fn deliver(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        secret: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = reqwest::Client::new()
            .post(format!("{}/webhooks/github", self.base))
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/test")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .body(body.to_vec());
        if let Some(secret) = secret {
            request = request.header(
                "x-hub-signature-256",
                lectern::forge::github::webhook::sign(secret.as_bytes(), body),
            );
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }
}

/// What [`TestApp::local_build`] made; the git repository lives as long as this does.
pub struct LocalBuild {
    pub git: git::GitRepo,
    pub repository: lectern::db::models::Repository,
    pub build: lectern::db::models::Build,
}

/// An HTTP client with its own cookie jar.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub login: String,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Client {
    fn new(base: &str, login: &str) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            http,
            base: base.to_owned(),
            login: login.to_owned(),
            jar,
        }
    }

    /// The `Cookie` header this client sends to its server (its session), for clients of
    /// other kinds (WebSockets) to present.
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore as _;
        let url = reqwest::Url::parse(&self.base).expect("the base is a URL");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Posts a GraphQL document with variables.
    pub async fn gql(&self, query: &str, variables: Value) -> anyhow::Result<Gql> {
        let resp = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("GraphQL answered {status} with a non-JSON body"))?;
        Ok(Gql {
            status: status.as_u16(),
            body,
        })
    }
}

/// A GraphQL response.
#[derive(Debug)]
pub struct Gql {
    pub status: u16,
    pub body: Value,
}

impl Gql {
    /// The first error's `extensions.code`.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn error_message(&self) -> Option<&str> {
        self.body["errors"][0]["message"].as_str()
    }

    /// Fails unless the response has no errors.
    pub fn ok(self) -> anyhow::Result<Self> {
        if self.body.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("GraphQL errors: {}", self.body["errors"]);
        }
        Ok(self)
    }

    /// The value at a dotted path under `data` (numbers index lists).
    pub fn at(&self, path: &str) -> &Value {
        path.split('.').fold(&self.body["data"], |value, key| {
            match key.parse::<usize>() {
                Ok(index) => &value[index],
                Err(_) => &value[key],
            }
        })
    }

    pub fn str_at(&self, path: &str) -> anyhow::Result<&str> {
        self.at(path)
            .as_str()
            .with_context(|| format!("no string at {path} in {}", self.body))
    }
}
