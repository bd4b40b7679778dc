//! The kubernetes executor: each build is a hardened Job in the builds namespace (see
//! [`manifest`] for what it is made of). `start` creates the Job, then — for a private
//! repository — the Secret with the git credentials, owned by the Job; `run` follows the pod
//! until its tests' container runs, streams that container's log into the build's log,
//! then reads how it ended: the exit code, `OOMKilled`, or the Job's `DeadlineExceeded`.
//! An image that cannot be pulled, a commit the init container cannot fetch, or a pod no
//! node can take end the build at once with the reason, instead of waiting for the timeout.
//! `stop` and `cleanup` delete the Job with foreground propagation (its pod goes first, and
//! the Secret with it).
//!
//! A server that restarts finds the Jobs its predecessor started by their labels
//! ([`KubernetesExecutor::find_jobs`]) and follows them again
//! ([`KubernetesExecutor::reattach`]): a Job still running is streamed on from where the
//! stored log ends, one that finished meanwhile is collected the same way.

pub mod manifest;

use std::time::{Duration, Instant};

use futures::AsyncReadExt as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};

use super::report::{self, ReportTap};
use super::{ExecError, Executor, Exit, RunSpec};
use crate::builds::log::LogSink;
use crate::db::enums::{ExecutorKind, LogStream};
use manifest::{BuildJob, Code, Followed};

/// Container waiting reasons that will not resolve by waiting.
const HOPELESS: [&str; 5] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// What the executor is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub namespace: String,
    pub git_image: String,
    pub runtime_class: Option<String>,
    /// How long a finished Job is kept.
    pub ttl_seconds: i32,
    /// How long a pod may stay unschedulable before the build errors.
    pub unschedulable_grace: Duration,
    /// How often the pod is looked at while it starts and ends.
    pub poll: Duration,
    /// Build each build's image (base image + checkout) and push it here, instead of
    /// fetching the commit in the cluster; with the Secret the cluster pulls it with.
    pub per_build: Option<PerBuild>,
}

impl Settings {
    /// The settings the configuration gives; per-build images are built on the engine at
    /// `DOCKER_HOST` when `LECTERN_REGISTRY` names where to push them.
    pub fn from_config(builds: &crate::config::BuildConfig, scope: &str) -> anyhow::Result<Self> {
        let k = &builds.kubernetes;
        let per_build = match &k.registry {
            Some(repository) => Some(PerBuild {
                builder: super::DockerExecutor::connect(
                    builds.docker_host.as_deref(),
                    false,
                    scope,
                )?,
                registry: super::docker::Registry {
                    repository: repository.clone(),
                    username: k.registry_username.clone(),
                    password: k.registry_password.clone(),
                    insecure: k.registry_insecure,
                },
                pull_secret: k.pull_secret.clone(),
                keep: k.registry_keep,
            }),
            None => None,
        };
        Ok(Self {
            namespace: k.namespace.clone(),
            git_image: k.git_image.clone(),
            runtime_class: k.runtime_class.clone(),
            ttl_seconds: k.ttl_seconds,
            unschedulable_grace: k.unschedulable,
            poll: Duration::from_secs(1),
            per_build,
        })
    }
}

/// Images built per build: where they are built and pushed, and how the cluster pulls them.
#[derive(Clone)]
pub struct PerBuild {
    pub builder: super::DockerExecutor,
    pub registry: super::docker::Registry,
    /// A `kubernetes.io/dockerconfigjson` Secret in the builds namespace.
    pub pull_secret: Option<String>,
    /// How long a build's image stays in the registry after the build (zero: deleted when
    /// it ends); [`crate::builds::images`] sweeps out those past it.
    pub keep: Duration,
}

impl std::fmt::Debug for PerBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerBuild")
            .field("registry", &self.registry)
            .field("pull_secret", &self.pull_secret)
            .finish_non_exhaustive()
    }
}

/// Runs builds as Jobs through the Kubernetes API.
#[derive(Clone)]
pub struct KubernetesExecutor {
    client: kube::Client,
    settings: Settings,
    scope: String,
}

/// A build's Job: the one to create, or one found in the cluster; and, once found, its pod.
pub struct KubernetesHandle {
    /// The Job, as far as following it goes.
    job: Followed,
    /// What the Job is made from (its image is the one pushed for the build, by digest, in
    /// per-build mode); `None` for a Job found in the cluster.
    build: Option<BuildJob>,
    pod: tokio::sync::Mutex<Option<String>>,
    /// Bytes of the tests' output already in the build's log (a Job followed again).
    stored: u64,
}

impl KubernetesExecutor {
    /// An executor on `client` (from the in-cluster configuration or `KUBECONFIG`, or a
    /// test's stand-in).
    pub fn new(client: kube::Client, settings: Settings, scope: &str) -> Self {
        Self {
            client,
            settings,
            scope: scope.to_owned(),
        }
    }

    /// Connects with the in-cluster configuration or `KUBECONFIG`.
    pub async fn connect(settings: Settings, scope: &str) -> anyhow::Result<Self> {
        let client = kube::Client::try_default().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the Kubernetes API (in-cluster configuration or KUBECONFIG): {e}"
            )
        })?;
        Ok(Self::new(client, settings, scope))
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.settings.namespace)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.settings.namespace)
    }

    /// Where images built per build go, when they are.
    pub fn per_build(&self) -> Option<&PerBuild> {
        self.settings.per_build.as_ref()
    }

    /// The installation's scope, which the names of its builds' Jobs and images carry.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.settings.namespace)
    }

    /// The Job for `spec`: fetching its commit in the cluster, or running `pushed` (the
    /// image built for it) when there is one.
    pub fn build_job(&self, spec: &RunSpec, pushed: Option<&str>) -> Result<BuildJob, ExecError> {
        let (code, image, ids) = match (pushed, spec.origin.as_ref()) {
            (Some(image), origin) => (
                Code::InImage,
                image.to_owned(),
                origin.map_or((0, 0), |o| (o.course_id, o.assignment_id)),
            ),
            (None, Some(origin)) => (
                Code::Fetch {
                    clone_url: origin.clone_url.clone(),
                    commit: origin.commit.clone(),
                    credentials: origin
                        .token
                        .as_ref()
                        .map(|_| manifest::job_name(&self.scope, spec.build_id)),
                },
                spec.image.clone(),
                (origin.course_id, origin.assignment_id),
            ),
            (None, None) => {
                return Err(ExecError::new(
                    "this run (hidden tests) needs the server's own copy of the commit: on Kubernetes that takes an image built for the build (LECTERN_REGISTRY)",
                ));
            }
        };
        Ok(BuildJob {
            scope: self.scope.clone(),
            namespace: self.settings.namespace.clone(),
            build_id: spec.build_id,
            course_id: ids.0,
            assignment_id: ids.1,
            image,
            command: spec.command.clone(),
            code,
            git_image: self.settings.git_image.clone(),
            timeout_seconds: i64::try_from(spec.timeout.as_secs()).unwrap_or(i64::MAX),
            memory_mb: spec.memory_mb,
            cpu_millis: spec.cpu_millis,
            workspace_mb: spec.workspace_mb,
            runtime_class: self.settings.runtime_class.clone(),
            ttl_seconds: self.settings.ttl_seconds,
            image_pull_secret: pushed
                .and(self.settings.per_build.as_ref())
                .and_then(|p| p.pull_secret.clone()),
            report_path: spec.report_path.clone(),
            report_marker: spec.report_marker.clone(),
            hidden: spec.hidden,
        })
    }

    /// The Jobs of this installation's builds in the cluster, running or finished (until
    /// their time to live runs out).
    pub async fn find_jobs(&self) -> Result<Vec<Followed>, ExecError> {
        let jobs = self
            .jobs()
            .list(&ListParams::default().labels(&manifest::scope_selector(&self.scope)))
            .await
            .map_err(|e| api_error("looking for the builds' Jobs", &e))?;
        Ok(jobs.items.iter().filter_map(manifest::followed).collect())
    }

    /// A handle on a Job found in the cluster, to follow again with [`Executor::run`];
    /// `stored` bytes of its tests' output are in the build's log already and are not
    /// written again.
    pub fn reattach(&self, job: Followed, stored: u64) -> KubernetesHandle {
        KubernetesHandle {
            job,
            build: None,
            pod: tokio::sync::Mutex::new(None),
            stored,
        }
    }

    /// The build's pod, once the Job made it.
    async fn pod(&self, handle: &KubernetesHandle) -> Result<Option<Pod>, ExecError> {
        let known = handle.pod.lock().await.clone();
        if let Some(name) = known {
            return match self.pods().get_opt(&name).await {
                Ok(Some(pod)) => Ok(Some(pod)),
                // Deleted (the build was stopped, or someone removed it): it will not end.
                Ok(None) => Err(ExecError::new(format!(
                    "the build's pod {name} was deleted before it ended"
                ))),
                Err(err) => Err(api_error("reading the build's pod", &err)),
            };
        }
        let selector = format!("job-name={}", handle.job.name);
        let pods = self
            .pods()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| api_error("finding the build's pod", &e))?;
        let pod = pods.items.into_iter().next();
        if let Some(name) = pod.as_ref().and_then(|p| p.metadata.name.clone()) {
            *handle.pod.lock().await = Some(name);
        }
        Ok(pod)
    }

    /// Waits until the tests' container has started (or already ended), or says why it
    /// never will.
    async fn until_started(&self, handle: &KubernetesHandle) -> Result<String, ExecError> {
        let began = Instant::now();
        loop {
            if let Some(pod) = self.pod(handle).await? {
                if let Some(why) = hopeless(&pod, &handle.job.image) {
                    return Err(ExecError::new(why));
                }
                let status = pod.status.clone().unwrap_or_default();
                if let Some(condition) = status
                    .conditions
                    .iter()
                    .flatten()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                    && condition.reason.as_deref() == Some("Unschedulable")
                    && began.elapsed() >= self.settings.unschedulable_grace
                {
                    return Err(ExecError::new(format!(
                        "no node of the cluster can run this build: {}",
                        condition.message.clone().unwrap_or_default()
                    )));
                }
                let tests = container(&pod, manifest::TESTS);
                let started = tests
                    .and_then(|c| c.state.as_ref())
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some());
                if started || matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
                    return Ok(pod.metadata.name.unwrap_or_default());
                }
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    /// How the tests' container ended, once it has.
    async fn ending(&self, handle: &KubernetesHandle) -> Result<Exit, ExecError> {
        loop {
            let job = self
                .jobs()
                .get(&handle.job.name)
                .await
                .map_err(|e| api_error("reading the build's Job", &e))?;
            let deadline = job
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| {
                    c.type_ == "Failed"
                        && c.status == "True"
                        && c.reason.as_deref() == Some("DeadlineExceeded")
                });
            if deadline {
                return Ok(Exit {
                    timed_out: true,
                    ..Exit::default()
                });
            }
            let pod = self.pod(handle).await?;
            let tests = pod.as_ref().and_then(|p| container(p, manifest::TESTS));
            let terminated = tests
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.terminated.clone());
            if let Some(end) = terminated {
                return Ok(Exit {
                    code: Some(i64::from(end.exit_code)),
                    oom_killed: end.reason.as_deref() == Some("OOMKilled"),
                    signal: end.signal,
                    report: None,
                    image: tests.and_then(|c| image_digest(&c.image_id)),
                    timed_out: false,
                });
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }
}

/// The status of container `name` of `pod` (init containers included).
fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .find(|c| c.name == name)
}

/// The digest of the image a container ran, from its status' `imageID`
/// (`docker-pullable://registry/repo@sha256:…`, or a bare `sha256:…`).
fn image_digest(image_id: &str) -> Option<String> {
    let digest = image_id.rsplit('@').next()?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| digest.to_owned())
}

/// Why `pod` will never run its tests, if that is already clear: an image that cannot be
/// pulled or started, or a fetch that failed.
pub fn hopeless(pod: &Pod, image: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    for c in status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
    {
        let state = c.state.as_ref()?;
        if let Some(waiting) = &state.waiting
            && let Some(reason) = waiting.reason.as_deref()
            && HOPELESS.contains(&reason)
        {
            let which = if c.name == manifest::FETCH {
                "the git image"
            } else {
                image
            };
            return Some(format!(
                "the cluster cannot start {which} ({reason}): {}",
                waiting.message.clone().unwrap_or_default()
            ));
        }
        if c.name == manifest::FETCH
            && let Some(end) = &state.terminated
            && end.exit_code != 0
        {
            return Some(format!(
                "fetching the commit in the cluster failed (exit code {}){}",
                end.exit_code,
                end.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
    }
    None
}

/// What of `output` is left once the first `skip` bytes (stored already) are dropped.
fn skip_stored(skip: &mut u64, mut output: Vec<u8>) -> Vec<u8> {
    let n = usize::try_from(*skip)
        .unwrap_or(usize::MAX)
        .min(output.len());
    output.drain(..n);
    *skip -= n as u64;
    output
}

fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

fn api_error(doing: &str, err: &kube::Error) -> ExecError {
    ExecError::new(format!("{doing} failed: {err}"))
}

impl Executor for KubernetesExecutor {
    type Handle = KubernetesHandle;

    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Kubernetes
    }

    async fn prepare(&self, spec: &RunSpec, log: &LogSink) -> Result<KubernetesHandle, ExecError> {
        let job = manifest::job_name(&self.scope, spec.build_id);
        let per_build = match (&self.settings.per_build, spec.image_per_build) {
            (Some(per_build), true) => Some(per_build),
            (None, true) => {
                return Err(ExecError::new(
                    "this build needs an image of its own (the assignment asks for one, or it runs hidden tests), which on Kubernetes takes a registry: set LECTERN_REGISTRY",
                ));
            }
            (_, false) => None,
        };
        let pushed = match per_build {
            Some(per_build) => {
                let tag = super::docker::image_tag(&self.scope, spec.build_id);
                per_build.builder.build_image(spec, &tag, log).await?;
                log.system(format!(
                    "pushing the image to {}",
                    per_build.registry.host()
                ))
                .await;
                let pushed = per_build
                    .builder
                    .push(&tag, &per_build.registry, &job)
                    .await;
                // Built here only to be pushed: the local copy goes either way.
                per_build.builder.cleanup(spec.build_id).await;
                Some(pushed?)
            }
            None => None,
        };
        let build = self.build_job(spec, pushed.as_deref())?;
        log.system(format!(
            "running as the Job {job} in the namespace {} (image {})",
            self.settings.namespace, build.image
        ))
        .await;
        Ok(KubernetesHandle {
            job: Followed::of(&build),
            build: Some(build),
            pod: tokio::sync::Mutex::new(None),
            stored: 0,
        })
    }

    async fn start(&self, spec: &RunSpec, handle: &mut KubernetesHandle) -> Result<(), ExecError> {
        let Some(build) = &handle.build else {
            return Err(ExecError::new(
                "this Job was found in the cluster: it is followed, not created",
            ));
        };
        let created = self
            .jobs()
            .create(&PostParams::default(), &manifest::job(build))
            .await
            .map_err(|e| api_error("creating the build's Job", &e))?;
        let token = spec.origin.as_ref().and_then(|o| o.token.as_ref());
        if let (Code::Fetch { .. }, Some(token)) = (&build.code, token) {
            let uid = created.metadata.uid.unwrap_or_default();
            self.secrets()
                .create(
                    &PostParams::default(),
                    &manifest::credentials_secret(build, &uid, token.expose()),
                )
                .await
                .map_err(|e| api_error("creating the build's git credentials", &e))?;
        }
        Ok(())
    }

    async fn run(&self, handle: &KubernetesHandle, log: &LogSink) -> Result<Exit, ExecError> {
        let pod = self.until_started(handle).await?;
        let params = LogParams {
            container: Some(manifest::TESTS.into()),
            follow: true,
            ..LogParams::default()
        };
        let stream = self
            .pods()
            .log_stream(&pod, &params)
            .await
            .map_err(|e| api_error("reading the tests' output", &e))?;
        let report = handle.job.report_path.as_deref();
        let mut tap = report.map(|_| ReportTap::new(&handle.job.report_marker));
        // A Job followed again streams from its start: what the log holds already is skipped.
        let mut skip = handle.stored;
        // Kubernetes gives one stream (stdout and stderr together), as raw bytes.
        let mut stream = std::pin::pin!(stream);
        let mut buffer = vec![0_u8; 64 * 1024];
        loop {
            let n = match stream.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(job = %handle.job.name, error = %err, "the tests' log stream broke; waiting for the end");
                    break;
                }
            };
            let piece = &buffer[..n];
            let output = match &mut tap {
                Some(tap) => tap.feed(piece),
                None => piece.to_vec(),
            };
            let output = skip_stored(&mut skip, output);
            if !output.is_empty() {
                log.write(LogStream::Stdout, output.into()).await;
            }
        }
        let mut exit = self.ending(handle).await?;
        if let (Some(tap), Some(path)) = (tap, report) {
            let (held, carried) = tap.finish();
            let held = skip_stored(&mut skip, held);
            if !held.is_empty() {
                log.write(LogStream::Stdout, held.into()).await;
            }
            exit.report = Some(report::carried(path, carried));
        }
        Ok(exit)
    }

    async fn stop(&self, handle: &KubernetesHandle) {
        if let Err(err) = self
            .jobs()
            .delete(&handle.job.name, &DeleteParams::foreground())
            .await
            && !is_not_found(&err)
        {
            tracing::warn!(job = %handle.job.name, error = %err, "could not delete the build's Job");
        }
    }

    async fn cleanup(&self, build_id: i64) {
        let name = manifest::job_name(&self.scope, build_id);
        if let Err(err) = self.jobs().delete(&name, &DeleteParams::foreground()).await
            && !is_not_found(&err)
        {
            tracing::warn!(job = %name, error = %err, "could not delete the build's Job");
        }
        // Owned by the Job, so deleted with it; deleted here too in case the Job never was.
        if let Err(err) = self.secrets().delete(&name, &DeleteParams::default()).await
            && !is_not_found(&err)
        {
            tracing::warn!(secret = %name, error = %err, "could not delete the build's credentials");
        }
        // The image built for the build served its one run.
        if let Some(per_build) = &self.settings.per_build
            && per_build.keep.is_zero()
            && let Err(err) = per_build.registry.delete(&name).await
        {
            tracing::warn!(image = %name, error = %err, "could not delete the build's image from the registry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_digests_come_from_the_container_status() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(
            image_digest(&format!(
                "docker-pullable://registry.example.edu/cs101/python@sha256:{hex}"
            )),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            image_digest(&format!("sha256:{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(image_digest(""), None);
        assert_eq!(image_digest("registry.example.edu/cs101/python:3.11"), None);
        assert_eq!(image_digest("repo@sha256:short"), None);
    }

    #[test]
    fn output_stored_already_is_skipped_across_pieces() {
        let mut skip = 5;
        assert_eq!(skip_stored(&mut skip, b"abc".to_vec()), b"");
        assert_eq!(skip_stored(&mut skip, b"defgh".to_vec()), b"fgh");
        assert_eq!(skip, 0);
        assert_eq!(skip_stored(&mut skip, b"ij".to_vec()), b"ij");
    }
}
