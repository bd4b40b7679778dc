//! Real git repositories for tests: a bare repository (what the GitHub stand-in serves and
//! Lectern fetches from) and a work tree that commits and pushes to it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// A bare repository with a work tree pushing to it, removed when dropped.
pub struct GitRepo {
    root: PathBuf,
    pub bare: PathBuf,
    work: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Octo Cat")
        .env("GIT_AUTHOR_EMAIL", "octocat@users.example.com")
        .env("GIT_COMMITTER_NAME", "Octo Cat")
        .env("GIT_COMMITTER_EMAIL", "octocat@users.example.com")
        .output()
        .context("could not run git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl GitRepo {
    pub fn new() -> anyhow::Result<Self> {
        let root = std::env::temp_dir().join(format!(
            "lectern-test-git-{}-{}",
            std::process::id(),
            super::rand_suffix()
        ));
        let bare = root.join("repo.git");
        let work = root.join("work");
        std::fs::create_dir_all(&root)?;
        git(&root, &["init", "-q", "--bare", "-b", "main", "repo.git"])?;
        git(&root, &["init", "-q", "-b", "main", "work"])?;
        git(
            &work,
            &["remote", "add", "origin", bare.to_str().unwrap_or_default()],
        )?;
        Ok(Self { root, bare, work })
    }

    /// Commits `files` (path, content) on `branch` and pushes; returns the commit's SHA.
    pub fn commit(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> anyhow::Result<String> {
        let exists = git(&self.work, &["rev-parse", "--verify", "-q", branch]).is_ok();
        if exists {
            git(&self.work, &["checkout", "-q", branch])?;
        } else {
            git(&self.work, &["checkout", "-q", "-B", branch])?;
        }
        for (path, content) in files {
            let file = self.work.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&file, content)?;
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

impl Drop for GitRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A Python exercise whose test passes (or fails, with `passing = false`).
pub fn python_exercise(passing: bool) -> Vec<(&'static str, &'static str)> {
    let greet = if passing {
        "def greet(name):\n    return f\"Hello, {name}!\"\n"
    } else {
        "def greet(name):\n    return \"Hi\"\n"
    };
    vec![
        ("greet.py", greet),
        (
            "test_greet.py",
            "import unittest\nfrom greet import greet\n\nclass GreetTest(unittest.TestCase):\n    def test_greets_by_name(self):\n        self.assertEqual(greet(\"Ada\"), \"Hello, Ada!\")\n\nif __name__ == \"__main__\":\n    unittest.main()\n",
        ),
    ]
}
