//! Images built per build: the image is built through the container engine's Docker API
//! (Podman here), pushed to a real registry this test starts (Debian's `docker-registry`, the
//! CNCF distribution registry), and pulled back by the digest a Kubernetes Job would name;
//! the test command then runs in what was pulled.

mod support;

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use futures::StreamExt as _;
use lectern::builds::log::LogWriter;
use lectern::executor::docker::{DockerExecutor, Registry};
use lectern::executor::kubernetes::manifest::{self, Code};
use lectern::executor::{Executor as _, RunSpec};
use support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_built_per_build_is_pushed_and_runs_as_pulled_by_its_digest() -> anyhow::Result<()>
{
    let registry = support::registry::LocalRegistry::start().await?;
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let executor = DockerExecutor::connect(Some(&host), false, "regtest")?;

    // A build to hang the log on, and a checkout with a passing test.
    let (app, repository) = TestApp::with_repository().await?;
    let build = app.manual_build(&repository).await?;
    let checkout = std::env::temp_dir().join(format!("lectern-registry-src-{}", build.id));
    std::fs::create_dir_all(&checkout)?;
    std::fs::write(
        checkout.join("test_pulled.py"),
        "import unittest\n\nclass Pulled(unittest.TestCase):\n    def test_runs(self):\n        print('RAN-FROM-THE-REGISTRY')\n",
    )?;
    let spec = RunSpec {
        build_id: build.id,
        checkout: checkout.clone(),
        ..support::run_spec("python3 -m unittest -v")
    };
    let (sink, writer) = LogWriter::start(&app.app, build.id, 1 << 20).await?;
    let tag = lectern::executor::docker::image_tag("regtest", build.id);
    let built = executor.build_image(&spec, &tag, &sink).await?;
    let target = Registry {
        repository: format!("{}/lectern/builds", registry.address),
        username: None,
        password: None,
        insecure: true,
    };
    let reference = executor
        .push(&tag, &target, &format!("build-{}", build.id))
        .await?;
    drop(sink);
    writer.finish().await;
    assert!(
        reference.starts_with(&format!("{}/lectern/builds@sha256:", registry.address)),
        "{reference}"
    );
    assert!(built.is_some());

    // Nothing of it left locally: what runs next comes from the registry.
    let docker = Docker::connect_with_socket(&host, 120, bollard::API_DEFAULT_VERSION)?;
    executor.cleanup(build.id).await;
    assert!(
        docker.inspect_image(&tag).await.is_err(),
        "the local image is gone"
    );
    let pull = bollard::query_parameters::CreateImageOptionsBuilder::new()
        .from_image(&reference)
        .build();
    let mut pulling = docker.create_image(Some(pull), None, None);
    while let Some(step) = pulling.next().await {
        step?;
    }

    // The Job for this build would run exactly that digest, with no fetch of its own.
    let job = manifest::job(&manifest::BuildJob {
        scope: "regtest".into(),
        namespace: "lectern-builds".into(),
        build_id: build.id,
        course_id: build.course_id,
        assignment_id: build.assignment_id,
        image: reference.clone(),
        command: spec.command.clone(),
        code: Code::InImage,
        git_image: String::new(),
        timeout_seconds: 60,
        memory_mb: 256,
        cpu_millis: 1000,
        workspace_mb: 64,
        runtime_class: None,
        ttl_seconds: 60,
        image_pull_secret: Some("lectern-registry".into()),
        report_path: None,
        report_marker: String::new(),
        hidden: false,
    });
    let pod = job.spec.and_then(|s| s.template.spec).expect("pod");
    assert_eq!(pod.containers[0].image.as_deref(), Some(reference.as_str()));
    assert!(pod.init_containers.is_none());

    // Run the pulled image as the Job's container would: the code is at /src.
    let name = format!("lectern-regtest-run-{}", build.id);
    docker
        .create_container(
            Some(
                bollard::query_parameters::CreateContainerOptionsBuilder::new()
                    .name(&name)
                    .build(),
            ),
            ContainerCreateBody {
                image: Some(reference.clone()),
                cmd: Some(vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "cd /src && python3 -m unittest -v 2>&1".into(),
                ]),
                user: Some("1000:1000".into()),
                network_disabled: Some(true),
                ..ContainerCreateBody::default()
            },
        )
        .await?;
    docker.start_container(&name, None).await?;
    let _ = docker.wait_container(&name, None).next().await;
    let mut output = String::new();
    let mut logs = docker.logs(
        &name,
        Some(
            bollard::query_parameters::LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    while let Some(chunk) = logs.next().await {
        output.push_str(&chunk?.to_string());
    }
    let _ = docker
        .remove_container(
            &name,
            Some(
                bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .build(),
            ),
        )
        .await;
    let _ = docker
        .remove_image(
            &reference,
            Some(
                bollard::query_parameters::RemoveImageOptionsBuilder::new()
                    .force(true)
                    .build(),
            ),
            None,
        )
        .await;
    let _ = std::fs::remove_dir_all(&checkout);
    assert!(output.contains("RAN-FROM-THE-REGISTRY"), "{output}");
    assert!(output.contains("OK"), "{output}");
    Ok(())
}

/// Pushes an image of its own (a checkout naming `build_id`) as build `build_id`'s, tagged as
/// the Kubernetes executor tags them.
async fn push_build_image(
    app: &TestApp,
    builder: &DockerExecutor,
    registry: &Registry,
    log_build: i64,
    build_id: i64,
) -> anyhow::Result<()> {
    let checkout = std::env::temp_dir().join(format!("lectern-sweep-src-{build_id}"));
    std::fs::create_dir_all(&checkout)?;
    std::fs::write(checkout.join("build.txt"), build_id.to_string())?;
    let spec = RunSpec {
        build_id,
        checkout: checkout.clone(),
        ..support::run_spec("true")
    };
    let (sink, writer) = LogWriter::start(&app.app, log_build, 1 << 20).await?;
    let tag = lectern::executor::docker::image_tag(SWEEP_SCOPE, build_id);
    builder.build_image(&spec, &tag, &sink).await?;
    builder
        .push(&tag, registry, &manifest::job_name(SWEEP_SCOPE, build_id))
        .await?;
    builder.cleanup(build_id).await;
    drop(sink);
    writer.finish().await;
    let _ = std::fs::remove_dir_all(&checkout);
    Ok(())
}

const SWEEP_SCOPE: &str = "sweep";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_deletes_images_kept_past_their_time_and_those_of_builds_gone()
-> anyhow::Result<()> {
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    use lectern::db::schema::builds;
    let registry = support::registry::LocalRegistry::start().await?;
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let builder = DockerExecutor::connect(Some(&host), false, SWEEP_SCOPE)?;
    let target = Registry {
        repository: format!("{}/lectern/builds", registry.address),
        username: None,
        password: None,
        insecure: true,
    };
    let (app, repository) = TestApp::with_repository().await?;
    let mut conn = app.db.conn().await?;
    // Ended 3 hours ago, ended 10 minutes ago, still queued; and one that no longer exists.
    let mut ids = Vec::new();
    for ended in [Some(180), Some(10), None] {
        let build = app.manual_build(&repository).await?;
        if let Some(minutes) = ended {
            let at = chrono::Utc::now() - chrono::TimeDelta::minutes(minutes);
            diesel::update(builds::table.find(build.id))
                .set((
                    builds::received_at.eq(at),
                    builds::queued_at.eq(at),
                    builds::status.eq(lectern::db::enums::BuildStatus::Cancelled),
                    builds::finished_at.eq(at),
                ))
                .execute(&mut conn)
                .await?;
        }
        ids.push(build.id);
    }
    let gone = ids[2] + 1000;
    for id in ids.iter().copied().chain([gone]) {
        push_build_image(&app, &builder, &target, ids[0], id).await?;
    }
    let mut tags = target.tags().await.map_err(anyhow::Error::msg)?;
    tags.sort();
    assert_eq!(tags.len(), 4, "{tags:?}");

    let (service, _handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    let executor = lectern::executor::kubernetes::KubernetesExecutor::new(
        kube::Client::new(service, "lectern-builds"),
        lectern::executor::kubernetes::Settings {
            namespace: "lectern-builds".into(),
            git_image: "unused".into(),
            runtime_class: None,
            ttl_seconds: 600,
            unschedulable_grace: std::time::Duration::ZERO,
            poll: std::time::Duration::from_millis(5),
            per_build: Some(lectern::executor::kubernetes::PerBuild {
                builder: builder.clone(),
                registry: target.clone(),
                pull_secret: None,
                keep: std::time::Duration::from_secs(3600),
            }),
        },
        SWEEP_SCOPE,
    );
    let deleted = lectern::builds::images::sweep(&app.app, &executor)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(deleted, 2);
    let mut left = target.tags().await.map_err(anyhow::Error::msg)?;
    left.sort();
    let mut kept = vec![
        manifest::job_name(SWEEP_SCOPE, ids[1]),
        manifest::job_name(SWEEP_SCOPE, ids[2]),
    ];
    kept.sort();
    assert_eq!(left, kept);
    Ok(())
}
