//! Git repositories for the stand-in to serve: a bare repository with a work tree beside it
//! that commits and pushes, as a student would. The demo and the tests make them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// A bare repository and a work tree pushing to it.
#[derive(Debug)]
pub struct LocalRepo {
    pub bare: PathBuf,
    work: PathBuf,
}

/// Runs git in `dir` with no system or user configuration and a fixed identity.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Lectern demo")
        .env("GIT_AUTHOR_EMAIL", "demo@lectern.invalid")
        .env("GIT_COMMITTER_NAME", "Lectern demo")
        .env("GIT_COMMITTER_EMAIL", "demo@lectern.invalid")
        .output()
        .context("could not run git (install it: apt-get install git)")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl LocalRepo {
    /// Creates the bare repository `bare` (named `….git`) and its work tree beside it.
    pub fn create(bare: &Path) -> anyhow::Result<Self> {
        let parent = bare
            .parent()
            .context("the repository's path has a parent")?;
        let name = bare
            .file_name()
            .and_then(|n| n.to_str())
            .context("the repository's path has a name")?;
        std::fs::create_dir_all(parent)?;
        let work = parent.join(format!("{}-work", name.trim_end_matches(".git")));
        git(parent, &["init", "-q", "--bare", "-b", "main", name])?;
        git(
            parent,
            &["init", "-q", "-b", "main", &work.to_string_lossy()],
        )?;
        git(&work, &["remote", "add", "origin", &bare.to_string_lossy()])?;
        Ok(Self {
            bare: bare.to_owned(),
            work,
        })
    }

    /// Commits `files` (path, content) on `branch` — made from the current commit when new —
    /// and pushes it; returns the commit's SHA.
    pub fn commit(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> anyhow::Result<String> {
        if git(&self.work, &["rev-parse", "--verify", "-q", branch]).is_ok() {
            git(&self.work, &["checkout", "-q", branch])?;
        } else {
            git(&self.work, &["checkout", "-q", "-b", branch])?;
        }
        for (path, content) in files {
            let file = self.work.join(path);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(file, content)?;
        }
        git(&self.work, &["add", "-A"])?;
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        )?;
        git(&self.work, &["push", "-q", "origin", branch])?;
        git(&self.work, &["rev-parse", "HEAD"])
    }
}
