//! `lectern admin config`: the configuration as the server reads it from the environment,
//! defaults filled in, with every secret masked.

use crate::config::{Config, CourseCreation, ExecutorChoice, LogFormat, Secret};

/// Each variable and its value as the server sees it.
pub fn describe(config: &Config) -> Vec<(&'static str, String)> {
    let b = &config.builds;
    let k = &b.kubernetes;
    let n = &config.notify;
    let on = |v: bool| if v { "true" } else { "false" }.to_owned();
    let opt = |v: Option<&str>| v.map_or_else(|| "(not set)".to_owned(), str::to_owned);
    let secs = |d: std::time::Duration| format!("{}s", d.as_secs());
    vec![
        ("DATABASE_URL", url_masked(config.database_url.expose())),
        ("LECTERN_DB_POOL_SIZE", config.db_pool_size.to_string()),
        ("LECTERN_LISTEN", config.listen.to_string()),
        ("LECTERN_PUBLIC_URL", config.public_url.to_string()),
        ("LECTERN_SECRET_KEY", hidden(Some(&config.secret_key))),
        ("LECTERN_DEV_MODE", on(config.dev_mode)),
        ("LECTERN_DEV_LOGIN", on(config.dev_login)),
        ("LECTERN_WEB_DIR", config.web_dir.display().to_string()),
        (
            "LECTERN_ADMINS",
            if config.admins.is_empty() {
                "(none)".to_owned()
            } else {
                config.admins.iter().cloned().collect::<Vec<_>>().join(",")
            },
        ),
        (
            "LECTERN_COURSE_CREATION",
            match config.course_creation {
                CourseCreation::Anyone => "anyone",
                CourseCreation::Admins => "admins",
            }
            .into(),
        ),
        (
            "LECTERN_SESSION_TTL_HOURS",
            (config.session_ttl.as_secs() / 3600).to_string(),
        ),
        (
            "LECTERN_LOG_FORMAT",
            match config.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }
            .into(),
        ),
        ("LECTERN_LOG", config.log_filter.clone()),
        (
            "LECTERN_WEBHOOK_MAX_BYTES",
            config.webhook_max_bytes.to_string(),
        ),
        (
            "LECTERN_JOB_CONCURRENCY",
            config.job_concurrency.to_string(),
        ),
        ("LECTERN_RUN_JOBS", on(config.run_jobs)),
        (
            "LECTERN_JOB_RETRY_BASE_MS",
            config.job_retry_base.as_millis().to_string(),
        ),
        ("LECTERN_JOB_LEASE_SECONDS", secs(config.job_lease)),
        (
            "LECTERN_SYNC_INTERVAL_MINUTES",
            (config.sync_interval.as_secs() / 60).to_string(),
        ),
        ("GITHUB_URL", config.github_url.to_string()),
        ("GITHUB_API_URL", config.github_api_url.to_string()),
        (
            "GITHUB_CLIENT_ID",
            opt(config.github_oauth.as_ref().map(|o| o.client_id.as_str())),
        ),
        (
            "GITHUB_CLIENT_SECRET",
            hidden(config.github_oauth.as_ref().map(|o| &o.client_secret)),
        ),
        (
            "LECTERN_GITHUB_STANDIN",
            opt(config.github_standin.map(|a| a.to_string()).as_deref()),
        ),
        (
            "LECTERN_EXECUTOR",
            match b.executor {
                ExecutorChoice::Docker => "docker",
                ExecutorChoice::Local => "local",
                ExecutorChoice::Kubernetes => "kubernetes",
                ExecutorChoice::None => "none",
            }
            .into(),
        ),
        ("DOCKER_HOST", opt(b.docker_host.as_deref())),
        ("LECTERN_BUILD_CONCURRENCY", b.concurrency.to_string()),
        (
            "LECTERN_BUILD_CONCURRENCY_PER_STUDENT",
            b.per_student.to_string(),
        ),
        ("LECTERN_SUPERSEDE_QUEUED", on(b.supersede_queued)),
        ("LECTERN_LOG_MAX_BYTES", b.log_max_bytes.to_string()),
        (
            "LECTERN_CHECKOUT_MAX_BYTES",
            b.checkout_max_bytes.to_string(),
        ),
        (
            "LECTERN_CHECKOUT_MAX_FILES",
            b.checkout_max_files.to_string(),
        ),
        ("LECTERN_CHECKOUT_TIMEOUT_SECONDS", secs(b.checkout_timeout)),
        ("LECTERN_WORKSPACE_MB", b.workspace_mb.to_string()),
        ("LECTERN_BUILD_PIDS_LIMIT", b.pids_limit.to_string()),
        ("LECTERN_WORK_DIR", b.work_dir.display().to_string()),
        ("LECTERN_KEEP_IMAGES", on(b.keep_images)),
        ("LECTERN_LEASE_SECONDS", secs(b.lease)),
        ("LECTERN_K8S_NAMESPACE", k.namespace.clone()),
        ("LECTERN_K8S_GIT_IMAGE", k.git_image.clone()),
        ("LECTERN_K8S_RUNTIME_CLASS", opt(k.runtime_class.as_deref())),
        ("LECTERN_K8S_TTL_SECONDS", k.ttl_seconds.to_string()),
        ("LECTERN_K8S_UNSCHEDULABLE_SECONDS", secs(k.unschedulable)),
        ("LECTERN_REGISTRY", opt(k.registry.as_deref())),
        (
            "LECTERN_REGISTRY_USERNAME",
            opt(k.registry_username.as_deref()),
        ),
        (
            "LECTERN_REGISTRY_PASSWORD",
            hidden(k.registry_password.as_ref()),
        ),
        ("LECTERN_K8S_PULL_SECRET", opt(k.pull_secret.as_deref())),
        ("LECTERN_REGISTRY_INSECURE", on(k.registry_insecure)),
        (
            "LECTERN_REGISTRY_KEEP_HOURS",
            (k.registry_keep.as_secs() / 3600).to_string(),
        ),
        (
            "SMTP_URL",
            n.smtp_url
                .as_ref()
                .map_or_else(|| "(not set)".to_owned(), |u| url_masked(u.expose())),
        ),
        ("LECTERN_MAIL_FROM", n.mail_from.clone()),
        ("LECTERN_SLACK_HOSTS", n.slack_hosts.join(",")),
        ("LECTERN_DIGEST_HOUR", n.digest_hour.to_string()),
        ("LECTERN_NOTIFY_MAX_ATTEMPTS", n.max_attempts.to_string()),
        (
            "LECTERN_METRICS_LISTEN",
            opt(config.metrics.listen.map(|a| a.to_string()).as_deref()),
        ),
        (
            "LECTERN_METRICS_TOKEN",
            hidden(config.metrics.token.as_ref()),
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            config
                .otlp_endpoint
                .as_ref()
                .map_or_else(|| "(not set)".to_owned(), |u| url_masked(u.as_str())),
        ),
    ]
}

/// The lines `lectern admin config` prints.
pub fn show(config: &Config) -> Vec<String> {
    describe(config)
        .into_iter()
        .map(|(name, value)| format!("{name:<38} {value}"))
        .collect()
}

/// A secret as shown: whether it is set, never its value.
fn hidden(secret: Option<&Secret>) -> String {
    match secret {
        Some(_) => "(set, hidden)".into(),
        None => "(not set)".into(),
    }
}

/// A URL with its password (and any query, which may carry one) masked.
pub fn url_masked(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("****"));
            }
            if url.query().is_some_and(|q| q.contains("password")) {
                url.set_query(Some("****"));
            }
            url.to_string()
        }
        // Not a URL (a key=value connection string): show only that it is set.
        Err(_) => "(set, not a URL; hidden)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            url_masked("postgres://lectern:s3cret@db.example.edu:5432/lectern"),
            "postgres://lectern:****@db.example.edu:5432/lectern"
        );
        assert_eq!(
            url_masked("smtps://mailer:hunter2@mail.example.edu:465"),
            "smtps://mailer:****@mail.example.edu:465"
        );
        assert_eq!(
            url_masked("postgres:///lectern?host=/run/postgresql&password=x"),
            "postgres:///lectern?****"
        );
        assert_eq!(url_masked("host=db password=x"), "(set, not a URL; hidden)");
        assert_eq!(
            url_masked("postgres://postgres@127.0.0.1/lectern"),
            "postgres://postgres@127.0.0.1/lectern"
        );
    }
}
