//! `lectern serve` as a separate process on a test database, for what needs a real process
//! (a kill -9, a second replica, the server's own memory).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `lectern` command on `database_url`, with the test secret key and nothing else of
/// this process's environment but `PATH`.
pub fn lectern(database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lectern"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env(
            "LECTERN_SECRET_KEY",
            "test-secret-key-test-secret-key-0123456789",
        );
    cmd
}

/// A running `lectern serve`; killed (SIGKILL) when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts `lectern serve` on `database_url` with `env` on top of the test defaults
    /// (quiet log, no web client), and waits until it answers `/healthz`.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_logging(database_url, env, None).await
    }

    /// [`ServerProcess::start`], with its log lines (stderr) written to `log` when given.
    pub async fn start_logging(
        database_url: &str,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut cmd = lectern(database_url);
        cmd.arg("serve")
            .env("LECTERN_LISTEN", format!("127.0.0.1:{port}"))
            .env("LECTERN_WEB_DIR", "/nonexistent")
            .env("LECTERN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match log {
            Some(path) => {
                cmd.stderr(Stdio::from(std::fs::File::create(path)?));
            }
            None => super::logs::capture_process(&mut cmd),
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        let server = Self {
            child: cmd.spawn()?,
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if reqwest::get(format!("{}/healthz", server.base))
                .await
                .is_ok()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("lectern serve did not answer on {}", server.base)
    }

    /// Kills it outright (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The environment of a server that runs builds as local processes (development mode).
pub const LOCAL_BUILDS: &[(&str, &str)] = &[
    ("LECTERN_DEV_MODE", "true"),
    ("LECTERN_EXECUTOR", "local"),
    ("LECTERN_ALLOW_LOCAL_EXECUTOR", "true"),
];
