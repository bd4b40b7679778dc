//! Server configuration. This is the only place that reads the environment; every variable
//! is documented here and in `.env.example`, and a bad value stops the server at start with
//! a message that names the variable and what it expects.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// Everything the server needs to run, read once at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL` — PostgreSQL connection URL. Required.
    pub database_url: Secret,
    /// `LECTERN_DB_POOL_SIZE` — connections in the pool (default 16).
    pub db_pool_size: usize,
    /// `LECTERN_LISTEN` — address:port to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `LECTERN_PUBLIC_URL` — the URL people and GitHub reach the server at (default
    /// `http://{LECTERN_LISTEN}`). Cookies are `Secure` when it is https.
    pub public_url: Url,
    /// `LECTERN_SECRET_KEY` — at least 32 characters; keys cookies and encryption at rest.
    /// Required. Generate one with `openssl rand -base64 48`.
    pub secret_key: Secret,
    /// `LECTERN_DEV_MODE` — `true` turns on development conveniences: GraphiQL at
    /// `GET /graphql`. Never in production (default `false`).
    pub dev_mode: bool,
    /// `LECTERN_DEV_LOGIN` — `true` lets anyone sign in as any login without GitHub, for
    /// demos and local development only. The server warns loudly (default `false`).
    pub dev_login: bool,
    /// `LECTERN_WEB_DIR` — directory holding the built web client (default `web/dist`).
    pub web_dir: PathBuf,
    /// `LECTERN_ADMINS` — comma-separated GitHub logins of platform administrators, who act
    /// as instructors in every course (default none).
    pub admins: BTreeSet<String>,
    /// `LECTERN_COURSE_CREATION` — who may create courses: `anyone` signed in, or `admins`
    /// (default `anyone`).
    pub course_creation: CourseCreation,
    /// `LECTERN_SESSION_TTL_HOURS` — how long a sign-in lasts without use (default 336 = 14 days).
    pub session_ttl: Duration,
    /// `LECTERN_LOG_FORMAT` — `text` for people or `json` for log collectors (default `text`).
    pub log_format: LogFormat,
    /// `LECTERN_LOG` — a `tracing` filter such as `info,lectern=debug` (default `info`).
    pub log_filter: String,
    /// `LECTERN_WEBHOOK_MAX_BYTES` — largest webhook body accepted (default 26214400: GitHub
    /// caps payloads at 25 MB).
    pub webhook_max_bytes: usize,
    /// `LECTERN_JOB_CONCURRENCY` — background jobs run at once (default 4).
    pub job_concurrency: usize,
    /// `LECTERN_RUN_JOBS` — `false` for a server that runs no background jobs (commit
    /// statuses, notifications): another replica does (default `true`).
    pub run_jobs: bool,
    /// `LECTERN_JOB_RETRY_BASE_MS` — first retry delay of a failed job; doubles per attempt
    /// up to 15 minutes (default 5000).
    pub job_retry_base: Duration,
    /// `LECTERN_SYNC_INTERVAL_MINUTES` — how often every linked repository is checked for
    /// pushes whose webhook never arrived; 0 turns it off (default 30).
    pub sync_interval: Duration,
    /// `GITHUB_URL` — GitHub's web base URL, for OAuth (default `https://github.com`).
    pub github_url: Url,
    /// `GITHUB_API_URL` — GitHub's REST API base URL (default `https://api.github.com`).
    pub github_api_url: Url,
    /// `GITHUB_CLIENT_ID` and `GITHUB_CLIENT_SECRET` — the GitHub OAuth app Lectern signs
    /// people in with (its callback URL: `{LECTERN_PUBLIC_URL}/auth/github/callback`). Both
    /// or neither; without them GitHub sign-in is off.
    pub github_oauth: Option<GithubOAuth>,
    /// `LECTERN_GITHUB_STANDIN` — an address:port on which to run Lectern's local GitHub
    /// stand-in, and use it instead of GitHub (sets the four `GITHUB_*` values). For demos
    /// and development only: it needs `LECTERN_DEV_MODE`, and the server warns loudly.
    pub github_standin: Option<SocketAddr>,
    /// `LECTERN_GITHUB_STANDIN_DIR` — where the stand-in keeps its state (default: memory only).
    pub github_standin_dir: Option<PathBuf>,
    /// How builds run.
    pub builds: BuildConfig,
    /// Where notifications go.
    pub notify: NotifyConfig,
    /// `LECTERN_JOB_LEASE_SECONDS` — how long a background job may run before another
    /// server takes it over, its own presumed dead (default 300).
    pub job_lease: Duration,
    /// Who may read `GET /metrics`.
    pub metrics: MetricsAccess,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` — an OpenTelemetry collector's OTLP/HTTP base URL
    /// (`http://collector:4318`): spans of requests, builds and jobs are exported to it as
    /// traces (http/protobuf). Unset: no traces.
    pub otlp_endpoint: Option<Url>,
}

/// Who may read the Prometheus metrics.
#[derive(Clone, Debug, Default)]
pub struct MetricsAccess {
    /// `LECTERN_METRICS_LISTEN` — a second address:port serving only `/metrics`, openly:
    /// bind it to a private network the scraper is on (default none).
    pub listen: Option<SocketAddr>,
    /// `LECTERN_METRICS_TOKEN` — a bearer token that opens `/metrics` on the main listener
    /// (`Authorization: Bearer …`). Without it the main listener does not serve metrics.
    pub token: Option<Secret>,
}

/// Settings of notifications.
#[derive(Clone, Debug)]
pub struct NotifyConfig {
    /// `SMTP_URL` — the mail server: `smtp://host:25` (plain), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS). Without it no email is sent.
    pub smtp_url: Option<Secret>,
    /// `LECTERN_MAIL_FROM` — the sender (default `Lectern <lectern@{public host}>`).
    pub mail_from: String,
    /// `LECTERN_SLACK_HOSTS` — hosts (`host` or `host:port`) Slack webhook URLs may point at
    /// (default `hooks.slack.com`).
    pub slack_hosts: Vec<String>,
    /// `LECTERN_DIGEST_HOUR` — the hour (UTC, 0–23) after which staff who asked get the day's
    /// digest of their course's builds (default 7).
    pub digest_hour: u32,
    /// `LECTERN_NOTIFY_MAX_ATTEMPTS` — attempts at one notification before it is given up on
    /// and shown to the course's staff (default 8; with the job backoff, about 20 minutes).
    pub max_attempts: i32,
}

/// `LECTERN_EXECUTOR` — where builds run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorChoice {
    /// Containers through the Docker Engine API (Docker or Podman) at `DOCKER_HOST`.
    Docker,
    /// Plain processes on the server's machine: development and demos only.
    Local,
    /// Jobs on a Kubernetes cluster (in-cluster configuration or `KUBECONFIG`).
    Kubernetes,
    /// This server runs no builds (another replica does).
    None,
}

/// Settings of the build pipeline.
#[derive(Clone, Debug)]
pub struct BuildConfig {
    /// `LECTERN_EXECUTOR` — `docker` (default), `local` (needs `LECTERN_ALLOW_LOCAL_EXECUTOR`)
    /// or `none`.
    pub executor: ExecutorChoice,
    /// `DOCKER_HOST` — the container engine's API (default: the engine's usual socket).
    pub docker_host: Option<String>,
    /// `LECTERN_BUILD_CONCURRENCY` — builds this server runs at once (default 2).
    pub concurrency: usize,
    /// `LECTERN_BUILD_CONCURRENCY_PER_STUDENT` — builds of one student running at once across
    /// all servers (default 1), so one student's burst cannot starve the class.
    pub per_student: i64,
    /// `LECTERN_SUPERSEDE_QUEUED` — a newer push to a branch cancels its older queued builds
    /// (default `true`).
    pub supersede_queued: bool,
    /// `LECTERN_LOG_MAX_BYTES` — output kept per build; past it the log says it was
    /// truncated and the build goes on (default 4194304).
    pub log_max_bytes: u64,
    /// `LECTERN_CHECKOUT_MAX_BYTES` and `LECTERN_CHECKOUT_MAX_FILES` — a checkout larger than
    /// this ends the build as `errored` before anything is written (defaults 104857600, 20000).
    pub checkout_max_bytes: u64,
    pub checkout_max_files: u64,
    /// `LECTERN_CHECKOUT_TIMEOUT_SECONDS` — time allowed to fetch a commit (default 120).
    pub checkout_timeout: Duration,
    /// `LECTERN_WORKSPACE_MB` — the writable workspace of a container build (default 512).
    pub workspace_mb: u64,
    /// `LECTERN_BUILD_PIDS_LIMIT` — processes a build may run at once (default 256).
    pub pids_limit: i64,
    /// `LECTERN_WORK_DIR` — where checkouts are made (default: the system's temp directory).
    pub work_dir: PathBuf,
    /// `LECTERN_KEEP_IMAGES` — keep the image built for each build (default `false`: removed
    /// when the build ends).
    pub keep_images: bool,
    /// `LECTERN_LEASE_SECONDS` — how long a build's claim lasts without renewal; a server
    /// that dies loses its builds to another after this long (default 30).
    pub lease: Duration,
    /// The kubernetes executor's settings.
    pub kubernetes: KubernetesConfig,
}

/// Settings of the kubernetes executor.
#[derive(Clone, Debug)]
pub struct KubernetesConfig {
    /// `LECTERN_K8S_NAMESPACE` — where builds run (default `lectern-builds`).
    pub namespace: String,
    /// `LECTERN_K8S_GIT_IMAGE` — an image with `git` and `sh` that fetches each commit
    /// (default `alpine/git:2.47.2`).
    pub git_image: String,
    /// `LECTERN_K8S_RUNTIME_CLASS` — a sandboxing RuntimeClass for build pods (`gvisor`,
    /// `kata`); empty for the cluster's default.
    pub runtime_class: Option<String>,
    /// `LECTERN_K8S_TTL_SECONDS` — how long a finished Job stays (default 3600).
    pub ttl_seconds: i32,
    /// `LECTERN_K8S_UNSCHEDULABLE_SECONDS` — how long a build may wait for a node before it
    /// errors (default 120; an autoscaler may add one meanwhile).
    pub unschedulable: Duration,
    /// `LECTERN_REGISTRY` — build each build's image on this server's container engine
    /// (`DOCKER_HOST`) and push it to this repository (`registry.example.edu/lectern/builds`)
    /// instead of fetching the commit in the cluster; unset: fetch in the cluster.
    pub registry: Option<String>,
    /// `LECTERN_REGISTRY_USERNAME` / `LECTERN_REGISTRY_PASSWORD` — to push there.
    pub registry_username: Option<String>,
    pub registry_password: Option<Secret>,
    /// `LECTERN_K8S_PULL_SECRET` — the `dockerconfigjson` Secret in the builds namespace the
    /// cluster pulls those images with.
    pub pull_secret: Option<String>,
    /// `LECTERN_REGISTRY_INSECURE` — speak plain HTTP to the registry (default `false`).
    pub registry_insecure: bool,
    /// `LECTERN_REGISTRY_KEEP_HOURS` — how long a build's image stays in the registry after
    /// its build ends (default 0: deleted when it ends). A sweep every few minutes deletes
    /// those past it, and those a stopped server left behind.
    pub registry_keep: Duration,
}

/// Credentials of the GitHub OAuth app.
#[derive(Clone, Debug)]
pub struct GithubOAuth {
    pub client_id: String,
    pub client_secret: Secret,
}

/// Who may create courses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CourseCreation {
    Anyone,
    Admins,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A value that must never be printed: `Debug` and `Display` show only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// Every problem found in the environment, each naming its variable.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration is not valid:")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        write!(f, "see .env.example or the README's Configuration section")
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the server configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Only what `lectern migrate` and other database-only commands need.
    pub fn database_url_from_env() -> Result<Secret, ConfigError> {
        let mut env = Env::new(|name| std::env::var(name).ok());
        let url = env.database_url();
        env.finish(url)
    }

    /// Reads the configuration through `get`, so tests can supply variables directly.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Env::new(get);
        let database_url = env.database_url();
        let listen = env.parse(
            "LECTERN_LISTEN",
            "127.0.0.1:8080".parse().ok(),
            "an address:port such as 127.0.0.1:8080",
        );
        let default_public = listen.map(|addr| format!("http://{addr}"));
        let public_url = env.url("LECTERN_PUBLIC_URL", default_public.as_deref());
        let secret_key = match env.get("LECTERN_SECRET_KEY") {
            Some(key) if key.chars().count() >= 32 => Some(Secret(key)),
            Some(_) => env.problem(
                "LECTERN_SECRET_KEY must be at least 32 characters (try `openssl rand -base64 48`)",
            ),
            None => env.problem(
                "LECTERN_SECRET_KEY is required: at least 32 random characters (try `openssl rand -base64 48`)",
            ),
        };
        let dev_mode = env.bool("LECTERN_DEV_MODE", false);
        let dev_login = env.bool("LECTERN_DEV_LOGIN", false);
        let web_dir = PathBuf::from(
            env.get("LECTERN_WEB_DIR")
                .unwrap_or_else(|| "web/dist".into()),
        );
        let db_pool_size = env.parse_in(
            "LECTERN_DB_POOL_SIZE",
            16,
            1..=1000,
            "a number of connections, 1 to 1000",
        );
        let admins = env
            .get("LECTERN_ADMINS")
            .map(|list| {
                list.split(',')
                    .map(|login| login.trim().to_ascii_lowercase())
                    .filter(|login| !login.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let course_creation = match env.get("LECTERN_COURSE_CREATION").as_deref() {
            None | Some("anyone") => Some(CourseCreation::Anyone),
            Some("admins") => Some(CourseCreation::Admins),
            Some(other) => env.problem(format!(
                "LECTERN_COURSE_CREATION must be `anyone` or `admins`, got `{other}`"
            )),
        };
        let session_ttl = env
            .parse_in(
                "LECTERN_SESSION_TTL_HOURS",
                336,
                1..=87_600,
                "a number of hours, 1 to 87600",
            )
            .map(|hours: u64| Duration::from_secs(hours * 3600));
        let log_format = match env.get("LECTERN_LOG_FORMAT").as_deref() {
            None | Some("text") => Some(LogFormat::Text),
            Some("json") => Some(LogFormat::Json),
            Some(other) => env.problem(format!(
                "LECTERN_LOG_FORMAT must be `text` or `json`, got `{other}`"
            )),
        };
        let log_filter = env.get("LECTERN_LOG").unwrap_or_else(|| "info".into());
        let webhook_max_bytes: Option<usize> = env.parse(
            "LECTERN_WEBHOOK_MAX_BYTES",
            Some(25 * 1024 * 1024),
            "a size in bytes",
        );
        let job_concurrency = env.parse_in(
            "LECTERN_JOB_CONCURRENCY",
            4,
            1..=1000,
            "a number of jobs, 1 to 1000",
        );
        let job_retry_base: Option<u64> = env.parse(
            "LECTERN_JOB_RETRY_BASE_MS",
            Some(5000),
            "a number of milliseconds",
        );
        let sync_minutes: Option<u64> = env.parse(
            "LECTERN_SYNC_INTERVAL_MINUTES",
            Some(30),
            "a number of minutes (0: off)",
        );
        let github_url = env.url("GITHUB_URL", Some("https://github.com"));
        let github_api_url = env.url("GITHUB_API_URL", Some("https://api.github.com"));
        let github_oauth = match (env.get("GITHUB_CLIENT_ID"), env.get("GITHUB_CLIENT_SECRET")) {
            (Some(client_id), Some(secret)) => Some(Some(GithubOAuth {
                client_id,
                client_secret: Secret(secret),
            })),
            (None, None) => Some(None),
            _ => env.problem(
                "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET must be set together (or neither)",
            ),
        };

        let mut github_url = github_url;
        let mut github_api_url = github_api_url;
        let mut github_oauth = github_oauth;
        let github_standin: Option<SocketAddr> = env.parse(
            "LECTERN_GITHUB_STANDIN",
            None,
            "an address:port such as 127.0.0.1:8081",
        );
        if let Some(addr) = github_standin {
            let taken: Vec<&str> = [
                "GITHUB_URL",
                "GITHUB_API_URL",
                "GITHUB_CLIENT_ID",
                "GITHUB_CLIENT_SECRET",
            ]
            .into_iter()
            .filter(|name| env.get(name).is_some())
            .collect();
            if !dev_mode {
                env.problem::<()>(
                    "LECTERN_GITHUB_STANDIN needs LECTERN_DEV_MODE=true: the stand-in is for demos and development",
                );
            } else if !taken.is_empty() {
                env.problem::<()>(format!(
                    "LECTERN_GITHUB_STANDIN replaces GitHub; unset {} or unset LECTERN_GITHUB_STANDIN",
                    taken.join(", ")
                ));
            }
            let base = Url::parse(&format!("http://{addr}")).ok();
            github_url = base.clone();
            github_api_url = base;
            github_oauth = Some(Some(GithubOAuth {
                client_id: crate::forge::github::standin::CLIENT_ID.to_owned(),
                client_secret: Secret(crate::forge::github::standin::CLIENT_SECRET.to_owned()),
            }));
        }
        let github_standin_dir = env.get("LECTERN_GITHUB_STANDIN_DIR").map(PathBuf::from);
        let builds = build_config(&mut env, dev_mode);
        let run_jobs = env.bool("LECTERN_RUN_JOBS", true);
        let env_smtp = env
            .get("SMTP_URL")
            .filter(|u| !u.trim().is_empty())
            .map(Secret);
        let digest_hour = env.parse_in(
            "LECTERN_DIGEST_HOUR",
            7,
            0..=23,
            "an hour of the day, 0 to 23 (UTC)",
        );
        let max_attempts = env.parse_in(
            "LECTERN_NOTIFY_MAX_ATTEMPTS",
            8,
            1..=100,
            "a number of attempts, 1 to 100",
        );
        let job_lease = env.parse_in(
            "LECTERN_JOB_LEASE_SECONDS",
            300,
            1..=86_400,
            "a number of seconds, 1 to 86400",
        );
        let mail_from = env.get("LECTERN_MAIL_FROM").unwrap_or_else(|| {
            let host = public_url
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "localhost".into());
            format!("Lectern <lectern@{host}>")
        });
        let slack_hosts: Vec<String> = env
            .get("LECTERN_SLACK_HOSTS")
            .unwrap_or_else(|| "hooks.slack.com".into())
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();

        let metrics_listen: Option<SocketAddr> = env.parse(
            "LECTERN_METRICS_LISTEN",
            None,
            "an address:port such as 10.0.0.5:9464",
        );
        let metrics_token = match env.get("LECTERN_METRICS_TOKEN") {
            Some(token) if token.chars().count() >= 16 => Some(Some(Secret(token))),
            Some(_) => env.problem(
                "LECTERN_METRICS_TOKEN must be at least 16 characters (try `openssl rand -hex 24`)",
            ),
            None => Some(None),
        };

        let otlp_endpoint = match env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(raw) if !raw.trim().is_empty() => {
                Some(env.url("OTEL_EXPORTER_OTLP_ENDPOINT", None))
            }
            _ => Some(None),
        };
        match env.get("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
            None | Some("http/protobuf") => {}
            Some(other) => {
                env.problem::<()>(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL `{other}` is not supported: Lectern exports traces over http/protobuf (port 4318 of a collector)"
                ));
            }
        }

        let config = (|| {
            Some(Config {
                database_url: database_url?,
                db_pool_size: db_pool_size?,
                listen: listen?,
                public_url: public_url?,
                secret_key: secret_key?,
                dev_mode,
                dev_login,
                web_dir,
                admins,
                course_creation: course_creation?,
                session_ttl: session_ttl?,
                log_format: log_format?,
                log_filter,
                webhook_max_bytes: webhook_max_bytes?,
                job_concurrency: job_concurrency?,
                run_jobs,
                job_retry_base: Duration::from_millis(job_retry_base?),
                sync_interval: Duration::from_secs(sync_minutes? * 60),
                github_url: github_url?,
                github_api_url: github_api_url?,
                github_oauth: github_oauth?,
                github_standin,
                github_standin_dir,
                builds: builds?,
                notify: NotifyConfig {
                    smtp_url: env_smtp,
                    mail_from,
                    slack_hosts,
                    max_attempts: max_attempts?,
                    digest_hour: digest_hour?,
                },
                job_lease: Duration::from_secs(job_lease?),
                metrics: MetricsAccess {
                    listen: metrics_listen,
                    token: metrics_token?,
                },
                otlp_endpoint: otlp_endpoint?,
            })
        })();
        env.finish(config)
    }

    /// Whether session cookies must be `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// Whether `login` is a platform administrator by configuration.
    pub fn is_admin_login(&self, login: &str) -> bool {
        self.admins.contains(&login.to_ascii_lowercase())
    }
}

/// The build pipeline's settings.
fn build_config<F: Fn(&str) -> Option<String>>(
    env: &mut Env<F>,
    dev_mode: bool,
) -> Option<BuildConfig> {
    let executor = match env.get("LECTERN_EXECUTOR").as_deref() {
        None | Some("docker") => Some(ExecutorChoice::Docker),
        Some("none") => Some(ExecutorChoice::None),
        Some("local") => {
            if env.bool("LECTERN_ALLOW_LOCAL_EXECUTOR", false) {
                if !dev_mode {
                    tracing::warn!("LECTERN_EXECUTOR=local outside development mode");
                }
                Some(ExecutorChoice::Local)
            } else {
                env.problem(
                    "LECTERN_EXECUTOR=local runs students' code unconfined on this machine; \
                     set LECTERN_ALLOW_LOCAL_EXECUTOR=true to confirm (development and demos only)",
                )
            }
        }
        Some("kubernetes") => Some(ExecutorChoice::Kubernetes),
        Some(other) => env.problem(format!(
            "LECTERN_EXECUTOR must be `docker`, `kubernetes`, `local` or `none`, got `{other}`"
        )),
    };
    let concurrency = env.parse_in(
        "LECTERN_BUILD_CONCURRENCY",
        2,
        1..=256,
        "a number of builds, 1 to 256",
    );
    let per_student = env.parse_in(
        "LECTERN_BUILD_CONCURRENCY_PER_STUDENT",
        1,
        1..=64,
        "a number of builds, 1 to 64",
    );
    let supersede_queued = env.bool("LECTERN_SUPERSEDE_QUEUED", true);
    let log_max_bytes = env.parse_in(
        "LECTERN_LOG_MAX_BYTES",
        4 * 1024 * 1024,
        1024..=1024 * 1024 * 1024,
        "a size in bytes, 1024 to 1073741824",
    );
    let checkout_max_bytes = env.parse_in(
        "LECTERN_CHECKOUT_MAX_BYTES",
        100 * 1024 * 1024,
        1024..=64 * 1024 * 1024 * 1024,
        "a size in bytes",
    );
    let checkout_max_files = env.parse_in(
        "LECTERN_CHECKOUT_MAX_FILES",
        20_000,
        1..=10_000_000,
        "a number of files",
    );
    let checkout_timeout = env.parse_in(
        "LECTERN_CHECKOUT_TIMEOUT_SECONDS",
        120,
        1..=3600,
        "a number of seconds, 1 to 3600",
    );
    let workspace_mb = env.parse_in(
        "LECTERN_WORKSPACE_MB",
        512,
        16..=1024 * 1024,
        "a size in MB, at least 16",
    );
    let pids_limit = env.parse_in(
        "LECTERN_BUILD_PIDS_LIMIT",
        256,
        16..=100_000,
        "a number of processes, at least 16",
    );
    let work_dir = env
        .get("LECTERN_WORK_DIR")
        .map_or_else(|| std::env::temp_dir().join("lectern"), PathBuf::from);
    let keep_images = env.bool("LECTERN_KEEP_IMAGES", false);
    let lease = env.parse_in(
        "LECTERN_LEASE_SECONDS",
        30,
        5..=3600,
        "a number of seconds, 5 to 3600",
    );
    let ttl_seconds = env.parse_in(
        "LECTERN_K8S_TTL_SECONDS",
        3600,
        0..=7 * 86_400,
        "a number of seconds, 0 to 604800",
    );
    let registry_keep_hours = env.parse_in(
        "LECTERN_REGISTRY_KEEP_HOURS",
        0,
        0..=24 * 366,
        "a number of hours, 0 to 8784",
    );
    let unschedulable = env.parse_in(
        "LECTERN_K8S_UNSCHEDULABLE_SECONDS",
        120,
        0..=86_400,
        "a number of seconds, 0 to 86400",
    );
    let kubernetes = KubernetesConfig {
        namespace: env
            .get("LECTERN_K8S_NAMESPACE")
            .unwrap_or_else(|| "lectern-builds".into()),
        git_image: env
            .get("LECTERN_K8S_GIT_IMAGE")
            .unwrap_or_else(|| "alpine/git:2.47.2".into()),
        runtime_class: env
            .get("LECTERN_K8S_RUNTIME_CLASS")
            .filter(|c| !c.trim().is_empty()),
        ttl_seconds: ttl_seconds?,
        unschedulable: Duration::from_secs(unschedulable?),
        registry: env.get("LECTERN_REGISTRY").filter(|r| !r.trim().is_empty()),
        registry_username: env.get("LECTERN_REGISTRY_USERNAME"),
        registry_password: env.get("LECTERN_REGISTRY_PASSWORD").map(Secret),
        pull_secret: env
            .get("LECTERN_K8S_PULL_SECRET")
            .filter(|s| !s.trim().is_empty()),
        registry_insecure: env.bool("LECTERN_REGISTRY_INSECURE", false),
        registry_keep: Duration::from_secs(3600 * registry_keep_hours?),
    };
    Some(BuildConfig {
        executor: executor?,
        docker_host: env.get("DOCKER_HOST"),
        concurrency: concurrency?,
        per_student: per_student?,
        supersede_queued,
        log_max_bytes: log_max_bytes?,
        checkout_max_bytes: checkout_max_bytes?,
        checkout_max_files: checkout_max_files?,
        checkout_timeout: Duration::from_secs(checkout_timeout?),
        workspace_mb: workspace_mb?,
        pids_limit: pids_limit?,
        work_dir,
        keep_images,
        lease: Duration::from_secs(lease?),
        kubernetes,
    })
}

/// Collects values and problems while reading variables, so one start reports them all.
struct Env<F> {
    get: F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn new(get: F) -> Self {
        Self {
            get,
            problems: Vec::new(),
        }
    }

    /// A variable's value; an empty value counts as unset.
    fn get(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn problem<T>(&mut self, message: impl Into<String>) -> Option<T> {
        self.problems.push(message.into());
        None
    }

    fn database_url(&mut self) -> Option<Secret> {
        match self.get("DATABASE_URL") {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Some(Secret(url))
            }
            Some(_) => self.problem("DATABASE_URL must be a postgres:// or postgresql:// URL"),
            None => self.problem(
                "DATABASE_URL is required, e.g. postgres://lectern@127.0.0.1:5432/lectern (scripts/demo starts a local cluster and sets it)",
            ),
        }
    }

    fn parse<T: std::str::FromStr>(
        &mut self,
        name: &str,
        default: Option<T>,
        expected: &str,
    ) -> Option<T> {
        match self.get(name) {
            None => default,
            Some(raw) => match raw.parse() {
                Ok(value) => Some(value),
                Err(_) => self.problem(format!("{name} must be {expected}, got `{raw}`")),
            },
        }
    }

    /// Like `parse`, and within `range`; one problem whichever way the value is wrong.
    fn parse_in<T: std::str::FromStr + PartialOrd>(
        &mut self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        expected: &str,
    ) -> Option<T> {
        let raw = self.get(name);
        match raw.as_deref().map(str::parse::<T>) {
            None => Some(default),
            Some(Ok(value)) if range.contains(&value) => Some(value),
            _ => self.problem(format!(
                "{name} must be {expected}, got `{}`",
                raw.unwrap_or_default()
            )),
        }
    }

    fn bool(&mut self, name: &str, default: bool) -> bool {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => default,
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                self.problems
                    .push(format!("{name} must be true or false, got `{other}`"));
                default
            }
        }
    }

    fn url(&mut self, name: &str, default: Option<&str>) -> Option<Url> {
        let raw = self.get(name).or_else(|| default.map(str::to_owned))?;
        match Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            _ => self.problem(format!(
                "{name} must be an http(s) URL such as https://example.org, got `{raw}`"
            )),
        }
    }

    fn finish<T>(mut self, value: Option<T>) -> Result<T, ConfigError> {
        match value {
            Some(value) if self.problems.is_empty() => Ok(value),
            _ if self.problems.is_empty() => {
                self.problems.push("the configuration is incomplete".into());
                Err(ConfigError(self.problems))
            }
            _ => Err(ConfigError(self.problems)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const MINIMAL: [(&str, &str); 2] = [
        ("DATABASE_URL", "postgres://u@127.0.0.1/db"),
        ("LECTERN_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
    ];

    #[test]
    fn minimal_environment_uses_documented_defaults() {
        let config = config(&MINIMAL).expect("valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
        assert!(!config.dev_login && !config.dev_mode && !config.secure_cookies());
        assert_eq!(config.github_api_url.as_str(), "https://api.github.com/");
        assert_eq!(config.session_ttl, Duration::from_secs(336 * 3600));
    }

    #[test]
    fn every_bad_variable_is_named() {
        let err = config(&[
            ("DATABASE_URL", "mysql://x"),
            ("LECTERN_LISTEN", "eight-thousand"),
            ("LECTERN_SECRET_KEY", "short"),
            ("LECTERN_DEV_LOGIN", "maybe"),
            ("GITHUB_API_URL", "not a url"),
        ])
        .expect_err("invalid");
        let text = err.to_string();
        for name in [
            "DATABASE_URL",
            "LECTERN_LISTEN",
            "LECTERN_SECRET_KEY",
            "LECTERN_DEV_LOGIN",
            "GITHUB_API_URL",
        ] {
            assert!(text.contains(name), "{name} missing from: {text}");
        }
        assert_eq!(err.0.len(), 5, "{text}");
    }

    #[test]
    fn a_bad_number_is_one_problem_whether_unparsable_or_out_of_range() {
        for bad in ["lots", "0", "5000"] {
            let mut vars = MINIMAL.to_vec();
            vars.push(("LECTERN_DB_POOL_SIZE", bad));
            let err = config(&vars).expect_err(bad);
            assert_eq!(err.0.len(), 1, "{bad}: {err}");
            assert!(
                err.0[0].contains("LECTERN_DB_POOL_SIZE must be a number of connections"),
                "{err}"
            );
        }
    }

    #[test]
    fn missing_required_variables_say_how_to_fix_them() {
        let text = config(&[]).expect_err("invalid").to_string();
        assert!(text.contains("DATABASE_URL is required"), "{text}");
        assert!(text.contains("openssl rand"), "{text}");
    }

    #[test]
    fn secrets_never_print() {
        let config = config(&MINIMAL).expect("valid");
        let debug = format!("{config:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(!debug.contains("postgres://u@"), "{debug}");
    }

    #[test]
    fn https_public_url_makes_cookies_secure_and_admins_are_case_insensitive() {
        let mut vars = MINIMAL.to_vec();
        vars.push(("LECTERN_PUBLIC_URL", "https://ci.example.edu"));
        vars.push(("LECTERN_ADMINS", "Ada, grace ,"));
        let config = config(&vars).expect("valid");
        assert!(config.secure_cookies());
        assert!(config.is_admin_login("ADA") && config.is_admin_login("grace"));
        assert!(!config.is_admin_login("alan"));
    }
}
