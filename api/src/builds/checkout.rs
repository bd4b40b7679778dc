//! Fetching exactly one commit: `git fetch --depth 1 <url> <sha>` into an empty repository,
//! with a time limit, a watch on the disk it uses while fetching, and a look at the commit's
//! tree (`git ls-tree`) before anything is written to the work tree, so a repository that
//! would explode on checkout (a git bomb) ends the build instead of filling the disk.
//!
//! A private repository's token goes to git through `GIT_CONFIG_*` environment variables
//! as an `http.extraHeader`: never in a URL, an argument, a log line or an error message.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

/// What a checkout may use.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_files: u64,
    pub timeout: Duration,
    /// Whether `file://` and local paths may be cloned (development mode only).
    pub allow_local: bool,
}

/// Why a checkout failed; the message is safe to show to the student.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("{0}")]
    Refused(String),
    #[error("fetching the commit took longer than {0} s")]
    TimedOut(u64),
    #[error("{0}")]
    TooLarge(String),
    #[error("git failed: {0}")]
    Git(String),
    #[error("could not prepare the checkout: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `url` may be fetched under `limits`.
pub fn check_url(url: &str, allow_local: bool) -> Result<(), CheckoutError> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let local = url.starts_with("file://") || url.starts_with('/');
    if local && allow_local {
        return Ok(());
    }
    if local {
        return Err(CheckoutError::Refused(
            "local repositories (file:// or a path) can only be built when the server runs in development mode".into(),
        ));
    }
    Err(CheckoutError::Refused(format!(
        "only https:// repositories can be built, not {}",
        url.split(':').next().unwrap_or("this kind of URL")
    )))
}

/// A git command with a clean configuration: no prompts, no system or user config, only
/// the protocols allowed, and the token (when given) as an HTTP header.
fn git(dir: &Path, token: Option<&str>, allow_local: bool) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env(
            "GIT_ALLOW_PROTOCOL",
            if allow_local { "https:file" } else { "https" },
        )
        .env("LANG", "C")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let mut config = vec![("protocol.file.allow", "always".to_owned())];
    if let Some(token) = token {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        config.push(("http.extraHeader", format!("Authorization: Basic {basic}")));
    }
    cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
    for (i, (key, value)) in config.into_iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), key);
        cmd.env(format!("GIT_CONFIG_VALUE_{i}"), value);
    }
    cmd
}

/// A git command without credentials, with `args`.
fn git_with(dir: &Path, limits: &Limits, args: &[&str]) -> Command {
    let mut cmd = git(dir, None, limits.allow_local);
    cmd.args(args);
    cmd
}

/// Runs a git command to its end, returning its stderr as the error when it fails.
async fn run(mut cmd: Command, what: &str) -> Result<(), CheckoutError> {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        Err(CheckoutError::Git(format!("{what}: {last}")))
    }
}

/// Fetches commit `sha` of `url` into `dest/` (created; must not exist). Returns the
/// number of files and bytes checked out.
pub async fn fetch(
    url: &str,
    sha: &str,
    token: Option<&str>,
    dest: &Path,
    limits: &Limits,
) -> Result<(u64, u64), CheckoutError> {
    check_url(url, limits.allow_local)?;
    let work = async {
        tokio::fs::create_dir_all(dest).await?;
        run(git_with(dest, limits, &["init", "-q"]), "git init").await?;
        fetch_watched(dest, url, sha, token, limits).await?;
        let (files, bytes) = measure_tree(dest, limits).await?;
        let checkout = [
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "-q",
            "--detach",
            "FETCH_HEAD",
        ];
        run(git_with(dest, limits, &checkout), "git checkout").await?;
        tokio::fs::remove_dir_all(dest.join(".git")).await?;
        Ok::<_, CheckoutError>((files, bytes))
    };
    match tokio::time::timeout(limits.timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(CheckoutError::TimedOut(limits.timeout.as_secs())),
    }
}

/// `git fetch --depth 1`, killed if the repository's objects outgrow the limit meanwhile.
async fn fetch_watched(
    dest: &Path,
    url: &str,
    sha: &str,
    token: Option<&str>,
    limits: &Limits,
) -> Result<(), CheckoutError> {
    let mut cmd = git(dest, token, limits.allow_local);
    cmd.args([
        "fetch",
        "-q",
        "--no-tags",
        "--depth",
        "1",
        "--no-recurse-submodules",
        url,
        sha,
    ]);
    let fetch = run(cmd, "git fetch");
    tokio::pin!(fetch);
    let objects: PathBuf = dest.join(".git");
    let budget = limits.max_bytes.saturating_mul(2);
    loop {
        tokio::select! {
            result = &mut fetch => return result,
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if dir_size(&objects).await > budget {
                    return Err(CheckoutError::TooLarge(format!(
                        "the repository's history at this commit is larger than {} MB",
                        budget / (1024 * 1024)
                    )));
                }
            }
        }
    }
}

/// Counts the files and bytes the commit would check out, stopping early past the limits.
async fn measure_tree(dest: &Path, limits: &Limits) -> Result<(u64, u64), CheckoutError> {
    let mut child = git_with(
        dest,
        limits,
        &["ls-tree", "-r", "-l", "--full-tree", "FETCH_HEAD"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CheckoutError::Git("git ls-tree gave no output".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut files, mut bytes) = (0u64, 0u64);
    while let Some(line) = lines.next_line().await? {
        // "<mode> <type> <object> <size>\t<path>"; size is "-" for submodules.
        let size = line
            .split('\t')
            .next()
            .and_then(|meta| meta.split_whitespace().nth(3))
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        files += 1;
        bytes += size;
        if files > limits.max_files {
            let _ = child.kill().await;
            return Err(CheckoutError::TooLarge(format!(
                "the commit has more than {} files",
                limits.max_files
            )));
        }
        if bytes > limits.max_bytes {
            let _ = child.kill().await;
            return Err(CheckoutError::TooLarge(format!(
                "the commit's files add up to more than {} MB",
                limits.max_bytes / (1024 * 1024)
            )));
        }
    }
    let status = child.wait().await?;
    if !status.success() {
        return Err(CheckoutError::Git(
            "git ls-tree could not read the commit".into(),
        ));
    }
    Ok((files, bytes))
}

/// Bytes used under `dir` (best effort; unreadable entries count as empty).
pub async fn dir_size(dir: &Path) -> u64 {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut total = 0;
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                match entry.metadata() {
                    Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                    Ok(meta) => total += meta.len(),
                    Err(_) => {}
                }
            }
        }
        total
    })
    .await
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_travels_only_as_a_header_in_gits_environment() {
        let token = "gho_supersecret123";
        let cmd = git(Path::new("/tmp"), Some(token), false);
        let std = cmd.as_std();
        let args: Vec<String> = std
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(!args.iter().any(|a| a.contains(token)));
        let envs: Vec<(String, String)> = std
            .get_envs()
            .filter_map(|(k, v)| {
                Some((
                    k.to_string_lossy().into_owned(),
                    v?.to_string_lossy().into_owned(),
                ))
            })
            .collect();
        let header =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        assert!(envs.contains(&("GIT_CONFIG_KEY_1".into(), "http.extraHeader".into())));
        assert!(envs.contains(&(
            "GIT_CONFIG_VALUE_1".into(),
            format!("Authorization: Basic {header}")
        )));
        assert!(
            !envs.iter().any(|(_, v)| v.contains(token)),
            "the raw token is nowhere"
        );
        assert!(envs.contains(&("GIT_ALLOW_PROTOCOL".into(), "https".into())));
        assert!(envs.contains(&("GIT_TERMINAL_PROMPT".into(), "0".into())));
    }

    #[test]
    fn only_https_unless_local_is_allowed() {
        assert!(check_url("https://github.com/a/b.git", false).is_ok());
        assert!(check_url("file:///srv/repo.git", false).is_err());
        assert!(check_url("/srv/repo.git", false).is_err());
        assert!(check_url("file:///srv/repo.git", true).is_ok());
        assert!(check_url("ssh://git@github.com/a/b", true).is_err());
        assert!(check_url("http://github.com/a/b", true).is_err());
        assert!(check_url("ext::sh -c touch% /tmp/pwned", true).is_err());
    }
}
