//! Real git repositories for tests: a bare repository (what the GitHub stand-in serves and
//! Lectern fetches from) and a work tree that commits and pushes to it.

use std::path::PathBuf;

use lectern::forge::github::standin::LocalRepo;

/// A bare repository with a work tree pushing to it, removed when dropped.
pub struct GitRepo {
    root: PathBuf,
    pub bare: PathBuf,
    repo: LocalRepo,
}

impl GitRepo {
    pub fn new() -> anyhow::Result<Self> {
        let root = std::env::temp_dir().join(format!(
            "lectern-test-git-{}-{}",
            std::process::id(),
            super::rand_suffix()
        ));
        let repo = LocalRepo::create(&root.join("repo.git"))?;
        Ok(Self {
            root,
            bare: repo.bare.clone(),
            repo,
        })
    }

    /// Commits `files` (path, content) on `branch` and pushes; returns the commit's SHA.
    pub fn commit(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> anyhow::Result<String> {
        self.repo.commit(branch, files, message)
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
