//! Logs an operator can follow: JSON lines when asked, each line of a request carrying its
//! id (the id a user is shown in the response and in GraphQL errors), each line of a
//! build's processing carrying the build's id.

mod support;

use std::time::{Duration, Instant};

use lectern::db::enums::BuildStatus;
use lectern::db::models::Build;
use serde_json::{Value, json};
use support::TestApp;
use support::process::{LOCAL_BUILDS, ServerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_id_is_in_the_response_and_in_graphql_errors() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let http = reqwest::Client::new();
    let ask = async |id: Option<&str>| -> anyhow::Result<(String, Value)> {
        let mut request = http
            .post(format!("{}/graphql", app.base))
            .json(&json!({ "query": "{ nope }" }));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        let response = request.send().await?;
        let header = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok((header, response.json().await?))
    };
    // Made by the server: a UUID, the same in the header and the error.
    let (id, body) = ask(None).await?;
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str());
    // One a proxy in front already gave the request is kept…
    let (kept, body) = ask(Some("edge-7f3a.42")).await?;
    assert_eq!(kept, "edge-7f3a.42");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "edge-7f3a.42");
    // …unless it would garble or bloat the logs.
    for unusable in ["a b\tc", &"x".repeat(200)] {
        let (replaced, body) = ask(Some(unusable)).await?;
        assert_eq!(replaced.len(), 36, "{replaced}");
        assert_eq!(
            body["errors"][0]["extensions"]["requestId"],
            replaced.as_str()
        );
    }
    Ok(())
}

/// The JSON lines of `path` that parse (all should).
fn json_lines(path: &std::path::Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| anyhow::anyhow!("not JSON ({e}): {l}")))
        .collect()
}

/// The value of `field` in any span around the line.
fn span_field<'a>(line: &'a Value, field: &str) -> Option<&'a Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find_map(|span| span.get(field))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_the_build_id_on_every_line() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let local = app.local_build("echo checking; exit 1").await?;
    let build = &local.build;

    let log = tempfile::NamedTempFile::new()?;
    let mut env = LOCAL_BUILDS.to_vec();
    env.extend([
        ("LECTERN_LOG_FORMAT", "json"),
        ("LECTERN_LOG", "info,lectern=debug"),
    ]);
    let mut server = ServerProcess::start_logging(&app.db.url, &env, Some(log.path())).await?;
    // A request that logs: a delivery with a wrong signature, with an id to follow.
    let push = json!({ "ref": "refs/heads/main", "after": "f".repeat(40), "deleted": false,
                       "head_commit": null, "repository": { "id": 9, "full_name": "alan/hw1" } });
    let refused = reqwest::Client::new()
        .post(format!("{}/webhooks/github", server.base))
        .header("x-github-event", "push")
        .header("x-github-delivery", "follow-me")
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .header("x-request-id", "trace-me-42")
        .json(&push)
        .send()
        .await?;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-request-id"], "trace-me-42");
    let mut conn = app.db.conn().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Build::find(&mut conn, build.id).await?.status != BuildStatus::Failed {
        anyhow::ensure!(Instant::now() < deadline, "the build did not fail in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();

    let lines = json_lines(log.path())?;
    assert!(lines.len() > 5, "{lines:?}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    // The refusal, and every other line of that request, carries its id.
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| span_field(l, "request_id") == Some(&json!("trace-me-42")))
        .collect();
    assert!(
        of_request.iter().any(|l| l["message"] == "webhook refused"
            && l["reason"]
                .as_str()
                .is_some_and(|r| r.contains("signature"))),
        "{of_request:?}"
    );
    for line in &lines {
        if line["message"] == "webhook refused" {
            assert_eq!(
                span_field(line, "request_id"),
                Some(&json!("trace-me-42")),
                "{line}"
            );
        }
    }
    // The build's lines, from its start to its end, carry its id.
    let of_build: Vec<&Value> = lines
        .iter()
        .filter(|l| span_field(l, "build_id") == Some(&json!(build.id)))
        .collect();
    let messages: Vec<&str> = of_build
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    assert!(messages.contains(&"build finished"), "{messages:?}");
    for line in &lines {
        if line["message"] == "build finished" {
            assert_eq!(
                span_field(line, "build_id"),
                Some(&json!(build.id)),
                "{line}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_as_traces_when_a_collector_is_configured() -> anyhow::Result<()> {
    use std::sync::{Arc, Mutex};
    // An OTLP/HTTP collector: records what is posted to /v1/traces.
    type Posts = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let received: Posts = Arc::default();
    let seen = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let kind = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((kind, body.to_vec()));
                axum::http::StatusCode::OK
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, collector).await;
    });

    let db = support::TestDb::new().await?;
    let server = ServerProcess::start(
        &db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("LECTERN_EXECUTOR", "none"),
        ],
    )
    .await?;
    let answered = reqwest::Client::new()
        .get(format!("{}/readyz", server.base))
        .header("x-request-id", "traced-request-77")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await?;
    assert_eq!(answered.status(), 200);
    let caller_trace: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&"4bf92f3577b34da6a3ce929d0e0e4736"[i * 2..i * 2 + 2], 16))
        .collect::<Result<_, _>>()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let posts = received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // Protobuf keeps strings as they are: the service, the span and its fields.
        let found = posts.iter().any(|(kind, body)| {
            let has = |needle: &str| body.windows(needle.len()).any(|w| w == needle.as_bytes());
            kind == "application/x-protobuf"
                && has("lectern")
                && has("request")
                && has("/readyz")
                && has("traced-request-77")
                // The caller's trace id (as 16 raw bytes): the request joined its trace.
                && body.windows(16).any(|w| w == caller_trace.as_slice())
        });
        if found {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no trace of the request reached the collector ({} posts)",
            posts.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
