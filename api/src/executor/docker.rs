//! The docker executor: builds run in containers through the Docker Engine API (Docker, or
//! Podman's compatible service) with `bollard`. The image is the assignment's base image
//! with the checkout copied in (or the repository's own Dockerfile when the assignment
//! allows it); the container has no network, a memory limit with no swap on top, CPU and
//! process limits, a read-only root with size-capped writable tmpfs for the workspace and
//! /tmp, no capabilities, no-new-privileges, and a non-root user.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, BuildImageOptionsBuilder, CreateContainerOptionsBuilder,
    KillContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use futures::StreamExt as _;

use super::report::{self, ReportTap};
use super::{ExecError, Executor, Exit, RunSpec};
use crate::builds::log::LogSink;
use crate::db::enums::{ExecutorKind, LogStream};

/// The API version asked for: Podman 4 serves 1.41, and every current Docker does too.
const API_VERSION: bollard::ClientVersion = bollard::ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// The user builds run as in the container.
pub const BUILD_USER: &str = "1000:1000";

/// Runs builds in containers.
#[derive(Clone)]
pub struct DockerExecutor {
    /// Where the engine listens, and the client once connected: the engine may be down
    /// (or its socket missing) when the server starts, and come up later.
    host: Option<String>,
    client: std::sync::Arc<std::sync::Mutex<Option<Docker>>>,
    keep_images: bool,
    /// Distinguishes this installation's containers and images from those of others using
    /// the same engine (build ids are only unique within one database).
    scope: String,
}

/// The container's output, attached before it starts so nothing is missed.
type Output = std::pin::Pin<
    Box<
        dyn futures::Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>>
            + Send,
    >,
>;

/// A prepared (and then started) container build.
pub struct DockerHandle {
    container: String,
    output: tokio::sync::Mutex<Option<Output>>,
    /// The report the assignment names and the marker line before it on standard output.
    report: Option<(String, String)>,
    /// The image's id (`sha256:…`).
    image: Option<String>,
}

/// The name of build `id`'s container.
pub fn container_name(scope: &str, build_id: i64) -> String {
    format!("lectern-{scope}-build-{build_id}")
}

/// The tag of the image made for build `id`.
pub fn image_tag(scope: &str, build_id: i64) -> String {
    format!("localhost/lectern-{scope}-build:{build_id}")
}

/// The Dockerfile that puts a checkout (the build context's `src/`) into the base image.
/// `WORKDIR /src` keeps the build from creating the base image's working directory in the
/// image: Podman gives a tmpfs mounted over a directory of the image that directory's
/// owner and mode, which would leave the `/workspace` tmpfs unwritable for the build user.
pub fn dockerfile(base_image: &str) -> String {
    format!("FROM {base_image}\nWORKDIR /src\nCOPY --chown={BUILD_USER} src/ /src/\n")
}

/// The container for `spec` from `image`: every limit and hardening setting in one place.
pub fn container_config(spec: &RunSpec, image: &str) -> ContainerCreateBody {
    let mb = 1024 * 1024;
    let memory = i64::try_from(spec.memory_mb * mb).unwrap_or(i64::MAX);
    let command = if spec.use_dockerfile {
        // The repository's image decides where its code is; only /tmp is writable.
        vec!["/bin/sh".into(), "-c".into(), spec.command.clone()]
    } else {
        vec![
            "/bin/sh".into(),
            "-c".into(),
            // The workspace is gone with the container: the report, when there is one,
            // comes out on standard output after a marker line (see `report`).
            format!(
                "cp -R /src/. /workspace/ && cd /workspace && /bin/sh -c \"$LECTERN_TEST_COMMAND\"; {}",
                report::SHELL_AFTER
            ),
        ]
    };
    let mut tmpfs = HashMap::new();
    tmpfs.insert(
        "/tmp".to_owned(),
        "rw,exec,nosuid,nodev,size=64m,mode=1777".to_owned(),
    );
    if !spec.use_dockerfile {
        tmpfs.insert(
            "/workspace".to_owned(),
            format!("rw,exec,nosuid,nodev,size={}m,mode=1777", spec.workspace_mb),
        );
    }
    let mut labels = HashMap::new();
    labels.insert("lectern.build".to_owned(), spec.build_id.to_string());
    ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(command),
        env: Some(vec![
            format!("LECTERN_TEST_COMMAND={}", spec.command),
            format!(
                "LECTERN_REPORT_PATH={}",
                spec.report_path.as_deref().unwrap_or_default()
            ),
            format!("LECTERN_REPORT_MARKER={}", spec.report_marker),
            "HOME=/workspace".into(),
            "TMPDIR=/tmp".into(),
            "CI=true".into(),
            "LECTERN=true".into(),
            "LANG=C.UTF-8".into(),
        ]),
        user: Some(BUILD_USER.into()),
        working_dir: (!spec.use_dockerfile).then(|| "/workspace".to_owned()),
        network_disabled: Some(true),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            memory: Some(memory),
            // Memory + swap = memory: no swap on top of the limit.
            memory_swap: Some(memory),
            nano_cpus: Some(i64::try_from(spec.cpu_millis).unwrap_or(1000) * 1_000_000),
            pids_limit: Some(spec.pids_limit),
            readonly_rootfs: Some(true),
            tmpfs: Some(tmpfs),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

impl DockerExecutor {
    /// Connects to the engine at `host` (`unix://…`, a socket path, or `tcp://…`), or at the
    /// engine's usual socket. Nothing is sent until the first call.
    pub fn connect(host: Option<&str>, keep_images: bool, scope: &str) -> anyhow::Result<Self> {
        let executor = Self {
            host: host.map(str::to_owned),
            client: std::sync::Arc::default(),
            keep_images,
            scope: scope.to_owned(),
        };
        // A missing socket is not an error yet: the engine may start after the server.
        let _ = executor.docker();
        Ok(executor)
    }

    /// The engine's client, connecting on first use.
    fn docker(&self) -> Result<Docker, ExecError> {
        let mut client = self
            .client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(docker) = client.as_ref() {
            return Ok(docker.clone());
        }
        let connected = match self.host.as_deref() {
            Some(h) if h.starts_with("tcp://") || h.starts_with("http://") => {
                Docker::connect_with_http(h, 120, &API_VERSION)
            }
            Some(h) => Docker::connect_with_socket(h, 120, &API_VERSION),
            None => Docker::connect_with_socket("/var/run/docker.sock", 120, &API_VERSION),
        };
        let docker = connected.map_err(|e| {
            ExecError::new(format!(
                "cannot reach the container engine at {} (DOCKER_HOST): {e}",
                self.host.as_deref().unwrap_or("/var/run/docker.sock")
            ))
        })?;
        *client = Some(docker.clone());
        Ok(docker)
    }

    /// Whether the engine answers, and its name and version.
    pub async fn ping(&self) -> anyhow::Result<String> {
        let version = self.docker()?.version().await?;
        Ok(format!(
            "{} {}",
            version
                .platform
                .map(|p| p.name)
                .unwrap_or_else(|| "container engine".into()),
            version.version.unwrap_or_default()
        ))
    }

    /// Builds the image `spec` runs in (the base image plus the checkout, or the
    /// repository's own Dockerfile), tagged `tag`; returns its id (`sha256:…`).
    pub async fn build_image(
        &self,
        spec: &RunSpec,
        tag: &str,
        log: &LogSink,
    ) -> Result<Option<String>, ExecError> {
        if spec.use_dockerfile {
            log.system("building the image from the repository's Dockerfile")
                .await;
        } else {
            log.system(format!("building the image: {} + checkout", spec.image))
                .await;
        }
        let context = Self::context(spec).await?;
        let mut labels = HashMap::new();
        labels.insert("lectern.build", spec.build_id.to_string());
        let options = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            // Every build's image is its own: a cache only races with other builds' clean-up.
            .nocache(true)
            .networkmode("none")
            .labels(&labels)
            .build();
        let docker = self.docker()?;
        let mut stream = docker.build_image(
            options,
            None,
            Some(bollard::body_full(bytes::Bytes::from(context))),
        );
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail {
                        return Err(ExecError::new(format!(
                            "building the image failed: {}",
                            detail.message.unwrap_or_default().trim()
                        )));
                    }
                    // The student's own Dockerfile's steps are theirs to read.
                    if let Some(line) = info.stream.filter(|l| !l.trim().is_empty())
                        && spec.use_dockerfile
                    {
                        log.write(LogStream::System, bytes::Bytes::from(line)).await;
                    }
                }
                Err(err) => return Err(engine_error("building the image", &err, &spec.image)),
            }
        }
        Ok(docker
            .inspect_image(tag)
            .await
            .ok()
            .and_then(|inspected| inspected.id))
    }

    /// Pushes the local image `tag` to `registry` as `{registry.repository}:{name}` and
    /// returns its reference by digest (`…@sha256:…`), which a cluster pulls exactly.
    pub async fn push(
        &self,
        tag: &str,
        registry: &Registry,
        name: &str,
    ) -> Result<String, ExecError> {
        let docker = self.docker()?;
        let repository = &registry.repository;
        docker
            .tag_image(
                tag,
                Some(
                    bollard::query_parameters::TagImageOptionsBuilder::new()
                        .repo(repository)
                        .tag(name)
                        .build(),
                ),
            )
            .await
            .map_err(|e| engine_error("tagging the image for the registry", &e, ""))?;
        let credentials =
            registry
                .username
                .as_ref()
                .map(|username| bollard::auth::DockerCredentials {
                    username: Some(username.clone()),
                    password: registry.password.as_ref().map(|p| p.expose().to_owned()),
                    serveraddress: Some(registry.host().to_owned()),
                    ..bollard::auth::DockerCredentials::default()
                });
        let options = bollard::query_parameters::PushImageOptionsBuilder::new()
            .tag(name)
            .build();
        let mut stream = docker.push_image(repository, Some(options), credentials);
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| engine_error("pushing the image", &e, ""))?;
            if let Some(detail) = info.error_detail {
                return Err(ExecError::new(format!(
                    "pushing the image to {} failed: {}",
                    registry.host(),
                    detail.message.unwrap_or_default().trim()
                )));
            }
            if let Some(found) = info.status.as_deref().and_then(pushed_digest) {
                digest = Some(found);
            }
        }
        // The registry holds it now; the local name for it is not needed.
        let _ = docker
            .remove_image(
                &format!("{repository}:{name}"),
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
        let digest = digest.ok_or_else(|| {
            ExecError::new(format!(
                "the registry {} did not say which digest it stored",
                registry.host()
            ))
        })?;
        Ok(format!("{repository}@{digest}"))
    }

    /// The build context: a generated Dockerfile and the checkout, or the checkout alone
    /// when it brings its own Dockerfile.
    async fn context(spec: &RunSpec) -> Result<Vec<u8>, ExecError> {
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || {
            let mut tar = tar::Builder::new(Vec::new());
            tar.follow_symlinks(false);
            if spec.use_dockerfile {
                tar.append_dir_all(".", &spec.checkout)?;
            } else {
                let dockerfile = dockerfile(&spec.image);
                let mut header = tar::Header::new_gnu();
                header.set_size(dockerfile.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())?;
                tar.append_dir_all("src", &spec.checkout)?;
            }
            tar.into_inner()
        })
        .await
        .map_err(|e| ExecError::new(format!("could not pack the checkout: {e}")))?
        .map_err(|e| ExecError::new(format!("could not pack the checkout: {e}")))
    }
}

impl Executor for DockerExecutor {
    type Handle = DockerHandle;

    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Docker
    }

    async fn prepare(&self, spec: &RunSpec, log: &LogSink) -> Result<DockerHandle, ExecError> {
        let tag = image_tag(&self.scope, spec.build_id);
        let image = self.build_image(spec, &tag, log).await?;
        let docker = self.docker()?;
        let container = container_name(&self.scope, spec.build_id);
        let options = CreateContainerOptionsBuilder::new()
            .name(&container)
            .build();
        docker
            .create_container(Some(options), container_config(spec, &tag))
            .await
            .map_err(|e| engine_error("creating the container", &e, &spec.image))?;
        Ok(DockerHandle {
            container,
            output: tokio::sync::Mutex::new(None),
            report: spec
                .report_path
                .clone()
                .filter(|_| !spec.use_dockerfile)
                .map(|path| (path, spec.report_marker.clone())),
            image,
        })
    }

    async fn start(&self, _spec: &RunSpec, handle: &mut DockerHandle) -> Result<(), ExecError> {
        // Attached before the start: following the logs after it can miss the end of the
        // output of a container that exits at once.
        let options = AttachContainerOptionsBuilder::new()
            .stream(true)
            .logs(true)
            .stdout(true)
            .stderr(true)
            .build();
        let docker = self.docker()?;
        let attached = docker
            .attach_container(&handle.container, Some(options))
            .await
            .map_err(|e| engine_error("attaching to the container", &e, ""))?;
        *handle.output.lock().await = Some(attached.output);
        docker
            .start_container(&handle.container, None)
            .await
            .map_err(|e| engine_error("starting the container", &e, ""))
    }

    async fn run(&self, handle: &DockerHandle, log: &LogSink) -> Result<Exit, ExecError> {
        let docker = self.docker()?;
        let attached = handle.output.lock().await.take();
        let mut output = match attached {
            Some(output) => output,
            None => {
                let options = LogsOptionsBuilder::new()
                    .follow(true)
                    .stdout(true)
                    .stderr(true)
                    .build();
                Box::pin(docker.logs(&handle.container, Some(options)))
            }
        };
        let mut tap = handle
            .report
            .as_ref()
            .map(|(_, marker)| ReportTap::new(marker));
        while let Some(item) = output.next().await {
            match item {
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    log.write(LogStream::Stderr, message).await;
                }
                Ok(
                    bollard::container::LogOutput::StdOut { message }
                    | bollard::container::LogOutput::Console { message },
                ) => match &mut tap {
                    Some(tap) => {
                        let output = tap.feed(&message);
                        if !output.is_empty() {
                            log.write(LogStream::Stdout, output.into()).await;
                        }
                    }
                    None => log.write(LogStream::Stdout, message).await,
                },
                Ok(bollard::container::LogOutput::StdIn { .. }) => {}
                Err(err) => {
                    tracing::warn!(container = %handle.container, error = %err, "container log stream broke; waiting for the exit");
                    break;
                }
            }
        }
        let mut carried = None;
        if let (Some(tap), Some((path, _))) = (tap, &handle.report) {
            let (held, report) = tap.finish();
            if !held.is_empty() {
                log.write(LogStream::Stdout, held.into()).await;
            }
            carried = Some(report::carried(path, report));
        }
        // Non-zero exits come back as errors from bollard's wait; the state says it all.
        let _ = docker.wait_container(&handle.container, None).next().await;
        for _ in 0..50 {
            let inspected = docker
                .inspect_container(&handle.container, None)
                .await
                .map_err(|e| engine_error("reading the container's state", &e, ""))?;
            let state = inspected.state.unwrap_or_default();
            if state.running != Some(true) {
                return Ok(Exit {
                    code: state.exit_code,
                    oom_killed: state.oom_killed.unwrap_or(false),
                    signal: None,
                    report: carried,
                    image: handle.image.clone(),
                    timed_out: false,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ExecError::new(
            "the container's output ended but it did not stop",
        ))
    }

    async fn stop(&self, handle: &DockerHandle) {
        let Ok(docker) = self.docker() else {
            return;
        };
        let options = KillContainerOptionsBuilder::new().signal("KILL").build();
        if let Err(err) = docker
            .kill_container(&handle.container, Some(options))
            .await
        {
            tracing::debug!(container = %handle.container, error = %err, "kill failed (it may have ended)");
        }
    }

    async fn cleanup(&self, build_id: i64) {
        let Ok(docker) = self.docker() else {
            return;
        };
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        if let Err(err) = docker
            .remove_container(&container_name(&self.scope, build_id), Some(options))
            .await
            && !is_not_found(&err)
        {
            tracing::warn!(build = build_id, error = %err, "could not remove the build's container");
        }
        if !self.keep_images {
            let options = RemoveImageOptionsBuilder::new().force(true).build();
            if let Err(err) = docker
                .remove_image(&image_tag(&self.scope, build_id), Some(options), None)
                .await
                && !is_not_found(&err)
            {
                tracing::warn!(build = build_id, error = %err, "could not remove the build's image");
            }
        }
    }
}

/// Where images built per build are pushed (`LECTERN_REGISTRY`): a repository such as
/// `registry.example.edu/lectern/builds`, with credentials when it needs them.
#[derive(Clone, Debug)]
pub struct Registry {
    pub repository: String,
    pub username: Option<String>,
    pub password: Option<crate::config::Secret>,
    /// Spoken to over plain HTTP (a registry inside a private network, or a test's).
    pub insecure: bool,
}

impl Registry {
    /// The host, the repository's path on it, and the URL scheme to speak to it with.
    fn parts(&self) -> Result<(&str, &str, &str), String> {
        let (host, path) = self
            .repository
            .split_once('/')
            .ok_or_else(|| format!("{} names no repository", self.repository))?;
        Ok((host, path, if self.insecure { "http" } else { "https" }))
    }

    fn client() -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.username {
            Some(user) => request.basic_auth(user, self.password.as_ref().map(|p| p.expose())),
            None => request,
        }
    }

    /// Every tag in the repository, following the registry's pages.
    pub async fn tags(&self) -> Result<Vec<String>, String> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let (host, path, scheme) = self.parts()?;
        let client = Self::client()?;
        let mut url = format!("{scheme}://{host}/v2/{path}/tags/list?n=1000");
        let mut tags = Vec::new();
        loop {
            let response = self
                .authorized(client.get(&url))
                .send()
                .await
                .map_err(|e| format!("cannot reach the registry {host}: {e}"))?;
            match response.status() {
                // A repository nothing was pushed to yet.
                reqwest::StatusCode::NOT_FOUND => return Ok(tags),
                s if !s.is_success() => {
                    return Err(format!(
                        "the registry {host} did not list {path}'s tags ({s})"
                    ));
                }
                _ => {}
            }
            // `Link: </v2/…/tags/list?last=…&n=1000>; rel="next"` while there is more.
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.split_once('<'))
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(next, _)| format!("{scheme}://{host}{next}"));
            let page: Page = response
                .json()
                .await
                .map_err(|e| format!("the registry {host} sent an unreadable tag list: {e}"))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(next) if next != url => url = next,
                _ => return Ok(tags),
            }
        }
    }

    /// Deletes the image tagged `tag` from the registry (its manifest, by digest). A missing
    /// one is no error.
    pub async fn delete(&self, tag: &str) -> Result<(), String> {
        let (host, path, scheme) = self.parts()?;
        let client = Self::client()?;
        let authorized = |request| self.authorized(request);
        let head = authorized(client.head(format!("{scheme}://{host}/v2/{path}/manifests/{tag}")))
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .await
            .map_err(|e| format!("cannot reach the registry {host}: {e}"))?;
        if head.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        let digest = head
            .headers()
            .get("docker-content-digest")
            .and_then(|d| d.to_str().ok())
            .ok_or_else(|| {
                format!(
                    "the registry {host} did not name the image's digest ({})",
                    head.status()
                )
            })?
            .to_owned();
        let deleted =
            authorized(client.delete(format!("{scheme}://{host}/v2/{path}/manifests/{digest}")))
                .send()
                .await
                .map_err(|e| format!("cannot reach the registry {host}: {e}"))?;
        match deleted.status() {
            s if s.is_success() || s == reqwest::StatusCode::NOT_FOUND => Ok(()),
            s => Err(format!(
                "the registry {host} refused to delete {path}@{digest} ({s}); is deleting enabled (storage.delete.enabled)?"
            )),
        }
    }

    /// The registry's host (and port): what credentials are for.
    pub fn host(&self) -> &str {
        self.repository
            .split('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

/// The digest in an engine's push status (`1: digest: sha256:… size: 345`).
pub fn pushed_digest(status: &str) -> Option<String> {
    let rest = &status[status.find("digest: sha256:")? + "digest: ".len()..];
    let digest: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == ':' || c.is_ascii_alphanumeric())
        .collect();
    (digest.len() == "sha256:".len() + 64).then_some(digest)
}

fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// An engine failure as the student and the operator should read it.
fn engine_error(doing: &str, err: &bollard::errors::Error, image: &str) -> ExecError {
    match err {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => {
            let hint = if *status_code == 404 && !image.is_empty() {
                format!(
                    " (is the image {image} present on the build host? scripts/images builds Lectern's)"
                )
            } else {
                String::new()
            };
            ExecError::new(format!("{doing} failed: {}{hint}", message.trim()))
        }
        other => ExecError::new(format!(
            "{doing} failed: the container engine did not answer ({other}); is it running (DOCKER_HOST)?"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec(use_dockerfile: bool) -> RunSpec {
        RunSpec {
            build_id: 42,
            checkout: PathBuf::from("/tmp/checkout"),
            image: "localhost/lectern-python:3.11".into(),
            command: "python3 -m unittest -v".into(),
            timeout: Duration::from_secs(60),
            memory_mb: 256,
            cpu_millis: 1500,
            pids_limit: 128,
            workspace_mb: 300,
            use_dockerfile,
            report_path: None,
            report_marker: String::new(),
            origin: None,
            image_per_build: false,
            hidden: false,
        }
    }

    #[test]
    fn the_container_is_locked_down_with_the_assignments_limits() {
        let config = container_config(&spec(false), "localhost/lectern-build:42");
        let host = config.host_config.expect("host config");
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(config.network_disabled, Some(true));
        assert_eq!(host.memory, Some(256 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.pids_limit, Some(128));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_owned()])
        );
        assert_eq!(config.user.as_deref(), Some(BUILD_USER));
        let tmpfs = host.tmpfs.expect("tmpfs");
        assert!(tmpfs["/workspace"].contains("size=300m"));
        assert!(tmpfs["/tmp"].contains("size=64m"));
        assert_eq!(
            config.labels.expect("labels")["lectern.build"],
            "42".to_owned()
        );
        // The command travels in the environment, never spliced into shell text.
        let env = config.env.expect("env");
        assert!(env.contains(&"LECTERN_TEST_COMMAND=python3 -m unittest -v".to_owned()));
        assert!(!config.cmd.expect("cmd").join(" ").contains("unittest"));
    }

    #[test]
    fn a_repositorys_own_dockerfile_gets_no_workspace_copy() {
        let config = container_config(&spec(true), "img");
        assert_eq!(
            config.cmd,
            Some(vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                "python3 -m unittest -v".to_owned()
            ])
        );
        assert!(
            !config
                .host_config
                .and_then(|h| h.tmpfs)
                .expect("tmpfs")
                .contains_key("/workspace")
        );
    }

    #[test]
    fn the_pushed_digest_is_read_from_the_engines_status() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            pushed_digest(&format!("build-42: digest: {digest} size: 345")),
            Some(digest)
        );
        assert_eq!(pushed_digest("Pushing [=====>   ]"), None);
        assert_eq!(pushed_digest("digest: sha256:short size: 1"), None);
        let registry = Registry {
            repository: "127.0.0.1:5000/lectern/builds".into(),
            username: None,
            password: None,
            insecure: true,
        };
        assert_eq!(registry.host(), "127.0.0.1:5000");
    }

    #[test]
    fn the_generated_dockerfile_copies_the_checkout_for_the_build_user() {
        assert_eq!(
            dockerfile("localhost/lectern-python:3.11"),
            "FROM localhost/lectern-python:3.11\nWORKDIR /src\nCOPY --chown=1000:1000 src/ /src/\n"
        );
    }
}
