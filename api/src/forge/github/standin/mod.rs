//! A local stand-in for GitHub: it speaks GitHub's documented HTTP API for the endpoints
//! Lectern uses (OAuth authorize and access token, user, emails, repositories, branches,
//! hooks, pings, statuses), records every request it receives, and — for repositories
//! backed by a bare git repository on disk — delivers signed `push` webhooks when their
//! branches move, as GitHub would.
//!
//! The test suite drives the real `oauth2` and `octocrab` clients against it, and the demo
//! uses it so that a newcomer can sign in and link a repository without GitHub. The server
//! starts it only when `LECTERN_GITHUB_STANDIN` names an address (development mode only) and
//! then says so loudly in its log. Its state (accounts, repositories, hooks, tokens) is kept
//! in memory and, when a directory is given, in `standin.json` there, so the demo survives
//! restarts.

mod git;
mod local;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use git::git_heads;
pub use local::LocalRepo;

/// The OAuth client the stand-in knows; the server's configuration uses these with it.
pub const CLIENT_ID: &str = "Iv1.lecternstandin";
/// The stand-in's OAuth client secret (not a secret: the stand-in is for tests and demos).
pub const CLIENT_SECRET: &str = "standin-client-secret-0123456789";

/// A GitHub account of the stand-in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub email: String,
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

/// A repository of the stand-in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoteRepo {
    pub id: i64,
    pub full_name: String,
    pub default_branch: String,
    /// The default branch's head; `None` for an empty repository.
    pub head: Option<String>,
    /// Accounts with admin rights.
    pub admins: Vec<i64>,
    /// Accounts that can see it without admin rights.
    pub readers: Vec<i64>,
    pub hooks: BTreeMap<i64, RemoteHook>,
    /// Branches other than the default one, with their heads.
    pub other_branches: BTreeMap<String, String>,
    /// A bare git repository holding the code: its branches are the repository's, it is the
    /// clone URL (`file://…`), and its pushes are delivered to the hooks.
    #[serde(default)]
    pub git_dir: Option<PathBuf>,
}

impl RemoteRepo {
    /// Every branch with its head, the default branch first.
    pub fn branches(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .head
            .iter()
            .map(|sha| (self.default_branch.clone(), sha.clone()))
            .collect();
        all.extend(
            self.other_branches
                .iter()
                .map(|(name, sha)| (name.clone(), sha.clone())),
        );
        all
    }

    /// Where the code is fetched from.
    pub fn clone_url(&self) -> String {
        match &self.git_dir {
            Some(dir) => format!("file://{}", dir.display()),
            None => format!("https://github.com/{}.git", self.full_name),
        }
    }
}

/// A webhook registered on a stand-in repository.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoteHook {
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub content_type: String,
}

/// What survives a restart when the stand-in has a directory.
#[derive(Default, Serialize, Deserialize)]
struct Persistent {
    accounts: Vec<Account>,
    repos: BTreeMap<String, RemoteRepo>,
    tokens: BTreeMap<String, i64>,
    counter: u64,
}

#[derive(Default)]
struct Inner {
    saved: Persistent,
    /// Who the browser is signed in to GitHub as.
    browser: Option<i64>,
    /// code -> (account, PKCE challenge, redirect_uri)
    codes: HashMap<String, (i64, String, String)>,
    requests: Vec<Recorded>,
    /// How many of the next status posts answer 502.
    failing_statuses: u32,
}

/// The stand-in: its state, and the address it answers on once served.
#[derive(Clone)]
pub struct Standin {
    pub base: String,
    pub client_id: String,
    pub client_secret: String,
    inner: Arc<Mutex<Inner>>,
    state_file: Option<PathBuf>,
}

impl Standin {
    /// Loads the stand-in's state from `dir/standin.json` (when there is one) without serving.
    pub fn open(base: &str, dir: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        let state_file = dir.map(|d| d.join("standin.json"));
        let saved = match &state_file {
            Some(file) if file.exists() => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("could not read {}", file.display()))?;
                serde_json::from_str(&text).with_context(|| {
                    format!("{} is not the stand-in's state; delete it", file.display())
                })?
            }
            _ => Persistent::default(),
        };
        Ok(Standin {
            base: base.trim_end_matches('/').to_owned(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: CLIENT_SECRET.to_owned(),
            inner: Arc::new(Mutex::new(Inner {
                saved,
                ..Inner::default()
            })),
            state_file,
        })
    }

    /// Serves the stand-in on `listener` in the background; pushes to git-backed repositories
    /// are delivered while it runs.
    pub fn serve(&self, listener: tokio::net::TcpListener) {
        let router = routes::router(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let watcher = self.clone();
        tokio::spawn(async move { git::watch(watcher).await });
    }

    /// A stand-in on a free port of 127.0.0.1, in memory only (for tests).
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let standin = Standin::open(&format!("http://{}", listener.local_addr()?), None)?;
        standin.serve(listener);
        Ok(standin)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the persistent state and saves it.
    fn update<T>(&self, change: impl FnOnce(&mut Persistent) -> T) -> T {
        let mut inner = self.lock();
        let out = change(&mut inner.saved);
        if let Some(file) = &self.state_file {
            let saved = serde_json::to_vec_pretty(&inner.saved).expect("state serialises");
            let tmp = file.with_extension("json.tmp");
            let written = std::fs::write(&tmp, saved).and_then(|()| std::fs::rename(&tmp, file));
            if let Err(err) = written {
                tracing::warn!(error = %err, file = %file.display(), "GitHub stand-in could not save its state");
            }
        }
        out
    }

    /// Adds an account (or returns the one with this id).
    pub fn account(&self, id: i64, login: &str) -> Account {
        self.update(|saved| {
            if let Some(existing) = saved.accounts.iter().find(|a| a.id == id) {
                return existing.clone();
            }
            let account = Account {
                id,
                login: login.to_owned(),
                name: format!("{login} (GitHub)"),
                email: format!("{login}@users.example.com"),
            };
            saved.accounts.push(account.clone());
            account
        })
    }

    /// The accounts, in the order they were added.
    pub fn accounts(&self) -> Vec<Account> {
        self.lock().saved.accounts.clone()
    }

    /// Adds (or replaces) a repository that `admin` administers.
    pub fn repo(&self, id: i64, full_name: &str, admin: i64, head: Option<&str>) {
        self.update(|saved| {
            saved.repos.insert(
                full_name.to_owned(),
                RemoteRepo {
                    id,
                    full_name: full_name.to_owned(),
                    default_branch: "main".to_owned(),
                    head: head.map(str::to_owned),
                    admins: vec![admin],
                    readers: Vec::new(),
                    hooks: BTreeMap::new(),
                    other_branches: BTreeMap::new(),
                    git_dir: None,
                },
            );
        });
    }

    /// Adds a repository backed by the bare git repository `git_dir`, unless one of that
    /// name exists. Its branches are read from git now; later pushes are delivered to its
    /// hooks while the stand-in serves.
    pub async fn git_repo(
        &self,
        id: i64,
        full_name: &str,
        admin: i64,
        git_dir: &Path,
    ) -> anyhow::Result<()> {
        if self.remote(full_name).is_some() {
            return Ok(());
        }
        let heads = git_heads(git_dir).await?;
        self.update(|saved| {
            let mut repo = RemoteRepo {
                id,
                full_name: full_name.to_owned(),
                default_branch: "main".to_owned(),
                head: None,
                admins: vec![admin],
                readers: Vec::new(),
                hooks: BTreeMap::new(),
                other_branches: BTreeMap::new(),
                git_dir: Some(git_dir.to_owned()),
            };
            git::set_branches(&mut repo, &heads);
            saved.repos.insert(full_name.to_owned(), repo);
        });
        Ok(())
    }

    /// Lets `reader` see a repository without admin rights.
    pub fn grant_read(&self, full_name: &str, reader: i64) {
        self.update(|saved| {
            if let Some(repo) = saved.repos.get_mut(full_name) {
                repo.readers.push(reader);
            }
        });
    }

    /// A repository as the stand-in holds it now.
    pub fn remote(&self, full_name: &str) -> Option<RemoteRepo> {
        self.lock().saved.repos.get(full_name).cloned()
    }

    /// Deletes every hook of a repository on GitHub's side, as its owner might.
    pub fn remove_hooks(&self, full_name: &str) {
        self.update(|saved| {
            if let Some(repo) = saved.repos.get_mut(full_name) {
                repo.hooks.clear();
            }
        });
    }

    /// Moves `branch` to `sha` without any webhook reaching Lectern (a missed push).
    pub fn push_silently(&self, full_name: &str, branch: &str, sha: &str) {
        self.update(|saved| {
            if let Some(repo) = saved.repos.get_mut(full_name) {
                if branch == repo.default_branch {
                    repo.head = Some(sha.to_owned());
                } else {
                    repo.other_branches
                        .insert(branch.to_owned(), sha.to_owned());
                }
            }
        });
    }

    /// Deletes a repository on GitHub's side.
    pub fn remove_repo(&self, full_name: &str) {
        self.update(|saved| saved.repos.remove(full_name));
    }

    /// Makes the next `n` commit-status posts fail with 502 Bad Gateway.
    pub fn fail_next_statuses(&self, n: u32) {
        self.lock().failing_statuses = n;
    }

    /// The commit statuses posted so far: (sha, body), in order.
    pub fn statuses(&self) -> Vec<(String, Value)> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.contains("/statuses/") && !r.body.is_empty())
            .filter_map(|r| {
                let sha = r.path.rsplit('/').next()?.to_owned();
                Some((sha, serde_json::from_str(&r.body).ok()?))
            })
            .collect()
    }

    /// Signs the "browser" in to GitHub as `id`, so the authorize page approves at once.
    pub fn browser_signed_in_as(&self, id: i64) {
        self.lock().browser = Some(id);
    }

    /// Issues an access token for `account`, as a finished OAuth flow would.
    pub fn issue_token(&self, account: i64) -> String {
        self.update(|saved| {
            saved.counter += 1;
            let token = format!("gho_standin{:08}{}", saved.counter, rand_suffix());
            saved.tokens.insert(token.clone(), account);
            token
        })
    }

    /// Registers a hook as `POST /repos/{full_name}/hooks` would; returns its id.
    pub fn add_hook(&self, full_name: &str, hook: RemoteHook) -> Option<i64> {
        self.update(|saved| {
            saved.counter += 1;
            let id = 1000 + i64::try_from(saved.counter).unwrap_or(i64::MAX - 1000);
            let repo = saved.repos.get_mut(full_name)?;
            repo.hooks.insert(id, hook);
            Some(id)
        })
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The environment that points Lectern at this stand-in.
    pub fn env(&self) -> [(&'static str, String); 4] {
        [
            ("GITHUB_URL", self.base.clone()),
            ("GITHUB_API_URL", self.base.clone()),
            ("GITHUB_CLIENT_ID", self.client_id.clone()),
            ("GITHUB_CLIENT_SECRET", self.client_secret.clone()),
        ]
    }

    fn record(&self, method: &str, path: &str, headers: &HeaderMap, body: String) {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.lock().requests.push(Recorded {
            method: method.to_owned(),
            path: path.to_owned(),
            authorization,
            body,
        });
    }

    fn account_for_token(&self, headers: &HeaderMap) -> Option<Account> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("token "))
            })?;
        let inner = self.lock();
        let id = *inner.saved.tokens.get(token)?;
        inner.saved.accounts.iter().find(|a| a.id == id).cloned()
    }
}

fn rand_suffix() -> String {
    use rand::Rng as _;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}
