//! `lectern admin check`: can this server reach what it depends on — PostgreSQL, the
//! container engine or cluster, GitHub, the mail server? Each finding says what is wrong
//! and what to try.

use std::time::Duration;

use crate::config::{Config, ExecutorChoice};

/// How long each check may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one check found.
#[derive(Debug)]
pub struct Finding {
    pub what: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to try, when it failed.
    pub hint: Option<&'static str>,
}

impl Finding {
    fn ok(what: &'static str, detail: impl Into<String>) -> Self {
        Self {
            what,
            ok: true,
            detail: detail.into(),
            hint: None,
        }
    }

    fn failed(what: &'static str, detail: impl Into<String>, hint: &'static str) -> Self {
        Self {
            what,
            ok: false,
            detail: detail.into(),
            hint: Some(hint),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.ok { "✓" } else { "✗" };
        write!(f, "{mark} {}: {}", self.what, self.detail)?;
        if let Some(hint) = self.hint {
            write!(f, "\n    hint: {hint}")?;
        }
        Ok(())
    }
}

/// Runs `check` within [`TIMEOUT`], a time-out being its failure.
async fn within<F>(what: &'static str, hint: &'static str, check: F) -> Finding
where
    F: Future<Output = Finding>,
{
    match tokio::time::timeout(TIMEOUT, check).await {
        Ok(finding) => finding,
        Err(_) => Finding::failed(
            what,
            format!("no answer within {} s", TIMEOUT.as_secs()),
            hint,
        ),
    }
}

/// Every check, in the order a server needs them.
pub async fn run(config: &Config) -> Vec<Finding> {
    vec![
        within("PostgreSQL", DATABASE_HINT, database(config)).await,
        within("builds", ENGINE_HINT, executor(config)).await,
        within("GitHub", GITHUB_HINT, github(config)).await,
        within("email", SMTP_HINT, smtp(config)).await,
    ]
}

const DATABASE_HINT: &str = "is PostgreSQL running, and does DATABASE_URL name it with the right user, password and database?";
const ENGINE_HINT: &str = "start the container engine (scripts/lib.sh ensure_container_engine starts Podman) or point DOCKER_HOST at it; on Kubernetes, check KUBECONFIG or the in-cluster service account";
const GITHUB_HINT: &str =
    "check GITHUB_API_URL and that this machine may reach it (proxy, firewall)";
const SMTP_HINT: &str = "check SMTP_URL: host, port, tls=required for STARTTLS or smtps:// for TLS, and the credentials";

async fn database(config: &Config) -> Finding {
    const WHAT: &str = "PostgreSQL";
    let mut conn = match crate::db::connect(config.database_url.expose()).await {
        Ok(conn) => conn,
        Err(err) => {
            return Finding::failed(WHAT, format!("cannot connect: {err:#}"), DATABASE_HINT);
        }
    };
    match crate::db::migration_status(&mut conn).await {
        Ok(status) if status.pending.is_empty() => Finding::ok(
            WHAT,
            format!(
                "connected; {} migrations applied, none pending",
                status.applied.len()
            ),
        ),
        Ok(status) => Finding::failed(
            WHAT,
            format!("connected; {} migrations pending", status.pending.len()),
            "run `lectern migrate` (lectern serve applies them at start unless --no-migrate)",
        ),
        Err(err) => Finding::failed(WHAT, format!("connected, but {err:#}"), DATABASE_HINT),
    }
}

async fn executor(config: &Config) -> Finding {
    const WHAT: &str = "builds";
    let builds = &config.builds;
    match builds.executor {
        ExecutorChoice::None => {
            Finding::ok(WHAT, "LECTERN_EXECUTOR=none: this server runs no builds")
        }
        ExecutorChoice::Local => Finding::ok(
            WHAT,
            "local processes (LECTERN_EXECUTOR=local: development only, no sandbox)",
        ),
        ExecutorChoice::Docker => {
            let engine = match crate::executor::DockerExecutor::connect(
                builds.docker_host.as_deref(),
                false,
                "check",
            ) {
                Ok(engine) => engine,
                Err(err) => return Finding::failed(WHAT, format!("{err:#}"), ENGINE_HINT),
            };
            match engine.ping().await {
                Ok(version) => Finding::ok(WHAT, format!("container engine: {version}")),
                Err(err) => Finding::failed(
                    WHAT,
                    format!("the container engine does not answer: {err:#}"),
                    ENGINE_HINT,
                ),
            }
        }
        ExecutorChoice::Kubernetes => match kube::Client::try_default().await {
            Ok(client) => match client.apiserver_version().await {
                Ok(version) => Finding::ok(
                    WHAT,
                    format!("Kubernetes {}.{}", version.major, version.minor),
                ),
                Err(err) => Finding::failed(
                    WHAT,
                    format!("the Kubernetes API does not answer: {err}"),
                    ENGINE_HINT,
                ),
            },
            Err(err) => Finding::failed(
                WHAT,
                format!("no Kubernetes configuration: {err}"),
                ENGINE_HINT,
            ),
        },
    }
}

async fn github(config: &Config) -> Finding {
    const WHAT: &str = "GitHub";
    let url = config.github_api_url.clone();
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(client) => client,
        Err(err) => return Finding::failed(WHAT, err.to_string(), GITHUB_HINT),
    };
    match client
        .get(url.clone())
        .header(reqwest::header::USER_AGENT, "lectern-admin-check")
        .send()
        .await
    {
        // Any answer means it is reachable; what it says depends on the endpoint.
        Ok(response) => Finding::ok(WHAT, format!("{url} answers ({})", response.status())),
        Err(err) => Finding::failed(WHAT, format!("cannot reach {url}: {err}"), GITHUB_HINT),
    }
}

async fn smtp(config: &Config) -> Finding {
    const WHAT: &str = "email";
    let Some(url) = &config.notify.smtp_url else {
        return Finding::ok(WHAT, "SMTP_URL is not set: no email is sent");
    };
    let mailer = match crate::notify::email::Smtp::new(url.expose(), &config.notify.mail_from) {
        Ok(mailer) => mailer,
        Err(err) => return Finding::failed(WHAT, format!("{err:#}"), SMTP_HINT),
    };
    match mailer.check().await {
        Ok(()) => Finding::ok(WHAT, "the mail server (SMTP_URL) answers"),
        Err(err) => Finding::failed(
            WHAT,
            format!("the mail server (SMTP_URL) does not answer: {err}"),
            SMTP_HINT,
        ),
    }
}
