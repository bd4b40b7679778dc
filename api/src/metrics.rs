//! Prometheus metrics: what the process counts as it works, and `GET /metrics`, which adds
//! what the database says (queue, running builds) at the moment of the scrape.
//!
//! Every name starts with `lectern_`; counters end in `_total`, durations are in seconds.
//! Label values come from small fixed sets (event kinds, statuses, executors, route
//! templates, endpoint templates) — never a person, repository or build.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::app::App;
use crate::db::enums::{ExecutorKind, NotificationChannel, NotificationStatus};

/// Buckets for requests and queries: 5 ms to 10 s.
const REQUEST_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets for builds and queue waits: 1 s to 2 h.
const BUILD_BUCKETS: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
];
/// GraphQL operation names kept as label values; later new names count as `other`.
const MAX_OPERATIONS: usize = 64;

/// The process's metrics. One set per process, as Prometheus expects of a scrape target.
pub struct Metrics {
    registry: Registry,
    pub webhook_deliveries: IntCounterVec,
    pub http_requests: HistogramVec,
    pub graphql_operations: HistogramVec,
    operations_seen: Mutex<HashSet<String>>,
    builds_started: IntCounterVec,
    builds_finished: IntCounterVec,
    build_duration: HistogramVec,
    build_queue_wait: HistogramVec,
    pub log_bytes: IntCounter,
    pub log_truncations: IntCounter,
    pub live_subscriptions: IntGauge,
    pub websocket_connections: IntGauge,
    notifications: IntCounterVec,
    github_requests: IntCounterVec,
    github_rate_limit_remaining: IntGauge,
    // Read from the database and the pool at each scrape.
    queue_depth: IntGauge,
    queue_oldest_age: Gauge,
    builds_running: IntGaugeVec,
    db_pool: IntGaugeVec,
    db_pool_max: IntGauge,
}

/// The process's metrics, registered on first use.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// `metric`, registered with `registry`.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(
        registry,
        HistogramVec::new(opts, labels).expect("valid metric"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(registry, IntGauge::new(name, help).expect("valid metric"))
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn single_counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(registry, IntCounter::new(name, help).expect("valid metric"))
}

impl Metrics {
    fn new() -> Self {
        let r = Registry::new();
        let queue_oldest_age = registered(
            &r,
            Gauge::new(
                "lectern_queue_oldest_age_seconds",
                "How long the oldest queued build has waited (0 when none waits)",
            )
            .expect("valid metric"),
        );
        Self {
            webhook_deliveries: counter(
                &r,
                "lectern_webhook_deliveries_total",
                "Webhook deliveries received, by event and what became of them",
                &["event", "outcome"],
            ),
            http_requests: histogram(
                &r,
                "lectern_http_request_duration_seconds",
                "HTTP requests answered, by route template, method and status",
                &["route", "method", "status"],
                REQUEST_BUCKETS,
            ),
            graphql_operations: histogram(
                &r,
                "lectern_graphql_operation_duration_seconds",
                "GraphQL operations executed, by operation name and outcome (ok or error)",
                &["operation", "outcome"],
                REQUEST_BUCKETS,
            ),
            operations_seen: Mutex::default(),
            builds_started: counter(
                &r,
                "lectern_builds_started_total",
                "Builds this process began running, by executor",
                &["executor"],
            ),
            builds_finished: counter(
                &r,
                "lectern_builds_finished_total",
                "Builds that ended after running, by executor and final status (counted where they ended: their worker, or the recovery of a dead server's builds)",
                &["executor", "status"],
            ),
            build_duration: histogram(
                &r,
                "lectern_build_duration_seconds",
                "Time from a build's start to its end, by executor and final status",
                &["executor", "status"],
                BUILD_BUCKETS,
            ),
            build_queue_wait: histogram(
                &r,
                "lectern_build_queue_wait_seconds",
                "Time builds waited in the queue before starting, by executor",
                &["executor"],
                BUILD_BUCKETS,
            ),
            log_bytes: single_counter(
                &r,
                "lectern_build_log_bytes_total",
                "Bytes of build output stored",
            ),
            log_truncations: single_counter(
                &r,
                "lectern_build_log_truncations_total",
                "Build logs cut at LECTERN_BUILD_LOG_MAX_BYTES",
            ),
            live_subscriptions: gauge(
                &r,
                "lectern_live_subscriptions",
                "GraphQL subscriptions running (live logs and build changes)",
            ),
            websocket_connections: gauge(
                &r,
                "lectern_websocket_connections",
                "Open graphql-transport-ws connections",
            ),
            notifications: counter(
                &r,
                "lectern_notifications_total",
                "Notification delivery attempts, by channel and outcome",
                &["channel", "outcome"],
            ),
            github_requests: counter(
                &r,
                "lectern_github_api_requests_total",
                "Calls to GitHub's REST API, by endpoint template and status (or `error`)",
                &["endpoint", "status"],
            ),
            github_rate_limit_remaining: gauge(
                &r,
                "lectern_github_rate_limit_remaining",
                "X-RateLimit-Remaining of GitHub's last answer (-1 before any)",
            ),
            queue_depth: gauge(&r, "lectern_queue_depth", "Builds waiting in the queue"),
            queue_oldest_age,
            builds_running: gauges(
                &r,
                "lectern_builds_running",
                "Builds running now (installation-wide), by executor",
                &["executor"],
            ),
            db_pool: gauges(
                &r,
                "lectern_db_pool_connections",
                "This process's database connections, by state (in_use or idle)",
                &["state"],
            ),
            db_pool_max: gauge(
                &r,
                "lectern_db_pool_max_connections",
                "The most connections the pool opens (LECTERN_DB_POOL_SIZE)",
            ),
            registry: r,
        }
        .initialised()
    }

    /// Zero series for the label values known in advance, so a dashboard's rates start at
    /// zero rather than at the first event.
    fn initialised(self) -> Self {
        self.github_rate_limit_remaining.set(-1);
        for executor in ExecutorKind::ALL {
            self.builds_started.with_label_values(&[executor.as_str()]);
            self.builds_running.with_label_values(&[executor.as_str()]);
        }
        for state in ["in_use", "idle"] {
            self.db_pool.with_label_values(&[state]);
        }
        self
    }

    /// The label for a GraphQL operation: its name while few names have been seen, `other`
    /// once many have (names are chosen by clients), `anonymous` without one.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| is_operation_name(n)) else {
            return "anonymous".into();
        };
        let mut seen = self
            .operations_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if seen.contains(name) || seen.len() < MAX_OPERATIONS && seen.insert(name.to_owned()) {
            name.to_owned()
        } else {
            "other".into()
        }
    }

    /// Counts one call to GitHub: its endpoint template and status, and the rate limit
    /// GitHub says is left.
    pub fn github_answered(&self, endpoint: &str, status: Option<u16>, remaining: Option<i64>) {
        let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.github_requests
            .with_label_values(&[endpoint, &status])
            .inc();
        if let Some(remaining) = remaining {
            self.github_rate_limit_remaining.set(remaining);
        }
    }

    /// Counts a build that began running, with how long it waited.
    pub fn build_started(&self, executor: &str, waited: Duration) {
        self.builds_started.with_label_values(&[executor]).inc();
        self.build_queue_wait
            .with_label_values(&[executor])
            .observe(waited.as_secs_f64());
    }

    /// Counts a build that ended, with how long it ran.
    fn build_finished(&self, executor: &str, status: &str, ran: Duration) {
        self.builds_finished
            .with_label_values(&[executor, status])
            .inc();
        self.build_duration
            .with_label_values(&[executor, status])
            .observe(ran.as_secs_f64());
    }

    /// Counts a build that ended after running (by its worker, or by recovery when its
    /// server died), with how long it ran.
    pub fn build_ended(&self, build: &crate::db::models::Build) {
        if let (Some(executor), Some(started), Some(finished)) =
            (build.executor, build.started_at, build.finished_at)
        {
            self.build_finished(
                executor.as_str(),
                build.status.as_str(),
                seconds(finished - started),
            );
        }
    }

    /// Counts a notification that was settled (`Pending` again: to be retried).
    pub fn notification_settled(&self, channel: NotificationChannel, status: NotificationStatus) {
        let outcome = match status {
            NotificationStatus::Sent => "sent",
            NotificationStatus::Unconfirmed => "unconfirmed",
            NotificationStatus::Pending | NotificationStatus::Sending => "retry",
            NotificationStatus::Failed => "failed",
        };
        self.notifications
            .with_label_values(&[channel.as_str(), outcome])
            .inc();
    }

    /// The text exposition of every metric, after reading the database's and the pool's.
    pub async fn render(&self, app: &App) -> String {
        let status = app.pool.status();
        let in_use = status.size.saturating_sub(status.available);
        self.db_pool
            .with_label_values(&["in_use"])
            .set(i64::try_from(in_use).unwrap_or(i64::MAX));
        self.db_pool
            .with_label_values(&["idle"])
            .set(i64::try_from(status.available).unwrap_or(0));
        self.db_pool_max
            .set(i64::try_from(status.max_size).unwrap_or(i64::MAX));
        match self.read_queue(app).await {
            Ok(()) => {}
            // The rest is still worth having; the stale gauges say what they said last.
            Err(err) => tracing::warn!(error = %err, "metrics: could not read the build queue"),
        }
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "metrics: could not encode");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    async fn read_queue(&self, app: &App) -> Result<(), crate::error::AppError> {
        let mut conn = app.db().await?;
        let queue = crate::db::models::Build::queue_gauges(&mut conn).await?;
        self.queue_depth.set(queue.depth);
        let oldest_age = queue
            .oldest_queued_at
            .map_or(Duration::ZERO, |at| seconds(chrono::Utc::now() - at));
        self.queue_oldest_age.set(oldest_age.as_secs_f64());
        for executor in ExecutorKind::ALL {
            let running = queue
                .running
                .iter()
                .find(|(kind, _)| kind == executor)
                .map_or(0, |(_, n)| *n);
            self.builds_running
                .with_label_values(&[executor.as_str()])
                .set(running);
        }
        Ok(())
    }
}

/// Counts one more of `gauge` for as long as the guard lives.
pub struct Held(&'static IntGauge);

impl Held {
    pub fn new(gauge: &'static IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`) of reasonable length.
fn is_operation_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The name of a document's first operation (`query CourseBuilds(…) {`), for requests
/// that do not say `operationName`.
pub fn first_operation_name(document: &str) -> Option<&str> {
    let (keyword, rest) = leading_name(skip_ignored(document));
    if !matches!(keyword, "query" | "mutation" | "subscription") {
        return None;
    }
    let (name, _) = leading_name(skip_ignored(rest));
    is_operation_name(name).then_some(name)
}

/// `s` after GraphQL's ignored tokens: white space, commas and comments.
fn skip_ignored(mut s: &str) -> &str {
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == '\u{feff}');
        match s.strip_prefix('#') {
            Some(comment) => s = comment.split_once('\n').map_or("", |(_, after)| after),
            None => return s,
        }
    }
}

/// The name characters `s` starts with, and what follows them.
fn leading_name(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// The template of a GitHub API path, to label calls with: ids, names and shas become
/// placeholders (`/repos/{owner}/{repo}/statuses/{sha}`).
pub fn github_endpoint(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let shown = match (parts.first().copied(), i) {
            (_, 0) => part,
            (Some("repos"), 1) => "{owner}",
            (Some("repos"), 2) => "{repo}",
            (Some("repos"), 4) => match parts.get(3).copied() {
                Some("statuses" | "commits") => "{sha}",
                Some("branches") => "{branch}",
                _ if part.bytes().all(|b| b.is_ascii_digit()) => "{id}",
                _ => part,
            },
            (Some("repos"), 3 | 5) => part,
            (Some("user"), _) => part,
            _ if part.bytes().all(|b| b.is_ascii_digit()) => "{id}",
            _ => "{…}",
        };
        out.push(shown);
    }
    // Unknown shapes keep only their first segment: the set of labels stays small.
    if !matches!(parts.first().copied(), Some("repos" | "user")) {
        return format!("/{}", parts.first().copied().unwrap_or_default());
    }
    format!("/{}", out.join("/"))
}

/// GitHub's `X-RateLimit-Remaining`, when an answer carries it.
pub fn rate_limit_remaining(headers: &http::HeaderMap) -> Option<i64> {
    headers
        .get("x-ratelimit-remaining")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Seconds, as Prometheus histograms take them, from a duration in chrono's terms.
pub fn seconds(duration: chrono::TimeDelta) -> Duration {
    duration.to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn github_paths_become_templates() {
        assert_eq!(
            github_endpoint(
                "/repos/cs101/hw1-alan/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e"
            ),
            "/repos/{owner}/{repo}/statuses/{sha}"
        );
        assert_eq!(
            github_endpoint("/repos/cs101/hw1/hooks/12345/pings"),
            "/repos/{owner}/{repo}/hooks/{id}/pings"
        );
        assert_eq!(
            github_endpoint("/repos/cs101/hw1/branches/feature-x"),
            "/repos/{owner}/{repo}/branches/{branch}"
        );
        assert_eq!(
            github_endpoint("/repos/cs101/hw1/branches?per_page=100&page=2"),
            "/repos/{owner}/{repo}/branches"
        );
        assert_eq!(github_endpoint("/repos/cs101/hw1"), "/repos/{owner}/{repo}");
        assert_eq!(github_endpoint("/user/emails"), "/user/emails");
        assert_eq!(github_endpoint("/orgs/cs101/members/alan"), "/orgs");
    }

    #[test]
    fn operation_names_are_read_from_documents() {
        assert_eq!(
            first_operation_name("query CourseBuilds($slug: String!) { course { id } }"),
            Some("CourseBuilds")
        );
        assert_eq!(
            first_operation_name("\n  mutation Retry{ retryBuild(id: 1) { id } }"),
            Some("Retry")
        );
        assert_eq!(first_operation_name("{ me { login } }"), None);
        assert_eq!(first_operation_name("query { me { login } }"), None);
        assert_eq!(first_operation_name("query 1bad { me }"), None);
        assert_eq!(
            first_operation_name("# the course page\nquery Course{ course { id } }"),
            Some("Course")
        );
    }

    #[test]
    fn operation_labels_are_bounded() {
        let metrics = Metrics::new();
        assert_eq!(metrics.operation_label(None), "anonymous");
        assert_eq!(
            metrics.operation_label(Some("no spaces allowed")),
            "anonymous"
        );
        for i in 0..MAX_OPERATIONS {
            assert_eq!(
                metrics.operation_label(Some(&format!("Op{i}"))),
                format!("Op{i}")
            );
        }
        assert_eq!(metrics.operation_label(Some("OneTooMany")), "other");
        // Names seen before keep their label.
        assert_eq!(metrics.operation_label(Some("Op3")), "Op3");
    }

    #[test]
    fn the_grafana_dashboard_asks_only_for_metrics_and_labels_that_exist() {
        let metrics = Metrics::new();
        // One series of each family, so that every family and its labels are exposed.
        metrics
            .webhook_deliveries
            .with_label_values(&["push", "queued"])
            .inc();
        metrics
            .http_requests
            .with_label_values(&["/graphql", "POST", "200"])
            .observe(0.1);
        metrics
            .graphql_operations
            .with_label_values(&["Me", "ok"])
            .observe(0.1);
        metrics.build_started("docker", Duration::from_secs(1));
        metrics.build_finished("docker", "passed", Duration::from_secs(1));
        metrics
            .notifications
            .with_label_values(&["email", "sent"])
            .inc();
        metrics.github_answered("/user", Some(200), Some(10));
        let families: HashMap<String, HashSet<String>> = metrics
            .registry
            .gather()
            .iter()
            .map(|family| {
                let labels = family
                    .get_metric()
                    .iter()
                    .flat_map(|m| m.get_label().iter().map(|l| l.name().to_owned()))
                    .chain(["le".to_owned()])
                    .collect();
                (family.name().to_owned(), labels)
            })
            .collect();
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../k8s/grafana/lectern-dashboard.json"))
                .expect("the dashboard is JSON");
        let mut exprs = Vec::new();
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                exprs.push(target["expr"].as_str().expect("an expr").to_owned());
            }
        }
        assert!(exprs.len() >= 20, "{}", exprs.len());
        let name = regex::Regex::new(r"lectern_[a-z_]+").expect("regex");
        let by = regex::Regex::new(r"by \(([a-z_, ]+)\)").expect("regex");
        let matcher = regex::Regex::new(r"\{([a-z_]+)=").expect("regex");
        for expr in &exprs {
            let used: Vec<&str> = name.find_iter(expr).map(|m| m.as_str()).collect();
            assert!(!used.is_empty(), "{expr}");
            for metric in &used {
                let family = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|suffix| metric.strip_suffix(suffix))
                    .filter(|base| families.contains_key(*base))
                    .unwrap_or(metric);
                let labels = families
                    .get(family)
                    .unwrap_or_else(|| panic!("{metric} is not exposed ({expr})"));
                let asked = by
                    .captures_iter(expr)
                    .chain(matcher.captures_iter(expr))
                    .flat_map(|c| {
                        c[1].split(',')
                            .map(|l| l.trim().to_owned())
                            .collect::<Vec<_>>()
                    });
                for label in asked {
                    assert!(
                        labels.contains(&label),
                        "{metric} has no label {label} ({expr})"
                    );
                }
            }
        }
    }

    #[test]
    fn exposition_follows_the_conventions() {
        let metrics = Metrics::new();
        metrics
            .webhook_deliveries
            .with_label_values(&["push", "queued"])
            .inc();
        let text = {
            let mut out = Vec::new();
            TextEncoder::new()
                .encode(&metrics.registry.gather(), &mut out)
                .expect("encodes");
            String::from_utf8(out).expect("utf-8")
        };
        assert!(
            text.contains("lectern_webhook_deliveries_total{event=\"push\",outcome=\"queued\"} 1")
        );
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let mut parts = line.split_whitespace().skip(2);
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            assert!(name.starts_with("lectern_"), "{line}");
            match kind {
                "counter" => assert!(name.ends_with("_total"), "{line}"),
                "histogram" => assert!(name.ends_with("_seconds"), "{line}"),
                _ => assert!(!name.ends_with("_total"), "{line}"),
            }
        }
    }
}
