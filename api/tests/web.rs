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

/// The pipeline (local executor, `assignment`'s fields) serving the built web client.
async fn pipeline_with_client(
    assignment: serde_json::Value,
) -> anyhow::Result<support::pipeline::Pipeline> {
    let dir = built_client()?;
    support::pipeline::Pipeline::start("local", assignment, &[("LECTERN_WEB_DIR", dir.as_str())])
        .await
}

/// chromedriver and a headless browser with a window of `width` × `height`; the driver
/// is killed when its half of the pair is dropped.
async fn open_browser(width: u32, height: u32) -> anyhow::Result<(Driver, Client)> {
    let driver = Driver::start().await?;
    let browser = driver.browser().await?;
    browser.set_window_size(width, height).await?;
    Ok((driver, browser))
}

/// Clicks what `locator` finds once it is there. The page re-renders as data arrives, so
/// an element found a moment ago can be replaced before the click lands: find it again then.
async fn click(browser: &Client, locator: Locator<'_>) -> anyhow::Result<()> {
    for _ in 0..50 {
        let found = browser
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(locator)
            .await
            .with_context(|| format!("waiting to click {locator:?}"))?;
        match found.click().await {
            Ok(()) => return Ok(()),
            Err(e) if is_stale(&e) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("{locator:?} kept being replaced before it could be clicked")
}

fn is_stale(error: &fantoccini::error::CmdError) -> bool {
    matches!(error, fantoccini::error::CmdError::Standard(e)
        if e.error == fantoccini::error::ErrorStatus::StaleElementReference)
}

/// The text of the element `css` finds, once it contains `needle` (within 20 s).
async fn text_with(browser: &Client, css: &str, needle: &str) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            match element.text().await {
                Ok(text) if text.contains(needle) => return Ok(text),
                Ok(text) => last = text,
                Err(e) if is_stale(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("`{css}` never contained {needle:?}; last text: {last:?}")
}

/// Types `login` into the development sign-in form and submits it.
/// Signs out through the page's button and waits until the page says so.
async fn sign_out(browser: &Client) -> anyhow::Result<()> {
    click(browser, Locator::Css("form[action='/auth/logout'] button")).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while browser
        .execute(
            "return document.querySelector(\"form[action='/auth/logout']\") !== null",
            vec![],
        )
        .await?
        == json!(true)
    {
        anyhow::ensure!(std::time::Instant::now() < deadline, "still signed in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn sign_in(browser: &Client, login: &str) -> anyhow::Result<()> {
    let field = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("input#login"))
        .await
        .context("waiting for the sign-in form")?;
    field.send_keys(login).await?;
    click(browser, Locator::Css("form.form button[type=submit]")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and a built web client; scripts/test runs it"]
async fn a_signed_in_user_sees_their_courses_and_opens_one() -> anyhow::Result<()> {
    let dir = built_client()?;
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

    let (_driver, browser) = open_browser(1280, 900).await?;
    let result = async {
        browser.goto(&format!("{}/", app.base)).await?;
        text_with(&browser, ".welcome", "Sign in").await?;

        browser.goto(&format!("{}/sign-in", app.base)).await?;
        sign_in(&browser, "ada").await?;
        let courses = text_with(&browser, "[data-testid=courses]", "Course cs101").await?;
        assert!(courses.contains("Instructor"), "role shown: {courses}");
        assert!(
            !courses.contains("not-adas"),
            "another person's course leaked: {courses}"
        );
        text_with(&browser, "[data-testid=signed-in-as]", "@ada").await?;

        click(&browser, Locator::Css("[data-testid=courses] a")).await?;
        let table = text_with(&browser, "[data-testid=assignments]", "Recursion drills").await?;
        assert!(table.contains("pytest -q"), "{table}");
        assert!(
            browser
                .current_url()
                .await?
                .path()
                .ends_with("/courses/cs101")
        );

        // A student follows an invite link while signed out: sign in, come back, join.
        sign_out(&browser).await?;
        text_with(&browser, ".welcome", "Sign in").await?;
        browser.goto(&join_url).await?;
        text_with(&browser, "main", "Sign in first").await?;
        click(&browser, Locator::Css("main a.button")).await?;
        sign_in(&browser, "alan").await?;
        text_with(&browser, "main h1", "Welcome to Course cs101").await?;
        text_with(&browser, "[data-testid=signed-in-as]", "@alan").await?;
        click(&browser, Locator::LinkText("Lectern")).await?;
        let courses = text_with(&browser, "[data-testid=courses]", "Course cs101").await?;
        assert!(
            courses.contains("Student"),
            "joined as a student: {courses}"
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    finish(browser, result, "sign-in").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and a built web client; scripts/test runs it"]
async fn a_student_links_their_repository_from_the_course_page() -> anyhow::Result<()> {
    let dir = built_client()?;
    let world = support::github::World::start(
        &[("LECTERN_WEB_DIR", dir.as_str())],
        "89abcdef0123456789abcdef0123456789abcdef",
    )
    .await?;
    let (_driver, browser) = open_browser(1280, 900).await?;
    let result = async {
        browser
            .goto(&format!("{}/sign-in?next=/courses/cs101", world.app.base))
            .await?;
        sign_in(&browser, "octocat").await?;
        text_with(&browser, "[data-testid=assignments]", "HW1").await?;

        // A repository the student cannot administer: the form says why, nothing is linked.
        let field = "[data-testid=link-hw1] input";
        browser
            .find(Locator::Css(field))
            .await?
            .send_keys("octocat/nope")
            .await?;
        click(&browser, Locator::Css("[data-testid=link-hw1] button")).await?;
        text_with(&browser, "[data-testid=link-hw1] .error", "octocat/nope").await?;

        let input = browser.find(Locator::Css(field)).await?;
        input.clear().await?;
        input.send_keys("octocat/hw1").await?;
        click(&browser, Locator::Css("[data-testid=link-hw1] button")).await?;
        let cell = text_with(&browser, "[data-testid=repository]", "octocat/hw1").await?;
        assert!(cell.contains("build #1"), "{cell}");
        let hooks = world.github.remote("octocat/hw1").map(|r| r.hooks.len());
        assert_eq!(hooks, Some(1), "the webhook was registered on GitHub");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    finish(browser, result, "link").await
}

/// The built web client's directory, or why the browser tests cannot run.
fn built_client() -> anyhow::Result<String> {
    let dir = web_dir();
    if !std::path::Path::new(&dir).join("web_bg.wasm").is_file() {
        bail!("no built web client in {dir}: run scripts/build-web");
    }
    Ok(dir)
}

/// Closes the browser; on a failure first keeps what it showed (a screenshot named after
/// `test`, the page's errors, its source) for whoever reads the test's output.
async fn finish(browser: Client, result: anyhow::Result<()>, test: &str) -> anyhow::Result<()> {
    if result.is_err() {
        let _ = screenshot(&browser, &format!("failure-{test}")).await;
        if let Ok(errors) = browser
            .execute("return window.__errors || []", vec![])
            .await
        {
            eprintln!("errors in the page: {errors}");
        }
        eprintln!(
            "page at failure ({:?}):\n{}",
            browser.current_url().await.ok(),
            browser.source().await.unwrap_or_default()
        );
    }
    browser.close().await?;
    result
}

/// Saves what the browser shows as `name`.png among the test artifacts; returns its path.
async fn screenshot(browser: &Client, name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, browser.screenshot().await?)?;
    Ok(path)
}

/// Keeps the page's errors (console.error, uncaught exceptions, wasm panics) in
/// `window.__errors`, to print when a test fails.
async fn capture_errors(browser: &Client) -> anyhow::Result<()> {
    browser
        .execute(
            "window.__errors = []; const original = console.error;
             console.error = (...args) => { window.__errors.push(args.map(String).join(' ')); original(...args); };
             window.addEventListener('error', e => window.__errors.push(String(e.message)));",
            vec![],
        )
        .await?;
    Ok(())
}

/// Waits until `css` matches an element (within 20 s).
async fn present(browser: &Client, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("waiting for `{css}`"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and a built web client; scripts/test runs it"]
async fn a_running_build_streams_into_its_page_and_can_be_retried() -> anyhow::Result<()> {
    let command = "sleep 1; for i in $(seq 1 60); do printf '\\033[32mok\\033[0m line %s\\n' $i; sleep 0.1; done";
    let p = pipeline_with_client(json!({ "testCommand": command })).await?;
    p.app
        .enroll(&p.ada, &p.course, "mallory", "STUDENT")
        .await?;
    let (_driver, browser) = open_browser(1280, 900).await?;
    let result = async {
        browser
            .goto(&format!("{}/sign-in?next=/", p.app.base))
            .await?;
        sign_in(&browser, "octocat").await?;
        text_with(&browser, "[data-testid=courses]", "Course cs101").await?;
        // The course's card shows the student's latest build.
        text_with(&browser, "[data-testid=latest-build]", "octocat/hw1 #1").await?;
        screenshot(&browser, "courses").await?;

        // Time to the first rendered course page, from navigation to its assignments.
        let started = std::time::Instant::now();
        browser
            .goto(&format!("{}/courses/cs101", p.app.base))
            .await?;
        text_with(&browser, "[data-testid=assignments]", "hw1").await?;
        let first_render = started.elapsed();
        screenshot(&browser, "course").await?;
        capture_errors(&browser).await?;

        // The course page leads to the running build.
        click(&browser, Locator::LinkText("build #1")).await?;
        present(&browser, "[data-testid=build-header][data-status=RUNNING]").await?;
        // Lines arrive while it runs: some now, more later, coloured, in order.
        let early = text_with(&browser, "[data-testid=log-view]", "line 5\n").await?;
        assert!(
            !early.contains("line 60"),
            "the log should still be growing"
        );
        present(&browser, "[data-testid=build-header][data-status=RUNNING]").await?;
        let green = present(&browser, ".log-line .ansi-fg2").await?;
        assert_eq!(green.text().await?, "ok");
        text_with(&browser, "[data-testid=log-feed]", "Live").await?;
        screenshot(&browser, "build-running").await?;

        // It finishes: the header follows without a reload, the log is whole.
        present(&browser, "[data-testid=build-header][data-status=PASSED]").await?;
        text_with(&browser, "[data-testid=log-view]", "line 60").await?;
        text_with(&browser, "[data-testid=log-feed]", "Complete").await?;
        let counted = text_with(&browser, "[data-testid=log-lines]", "lines").await?;
        let lines: usize = counted.split_whitespace().next().unwrap_or("0").parse()?;
        assert!((60..70).contains(&lines), "{counted}");
        // Search jumps to a match and says which.
        let search = browser.find(Locator::Css("input[type=search]")).await?;
        search.send_keys("line 42").await?;
        search.send_keys("\u{E007}").await?; // Enter
        text_with(&browser, "[data-testid=search-count]", "1 of 1").await?;
        assert!(
            present(&browser, ".log-line.hit")
                .await?
                .text()
                .await?
                .contains("line 42")
        );
        screenshot(&browser, "build-passed").await?;

        // Retry: a new attempt starts, and the page goes to it.
        let first = browser.current_url().await?;
        click(&browser, Locator::Css("[data-testid=retry]")).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while browser.current_url().await? == first {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "retry did not open the new build"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let header = text_with(&browser, "[data-testid=build-header]", "#2").await?;
        assert!(header.contains("retry of"), "{header}");
        present(&browser, "[data-testid=build-header][data-status=RUNNING]").await?;
        text_with(&browser, "[data-testid=log-view]", "line 3\n").await?;

        // The repository page lists both, newest first.
        click(&browser, Locator::LinkText("octocat/hw1")).await?;
        let table = text_with(&browser, "[data-testid=builds]", "#1").await?;
        assert!(table.find("#2") < table.find("#1"), "{table}");
        screenshot(&browser, "repository").await?;
        // The owner may look for missed pushes (none here); deliveries are for staff.
        click(&browser, Locator::Css("[data-testid=sync]")).await?;
        text_with(
            &browser,
            "[data-testid=repository-message]",
            "nothing was missed",
        )
        .await?;
        assert!(
            browser
                .find(Locator::Css("[data-testid=deliveries]"))
                .await
                .is_err()
        );

        // Another student of the course is refused the page, and sees no log.
        let build_url = first.to_string();
        sign_out(&browser).await?;
        text_with(&browser, ".welcome", "Sign in").await?;
        browser
            .goto(&format!("{}/sign-in?next=/", p.app.base))
            .await?;
        sign_in(&browser, "mallory").await?;
        // Nothing of octocat's on mallory's card.
        text_with(&browser, "[data-testid=courses]", "No builds yet").await?;
        browser.goto(&build_url).await?;
        let refused = text_with(&browser, "[data-testid=build-error]", "cannot be shown").await?;
        assert!(!refused.contains("line 1"), "{refused}");
        assert!(
            browser
                .find(Locator::Css("[data-testid=log-view]"))
                .await
                .is_err()
        );
        screenshot(&browser, "build-refused").await?;

        let timings =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots/timings.txt");
        std::fs::write(
            &timings,
            format!(
                "first rendered course page: {} ms\n",
                first_render.as_millis()
            ),
        )?;
        eprintln!(
            "first rendered course page: {} ms",
            first_render.as_millis()
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    finish(browser, result, "build").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and a built web client; scripts/test runs it"]
async fn staff_manage_invites_and_watch_the_courses_builds_live() -> anyhow::Result<()> {
    let p = pipeline_with_client(json!({ "testCommand": "echo hello" })).await?;
    support::pipeline::finished(&p.octocat, &p.first_build, Duration::from_secs(30)).await?;
    let (_driver, browser) = open_browser(1280, 900).await?;
    let result = async {
        browser
            .goto(&format!("{}/sign-in?next=/courses/cs101", p.app.base))
            .await?;
        sign_in(&browser, "ada").await?;
        text_with(&browser, "[data-testid=assignments]", "1 linked").await?;
        capture_errors(&browser).await?;

        // The roster: the instructor and the student.
        click(
            &browser,
            Locator::XPath("//button[@role='tab'][contains(., 'Roster')]"),
        )
        .await?;
        text_with(&browser, "[data-testid=people-instructor]", "@ada").await?;
        text_with(&browser, "[data-testid=people-student]", "@octocat").await?;

        // The student's invite, used up; then one for TAs, two uses, seven days: listed,
        // then revoked.
        text_with(&browser, "[data-testid=invites] table", "used up").await?;
        browser
            .find(Locator::Css("#invite-role option[value=TA]"))
            .await?
            .click()
            .await?;
        browser
            .find(Locator::Css("#invite-expiry option[value='7']"))
            .await?
            .click()
            .await?;
        browser
            .find(Locator::Css("#invite-uses"))
            .await?
            .send_keys("2")
            .await?;
        click(&browser, Locator::Css(".invite-form button[type=submit]")).await?;
        // Wait for the new one: the table already lists the student's invite.
        let listed = text_with(&browser, "[data-testid=invites] table", "0 of 2").await?;
        assert!(
            listed.contains("TA") && listed.contains("active"),
            "{listed}"
        );
        screenshot(&browser, "roster").await?;
        click(&browser, Locator::Css("[data-testid=invites] table button")).await?;
        text_with(&browser, "[data-testid=invites] table", "revoked").await?;
        // A number of uses below one is refused by the field itself; nothing is created.
        let uses = browser.find(Locator::Css("#invite-uses")).await?;
        uses.clear().await?;
        uses.send_keys("0").await?;
        click(&browser, Locator::Css(".invite-form button[type=submit]")).await?;
        present(&browser, "#invite-uses:invalid").await?;
        let rows = browser
            .find_all(Locator::Css("[data-testid=invites] tbody tr"))
            .await?;
        assert_eq!(rows.len(), 2, "the used-up invite and the revoked one");

        // The course's activity: a retry elsewhere shows up without a reload.
        click(
            &browser,
            Locator::XPath("//button[@role='tab'][contains(., 'Activity')]"),
        )
        .await?;
        text_with(&browser, "[data-testid=activity]", "Watching the course").await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        p.octocat
            .gql(
                "mutation($id: ID!) { retryBuild(id: $id) { id } }",
                json!({ "id": p.first_build }),
            )
            .await?
            .ok()?;
        let item = text_with(&browser, "[data-testid=activity-item]", "#2").await?;
        assert!(
            item.contains("@octocat") && item.contains("octocat/hw1"),
            "{item}"
        );
        present(&browser, "[data-testid=activity-item] [data-status=PASSED]").await?;
        screenshot(&browser, "activity").await?;

        // From the feed to the build, to its repository: staff see its deliveries.
        click(&browser, Locator::Css("[data-testid=activity-item] a")).await?;
        click(&browser, Locator::Css("[data-testid=build-header] h1 a")).await?;
        text_with(
            &browser,
            "[data-testid=deliveries]",
            "No webhook deliveries yet",
        )
        .await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    finish(browser, result, "staff").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and a built web client; scripts/test runs it"]
async fn instructors_create_courses_and_assignments_with_errors_beside_the_fields()
-> anyhow::Result<()> {
    let dir = built_client()?;
    let app = TestApp::builder()
        .env("LECTERN_WEB_DIR", &dir)
        .start()
        .await?;
    let (_driver, browser) = open_browser(1280, 1000).await?;
    let result = async {
        browser
            .goto(&format!("{}/sign-in?next=/", app.base))
            .await?;
        sign_in(&browser, "grace").await?;
        text_with(&browser, "main", "You are not in any course yet").await?;
        capture_errors(&browser).await?;

        // A slug the server refuses: the reason is under the slug field.
        click(&browser, Locator::Css("[data-testid=new-course] summary")).await?;
        let fill = |css: &'static str, text: &'static str| {
            let browser = browser.clone();
            async move {
                let field = browser.find(Locator::Css(css)).await?;
                field.clear().await?;
                field.send_keys(text).await?;
                Ok::<_, anyhow::Error>(())
            }
        };
        fill("#course-name", "Compilers").await?;
        fill("#course-slug", "Not A Slug!").await?;
        fill("#course-term", "Spring 2027").await?;
        click(
            &browser,
            Locator::Css("[data-testid=new-course] button[type=submit]"),
        )
        .await?;
        let complaint = text_with(&browser, "#course-slug-error", "").await?;
        assert!(!complaint.is_empty(), "the slug's error is shown beside it");
        screenshot(&browser, "new-course-error").await?;
        fill("#course-slug", "cs-420").await?;
        click(
            &browser,
            Locator::Css("[data-testid=new-course] button[type=submit]"),
        )
        .await?;
        text_with(&browser, "main h1", "Compilers").await?;
        assert!(
            browser
                .current_url()
                .await?
                .path()
                .ends_with("/courses/cs-420")
        );

        // An assignment without a test command: refused beside that field; then created.
        text_with(&browser, "main", "No assignments yet").await?;
        click(
            &browser,
            Locator::Css("[data-testid=new-assignment] summary"),
        )
        .await?;
        fill("#a-title", "Lexer").await?;
        fill("#a-slug", "lexer").await?;
        browser
            .find(Locator::Css("#a-command"))
            .await?
            .clear()
            .await?;
        click(
            &browser,
            Locator::Css("[data-testid=new-assignment] button[type=submit]"),
        )
        .await?;
        text_with(&browser, "#a-command-error", "").await?;
        screenshot(&browser, "new-assignment-error").await?;
        fill("#a-command", "make test").await?;
        fill("#a-points", "12.5").await?;
        click(
            &browser,
            Locator::Css("[data-testid=new-assignment] button[type=submit]"),
        )
        .await?;
        let table = text_with(&browser, "[data-testid=assignments]", "Lexer").await?;
        assert!(
            table.contains("make test") && table.contains("12.5"),
            "{table}"
        );

        // Editing it: the form holds what is stored; a bad number is refused beside its field.
        click(&browser, Locator::Css("[data-testid=edit-lexer]")).await?;
        let title = present(&browser, "#e-title").await?;
        assert_eq!(title.prop("value").await?.as_deref(), Some("Lexer"));
        fill("#e-title", "Lexer and parser").await?;
        fill("#e-memory", "lots").await?;
        click(
            &browser,
            Locator::Css("[data-testid=edit-assignment] button[type=submit]"),
        )
        .await?;
        text_with(&browser, "#e-memory-error", "whole number").await?;
        screenshot(&browser, "edit-assignment-error").await?;
        fill("#e-memory", "1024").await?;
        browser
            .find(Locator::Css("#e-late"))
            .await?
            .select_by_value("PENALTY")
            .await?;
        fill("#e-penalty", "25").await?;
        // Typing into a datetime-local input follows the browser's locale; set it as a picker would.
        browser
            .execute(
                "document.querySelector('#e-due').value = arguments[0]",
                vec![json!("2027-03-01T23:59")],
            )
            .await?;
        click(
            &browser,
            Locator::Css("[data-testid=edit-assignment] button[type=submit]"),
        )
        .await?;
        text_with(&browser, "[data-testid=assignments]", "Lexer and parser").await?;
        let mut conn = app.db.conn().await?;
        let policy: Vec<String> = diesel_async::RunQueryDsl::load(
            diesel::QueryDsl::select(
                lectern::db::schema::assignments::table,
                diesel::dsl::sql::<diesel::sql_types::Text>(
                    "late_policy || ' ' || late_penalty_percent::text || ' ' || grade_policy",
                ),
            ),
            &mut conn,
        )
        .await?;
        assert_eq!(policy, ["penalty 25.00 latest"]);
        let stored: Vec<(i32, Option<chrono::DateTime<chrono::Utc>>)> =
            diesel_async::RunQueryDsl::load(
                diesel::QueryDsl::select(
                    lectern::db::schema::assignments::table,
                    (
                        lectern::db::schema::assignments::memory_mb,
                        lectern::db::schema::assignments::due_at,
                    ),
                ),
                &mut conn,
            )
            .await?;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].0, 1024);
        assert_eq!(
            stored[0].1.map(|d| d.to_rfc3339()),
            Some("2027-03-01T23:59:00+00:00".to_owned())
        );

        // Renaming the course.
        click(&browser, Locator::Css("[data-testid=edit-course] summary")).await?;
        fill("#edit-course-name", "Compilers II").await?;
        click(
            &browser,
            Locator::Css("[data-testid=edit-course] button[type=submit]"),
        )
        .await?;
        text_with(&browser, "main h1", "Compilers II").await?;

        // The session ends elsewhere: the next page says so and leads back here.
        diesel_async::RunQueryDsl::execute(diesel::sql_query("DELETE FROM sessions"), &mut conn)
            .await?;
        browser
            .goto(&format!("{}/courses/cs-420", app.base))
            .await?;
        text_with(
            &browser,
            "[data-testid=session-expired]",
            "Your session has expired",
        )
        .await?;
        screenshot(&browser, "session-expired").await?;
        click(
            &browser,
            Locator::Css("[data-testid=session-expired] a.button"),
        )
        .await?;
        sign_in(&browser, "grace").await?;
        text_with(&browser, "main h1", "Compilers II").await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    finish(browser, result, "forms").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and a built web client; scripts/test runs it"]
async fn a_hundred_thousand_line_log_draws_only_what_is_in_view() -> anyhow::Result<()> {
    let p =
        pipeline_with_client(json!({ "testCommand": "seq -f 'line %g of a long log' 1 100000" }))
            .await?;
    let build =
        support::pipeline::finished(&p.octocat, &p.first_build, Duration::from_secs(60)).await?;
    assert_eq!(build["logTruncated"], false, "the whole log is stored");
    let (_driver, browser) = open_browser(1280, 900).await?;
    let drawn = |browser: Client| async move {
        let n = browser
            .execute(
                "return document.querySelectorAll('.log-line').length",
                vec![],
            )
            .await?;
        Ok::<_, anyhow::Error>(n.as_u64().unwrap_or(u64::MAX))
    };
    let result = async {
        browser
            .goto(&format!("{}/sign-in?next=/", p.app.base))
            .await?;
        sign_in(&browser, "octocat").await?;
        text_with(&browser, "[data-testid=courses]", "Course cs101").await?;

        let started = std::time::Instant::now();
        browser
            .goto(&format!("{}/builds/{}", p.app.base, p.first_build))
            .await?;
        text_with(&browser, "[data-testid=log-lines]", "10000").await?;
        let counted = text_with(&browser, "[data-testid=log-feed]", "Complete")
            .await
            .and(text_with(&browser, "[data-testid=log-lines]", "lines").await)?;
        let loaded = started.elapsed();
        let lines: usize = counted.split_whitespace().next().unwrap_or("0").parse()?;
        assert!(lines >= 100_000, "{counted}");
        // Followed to the end: the last line is on screen, and only a window of lines is drawn.
        text_with(&browser, "[data-testid=log-view]", "line 100000 of a long log").await?;
        let at_end = drawn(browser.clone()).await?;
        assert!(at_end < 200, "{at_end} lines in the page");
        screenshot(&browser, "long-log").await?;

        // Jumping about: each position draws its own lines, still only a window of them.
        let frames = browser
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   const view = document.getElementById('log-view');
                   const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
                   const times = [];
                   (async () => {
                     for (let i = 0; i < 20; i++) {
                       const t = performance.now();
                       view.scrollTop = view.scrollHeight * ((i * 7919) % 20) / 20;
                       view.dispatchEvent(new Event('scroll'));
                       await frame(); await frame();
                       times.push(performance.now() - t);
                     }
                     times.sort((a, b) => a - b);
                     done(times);
                   })();"#,
                vec![],
            )
            .await?;
        let frames: Vec<f64> = serde_json::from_value(frames)?;
        browser
            .execute(
                "const v = document.getElementById('log-view'); v.scrollTop = 49990 * 20; v.dispatchEvent(new Event('scroll'));",
                vec![],
            )
            .await?;
        text_with(&browser, "[data-testid=log-view]", "line 50000 of a long log").await?;
        let middle = drawn(browser.clone()).await?;
        assert!(middle < 200, "{middle} lines in the page");
        let memory = browser
            .execute(
                "return [window.lecternMemory ? window.lecternMemory.buffer.byteLength : 0,
                         performance.memory ? performance.memory.usedJSHeapSize : 0]",
                vec![],
            )
            .await?;
        let mb = |i: usize| memory[i].as_f64().unwrap_or(0.0) / 1_048_576.0;
        let report = format!(
            "100000-line log ({} KB): all lines in {} ms; {} lines in the page at the end, {} in the middle; \
             scroll to a new place and draw it (2 frames): p50 {:.0} ms, max {:.0} ms; wasm memory {:.1} MB, JS heap {:.1} MB\n",
            build["logBytes"].as_i64().unwrap_or(0) / 1024,
            loaded.as_millis(),
            at_end,
            middle,
            frames.get(frames.len() / 2).copied().unwrap_or(f64::NAN),
            frames.last().copied().unwrap_or(f64::NAN),
            mb(0),
            mb(1),
        );
        eprint!("{report}");
        let timings = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots/long-log.txt");
        std::fs::write(timings, report)?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    finish(browser, result, "long-log").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and a built web client; scripts/test runs it"]
async fn students_see_each_test_and_staff_the_grade_matrix() -> anyhow::Result<()> {
    let p = pipeline_with_client(json!({ "points": "10" })).await?;
    support::pipeline::finished(&p.octocat, &p.first_build, Duration::from_secs(60)).await?;
    let mut files = support::git::python_exercise(true);
    files.push((
        "test_calc.py",
        include_str!("fixtures/runners/projects/unittest/test_calc.py"),
    ));
    let sha = p.git.commit("main", &files, "Add the calculator")?;
    let repository = p.repository_id().await?;
    let graded =
        support::pipeline::build_of(&p.octocat, &repository, &sha, Duration::from_secs(30)).await?;
    support::pipeline::finished(&p.octocat, &graded, Duration::from_secs(60)).await?;
    p.app.enroll(&p.ada, &p.course, "alan", "STUDENT").await?;
    let (_driver, browser) = open_browser(1280, 1000).await?;
    let result = async {
        browser
            .goto(&format!("{}/sign-in?next=/builds/{graded}", p.app.base))
            .await?;
        sign_in(&browser, "octocat").await?;

        // The student's build: its score, and every test with how it ended.
        text_with(&browser, "[data-testid=score]", "5 of 10").await?;
        let tests = text_with(&browser, "[data-testid=test-results]", "test_subtracts").await?;
        for name in ["test_greets_by_name", "test_adds", "test_divides", "test_later"] {
            assert!(tests.contains(name), "{name} missing: {tests}");
        }
        let outcomes = browser
            .execute(
                "return [...document.querySelectorAll('[data-testid=test]')].map(t => t.dataset.outcome)",
                vec![],
            )
            .await?;
        let mut outcomes: Vec<String> = serde_json::from_value(outcomes)?;
        outcomes.sort();
        assert_eq!(
            outcomes,
            ["ERRORED", "FAILED", "PASSED", "PASSED", "PASSED", "SKIPPED"]
        );
        // A failure unfolds to its reason.
        let failure = present(&browser, "[data-outcome=FAILED] .test-message summary").await?;
        assert!(failure.text().await?.contains("5 - 3 should be 2"));
        screenshot(&browser, "build-tests").await?;
        // Only what is not passing.
        click(&browser, Locator::Css("[data-testid=test-results] .toggle input")).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let shown = browser
                .execute("return document.querySelectorAll('[data-testid=test]').length", vec![])
                .await?;
            if shown == json!(2) {
                break;
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "{shown} tests shown");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Students get no grade matrix.
        browser.goto(&format!("{}/courses/cs101", p.app.base)).await?;
        text_with(&browser, "[role=tablist]", "Roster").await?;
        assert!(!browser.find(Locator::Css("[role=tablist]")).await?.text().await?.contains("Grades"));

        // The instructor's matrix: both students, each cell coloured by standing.
        sign_out(&browser).await?;
        browser
            .goto(&format!("{}/sign-in?next=/courses/cs101", p.app.base))
            .await?;
        sign_in(&browser, "ada").await?;
        click(&browser, Locator::XPath("//button[@role='tab'][contains(., 'Grades')]")).await?;
        let matrix = text_with(&browser, "[data-testid=grade-matrix]", "octocat").await?;
        assert!(matrix.contains("alan"), "{matrix}");
        assert!(matrix.contains("5 / 10"), "{matrix}");
        let standings = browser
            .execute(
                "return [...document.querySelectorAll('[data-testid=grade-cell]')].map(c => c.dataset.standing)",
                vec![],
            )
            .await?;
        assert_eq!(standings, json!(["missing", "partial"]));
        screenshot(&browser, "grades").await?;
        // Filters: who has nothing graded yet; a name.
        let show = browser.find(Locator::Css("[data-testid=grades-show]")).await?;
        show.select_by_value("outstanding").await?;
        text_with(&browser, "[data-testid=grades-count]", "1 of 2 students").await?;
        let rows = text_with(&browser, "[data-testid=grade-matrix] tbody", "alan").await?;
        assert!(!rows.contains("octocat"), "{rows}");
        show.select_by_value("all").await?;
        let name = browser.find(Locator::Css("[data-testid=grades-name]")).await?;
        name.send_keys("octo").await?;
        text_with(&browser, "[data-testid=grades-count]", "1 of 2 students").await?;
        // One assignment's column: the instructor may regrade it, after a confirmation.
        browser
            .find(Locator::Css("[data-testid=grades-assignment]"))
            .await?
            .select_by_value("0")
            .await?;
        click(&browser, Locator::Css("[data-testid=regrade] button")).await?;
        click(&browser, Locator::XPath("//div[@data-testid='regrade']/button[text()='Regrade']")).await?;
        text_with(&browser, "[data-testid=regrade-message]", "1 build queued").await?;
        let export = browser.find(Locator::Css("[data-testid=grades-export]")).await?;
        assert_eq!(
            export.attr("href").await?.as_deref(),
            Some("/courses/cs101/grades.csv")
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    finish(browser, result, "grades").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and the built web client; scripts/test runs it"]
async fn hidden_tests_show_to_staff_and_reach_students_only_when_released() -> anyhow::Result<()> {
    let p = pipeline_with_client(json!({
        "points": "10",
        "hiddenTestsCommand": "python3 -m unittest discover -v -s hidden_tests -t .",
        "protectedPaths": ["test_greet.py"],
        "gradedRunLimit": 5,
    }))
    .await?;
    support::pipeline::finished(&p.octocat, &p.first_build, Duration::from_secs(60)).await?;
    p.upload_hidden_tests(support::pipeline::hidden_greet_tests(
        "HIDDEN-PRINT",
        "Hello, stranger!",
    )?)
    .await?;
    let sha = p
        .git
        .commit("main", &support::git::python_exercise(true), "Again")?;
    let repository = p.repository_id().await?;
    let id =
        support::pipeline::build_of(&p.octocat, &repository, &sha, Duration::from_secs(30)).await?;
    support::pipeline::finished(&p.octocat, &id, Duration::from_secs(60)).await?;
    let (_driver, browser) = open_browser(1280, 1000).await?;
    let result = async {
        browser
            .goto(&format!("{}/sign-in?next=/builds/{id}", p.app.base))
            .await?;
        sign_in(&browser, "octocat").await?;
        // The student: the visible test, the score without the hidden points, a note that
        // hidden tests ran, a receipt — and nothing of the hidden tests themselves.
        text_with(
            &browser,
            "[data-testid=hidden-withheld]",
            "Hidden tests ran",
        )
        .await?;
        text_with(&browser, "[data-testid=score]", "3.33 of 10").await?;
        text_with(
            &browser,
            "[data-testid=test-results]",
            "test_greets_by_name",
        )
        .await?;
        text_with(&browser, "[data-testid=receipt]", "Grade receipt").await?;
        text_with(&browser, ".log", "running the hidden tests").await?;
        let page = browser.find(Locator::Css("body")).await?.text().await?;
        assert!(
            !page.contains("HIDDEN-PRINT")
                && !page.contains("test_secret")
                && !page.contains("6.666667"),
            "{page}"
        );
        screenshot(&browser, "build-hidden-withheld").await?;
        // The course page tells the student about the graded runs and the hidden tests.
        browser
            .goto(&format!("{}/courses/cs101", p.app.base))
            .await?;
        text_with(&browser, "[data-testid=graded-runs-hw1]", "of 5 left").await?;

        // The instructor sees the hidden tests marked, and releases them.
        sign_out(&browser).await?;
        browser
            .goto(&format!("{}/sign-in?next=/builds/{id}", p.app.base))
            .await?;
        sign_in(&browser, "ada").await?;
        text_with(&browser, "[data-testid=test-results]", "test_secret_empty").await?;
        text_with(&browser, "[data-testid=test-results] .tag.hidden", "hidden").await?;
        text_with(&browser, "[data-testid=score]", "6.67 of 10").await?;
        text_with(&browser, ".log", "HIDDEN-PRINT").await?;
        screenshot(&browser, "build-hidden-staff").await?;
        browser
            .goto(&format!("{}/courses/cs101", p.app.base))
            .await?;
        click(&browser, Locator::Css("[data-testid=edit-hw1]")).await?;
        text_with(&browser, "[data-testid=hidden-tests]", "uploaded archive").await?;
        click(&browser, Locator::Css("[data-testid=release-hidden]")).await?;
        text_with(&browser, "[data-testid=hidden-tests]", "Released").await?;

        // The student now sees them.
        sign_out(&browser).await?;
        browser
            .goto(&format!("{}/sign-in?next=/builds/{id}", p.app.base))
            .await?;
        sign_in(&browser, "octocat").await?;
        text_with(&browser, "[data-testid=test-results]", "test_secret_empty").await?;
        text_with(&browser, "[data-testid=score]", "6.67 of 10").await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    browser.close().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and the built web client; scripts/test runs it"]
async fn notification_settings_are_set_on_the_course_page_and_failures_shown() -> anyhow::Result<()>
{
    let dir = built_client()?;
    // Slack's stand-in host is one nothing listens on: each post fails, and with one attempt
    // allowed the message is given up on at once.
    let p = support::pipeline::Pipeline::start(
        "local",
        json!({}),
        &[
            ("LECTERN_WEB_DIR", dir.as_str()),
            ("LECTERN_SLACK_HOSTS", "127.0.0.1:9"),
            ("LECTERN_NOTIFY_MAX_ATTEMPTS", "1"),
        ],
    )
    .await?;
    support::pipeline::finished(&p.octocat, &p.first_build, Duration::from_secs(60)).await?;
    let (_driver, browser) = open_browser(1280, 1000).await?;
    let result = async {
        browser
            .goto(&format!("{}/sign-in?next=/courses/cs101", p.app.base))
            .await?;
        sign_in(&browser, "ada").await?;
        click(
            &browser,
            Locator::XPath("//button[@role='tab'][starts-with(., 'Notifications')]"),
        )
        .await?;
        present(&browser, "[data-testid=email-preference]").await?;

        // Slack: a URL to a host not allowed is refused beside the field.
        let webhook = "#slack-webhook";
        browser
            .find(Locator::Css(webhook))
            .await?
            .send_keys("https://evil.example/services/x")
            .await?;
        click(
            &browser,
            Locator::Css("[data-testid=slack-settings] button[type=submit]"),
        )
        .await?;
        text_with(
            &browser,
            "[data-testid=slack-settings] .error",
            "may only go to",
        )
        .await?;
        let field = browser.find(Locator::Css(webhook)).await?;
        field.clear().await?;
        field
            .send_keys("http://127.0.0.1:9/services/T0/B0/topsecretXYZW")
            .await?;
        browser
            .find(Locator::Css("#slack-when option[value=ALWAYS]"))
            .await?
            .click()
            .await?;
        click(
            &browser,
            Locator::Css("[data-testid=slack-settings] button[type=submit]"),
        )
        .await?;
        text_with(&browser, "[data-testid=slack-hint]", "…XYZW").await?;
        screenshot(&browser, "notifications").await?;
        assert!(
            !browser.source().await?.contains("topsecret"),
            "the URL is never shown back"
        );

        // Email: every build of the course's students.
        browser
            .find(Locator::Css("#email-when option[value=ALWAYS]"))
            .await?
            .click()
            .await?;
        click(
            &browser,
            Locator::Css("[data-testid=email-preference] button[type=submit]"),
        )
        .await?;
        text_with(&browser, "[data-testid=email-preference]", "Saved.").await?;
        let mine = p
            .ada
            .gql(
                "query { course(slug: \"cs101\") { myNotifications { email source } } }",
                json!({}),
            )
            .await?
            .ok()?;
        assert_eq!(
            mine.at("course.myNotifications"),
            &json!({ "email": "ALWAYS", "source": "COURSE" })
        );

        // A build (the student runs theirs again) whose Slack post cannot go: the tab says so.
        p.octocat
            .gql(
                "mutation($id: ID!) { retryBuild(id: $id) { id } }",
                json!({ "id": p.first_build }),
            )
            .await?
            .ok()?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            browser.refresh().await?;
            click(
                &browser,
                Locator::XPath("//button[@role='tab'][starts-with(., 'Notifications')]"),
            )
            .await?;
            present(&browser, "[data-testid=email-preference]").await?;
            if let Ok(banner) = browser
                .find(Locator::Css("[data-testid=notification-problem]"))
                .await
            {
                let text = banner.text().await?;
                assert!(
                    text.contains("Slack") && text.contains("could not be sent"),
                    "{text}"
                );
                assert!(!text.contains("topsecret"), "{text}");
                break;
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "no problem shown");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    finish(browser, result, "notifications").await
}
