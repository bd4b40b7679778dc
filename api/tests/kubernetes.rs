//! The kubernetes executor against a scripted API server: the real `kube` client sends its
//! requests through a `tower_test` mock (the pattern kube-rs documents), which checks each
//! request — method, path, query, body — and answers as a cluster would, scenario by
//! scenario: success, failure, out of memory, deadline exceeded, an image that cannot be
//! pulled, a commit the init container cannot fetch, and cancel. No cluster is contacted.

mod support;

use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use lectern::builds::log::LogWriter;
use lectern::db::models::LogChunk;
use lectern::executor::kubernetes::{KubernetesExecutor, PerBuild, Settings};
use lectern::executor::{self, Ending, Origin, RunSpec};
use serde_json::{Value, json};
use support::TestApp;

const NS: &str = "lectern-builds";
const SCOPE: &str = "t0";

/// One request the scenario expects, and the answer to it.
struct Step {
    method: Method,
    /// How the path starts, and parts of the query that must be there (`?a=b&c=d`).
    path: String,
    status: u16,
    body: Value,
    /// Checks on the request's JSON body.
    check: Option<fn(&Value)>,
    /// Answers any number of such requests in a row (polling), not just one.
    repeated: bool,
}

fn step(method: Method, path: impl Into<String>, status: u16, body: Value) -> Step {
    Step {
        method,
        path: path.into(),
        status,
        body,
        check: None,
        repeated: false,
    }
}

/// A step answering every such request in a row (the executor polling).
fn polled(method: Method, path: impl Into<String>, status: u16, body: Value) -> Step {
    Step {
        repeated: true,
        ..step(method, path, status, body)
    }
}

fn jobs() -> String {
    format!("/apis/batch/v1/namespaces/{NS}/jobs")
}

fn pods() -> String {
    format!("/api/v1/namespaces/{NS}/pods")
}

fn pod(phase: &str, init: Value, tests: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "build-pod", "namespace": NS },
        "status": {
            "phase": phase,
            "initContainerStatuses": [ container("fetch", init) ],
            "containerStatuses": [ container("tests", tests) ],
        }
    })
}

fn container(name: &str, state: Value) -> Value {
    json!({ "name": name, "image": "img", "imageID": "", "ready": false, "restartCount": 0, "state": state })
}

fn list(items: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items })
}

fn job(conditions: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": { "name": "job", "namespace": NS, "uid": "job-uid-1" },
        "status": { "conditions": conditions }
    })
}

fn not_found() -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found" })
}

const DONE: fn() -> Value = || json!({ "terminated": { "exitCode": 0 } });

/// Plays `steps` on the mock's side; returns every request seen, as `METHOD path?query`.
fn serve(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    steps: Vec<Step>,
) -> tokio::task::JoinHandle<anyhow::Result<Vec<String>>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut waiting = None;
        let mut steps = steps.into_iter().peekable();
        while let Some(expected) = steps.next() {
            loop {
                let next = match waiting.take() {
                    Some(next) => Some(next),
                    None => handle.next_request().await,
                };
                let Some((request, send)) = next else {
                    anyhow::bail!(
                        "the client stopped before `{} {}`",
                        expected.method,
                        expected.path
                    );
                };
                // A polled step ends at the first request that is not another of its kind.
                if expected.repeated && !matches(&expected, &request) && steps.peek().is_some() {
                    waiting = Some((request, send));
                    break;
                }
                let line = answer(&expected, request, send).await?;
                seen.push(line);
                if !expected.repeated {
                    break;
                }
            }
        }
        Ok(seen)
    })
}

/// Whether `request` is another of the requests a polled step answers (the same path).
fn matches(expected: &Step, request: &Request<Body>) -> bool {
    let path = expected.path.split('?').next().unwrap_or_default();
    request.method() == expected.method && request.uri().path() == path
}

/// Checks `request` against `expected` and answers it; returns it as `METHOD path?query`.
async fn answer(
    expected: &Step,
    request: Request<Body>,
    send: tower_test::mock::SendResponse<Response<Body>>,
) -> anyhow::Result<String> {
    let uri = request.uri().clone();
    let line = format!(
        "{} {}{}",
        request.method(),
        uri.path(),
        uri.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    anyhow::ensure!(
        request.method() == expected.method,
        "expected {} {}, got {line}",
        expected.method,
        expected.path
    );
    // The path starts as expected (names end in the build's id, which the database chose);
    // every expected part of the query is there.
    let (path, query) = expected
        .path
        .split_once('?')
        .unwrap_or((expected.path.as_str(), ""));
    anyhow::ensure!(
        uri.path().starts_with(path),
        "expected {}, got {line}",
        expected.path
    );
    for part in query.split('&').filter(|p| !p.is_empty()) {
        anyhow::ensure!(
            uri.query().unwrap_or_default().contains(part),
            "expected {part} in {line}"
        );
    }
    if let Some(check) = expected.check {
        let bytes = http_body_util::BodyExt::collect(request.into_body())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_bytes();
        check(&serde_json::from_slice(&bytes)?);
    }
    let body = match &expected.body {
        Value::String(text) => text.clone().into_bytes(),
        other => serde_json::to_vec(other)?,
    };
    send.send_response(
        Response::builder()
            .status(expected.status)
            .body(Body::from(body))?,
    );
    Ok(line)
}

struct Run {
    ending: Ending,
    log: String,
    seen: Vec<String>,
}

/// An executor whose API server is the mock playing `steps`, and the mock's task.
fn on_mock(
    steps: Vec<Step>,
    per_build: Option<PerBuild>,
) -> (
    KubernetesExecutor,
    tokio::task::JoinHandle<anyhow::Result<Vec<String>>>,
) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = serve(handle, steps);
    let executor = KubernetesExecutor::new(
        kube::Client::new(service, NS),
        Settings {
            namespace: NS.into(),
            git_image: "registry.example.edu/lectern/git:2.47".into(),
            runtime_class: None,
            ttl_seconds: 600,
            unschedulable_grace: Duration::ZERO,
            poll: Duration::from_millis(5),
            per_build,
        },
        SCOPE,
    );
    (executor, server)
}

/// Runs one build through the executor while the mock plays `steps`.
async fn run(steps: Vec<Step>, token: bool, cancel_after: Option<Duration>) -> anyhow::Result<Run> {
    run_with(steps, token, cancel_after, None, false).await
}

/// Like [`run`], on an executor that can build images per build (`per_build`), for an
/// assignment that asks for one (`image_per_build`) or not.
async fn run_with(
    steps: Vec<Step>,
    token: bool,
    cancel_after: Option<Duration>,
    per_build: Option<PerBuild>,
    image_per_build: bool,
) -> anyhow::Result<Run> {
    let (app, repository) = TestApp::with_repository().await?;
    let mut conn = app.db.conn().await?;
    let build = app.manual_build(&repository).await?;
    let (executor, server) = on_mock(steps, per_build.clone());
    let checkout = std::env::temp_dir().join(format!("lectern-k8s-src-{}", build.id));
    std::fs::create_dir_all(&checkout)?;
    std::fs::write(checkout.join("test_k8s.py"), "import unittest\n")?;
    let spec = RunSpec {
        build_id: build.id,
        checkout: checkout.clone(),
        // A cluster pulls the assignment's image from its registry; an image built here
        // starts from a base image this machine has.
        image: if image_per_build {
            "localhost/lectern-python:3.11".into()
        } else {
            "registry.example.edu/cs101/python:3.11".into()
        },
        origin: Some(Origin {
            course_id: build.course_id,
            assignment_id: build.assignment_id,
            clone_url: "https://github.com/octocat/hw1.git".into(),
            commit: build.commit_sha.clone(),
            token: token.then(|| lectern::config::Secret::new("ghs_k8s_token")),
        }),
        image_per_build,
        ..support::run_spec("python3 -m unittest -v")
    };
    let (sink, writer) = LogWriter::start(&app.app, build.id, 1 << 20).await?;
    let cancel = support::cancel_after(cancel_after);
    let ending = tokio::time::timeout(
        Duration::from_secs(20),
        executor::drive(&executor, &spec, &sink, &cancel),
    )
    .await?;
    drop(sink);
    writer.finish().await;
    drop(executor);
    let _ = std::fs::remove_dir_all(&checkout);
    let seen = server
        .await?
        .map_err(|e| anyhow::anyhow!("{e}; the run ended {ending:?}"))?;
    let log: Vec<u8> = LogChunk::list(&mut conn, build.id, None, 10_000)
        .await?
        .into_iter()
        .flat_map(|c| c.data)
        .collect();
    Ok(Run {
        ending,
        log: String::from_utf8_lossy(&log).into_owned(),
        seen,
    })
}

fn job_name(run: &Run) -> String {
    // The Job's name carries the build id, which the database chose.
    run.seen[0].clone()
}

/// The requests every scenario starts with: the Job, then the pod until it runs.
fn start(token: bool) -> Vec<Step> {
    let mut steps = vec![Step {
        check: Some(|body| {
            assert_eq!(body["kind"], "Job");
            assert_eq!(body["spec"]["backoffLimit"], 0);
            let pod = &body["spec"]["template"]["spec"];
            assert_eq!(pod["automountServiceAccountToken"], false);
            assert_eq!(
                pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
                true
            );
            // The token never travels in the Job.
            assert!(!body.to_string().contains("ghs_k8s_token"));
        }),
        ..step(Method::POST, jobs(), 201, job(json!([])))
    }];
    if token {
        steps.push(Step {
            check: Some(|body| {
                assert_eq!(body["kind"], "Secret");
                assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "job-uid-1");
                assert!(
                    body["stringData"]["gitconfig"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("extraHeader = Authorization: Basic ")
                );
            }),
            ..step(
                Method::POST,
                format!("/api/v1/namespaces/{NS}/secrets"),
                201,
                json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "s" } }),
            )
        });
    }
    steps.push(step(
        Method::GET,
        format!("{}?labelSelector=job-name%3Dlectern-{SCOPE}-build-", pods()),
        200,
        list(vec![pod(
            "Pending",
            json!({ "running": {} }),
            json!({ "waiting": { "reason": "PodInitializing" } }),
        )]),
    ));
    steps
}

fn the_job() -> String {
    format!("{}/lectern-{SCOPE}-build-", jobs())
}

/// Deleting the Job (its pod first) and the credentials (gone with it already).
fn cleanup() -> Vec<Step> {
    vec![
        Step {
            check: Some(|body| assert_eq!(body["propagationPolicy"], "Foreground")),
            ..step(Method::DELETE, the_job(), 200, job(json!([])))
        },
        step(
            Method::DELETE,
            format!("/api/v1/namespaces/{NS}/secrets/lectern-{SCOPE}-build-"),
            404,
            not_found(),
        ),
    ]
}

/// The requests of a run whose tests' container prints `output`, up to the Job read with
/// `conditions` (the caller adds how the container ended).
fn ends(token: bool, output: &str, conditions: Value) -> Vec<Step> {
    let mut steps = start(token);
    steps.extend([
        polled(
            Method::GET,
            format!("{}/build-pod", pods()),
            200,
            pod("Running", DONE(), json!({ "running": {} })),
        ),
        step(
            Method::GET,
            format!("{}/build-pod/log?container=tests&follow=true", pods()),
            200,
            json!(output),
        ),
        step(Method::GET, the_job(), 200, job(conditions)),
    ]);
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_build_runs_as_a_job_and_streams_its_log() -> anyhow::Result<()> {
    let mut steps = ends(
        true,
        "test_ok ... ok\nRan 1 test\n",
        json!([{ "type": "Complete", "status": "True" }]),
    );
    steps.push(step(
        Method::GET,
        format!("{}/build-pod", pods()),
        200,
        pod("Succeeded", DONE(), DONE()),
    ));
    steps.extend(cleanup());
    let run = run(steps, true, None).await?;
    let Ending::Exited { exit, .. } = &run.ending else {
        anyhow::bail!("{:?}\n{:#?}", run.ending, run.seen);
    };
    assert_eq!((exit.code, exit.oom_killed), (Some(0), false));
    assert!(
        run.log.contains("test_ok ... ok\nRan 1 test\n"),
        "{}",
        run.log
    );
    assert!(job_name(&run).starts_with("POST /apis/batch/v1/namespaces/lectern-builds/jobs"));
    assert!(run.seen.iter().any(|s| {
        s.starts_with("DELETE /apis/batch/v1/namespaces/lectern-builds/jobs/lectern-t0-build-")
    }));
    Ok(())
}

/// The exit of a run whose tests print `output` and end as `terminated` (a container
/// state), with the log stored.
async fn exit_when_tests_end(
    output: &str,
    terminated: Value,
) -> anyhow::Result<(lectern::executor::Exit, String)> {
    let mut steps = ends(false, output, json!([]));
    steps.push(step(
        Method::GET,
        format!("{}/build-pod", pods()),
        200,
        pod("Failed", DONE(), json!({ "terminated": terminated })),
    ));
    steps.extend(cleanup());
    let run = run(steps, false, None).await?;
    match run.ending {
        Ending::Exited { exit, .. } => Ok((exit, run.log)),
        other => anyhow::bail!("{other:?}"),
    }
}

/// Why a build errors when the cluster first shows its pod as `pod`.
async fn error_when_pod_is(pod: Value) -> anyhow::Result<String> {
    let mut steps = start(false);
    steps.push(step(Method::GET, format!("{}/build-pod", pods()), 200, pod));
    steps.extend(cleanup());
    match run(steps, false, None).await?.ending {
        Ending::Errored(why) => Ok(why),
        other => anyhow::bail!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_out_of_memory_and_the_deadline_end_as_they_should() -> anyhow::Result<()> {
    // Failed tests: the exit code.
    let (exit, log) = exit_when_tests_end("FAIL: test_x\n", json!({ "exitCode": 1 })).await?;
    assert_eq!((exit.code, exit.oom_killed), (Some(1), false));
    assert!(log.contains("FAIL: test_x"));

    // Killed for its memory.
    let (exit, _) = exit_when_tests_end(
        "allocating\n",
        json!({ "exitCode": 137, "reason": "OOMKilled" }),
    )
    .await?;
    assert_eq!((exit.code, exit.oom_killed), (Some(137), true));

    // The Job's deadline passed: timed out, whatever the pod says.
    let mut steps = ends(
        false,
        "looping\n",
        json!([{ "type": "Failed", "status": "True", "reason": "DeadlineExceeded" }]),
    );
    steps.extend(cleanup());
    let late = run(steps, false, None).await?;
    assert!(
        matches!(late.ending, Ending::TimedOut(_)),
        "{:?}",
        late.ending
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_that_cannot_be_pulled_and_failed_fetches_end_at_once_with_the_reason()
-> anyhow::Result<()> {
    let why = error_when_pod_is(pod(
        "Pending",
        DONE(),
        json!({ "waiting": { "reason": "ImagePullBackOff", "message": "Back-off pulling image \"registry.example.edu/cs101/python:3.11\"" } }),
    ))
    .await?;
    assert!(
        why.contains("cannot start registry.example.edu/cs101/python:3.11 (ImagePullBackOff)"),
        "{why}"
    );

    let why = error_when_pod_is(pod(
        "Failed",
        json!({ "terminated": { "exitCode": 128, "message": "fatal: couldn't find remote ref" } }),
        json!({ "waiting": { "reason": "PodInitializing" } }),
    ))
    .await?;
    assert!(
        why.contains(
            "fetching the commit in the cluster failed (exit code 128): fatal: couldn't find remote ref"
        ),
        "{why}"
    );

    // No node can take it (the grace is zero here).
    let why = error_when_pod_is(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "build-pod" },
        "status": { "phase": "Pending", "conditions": [{ "type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient memory." }] }
    }))
    .await?;
    assert!(
        why.contains("no node of the cluster can run this build: 0/3 nodes are available"),
        "{why}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_build_deletes_its_job_with_its_pod_first() -> anyhow::Result<()> {
    let mut steps = start(false);
    steps.extend([
        polled(
            Method::GET,
            format!("{}/build-pod", pods()),
            200,
            pod(
                "Pending",
                json!({ "running": {} }),
                json!({ "waiting": { "reason": "PodInitializing" } }),
            ),
        ),
        // The stop: the Job goes, its pod first.
        Step {
            check: Some(|body| assert_eq!(body["propagationPolicy"], "Foreground")),
            ..step(Method::DELETE, the_job(), 200, job(json!([])))
        },
        step(
            Method::GET,
            format!("{}/build-pod", pods()),
            404,
            not_found(),
        ),
        // The clean-up finds nothing left.
        step(Method::DELETE, the_job(), 404, not_found()),
        step(
            Method::DELETE,
            format!("/api/v1/namespaces/{NS}/secrets/lectern-{SCOPE}-build-"),
            404,
            not_found(),
        ),
    ]);
    let cancelled = run(steps, false, Some(Duration::from_millis(300))).await?;
    assert_eq!(cancelled.ending, Ending::Cancelled, "{:#?}", cancelled.seen);
    Ok(())
}

/// After the Job: its pod found running (or done), the log `output`, and a clean end.
fn runs_to_the_end(output: &str) -> Vec<Step> {
    let mut steps = vec![
        step(
            Method::GET,
            format!("{}?labelSelector=job-name%3Dlectern-{SCOPE}-build-", pods()),
            200,
            list(vec![pod("Running", DONE(), json!({ "running": {} }))]),
        ),
        step(
            Method::GET,
            format!("{}/build-pod/log?container=tests&follow=true", pods()),
            200,
            json!(output),
        ),
        step(Method::GET, the_job(), 200, job(json!([]))),
        step(
            Method::GET,
            format!("{}/build-pod", pods()),
            200,
            pod("Succeeded", DONE(), DONE()),
        ),
    ];
    steps.extend(cleanup());
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_registry_the_job_runs_the_image_built_for_the_build_by_its_digest()
-> anyhow::Result<()> {
    let registry = support::registry::LocalRegistry::start().await?;
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let per_build = PerBuild {
        builder: lectern::executor::DockerExecutor::connect(Some(&host), false, "k8sreg")?,
        registry: lectern::executor::docker::Registry {
            repository: format!("{}/lectern/builds", registry.address),
            username: None,
            password: None,
            insecure: true,
        },
        pull_secret: Some("lectern-registry".into()),
        keep: Duration::ZERO,
    };
    // No fetch in the cluster and no credentials Secret, even for a private repository:
    // the Job runs the pushed image by digest, pulled with the registry's Secret.
    let mut steps = vec![Step {
        check: Some(|body| {
            let pod = &body["spec"]["template"]["spec"];
            let image = pod["containers"][0]["image"].as_str().unwrap_or_default();
            assert!(image.contains("/lectern/builds@sha256:"), "{image}");
            assert!(pod["initContainers"].is_null(), "{pod}");
            assert_eq!(pod["imagePullSecrets"][0]["name"], "lectern-registry");
        }),
        ..step(Method::POST, jobs(), 201, job(json!([])))
    }];
    steps.extend(runs_to_the_end("OK\n"));
    let run = run_with(steps, true, None, Some(per_build), true).await?;
    let Ending::Exited { exit, .. } = &run.ending else {
        anyhow::bail!("{:?}\n{:#?}", run.ending, run.seen);
    };
    assert_eq!(exit.code, Some(0));
    assert!(
        run.log.contains("pushing the image to 127.0.0.1:"),
        "{}",
        run.log
    );
    // The build's image served its one run: it was pushed, and is gone from the registry.
    let name = run
        .seen
        .iter()
        .find_map(|line| line.strip_prefix(&format!("DELETE {}/", jobs())))
        .and_then(|rest| rest.split('?').next())
        .expect("the Job was deleted")
        .to_owned();
    let http = reqwest::Client::new();
    let catalog: serde_json::Value = http
        .get(format!("http://{}/v2/_catalog", registry.address))
        .send()
        .await?
        .json()
        .await?;
    assert!(catalog.to_string().contains("lectern/builds"), "{catalog}");
    let manifest = http
        .head(format!(
            "http://{}/v2/lectern/builds/manifests/{name}",
            registry.address
        ))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await?;
    assert_eq!(manifest.status(), 404, "{name} is still in the registry");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_assignment_chooses_its_image_source() -> anyhow::Result<()> {
    // An assignment that asks for an image per build, on a server without a registry: the
    // build errors before anything reaches the cluster, saying what to set.
    let refused = run_with(cleanup(), false, None, None, true).await?;
    let Ending::Errored(why) = &refused.ending else {
        anyhow::bail!("{:?}", refused.ending);
    };
    assert!(why.contains("set LECTERN_REGISTRY"), "{why}");

    // With a registry, an assignment that runs its own image still fetches in the cluster.
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let per_build = PerBuild {
        builder: lectern::executor::DockerExecutor::connect(Some(&host), false, "k8sreg")?,
        registry: lectern::executor::docker::Registry {
            repository: "127.0.0.1:1/unused".into(),
            username: None,
            password: None,
            insecure: true,
        },
        pull_secret: None,
        keep: Duration::from_secs(3600),
    };
    let mut steps = vec![Step {
        check: Some(|body| {
            let pod = &body["spec"]["template"]["spec"];
            assert_eq!(pod["initContainers"][0]["name"], "fetch", "{pod}");
            assert_eq!(
                pod["containers"][0]["image"],
                "registry.example.edu/cs101/python:3.11"
            );
        }),
        ..step(Method::POST, jobs(), 201, job(json!([])))
    }];
    steps.extend(runs_to_the_end("OK\n"));
    let fetched = run_with(steps, false, None, Some(per_build), false).await?;
    assert!(
        matches!(&fetched.ending, Ending::Exited { exit, .. } if exit.code == Some(0)),
        "{:?}",
        fetched.ending
    );
    Ok(())
}

/// A build of `repository` made to look like one a server that died was running: `running`,
/// held by a worker on another host whose lease ran out, re-run `recoveries` times already.
async fn lost_build(
    app: &TestApp,
    repository: &lectern::db::models::Repository,
    recoveries: i32,
) -> anyhow::Result<lectern::db::models::Build> {
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    use lectern::db::schema::builds;
    let build = app.manual_build(repository).await?;
    let mut conn = app.db.conn().await?;
    let ago = chrono::Utc::now() - chrono::TimeDelta::seconds(30);
    diesel::update(builds::table.find(build.id))
        .set((
            builds::status.eq(lectern::db::enums::BuildStatus::Running),
            builds::worker_id.eq("another-host:1:gone"),
            builds::executor.eq(lectern::db::enums::ExecutorKind::Kubernetes),
            builds::started_at.eq(ago),
            builds::lease_expires_at.eq(ago),
            builds::recoveries.eq(recoveries),
        ))
        .execute(&mut conn)
        .await?;
    Ok(lectern::db::models::Build::find(&mut conn, build.id).await?)
}

/// The Job a dead server started for `build`, as the API server lists it.
fn job_of(build: &lectern::db::models::Build, hidden: bool) -> anyhow::Result<Value> {
    use lectern::executor::kubernetes::manifest::{self, BuildJob, Code};
    let mut job = serde_json::to_value(manifest::job(&BuildJob {
        scope: SCOPE.into(),
        namespace: NS.into(),
        build_id: build.id,
        course_id: build.course_id,
        assignment_id: build.assignment_id,
        image: "registry.example.edu/cs101/python:3.11".into(),
        command: "python3 -m unittest -v".into(),
        code: Code::InImage,
        git_image: "registry.example.edu/lectern/git:2.47".into(),
        timeout_seconds: 600,
        memory_mb: 512,
        cpu_millis: 1000,
        workspace_mb: 100,
        runtime_class: None,
        ttl_seconds: 600,
        image_pull_secret: None,
        report_path: None,
        report_marker: "\u{1e}LECTERN-REPORT-0".into(),
        hidden,
    }))?;
    job["status"] = json!({ "active": 1 });
    Ok(job)
}

/// Starts build workers on a Kubernetes executor whose API server is the mock playing `steps`.
fn workers_on_mock(
    app: &TestApp,
    steps: Vec<Step>,
) -> tokio::task::JoinHandle<anyhow::Result<Vec<String>>> {
    let (executor, server) = on_mock(steps, None);
    lectern::builds::spawn_on(
        app.app.clone(),
        lectern::builds::Executors::Kubernetes(Box::new(executor)),
    );
    server
}

/// Waits until build `id` has ended.
async fn ended(app: &TestApp, id: i64) -> anyhow::Result<lectern::db::models::Build> {
    let mut conn = app.db.conn().await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let build = lectern::db::models::Build::find(&mut conn, id).await?;
        if build.status.is_finished() {
            return Ok(build);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "build {id} is still {:?}",
            build.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_follows_on_the_job_its_predecessor_started() -> anyhow::Result<()> {
    let (app, repository) = TestApp::with_repository().await?;
    let build = lost_build(&app, &repository, 0).await?;
    // What the dead server had stored of the tests' output: the first line.
    let output = "test_one (test_hw.T.test_one) ... ok\ntest_two (test_hw.T.test_two) ... ok\n\n\
                  ----------------------------------------------------------------------\n\
                  Ran 2 tests in 0.001s\n\nOK\n";
    let first_line = output.split_inclusive('\n').next().unwrap_or_default();
    let mut conn = app.db.conn().await?;
    LogChunk::insert_all(
        &mut conn,
        &[
            lectern::db::models::NewLogChunk {
                build_id: build.id,
                seq: 0,
                stream: lectern::db::enums::LogStream::System,
                data: b"running: python3 -m unittest -v\n".to_vec(),
            },
            lectern::db::models::NewLogChunk {
                build_id: build.id,
                seq: 1,
                stream: lectern::db::enums::LogStream::Stdout,
                data: first_line.as_bytes().to_vec(),
            },
        ],
    )
    .await?;
    let digest = format!("sha256:{}", "ab".repeat(32));
    let mut finished = pod("Succeeded", DONE(), DONE());
    finished["status"]["containerStatuses"][0]["imageID"] = json!(format!(
        "docker-pullable://registry.example.edu/cs101/python@{digest}"
    ));
    let mut steps = vec![
        step(
            Method::GET,
            format!("{}?labelSelector=lectern.dev%2Fscope%3D{SCOPE}", jobs()),
            200,
            json!({ "apiVersion": "batch/v1", "kind": "JobList", "metadata": {},
                    "items": [job_of(&build, false)?] }),
        ),
        step(
            Method::GET,
            format!(
                "{}?labelSelector=job-name%3Dlectern-{SCOPE}-build-{}",
                pods(),
                build.id
            ),
            200,
            list(vec![finished.clone()]),
        ),
        step(
            Method::GET,
            format!("{}/build-pod/log?container=tests&follow=true", pods()),
            200,
            json!(output),
        ),
        step(
            Method::GET,
            the_job(),
            200,
            job(json!([{ "type": "Complete", "status": "True" }])),
        ),
        step(Method::GET, format!("{}/build-pod", pods()), 200, finished),
    ];
    steps.extend(cleanup());
    let server = workers_on_mock(&app, steps);
    let done = ended(&app, build.id).await?;
    let seen = server.await??;
    assert_eq!(
        done.status,
        lectern::db::enums::BuildStatus::Passed,
        "{done:?}\n{seen:#?}"
    );
    assert_eq!((done.tests_passed, done.tests_failed), (Some(2), Some(0)));
    assert_eq!(done.image_digest.as_deref(), Some(digest.as_str()));
    assert_eq!(done.recoveries, 0, "followed on, not run again");
    // The output is whole, and none of it twice.
    let stdout = LogChunk::output_text(&mut conn, build.id, false).await?;
    assert_eq!(stdout, output);
    let all: Vec<u8> = LogChunk::list(&mut conn, build.id, None, 1000)
        .await?
        .into_iter()
        .flat_map(|c| c.data)
        .collect();
    let all = String::from_utf8_lossy(&all);
    assert!(all.contains("this server follows it on"), "{all}");
    assert!(
        seen.iter().all(|s| !s.starts_with("POST")),
        "nothing created: {seen:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_builds_without_a_job_to_follow_are_recovered_as_before() -> anyhow::Result<()> {
    let (app, repository) = TestApp::with_repository().await?;
    // One whose Job is gone (its time to live ran out), one that was running its hidden
    // tests (their copy of the commit went with the server): both were re-run once already.
    let gone = lost_build(&app, &repository, 1).await?;
    let hidden = lost_build(&app, &repository, 1).await?;
    let mut steps = vec![step(
        Method::GET,
        format!("{}?labelSelector=lectern.dev%2Fscope%3D{SCOPE}", jobs()),
        200,
        json!({ "apiVersion": "batch/v1", "kind": "JobList", "metadata": {},
                "items": [job_of(&hidden, true)?] }),
    )];
    steps.extend(cleanup());
    steps.extend(cleanup());
    let server = workers_on_mock(&app, steps);
    for id in [gone.id, hidden.id] {
        let done = ended(&app, id).await?;
        assert_eq!(done.status, lectern::db::enums::BuildStatus::Errored);
        assert!(
            done.status_reason
                .as_deref()
                .unwrap_or_default()
                .contains("stopped again"),
            "{done:?}"
        );
    }
    let seen = server.await??;
    for id in [gone.id, hidden.id] {
        let job = format!("DELETE {}/lectern-{SCOPE}-build-{id}", jobs());
        assert!(
            seen.iter().any(|s| s.starts_with(&job)),
            "{job} in {seen:#?}"
        );
    }
    Ok(())
}
