//! The HTTP surface: health, sessions and cookies, limits, hostile requests.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let http = reqwest::Client::new();
    let live = http.get(format!("{}/healthz", app.base)).send().await?;
    assert_eq!(live.status(), StatusCode::OK);
    assert!(
        live.headers().contains_key("x-request-id"),
        "request ids are returned"
    );
    let ready = http.get(format!("{}/readyz", app.base)).send().await?;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await?;
    assert_eq!(body["ready"], json!(true));
    assert_eq!(body["migrations"]["pending"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_migrations_are_missing() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    lectern::db::revert_all(&app.db.url).await?;
    let ready = reqwest::get(format!("{}/readyz", app.base)).await?;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await?;
    assert_eq!(body["ready"], json!(false));
    assert_eq!(
        body["migrations"]["pending"].as_array().map(Vec::len),
        Some(lectern_migration_count())
    );
    Ok(())
}

fn lectern_migration_count() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().join("up.sql").is_file())
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_is_http_only_lax_and_logout_ends_it() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http
        .post(format!("{}/auth/dev/login", app.base))
        .form(&[("login", "ada"), ("next", "//evil.example/x")])
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/", "never redirected off-site");
    let cookie = resp.headers()["set-cookie"].to_str()?.to_owned();
    assert!(cookie.starts_with("lectern_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: {cookie}"
    );

    let client = app.sign_in("ada").await?;
    client.gql("{ me { login } }", json!({})).await?.ok()?;
    let out = client
        .http
        .post(format!("{}/auth/logout", app.base))
        .send()
        .await?;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let me = client.gql("{ me { login } }", json!({})).await?.ok()?;
    assert_eq!(me.at("me"), &json!(null));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_public_url_makes_the_cookie_secure_and_host_only() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("LECTERN_PUBLIC_URL", "https://ci.example.edu")
        .start()
        .await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http
        .post(format!("{}/auth/dev/login", app.base))
        .form(&[("login", "ada")])
        .send()
        .await?;
    let cookie = resp.headers()["set-cookie"].to_str()?;
    assert!(
        cookie.starts_with("__Host-lectern_session=") && cookie.contains("Secure"),
        "{cookie}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_stale_cookie_is_no_session() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let http = reqwest::Client::new();
    for cookie in [
        "lectern_session=forged",
        "lectern_session=",
        &format!("lectern_session={}", "x".repeat(5000)),
    ] {
        let resp = http
            .post(format!("{}/graphql", app.base))
            .header("cookie", cookie)
            .json(&json!({ "query": "{ me { login } }" }))
            .send()
            .await?;
        let body: Value = resp.json().await?;
        assert_eq!(body["data"]["me"], json!(null), "{cookie:.40}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_sign_in_is_off_unless_configured() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("LECTERN_DEV_LOGIN", "false")
        .start()
        .await?;
    let resp = reqwest::Client::new()
        .post(format!("{}/auth/dev/login", app.base))
        .form(&[("login", "ada")])
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let options = app
        .anonymous()
        .gql("{ signInOptions { devLogin } }", json!({}))
        .await?
        .ok()?;
    assert_eq!(options.at("signInOptions.devLogin"), &json!(false));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_only_in_development_mode() -> anyhow::Result<()> {
    let prod = TestApp::new().await?;
    assert_eq!(
        reqwest::get(format!("{}/graphql", prod.base))
            .await?
            .status(),
        StatusCode::NOT_FOUND
    );
    let dev = TestApp::builder()
        .env("LECTERN_DEV_MODE", "true")
        .start()
        .await?;
    let page = reqwest::get(format!("{}/graphql", dev.base)).await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await?.contains("graphiql"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_graphql_gets_coded_errors() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let resp = ada.gql("{ me { login ", json!({})).await?;
    assert_eq!(
        resp.error_code(),
        Some("GRAPHQL_PARSE_FAILED"),
        "{}",
        resp.body
    );
    let resp = ada.gql("{ me { nonsense } }", json!({})).await?;
    assert_eq!(
        resp.error_code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{}",
        resp.body
    );
    let resp = ada
        .gql("query($id: ID!) { assignment(id: $id) { id } }", json!({}))
        .await?;
    assert_eq!(
        resp.error_code(),
        Some("BAD_USER_INPUT"),
        "missing variable: {}",
        resp.body
    );

    // Too deep: introspection's type chain nests as far as a client asks.
    let mut nested = String::from("name");
    for _ in 0..14 {
        nested = format!("ofType {{ {nested} }}");
    }
    let resp = ada
        .gql(
            &format!("{{ __schema {{ types {{ fields {{ type {{ {nested} }} }} }} }} }}"),
            json!({}),
        )
        .await?;
    assert_eq!(
        resp.error_code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{}",
        resp.body
    );
    assert!(
        resp.error_message()
            .unwrap_or_default()
            .contains("nested too deep"),
        "{}",
        resp.body
    );

    // Too complex: thousands of aliased fields.
    let wide: String = (0..1500).map(|i| format!("a{i}: login ")).collect();
    let resp = ada
        .gql(&format!("{{ me {{ {wide} }} }}"), json!({}))
        .await?;
    assert_eq!(
        resp.error_code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{}",
        &resp.body.to_string()[..200.min(resp.body.to_string().len())]
    );
    assert!(
        resp.error_message().unwrap_or_default().contains("complex"),
        "{:?}",
        resp.error_message()
    );
    // The server is still answering.
    ada.gql("{ me { login } }", json!({})).await?.ok()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_wrong_content_types_and_foreign_origins_are_refused() -> anyhow::Result<()>
{
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let big =
        json!({ "query": "{ me { login } }", "variables": { "pad": "x".repeat(300 * 1024) } });
    // The server answers 413 from Content-Length and closes the connection; a client still
    // writing the body may see the closed connection before it reads the answer.
    match ada
        .http
        .post(format!("{}/graphql", app.base))
        .json(&big)
        .send()
        .await
    {
        Ok(resp) => {
            assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
            // Its connection ends: the client must not send the next request on it.
            assert_eq!(
                resp.headers().get("connection").map(|v| v.as_bytes()),
                Some(&b"close"[..])
            );
        }
        Err(err) => assert!(
            err.is_request(),
            "the refusal should end the request: {err:?}"
        ),
    }

    let resp = ada
        .http
        .post(format!("{}/graphql", app.base))
        .header("content-type", "text/plain")
        .body(
            r#"{"query":"mutation { createCourse(input: {slug: \"csrf\", name: \"x\"}) { id } }"}"#,
        )
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let resp = ada
        .http
        .post(format!("{}/graphql", app.base))
        .header("origin", "https://evil.example")
        .json(&json!({ "query": "mutation { createCourse(input: {slug: \"csrf\", name: \"x\"}) { id } }" }))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let same_origin = ada
        .http
        .post(format!("{}/graphql", app.base))
        .header("origin", app.base.as_str())
        .json(&json!({ "query": "{ me { login } }" }))
        .send()
        .await?;
    assert_eq!(same_origin.status(), StatusCode::OK);
    let mine = ada
        .gql("{ me { courses { slug } } }", json!({}))
        .await?
        .ok()?;
    assert_eq!(
        mine.at("me.courses"),
        &json!([]),
        "no refused request created anything"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_do_not_leak_sql() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    // Break the database under the running server.
    let mut conn = app.db.conn().await?;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("ALTER TABLE courses RENAME TO courses_gone"),
        &mut conn,
    )
    .await?;
    let resp = ada
        .gql(
            "mutation { createCourse(input: { slug: \"c1\", name: \"C\" }) { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(resp.error_code(), Some("INTERNAL_SERVER_ERROR"));
    let message = resp.error_message().unwrap_or_default();
    assert!(message.contains("reference"), "{message}");
    for leak in ["courses", "relation", "SELECT", "INSERT", "diesel"] {
        assert!(!message.contains(leak), "leaked `{leak}`: {message}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_built_client_the_root_says_how_to_build_it() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let resp = reqwest::get(format!("{}/", app.base)).await?;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("content-security-policy"));
    assert!(resp.text().await?.contains("scripts/build-web"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_client_is_served_with_deep_links() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("lectern-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>Lectern</title><div id=main></div>",
    )?;
    std::fs::write(dir.join("app.js"), "console.log('hi')")?;
    let app = TestApp::builder()
        .env("LECTERN_WEB_DIR", dir.to_str().unwrap_or_default())
        .start()
        .await?;
    let js = reqwest::get(format!("{}/app.js", app.base)).await?;
    assert_eq!(js.status(), StatusCode::OK);
    assert!(
        js.headers()["content-type"]
            .to_str()?
            .contains("javascript")
    );
    let deep = reqwest::get(format!("{}/courses/cs101", app.base)).await?;
    assert_eq!(deep.status(), StatusCode::OK);
    let csp = deep.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(deep.text().await?.contains("<div id=main>"));
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompressed_files_go_to_browsers_that_accept_them() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("lectern-web-br-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("index.html"), "<!doctype html><div id=main></div>")?;
    std::fs::write(dir.join("web_bg.wasm"), b"\0asm plain")?;
    std::fs::write(dir.join("web_bg.wasm.br"), b"brotli bytes")?;
    std::fs::write(dir.join("web_bg.wasm.gz"), b"gzip bytes")?;
    let app = TestApp::builder()
        .env("LECTERN_WEB_DIR", dir.to_str().unwrap_or_default())
        .start()
        .await?;
    // reqwest here decodes nothing, so the bytes show which file was sent.
    let client = reqwest::Client::builder().no_brotli().no_gzip().build()?;
    let get = |encoding: &'static str| {
        client
            .get(format!("{}/web_bg.wasm", app.base))
            .header("accept-encoding", encoding)
            .send()
    };
    let br = get("gzip, br").await?;
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["content-type"], "application/wasm");
    assert_eq!(br.bytes().await?.as_ref(), b"brotli bytes");
    let gz = get("gzip").await?;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.bytes().await?.as_ref(), b"gzip bytes");
    let plain = get("identity").await?;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await?.as_ref(), b"\0asm plain");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
