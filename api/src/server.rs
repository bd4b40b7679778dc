//! `lectern serve`: migrate, bind, serve until SIGINT/SIGTERM, with housekeeping alongside.

use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::App;
use crate::db::{self, models::Repository, models::Session, models::WebhookDelivery};

/// Options of `lectern serve`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeOptions {
    /// Skip applying pending migrations at start.
    pub no_migrate: bool,
}

/// Runs the server until a shutdown signal; in-flight requests finish first.
pub async fn serve(app: App, options: ServeOptions) -> anyhow::Result<()> {
    let config = &app.config;
    if config.dev_login {
        tracing::warn!(
            "!!! LECTERN_DEV_LOGIN is on: anyone who can reach this server can sign in as anyone. \
             Never enable it on a server students or the internet can reach. !!!"
        );
    }
    if config.dev_mode {
        tracing::warn!("LECTERN_DEV_MODE is on: GraphiQL is served at /graphql");
    }
    if let Some(addr) = config.github_standin {
        start_github_standin(addr, config.github_standin_dir.as_deref()).await?;
    }
    if !options.no_migrate {
        let applied = db::migrate(config.database_url.expose()).await?;
        if applied.is_empty() {
            tracing::info!("database schema is up to date");
        } else {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
    }
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "could not listen on {} (LECTERN_LISTEN); is another server using it?",
            config.listen
        )
    })?;
    let metrics = match config.metrics.listen {
        Some(addr) => Some(serve_metrics(&app, addr).await?),
        None => None,
    };
    tracing::info!(listen = %config.listen, public_url = %config.public_url, "Lectern is serving");
    let housekeeping = tokio::spawn(housekeeping(app.clone()));
    let jobs = crate::jobs::spawn(app.clone());
    let live = crate::live::spawn(app.clone());
    let builds = crate::builds::spawn(app.clone()).await?;
    let sync = tokio::spawn(sync_missed_pushes(app.clone()));
    let digests = tokio::spawn(crate::notify::digest::every_day(app.clone()));
    let router = crate::http::router(app);
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed");
    housekeeping.abort();
    jobs.abort();
    live.abort();
    sync.abort();
    digests.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if let Some(builds) = builds {
        // Running builds stop with the process; their leases run out and the next server
        // (or this one, restarted) recovers them.
        builds.abort();
    }
    tracing::info!("Lectern stopped");
    result
}

/// Serves `/metrics` alone on the private listener `LECTERN_METRICS_LISTEN`.
async fn serve_metrics(
    app: &App,
    addr: std::net::SocketAddr,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("could not listen on {addr} for metrics (LECTERN_METRICS_LISTEN); is another server using it?")
    })?;
    tracing::info!(listen = %addr, "serving Prometheus metrics at /metrics");
    let router = crate::http::metrics::private_router(app.clone());
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(error = %err, "the metrics listener failed");
        }
    }))
}

/// Serves the GitHub stand-in (demos and development) and says so loudly.
async fn start_github_standin(
    addr: std::net::SocketAddr,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("could not listen on {addr} for the GitHub stand-in (LECTERN_GITHUB_STANDIN)")
    })?;
    let standin = crate::forge::github::standin::Standin::open(&format!("http://{addr}"), dir)?;
    standin.serve(listener);
    tracing::warn!(
        address = %addr,
        "!!! GitHub is replaced by Lectern's local STAND-IN at http://{addr} (LECTERN_GITHUB_STANDIN): \
         sign-in, repositories and webhooks are simulated. Demos and development only. !!!"
    );
    Ok(())
}

/// How long refused webhook deliveries are kept for "Recent Deliveries".
const KEEP_REFUSED_DELIVERIES: chrono::TimeDelta = chrono::TimeDelta::days(14);

/// Periodic clean-up: expired sessions, old refused webhook deliveries.
async fn housekeeping(app: App) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let purged = async {
            let mut conn = app.db().await?;
            Ok::<_, crate::error::AppError>(Session::purge_expired(&mut conn).await?)
        }
        .await;
        match purged {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged expired sessions"),
            Err(err) => tracing::warn!(error = %err, "could not purge expired sessions"),
        }
        let refused = async {
            let mut conn = app.db().await?;
            let before = chrono::Utc::now() - KEEP_REFUSED_DELIVERIES;
            Ok::<_, crate::error::AppError>(
                WebhookDelivery::purge_rejected(&mut conn, before).await?,
            )
        }
        .await;
        match refused {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "purged old refused webhook deliveries"),
            Err(err) => tracing::warn!(error = %err, "could not purge refused webhook deliveries"),
        }
    }
}

/// Every `LECTERN_SYNC_INTERVAL_MINUTES`, checks every linked repository for pushes whose
/// webhook never arrived and queues them.
async fn sync_missed_pushes(app: App) {
    if app.config.sync_interval.is_zero() || app.config.github_oauth.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(app.config.sync_interval);
    tick.tick().await; // not at start: webhooks of the last minutes are still arriving
    loop {
        tick.tick().await;
        let repositories = match app.db().await {
            Ok(mut conn) => Repository::list_linked(&mut conn, None)
                .await
                .unwrap_or_default(),
            Err(_) => continue,
        };
        let mut queued = 0;
        for repository in &repositories {
            match crate::forge::github::sync::repository(&app, repository).await {
                Ok(heads) => queued += heads.len(),
                Err(err) => {
                    tracing::info!(repository = repository.id, error = %err, "could not sync a repository");
                }
            }
        }
        tracing::info!(
            repositories = repositories.len(),
            queued,
            "synced linked repositories with GitHub"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
