//! The Kubernetes objects a build runs as, made by pure functions from the build's spec: typed
//! `k8s_openapi` structs, never text templates, so a misspelt field does not compile and every
//! setting the sandbox depends on is written in one place and tested here.
//!
//! One Job per build, in the builds namespace. Its pod is locked down: a fixed non-root user,
//! read-only root filesystem, no privilege escalation, every capability dropped, the
//! runtime's default seccomp profile, no service account token, CPU / memory /
//! ephemeral-storage requests and limits, and optionally a sandboxing runtime class (gVisor,
//! Kata). An init container fetches the exact commit into a size-limited `emptyDir`; the
//! tests run in the assignment's image with the workspace as their only writable place
//! besides `/tmp`. Git credentials, when the repository is private, come from a short-lived
//! Secret owned by the Job (so it goes when the Job goes), mounted into the init container
//! alone as a git configuration file — never on a command line or in the environment.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, LocalObjectReference,
    PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, Secret,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::executor::report;

/// The user and group builds run as.
pub const BUILD_UID: i64 = 1000;
/// The test container's name (logs are read from it).
pub const TESTS: &str = "tests";
/// The init container's name.
pub const FETCH: &str = "fetch";
/// The label every object of a build carries, with the build's id.
pub const BUILD_LABEL: &str = "lectern.dev/build";
/// The label naming the installation (see [`crate::executor::scope_for`]).
pub const SCOPE_LABEL: &str = "lectern.dev/scope";
/// The label saying which of a build's runs the Job is: `tests`, or `hidden-tests`.
pub const RUN_LABEL: &str = "lectern.dev/run";
/// Writable scratch space besides the workspace.
const TMP_MB: u64 = 64;
/// Room for the container's own writes (logs, image layers' scratch) beyond the volumes.
const EPHEMERAL_SLACK_MB: u64 = 128;
/// Where the init container finds the git configuration with the credentials.
const GIT_CONFIG_DIR: &str = "/var/run/lectern/git";

/// Where the build's code comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    /// The init container fetches `commit` of `clone_url` into the workspace; with
    /// `credentials`, from the Secret of that name (see [`credentials_secret`]).
    Fetch {
        clone_url: String,
        commit: String,
        credentials: Option<String>,
    },
    /// The image holds the code already (built and pushed per build), at `/src`.
    InImage,
}

/// Everything the Job of one build is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildJob {
    pub scope: String,
    pub namespace: String,
    pub build_id: i64,
    pub course_id: i64,
    pub assignment_id: i64,
    /// The image the tests run in (the assignment's, or the build's own by digest).
    pub image: String,
    pub command: String,
    pub code: Code,
    /// The image with git that fetches the commit.
    pub git_image: String,
    pub timeout_seconds: i64,
    pub memory_mb: u64,
    pub cpu_millis: u64,
    pub workspace_mb: u64,
    /// A sandboxing runtime (`gvisor`, `kata`) when the cluster offers one.
    pub runtime_class: Option<String>,
    /// How long a finished Job stays for its logs to be read.
    pub ttl_seconds: i32,
    /// The Secret to pull the image with (images built per build, from a private registry).
    pub image_pull_secret: Option<String>,
    pub report_path: Option<String>,
    pub report_marker: String,
    /// The run of the hidden tests (a build's second run), not the student's own tests.
    pub hidden: bool,
}

/// What following a build's Job needs, as [`job`] writes it and [`followed`] reads it back
/// from the cluster (a server that restarts finds the Jobs its predecessor started).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Followed {
    pub name: String,
    pub build_id: i64,
    pub hidden: bool,
    pub image: String,
    pub report_path: Option<String>,
    pub report_marker: String,
}

impl Followed {
    pub fn of(build: &BuildJob) -> Self {
        Self {
            name: job_name(&build.scope, build.build_id),
            build_id: build.build_id,
            hidden: build.hidden,
            image: build.image.clone(),
            report_path: build.report_path.clone(),
            report_marker: build.report_marker.clone(),
        }
    }
}

/// Reads back what [`job`] wrote into a Job; `None` for a Job that is not a build's.
pub fn followed(job: &Job) -> Option<Followed> {
    let labels = job.metadata.labels.as_ref()?;
    let build_id = labels.get(BUILD_LABEL)?.parse().ok()?;
    let hidden = labels.get(RUN_LABEL).map(String::as_str) == Some(HIDDEN_RUN);
    let tests = job
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == TESTS)?;
    let var = |name: &str| {
        tests
            .env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    Some(Followed {
        name: job.metadata.name.clone()?,
        build_id,
        hidden,
        image: tests.image.clone()?,
        report_path: var("LECTERN_REPORT_PATH").filter(|p| !p.is_empty()),
        report_marker: var("LECTERN_REPORT_MARKER")?,
    })
}

const HIDDEN_RUN: &str = "hidden-tests";

/// The name of build `build_id`'s Job (and of its credentials Secret).
pub fn job_name(scope: &str, build_id: i64) -> String {
    format!("lectern-{scope}-build-{build_id}")
}

/// The build a Job (or image tag) of installation `scope` is named after (see [`job_name`]).
pub fn build_named(scope: &str, name: &str) -> Option<i64> {
    let id = name.strip_prefix(&format!("lectern-{scope}-build-"))?;
    // Digits only: `parse` would take a sign.
    id.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| id.parse().ok())
        .flatten()
}

/// The labels of every object of a build.
pub fn labels(build: &BuildJob) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "lectern-build".into()),
        ("app.kubernetes.io/managed-by".into(), "lectern".into()),
        (SCOPE_LABEL.into(), build.scope.clone()),
        (BUILD_LABEL.into(), build.build_id.to_string()),
        ("lectern.dev/course".into(), build.course_id.to_string()),
        (
            "lectern.dev/assignment".into(),
            build.assignment_id.to_string(),
        ),
        (
            RUN_LABEL.into(),
            if build.hidden { HIDDEN_RUN } else { "tests" }.into(),
        ),
    ])
}

/// The label selector that finds the objects of every build of an installation.
pub fn scope_selector(scope: &str) -> String {
    format!("{SCOPE_LABEL}={scope}")
}

fn mb(n: u64) -> Quantity {
    Quantity(format!("{n}Mi"))
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn empty_dir(name: &str, size_mb: u64) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: None,
            size_limit: Some(mb(size_mb)),
        }),
        ..Volume::default()
    }
}

/// What every container of a build may do: nothing beyond running as the build user.
fn locked_down() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(BUILD_UID),
        run_as_group: Some(BUILD_UID),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            add: None,
            drop: Some(vec!["ALL".into()]),
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// Requests equal to limits: a build gets what it is allowed, and no more.
fn resources(cpu_millis: u64, memory_mb: u64, ephemeral_mb: u64) -> ResourceRequirements {
    let amounts = BTreeMap::from([
        ("cpu".to_owned(), Quantity(format!("{cpu_millis}m"))),
        ("memory".to_owned(), mb(memory_mb)),
        ("ephemeral-storage".to_owned(), mb(ephemeral_mb)),
    ]);
    ResourceRequirements {
        limits: Some(amounts.clone()),
        requests: Some(amounts),
        claims: None,
    }
}

/// The shell the init container runs: the exact commit, without its history.
const FETCH_SCRIPT: &str = "set -eu; cd /workspace; git init -q; \
git fetch -q --depth 1 \"$LECTERN_CLONE_URL\" \"$LECTERN_COMMIT\"; \
git -c advice.detachedHead=false checkout -q --detach FETCH_HEAD; rm -rf .git";

fn fetch_container(build: &BuildJob, clone_url: &str, commit: &str, secret: bool) -> Container {
    let mut mounts = vec![
        mount("workspace", "/workspace", false),
        mount("tmp", "/tmp", false),
    ];
    let git_config = if secret {
        mounts.push(mount("git-credentials", GIT_CONFIG_DIR, true));
        format!("{GIT_CONFIG_DIR}/gitconfig")
    } else {
        "/dev/null".to_owned()
    };
    Container {
        name: FETCH.into(),
        image: Some(build.git_image.clone()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), FETCH_SCRIPT.into()]),
        env: Some(vec![
            env("LECTERN_CLONE_URL", clone_url),
            env("LECTERN_COMMIT", commit),
            env("HOME", "/tmp"),
            env("GIT_TERMINAL_PROMPT", "0"),
            env("GIT_CONFIG_NOSYSTEM", "1"),
            env("GIT_CONFIG_GLOBAL", git_config),
        ]),
        resources: Some(resources(500, 256, build.workspace_mb + EPHEMERAL_SLACK_MB)),
        security_context: Some(locked_down()),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn tests_container(build: &BuildJob) -> Container {
    // The code is in the workspace (fetched) or in the image at /src, copied into the
    // workspace first so the tests may write beside it.
    let prepare = match build.code {
        Code::Fetch { .. } => "cd /workspace",
        Code::InImage => "cp -R /src/. /workspace/ && cd /workspace",
    };
    let script = format!(
        "{prepare} && /bin/sh -c \"$LECTERN_TEST_COMMAND\"; {}",
        report::SHELL_AFTER
    );
    Container {
        name: TESTS.into(),
        image: Some(build.image.clone()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script]),
        working_dir: Some("/workspace".into()),
        env: Some(vec![
            env("LECTERN_TEST_COMMAND", build.command.clone()),
            env(
                "LECTERN_REPORT_PATH",
                build.report_path.clone().unwrap_or_default(),
            ),
            env("LECTERN_REPORT_MARKER", build.report_marker.clone()),
            env("HOME", "/workspace"),
            env("TMPDIR", "/tmp"),
            env("CI", "true"),
            env("LECTERN", "true"),
            env("LANG", "C.UTF-8"),
        ]),
        resources: Some(resources(
            build.cpu_millis,
            build.memory_mb,
            build.workspace_mb + TMP_MB + EPHEMERAL_SLACK_MB,
        )),
        security_context: Some(locked_down()),
        volume_mounts: Some(vec![
            mount("workspace", "/workspace", false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    }
}

/// The Job that runs `build`.
pub fn job(build: &BuildJob) -> Job {
    let labels = labels(build);
    let mut volumes = vec![
        empty_dir("workspace", build.workspace_mb),
        empty_dir("tmp", TMP_MB),
    ];
    let init_containers = match &build.code {
        Code::Fetch {
            clone_url,
            commit,
            credentials,
        } => {
            if let Some(secret) = credentials {
                volumes.push(Volume {
                    name: "git-credentials".into(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(secret.clone()),
                        default_mode: Some(0o400),
                        ..SecretVolumeSource::default()
                    }),
                    ..Volume::default()
                });
            }
            Some(vec![fetch_container(
                build,
                clone_url,
                commit,
                credentials.is_some(),
            )])
        }
        Code::InImage => None,
    };
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        runtime_class_name: build.runtime_class.clone(),
        termination_grace_period_seconds: Some(5),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(BUILD_UID),
            run_as_group: Some(BUILD_UID),
            fs_group: Some(BUILD_UID),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..PodSecurityContext::default()
        }),
        image_pull_secrets: build
            .image_pull_secret
            .as_ref()
            .map(|name| vec![LocalObjectReference { name: name.clone() }]),
        init_containers,
        containers: vec![tests_container(build)],
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&build.scope, build.build_id)),
            namespace: Some(build.namespace.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(build.timeout_seconds),
            ttl_seconds_after_finished: Some(build.ttl_seconds),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The git configuration that sends `token` to the git host, as the Secret holds it.
pub fn git_config(token: &str) -> String {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    format!("[http]\n\textraHeader = Authorization: Basic {basic}\n")
}

/// The Secret with the credentials to fetch `build`'s commit, owned by its Job (`job_uid`)
/// so that it is deleted with it.
pub fn credentials_secret(build: &BuildJob, job_uid: &str, token: &str) -> Secret {
    let name = job_name(&build.scope, build.build_id);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(build.namespace.clone()),
            labels: Some(labels(build)),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name,
                uid: job_uid.into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([("gitconfig".into(), git_config(token))])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn example(code: Code) -> BuildJob {
        BuildJob {
            scope: "a1b2c3d4".into(),
            namespace: "lectern-builds".into(),
            build_id: 42,
            course_id: 7,
            assignment_id: 3,
            image: "registry.example.edu/cs101/python:3.11".into(),
            command: "python3 -m pytest -q".into(),
            code,
            git_image: "registry.example.edu/lectern/git:2.47".into(),
            timeout_seconds: 600,
            memory_mb: 512,
            cpu_millis: 1000,
            workspace_mb: 300,
            runtime_class: Some("gvisor".into()),
            ttl_seconds: 3600,
            image_pull_secret: None,
            report_path: Some("report.xml".into()),
            report_marker: "\u{1e}LECTERN-REPORT-0123".into(),
            hidden: false,
        }
    }

    fn fetch(credentials: bool) -> Code {
        Code::Fetch {
            clone_url: "https://github.com/octocat/hw1.git".into(),
            commit: "6dcb09b5b57875f334f61aebed695e2e4193db5e".into(),
            credentials: credentials.then(|| job_name("a1b2c3d4", 42)),
        }
    }

    #[test]
    fn every_container_is_locked_down() {
        let job = job(&example(fetch(true)));
        let spec = job.spec.expect("job spec");
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(600));
        assert_eq!(spec.ttl_seconds_after_finished, Some(3600));
        let pod = spec.template.spec.expect("pod spec");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.runtime_class_name.as_deref(), Some("gvisor"));
        let pod_security = pod.security_context.expect("pod security");
        assert_eq!(pod_security.run_as_non_root, Some(true));
        assert_eq!(pod_security.run_as_user, Some(BUILD_UID));
        assert_eq!(
            pod_security.seccomp_profile.map(|p| p.type_).as_deref(),
            Some("RuntimeDefault")
        );
        let containers: Vec<Container> = pod
            .init_containers
            .unwrap_or_default()
            .into_iter()
            .chain(pod.containers)
            .collect();
        assert_eq!(containers.len(), 2);
        for c in &containers {
            let s = c.security_context.clone().expect("container security");
            assert_eq!(s.run_as_non_root, Some(true), "{}", c.name);
            assert_eq!(s.run_as_user, Some(BUILD_UID), "{}", c.name);
            assert_eq!(s.read_only_root_filesystem, Some(true), "{}", c.name);
            assert_eq!(s.allow_privilege_escalation, Some(false), "{}", c.name);
            assert_eq!(
                s.capabilities.and_then(|c| c.drop),
                Some(vec!["ALL".to_owned()])
            );
            let r = c.resources.clone().expect("resources");
            assert_eq!(r.limits, r.requests, "{}", c.name);
            for key in ["cpu", "memory", "ephemeral-storage"] {
                assert!(
                    r.limits.as_ref().is_some_and(|l| l.contains_key(key)),
                    "{key}"
                );
            }
        }
        let tests = containers.iter().find(|c| c.name == TESTS).expect("tests");
        let limits = tests
            .resources
            .clone()
            .and_then(|r| r.limits)
            .expect("limits");
        assert_eq!(limits["cpu"], Quantity("1000m".into()));
        assert_eq!(limits["memory"], Quantity("512Mi".into()));
        // The workspace is size-limited; nothing else is writable but /tmp.
        let volumes = pod.volumes.expect("volumes");
        let workspace = volumes.iter().find(|v| v.name == "workspace").expect("ws");
        assert_eq!(
            workspace.empty_dir.clone().and_then(|e| e.size_limit),
            Some(Quantity("300Mi".into()))
        );
    }

    #[test]
    fn credentials_reach_only_the_fetch_and_never_its_command_or_environment() {
        let build = example(fetch(true));
        let job = job(&build);
        let text = serde_json::to_string(&job).expect("json");
        assert!(!text.contains("x-access-token") && !text.contains("ghs_secret"));
        let pod = job.spec.and_then(|s| s.template.spec).expect("pod");
        let fetcher = &pod.init_containers.expect("init")[0];
        assert!(
            fetcher
                .volume_mounts
                .iter()
                .flatten()
                .any(|m| m.name == "git-credentials" && m.read_only == Some(true))
        );
        assert!(
            !pod.containers[0]
                .volume_mounts
                .iter()
                .flatten()
                .any(|m| m.name == "git-credentials"),
            "the tests never see the credentials"
        );
        let secret = credentials_secret(&build, "uid-1", "ghs_secret");
        let owner = &secret.metadata.owner_references.expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Job", "uid-1"));
        let config = &secret.string_data.expect("data")["gitconfig"];
        assert!(config.starts_with("[http]\n\textraHeader = Authorization: Basic "));
        // Without credentials there is no Secret to mount, and git reads no configuration.
        let public = job_name("a1b2c3d4", 42);
        let open = super::job(&example(fetch(false)));
        let text = serde_json::to_string(&open).expect("json");
        assert!(!text.contains("git-credentials"), "{public}");
        assert!(text.contains("\"GIT_CONFIG_GLOBAL\",\"value\":\"/dev/null\""));
    }

    #[test]
    fn an_image_built_per_build_needs_no_fetch_and_may_need_a_pull_secret() {
        let mut build = example(Code::InImage);
        build.image = "registry.example.edu/lectern/build@sha256:abc".into();
        build.image_pull_secret = Some("lectern-registry".into());
        build.runtime_class = None;
        let pod = job(&build).spec.and_then(|s| s.template.spec).expect("pod");
        assert!(pod.init_containers.is_none());
        assert_eq!(pod.runtime_class_name, None);
        assert_eq!(
            pod.image_pull_secrets,
            Some(vec![LocalObjectReference {
                name: "lectern-registry".into()
            }])
        );
        let command = pod.containers[0]
            .command
            .clone()
            .unwrap_or_default()
            .join(" ");
        assert!(command.contains("cp -R /src/. /workspace/"), "{command}");
    }

    #[test]
    fn names_lead_back_to_their_build() {
        assert_eq!(build_named("a1b2", &job_name("a1b2", 42)), Some(42));
        assert_eq!(
            build_named("a1b2", &job_name("ffff", 42)),
            None,
            "another scope"
        );
        assert_eq!(build_named("a1b2", "lectern-a1b2-build-+4"), None);
        assert_eq!(build_named("a1b2", "lectern-a1b2-build-"), None);
        assert_eq!(build_named("a1b2", "latest"), None);
    }

    #[test]
    fn a_job_read_back_from_the_cluster_says_how_to_follow_it() {
        let mut hidden = example(Code::InImage);
        hidden.hidden = true;
        hidden.report_path = None;
        for build in [example(fetch(true)), example(fetch(false)), hidden] {
            let job = job(&build);
            // As the API server returns it: through JSON.
            let json = serde_json::to_value(&job).expect("json");
            let back: Job = serde_json::from_value(json).expect("a Job");
            assert_eq!(followed(&back), Some(Followed::of(&build)));
        }
        let mut foreign = job(&example(fetch(false)));
        foreign.metadata.labels = Some(BTreeMap::from([("app".into(), "other".into())]));
        assert_eq!(followed(&foreign), None, "not a build's Job");
    }

    /// The Jobs as YAML, kept in `k8s/examples/` (where `scripts/test` validates them
    /// against Kubernetes' schemas); a change to the manifests shows there as a diff.
    #[test]
    fn the_example_jobs_match_their_snapshots() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/examples");
        let mut per_build = example(Code::InImage);
        per_build.image = "registry.example.edu/lectern/build@sha256:0123456789abcdef".into();
        per_build.image_pull_secret = Some("lectern-registry".into());
        let cases = [
            ("job-fetch-private.yaml", job(&example(fetch(true)))),
            ("job-fetch-public.yaml", job(&example(fetch(false)))),
            ("job-image-per-build.yaml", job(&per_build)),
        ];
        let update = std::env::var_os("LECTERN_UPDATE_SNAPSHOTS").is_some();
        for (file, job) in cases {
            let yaml = format!(
                "# Generated by api/src/executor/kubernetes/manifest.rs (an example build); do not edit.\n{}",
                serde_yaml::to_string(&job).expect("yaml")
            );
            let path = root.join(file);
            if update {
                std::fs::create_dir_all(&root).expect("dir");
                std::fs::write(&path, &yaml).expect("write");
            }
            let stored = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                stored == yaml,
                "{file} is out of date; run LECTERN_UPDATE_SNAPSHOTS=1 cargo test -p lectern --lib manifest and review the diff"
            );
        }
    }
}
