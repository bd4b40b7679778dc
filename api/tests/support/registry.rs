//! A real image registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry) on 127.0.0.1, at the port the scripts tell Podman to reach over plain HTTP.

use std::time::Duration;

/// A registry on 127.0.0.1 (the port the scripts mark insecure for Podman), stopped and
/// emptied when dropped. One at a time: the port is fixed.
pub struct LocalRegistry {
    child: std::process::Child,
    dir: std::path::PathBuf,
    pub address: String,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

static TURN: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

impl LocalRegistry {
    pub async fn start() -> anyhow::Result<Self> {
        let turn = TURN.clone().lock_owned().await;
        let port = std::env::var("LECTERN_TEST_REGISTRY_PORT").unwrap_or_else(|_| "50505".into());
        let address = format!("127.0.0.1:{port}");
        let dir = std::env::temp_dir().join(format!("lectern-registry-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
                dir.join("data").display()
            ),
        )?;
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start docker-registry (scripts/test installs it): {e}")
            })?;
        let registry = Self {
            child,
            dir,
            address,
            _turn: turn,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.address).is_ok() {
                return Ok(registry);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("the registry did not listen on {}", registry.address)
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
