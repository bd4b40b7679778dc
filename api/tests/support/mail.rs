//! A real SMTP server for tests: `scripts/smtp-sink` (Python's aiosmtpd) on a free port of
//! 127.0.0.1, keeping each message as a file with its parsed parts beside it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct MailSink {
    child: std::process::Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl MailSink {
    /// Starts the sink; with `hold`, it keeps each reply back that long after storing the
    /// message.
    pub fn start(hold: Option<Duration>) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Self::start_on(port, hold)
    }

    /// Starts the sink on `port` (one a test kept free, to start it late).
    pub fn start_on(port: u16, hold: Option<Duration>) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "lectern-mail-{}-{port}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink");
        let mut command = std::process::Command::new(script);
        command
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null());
        if let Some(hold) = hold {
            command.arg("--hold").arg(hold.as_secs_f64().to_string());
        }
        let child = command.spawn().map_err(|e| {
            anyhow::anyhow!(
                "cannot start scripts/smtp-sink (scripts/test installs python3-aiosmtpd): {e}"
            )
        })?;
        let sink = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "smtp-sink did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(sink)
    }

    /// `SMTP_URL` for the server under test.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, in order, as parsed.
    pub fn messages(&self) -> anyhow::Result<Vec<Value>> {
        let mut names: Vec<String> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".eml"))
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
            .iter()
            .map(|n| {
                let json = self.dir.join(n.replace(".eml", ".json"));
                Ok(serde_json::from_slice(&std::fs::read(json)?)?)
            })
            .collect()
    }

    /// Waits until at least `n` messages have arrived; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> anyhow::Result<Vec<Value>> {
        let deadline = Instant::now() + within;
        loop {
            let messages = self.messages()?;
            if messages.len() >= n {
                return Ok(messages);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} of {n} messages arrived: {messages:#?}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
