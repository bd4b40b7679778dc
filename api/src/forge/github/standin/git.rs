//! Repositories of the stand-in backed by bare git repositories on disk: their branches are
//! read with git, and when a branch moves the stand-in delivers a signed `push` webhook to
//! each of the repository's hooks, shaped like GitHub's.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::{RemoteRepo, Standin};
use crate::forge::github::webhook::sign;

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// The branches of the bare repository at `git_dir` with their heads.
pub async fn git_heads(git_dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let out = tokio::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args([
            "for-each-ref",
            "--format=%(refname:lstrip=2) %(objectname)",
            "refs/heads",
        ])
        .output()
        .await
        .context("could not run git (is it installed?)")?;
    anyhow::ensure!(
        out.status.success(),
        "git for-each-ref in {} failed: {}",
        git_dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (name, sha) = line.split_once(' ')?;
            Some((name.to_owned(), sha.to_owned()))
        })
        .collect())
}

/// Makes `repo`'s branches those of `heads`.
pub(super) fn set_branches(repo: &mut RemoteRepo, heads: &BTreeMap<String, String>) {
    repo.head = heads.get(&repo.default_branch).cloned();
    repo.other_branches = heads
        .iter()
        .filter(|(name, _)| **name != repo.default_branch)
        .map(|(name, sha)| (name.clone(), sha.clone()))
        .collect();
}

/// Watches the git-backed repositories and delivers their pushes, once a second.
pub(super) async fn watch(standin: Standin) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client builds");
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let repos: Vec<RemoteRepo> = standin
            .lock()
            .saved
            .repos
            .values()
            .filter(|r| r.git_dir.is_some())
            .cloned()
            .collect();
        for repo in repos {
            if let Err(err) = deliver_pushes(&standin, &http, &repo).await {
                tracing::warn!(repository = %repo.full_name, error = %err, "GitHub stand-in: could not read a pushed repository");
            }
        }
    }
}

/// Delivers a `push` for every branch of `repo` whose git head differs from what the
/// stand-in last saw, then records the new heads.
pub(super) async fn deliver_pushes(
    standin: &Standin,
    http: &reqwest::Client,
    repo: &RemoteRepo,
) -> anyhow::Result<()> {
    let Some(git_dir) = &repo.git_dir else {
        return Ok(());
    };
    let heads = git_heads(git_dir).await?;
    let known: BTreeMap<String, String> = repo.branches().into_iter().collect();
    if heads == known {
        return Ok(());
    }
    // Record first: a push is delivered once, as on GitHub, even when the receiver is down.
    standin.update(|saved| {
        if let Some(stored) = saved.repos.get_mut(&repo.full_name) {
            set_branches(stored, &heads);
        }
    });
    let mut names: Vec<&String> = heads.keys().chain(known.keys()).collect();
    names.sort();
    names.dedup();
    for branch in names {
        let before = known.get(branch).map_or(ZERO_SHA, String::as_str);
        let after = heads.get(branch).map_or(ZERO_SHA, String::as_str);
        if before == after {
            continue;
        }
        let head_commit = if after == ZERO_SHA {
            Value::Null
        } else {
            commit(git_dir, after).await?
        };
        let payload = push_payload(repo, branch, before, after, head_commit);
        deliver(http, repo, "push", &payload).await;
    }
    Ok(())
}

/// A commit as GitHub's push payload shows it.
async fn commit(git_dir: &Path, sha: &str) -> anyhow::Result<Value> {
    let out = tokio::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["log", "-1", "--format=%an%x00%ae%x00%cI%x00%B", sha])
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "git log {sha} failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.splitn(4, '\0');
    let (name, email, date, message) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default().trim_end(),
    );
    let person = json!({ "name": name, "email": email, "username": email.split('@').next() });
    Ok(json!({
        "id": sha, "tree_id": sha, "distinct": true, "message": message, "timestamp": date,
        "author": person, "committer": person, "added": [], "removed": [], "modified": [],
    }))
}

/// A `push` event body with the fields GitHub sends.
fn push_payload(
    repo: &RemoteRepo,
    branch: &str,
    before: &str,
    after: &str,
    head_commit: Value,
) -> Value {
    let (owner, name) = repo
        .full_name
        .split_once('/')
        .unwrap_or((&repo.full_name, ""));
    json!({
        "ref": format!("refs/heads/{branch}"),
        "before": before,
        "after": after,
        "created": before == ZERO_SHA,
        "deleted": after == ZERO_SHA,
        "forced": false,
        "base_ref": null,
        "compare": format!("https://github.com/{}/compare/{}...{}", repo.full_name, &before[..12], &after[..12]),
        "commits": if head_commit.is_null() { json!([]) } else { json!([head_commit.clone()]) },
        "head_commit": head_commit,
        "repository": {
            "id": repo.id, "name": name, "full_name": repo.full_name,
            "private": repo.git_dir.is_none(),
            "owner": { "login": owner, "name": owner },
            "default_branch": repo.default_branch, "master_branch": repo.default_branch,
            "clone_url": repo.clone_url(),
        },
        "pusher": { "name": owner, "email": format!("{owner}@users.example.com") },
        "sender": { "login": owner, "type": "User" },
    })
}

/// Sends one event to every hook of `repo` subscribed to it, signed with the hook's secret.
async fn deliver(http: &reqwest::Client, repo: &RemoteRepo, event: &str, payload: &Value) {
    let body = serde_json::to_vec(payload).expect("payload serialises");
    for (id, hook) in &repo.hooks {
        if !hook.events.iter().any(|e| e == event || e == "*") {
            continue;
        }
        let delivery = uuid::Uuid::new_v4().to_string();
        let sent = http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/lectern-standin")
            .header("x-github-event", event)
            .header("x-github-delivery", &delivery)
            .header("x-github-hook-id", id.to_string())
            .header("x-hub-signature-256", sign(hook.secret.as_bytes(), &body))
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                tracing::info!(repository = %repo.full_name, event, %delivery, status = response.status().as_u16(), "GitHub stand-in delivered a webhook");
            }
            Err(err) => {
                tracing::warn!(repository = %repo.full_name, event, %delivery, error = %err, "GitHub stand-in could not deliver a webhook (GitHub does not retry either)");
            }
        }
    }
}
