//! GitHub webhooks, as pure functions: verify a delivery's signature, parse the events
//! Lectern acts on, and decide what a delivery asks for. The HTTP handler does the I/O.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::db::enums::BuildTrigger;
use crate::db::models::BuildRequest;

/// Whether `header` (`X-Hub-Signature-256`, `sha256=<hex>`) is the HMAC-SHA256 of `body`
/// under `secret`. The comparison takes the same time wherever the first difference is.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digest) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The `X-Hub-Signature-256` value for `body` under `secret` (for tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Where GitHub delivers a linked repository's webhooks.
pub fn hook_url(config: &crate::config::Config) -> String {
    format!(
        "{}/webhooks/github",
        config.public_url.as_str().trim_end_matches('/')
    )
}

/// What every webhook secret starts with, so that secret scanners (and the test that
/// searches the logs) can recognise one wherever it leaks.
pub const SECRET_PREFIX: &str = "lectern_whsec_";

/// A fresh random secret for one repository's webhook: the prefix and 256 random bits.
pub fn new_secret() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// A repository's webhook secret sealed for storage, bound to the repository's GitHub id.
pub fn seal_secret(cipher: &crate::crypto::Cipher, github_repo_id: i64, secret: &str) -> Vec<u8> {
    cipher.seal(
        &crate::db::models::Repository::secret_context(github_repo_id),
        secret.as_bytes(),
    )
}

/// The part of every repository event that says which repository it is about.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub repository: Option<RepositoryRef>,
    pub action: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RepositoryRef {
    pub id: i64,
    pub full_name: String,
}

/// A `push` event.
#[derive(Debug, Deserialize)]
pub struct Push {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub after: String,
    #[serde(default)]
    pub deleted: bool,
    pub head_commit: Option<HeadCommit>,
}

#[derive(Debug, Deserialize)]
pub struct HeadCommit {
    pub id: String,
    pub message: String,
    pub author: Option<Person>,
}

#[derive(Debug, Deserialize)]
pub struct Person {
    pub name: Option<String>,
    pub username: Option<String>,
}

/// A `pull_request` event.
#[derive(Debug, Deserialize)]
pub struct PullRequestEvent {
    pub action: String,
    pub number: i32,
    pub pull_request: PullRequest,
}

#[derive(Debug, Deserialize)]
pub struct PullRequest {
    pub title: String,
    pub head: Head,
    pub user: Option<Login>,
}

#[derive(Debug, Deserialize)]
pub struct Head {
    pub sha: String,
    #[serde(rename = "ref")]
    pub branch: String,
}

#[derive(Debug, Deserialize)]
pub struct Login {
    pub login: String,
}

/// What a delivery asks Lectern to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Queue this build.
    Build(BuildRequest),
    /// The hook works (a `ping`).
    Ping,
    /// Nothing to do, and why.
    Ignore(String),
}

fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Decides what a delivery of `event` with `body` asks for, given the assignment's branch
/// patterns (empty: every branch). Malformed bodies are an error.
pub fn decide(
    event: &str,
    body: &[u8],
    branch_patterns: &[String],
) -> Result<Decision, serde_json::Error> {
    Ok(match event {
        "ping" => Decision::Ping,
        "push" => {
            let push: Push = serde_json::from_slice(body)?;
            let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
                return Ok(Decision::Ignore(format!(
                    "{} is not a branch",
                    push.git_ref
                )));
            };
            if push.deleted {
                Decision::Ignore(format!("branch {branch} was deleted"))
            } else if !is_sha(&push.after) {
                Decision::Ignore(format!("push has no commit to build ({})", push.after))
            } else if !branch_allowed(branch_patterns, branch) {
                Decision::Ignore(format!(
                    "branch {branch} does not match the assignment's branches"
                ))
            } else {
                let head = push.head_commit.as_ref();
                Decision::Build(BuildRequest {
                    trigger: BuildTrigger::Push,
                    branch: Some(branch.to_owned()),
                    pr_number: None,
                    commit_sha: push.after.clone(),
                    commit_message: head.map(|c| c.message.clone()).unwrap_or_default(),
                    commit_author: head
                        .and_then(|c| c.author.as_ref())
                        .and_then(|a| a.username.clone().or_else(|| a.name.clone())),
                })
            }
        }
        "pull_request" => {
            let pr: PullRequestEvent = serde_json::from_slice(body)?;
            match pr.action.as_str() {
                "opened" | "synchronize" | "reopened" if is_sha(&pr.pull_request.head.sha) => {
                    Decision::Build(BuildRequest {
                        trigger: BuildTrigger::PullRequest,
                        branch: Some(pr.pull_request.head.branch.clone()),
                        pr_number: Some(pr.number),
                        commit_sha: pr.pull_request.head.sha.clone(),
                        commit_message: pr.pull_request.title.clone(),
                        commit_author: pr.pull_request.user.as_ref().map(|u| u.login.clone()),
                    })
                }
                action => Decision::Ignore(format!("pull request {action}: nothing to build")),
            }
        }
        other => Decision::Ignore(format!("{other} events are not used")),
    })
}

/// Whether an assignment with these branch patterns builds `branch` (no patterns: every
/// branch).
pub fn branch_allowed(patterns: &[String], branch: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|pattern| glob_match(pattern, branch))
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters
/// (including `/`) and everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_published_test_vector_verifies() {
        let secret = b"It's a Secret to Everybody";
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(secret, b"Hello, World!", Some(header)));
        assert_eq!(sign(secret, b"Hello, World!"), header);
    }

    #[test]
    fn wrong_missing_or_malformed_signatures_fail() {
        let secret = b"It's a Secret to Everybody";
        let good = sign(secret, b"Hello, World!");
        assert!(!verify_signature(secret, b"Hello, World?", Some(&good)));
        assert!(!verify_signature(
            b"another secret",
            b"Hello, World!",
            Some(&good)
        ));
        assert!(!verify_signature(secret, b"Hello, World!", None));
        assert!(!verify_signature(
            secret,
            b"Hello, World!",
            Some("sha1=abc")
        ));
        assert!(!verify_signature(
            secret,
            b"Hello, World!",
            Some("sha256=zz")
        ));
        assert!(!verify_signature(
            secret,
            b"Hello, World!",
            Some(&good[..good.len() - 2])
        ));
    }

    #[test]
    fn globs() {
        assert!(glob_match("main", "main"));
        assert!(!glob_match("main", "main2"));
        assert!(glob_match("feature/*", "feature/a/b"));
        assert!(glob_match("*-fix", "hot-fix"));
        assert!(glob_match("*", "anything"));
        assert!(!glob_match("release-*", "main"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
    }

    fn push(r#ref: &str, after: &str, deleted: bool) -> Vec<u8> {
        serde_json::json!({ "ref": r#ref, "after": after, "deleted": deleted,
            "head_commit": { "id": after, "message": "Fix it", "author": { "name": "Ada", "username": "ada" } } })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn pushes_to_branches_build_others_are_ignored_with_a_reason() {
        let sha = "a".repeat(40);
        let Ok(Decision::Build(request)) =
            decide("push", &push("refs/heads/main", &sha, false), &[])
        else {
            panic!("a branch push builds");
        };
        assert_eq!(request.branch.as_deref(), Some("main"));
        assert_eq!(request.commit_author.as_deref(), Some("ada"));
        let ignored = |body: Vec<u8>, patterns: &[String]| match decide("push", &body, patterns) {
            Ok(Decision::Ignore(reason)) => reason,
            other => panic!("expected ignore, got {other:?}"),
        };
        assert!(ignored(push("refs/tags/v1", &sha, false), &[]).contains("not a branch"));
        assert!(ignored(push("refs/heads/old", &"0".repeat(40), true), &[]).contains("deleted"));
        assert!(
            ignored(push("refs/heads/wip", &sha, false), &["main".into()])
                .contains("does not match")
        );
        assert!(decide("push", b"{not json", &[]).is_err());
        assert_eq!(
            decide("issues", b"{}", &[]).ok(),
            Some(Decision::Ignore("issues events are not used".into()))
        );
    }
}
