//! The web client in a real browser: headless Chromium driven over WebDriver, against a real
//! server serving the built client on the same origin.
//!
//! Needs Chromium, chromedriver and a built client (`scripts/build-web`); `scripts/test`
//! provides all three and runs it. Plain `cargo test` lists it as ignored, with the reason.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::TestApp;

fn web_dir() -> String {
    std::env::var("LECTERN_TEST_WEB_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../web/dist").to_owned())
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("cannot run {binary}: install chromium-driver (scripts/test does)")
            })?;
        let driver = Self { child, port };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(driver);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("chromedriver did not start listening on {port}")
    }

    async fn browser(&self) -> anyhow::Result<Client> {
        // Two TLS backends are linked (reqwest's and fantoccini's); pick one for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = std::env::temp_dir().join(format!(
            "lectern-chromium-{}-{}",
            std::process::id(),
            self.port
        ));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display())]
            }),
        );
        Ok(ClientBuilder::rustls()?
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await?)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn text_of(browser: &Client, css: &str) -> anyhow::Result<String> {
    let element = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("`{css}` never appeared"))?;
    Ok(element.text().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and a built web client; scripts/test runs it"]
async fn a_signed_in_user_sees_their_courses_and_opens_one() -> anyhow::Result<()> {
    let dir = web_dir();
    if !std::path::Path::new(&dir).join("web_bg.wasm").is_file() {
        bail!("no built web client in {dir}: run scripts/build-web");
    }
    let app = TestApp::builder()
        .env("LECTERN_WEB_DIR", &dir)
        .start()
        .await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    ada.gql(
        "mutation($c: ID!) { createAssignment(input: { courseId: $c, slug: \"hw1\", title: \"Recursion drills\", image: \"python:3.12\", testCommand: \"pytest -q\", points: \"10\" }) { id } }",
        json!({ "c": course }),
    )
    .await?
    .ok()?;
    app.course(&app.sign_in("linus").await?, "not-adas").await?;
    let invite = ada
        .gql(
            "mutation($c: ID!) { createInvite(input: { courseId: $c, role: STUDENT }) { joinUrl } }",
            json!({ "c": course }),
        )
        .await?
        .ok()?;
    let join_url = invite.str_at("createInvite.joinUrl")?.to_owned();

    let driver = Driver::start().await?;
    let browser = driver.browser().await?;
    let result = async {
        browser.goto(&format!("{}/", app.base)).await?;
        let welcome = text_of(&browser, ".welcome").await?;
        assert!(welcome.contains("Sign in"), "signed-out home: {welcome}");

        browser.goto(&format!("{}/sign-in", app.base)).await?;
        let login = browser
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("input#login"))
            .await?;
        login.send_keys("ada").await?;
        browser
            .find(Locator::Css("form.form button[type=submit]"))
            .await?
            .click()
            .await?;

        let courses = text_of(&browser, "[data-testid=courses]").await?;
        assert!(courses.contains("Course cs101"), "course list: {courses}");
        assert!(courses.contains("Instructor"), "role shown: {courses}");
        assert!(
            !courses.contains("not-adas"),
            "another person's course leaked: {courses}"
        );
        let who = text_of(&browser, "[data-testid=signed-in-as]").await?;
        assert!(who.contains("@ada"), "{who}");

        browser
            .find(Locator::Css("[data-testid=courses] a"))
            .await?
            .click()
            .await?;
        let table = text_of(&browser, "[data-testid=assignments]").await?;
        assert!(
            table.contains("Recursion drills") && table.contains("pytest -q"),
            "{table}"
        );
        assert!(
            browser
                .current_url()
                .await?
                .path()
                .ends_with("/courses/cs101")
        );

        // A student follows an invite link while signed out: sign in, come back, join.
        browser
            .find(Locator::Css("form[action='/auth/logout'] button"))
            .await?
            .click()
            .await?;
        text_of(&browser, ".welcome").await?;
        browser.goto(&join_url).await?;
        browser
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("main a.button"))
            .await?
            .click()
            .await?;
        let login = browser
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("input#login"))
            .await?;
        login.send_keys("alan").await?;
        browser
            .find(Locator::Css("form.form button[type=submit]"))
            .await?
            .click()
            .await?;
        let welcome = text_of(&browser, "main h1").await?;
        assert_eq!(welcome, "Welcome to Course cs101");
        browser
            .find(Locator::LinkText("Lectern"))
            .await?
            .click()
            .await?;
        let courses = text_of(&browser, "[data-testid=courses]").await?;
        assert!(
            courses.contains("Course cs101") && courses.contains("Student"),
            "joined course listed: {courses}"
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if result.is_err() {
        eprintln!(
            "page at failure ({:?}):\n{}",
            browser.current_url().await.ok(),
            browser.source().await.unwrap_or_default()
        );
    }
    browser.close().await?;
    result
}
