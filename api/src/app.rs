//! The state every handler shares: configuration and the database pool.

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::Cipher;
use crate::db::{self, DbConn, DbPool};
use crate::error::AppError;

/// Cheap to clone; shared by every request and background task.
#[derive(Clone)]
pub struct App(Arc<Inner>);

/// What [`App`] holds.
pub struct Inner {
    pub config: Config,
    pub pool: DbPool,
    /// Seals and opens secrets stored in the database.
    pub cipher: Cipher,
    /// For calls to other services (OAuth token exchange); never follows redirects.
    pub http: reqwest::Client,
    /// Live updates for subscribers of this process.
    pub hub: crate::live::Hub,
    /// Sends email, when `SMTP_URL` is set.
    pub mailer: Option<crate::notify::email::Smtp>,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Connects the pool (lazily: no connection is opened until one is needed).
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let pool = db::pool(config.database_url.expose(), config.db_pool_size)?;
        let cipher = Cipher::new(&config.secret_key);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(20))
            .user_agent(concat!("Lectern/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mailer = match &config.notify.smtp_url {
            Some(url) => Some(crate::notify::email::Smtp::new(
                url.expose(),
                &config.notify.mail_from,
            )?),
            None => None,
        };
        Ok(Self(Arc::new(Inner {
            config,
            pool,
            cipher,
            http,
            hub: crate::live::Hub::default(),
            mailer,
        })))
    }

    /// A connection from the pool.
    pub async fn db(&self) -> Result<DbConn, AppError> {
        Ok(self.pool.get().await?)
    }
}
