//! Courses through the public GraphQL API: creating, reading, changing, archiving and
//! deleting them, and who may do which.

mod support;

use serde_json::json;
use support::TestApp;

const COURSE_BY_SLUG: &str = "query($slug: String!) { course(slug: $slug) { id slug name term archived viewerRole viewerIsStaff counts { instructors tas students assignments } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creator_becomes_instructor_and_sees_course_in_their_list() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;

    let me = ada
        .gql(
            "{ me { login courses { id slug viewerRole viewerCanEdit } } }",
            json!({}),
        )
        .await?
        .ok()?;
    assert_eq!(me.str_at("me.login")?, "ada");
    assert_eq!(me.str_at("me.courses.0.id")?, id);
    assert_eq!(me.str_at("me.courses.0.viewerRole")?, "INSTRUCTOR");
    assert_eq!(me.at("me.courses.0.viewerCanEdit"), &json!(true));

    let course = ada
        .gql(COURSE_BY_SLUG, json!({ "slug": "cs101" }))
        .await?
        .ok()?;
    assert_eq!(course.str_at("course.term")?, "Fall 2026");
    assert_eq!(
        course.at("course.counts"),
        &json!({ "instructors": 1, "tas": 0, "students": 0, "assignments": 0 })
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_visitors_see_no_user_and_cannot_create() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let anon = app.anonymous();
    let me = anon.gql("{ me { login } }", json!({})).await?.ok()?;
    assert_eq!(me.at("me"), &json!(null));
    let resp = anon
        .gql(
            "mutation { createCourse(input: { slug: \"x1\", name: \"X\" }) { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(resp.error_code(), Some("UNAUTHENTICATED"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_slug_is_a_clear_conflict() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    app.course(&ada, "cs101").await?;
    let grace = app.sign_in("grace").await?;
    let resp = grace
        .gql(
            "mutation { createCourse(input: { slug: \"cs101\", name: \"Mine\" }) { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(resp.error_code(), Some("CONFLICT"));
    assert!(
        resp.error_message()
            .unwrap_or_default()
            .contains("slug already exists"),
        "{:?}",
        resp.body
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_names_the_field() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let resp = ada
        .gql(
            "mutation { createCourse(input: { slug: \"CS 101!\", name: \"X\" }) { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(resp.error_code(), Some("BAD_USER_INPUT"));
    assert_eq!(resp.body["errors"][0]["extensions"]["field"], json!("slug"));
    let resp = ada
        .gql(
            "mutation { createCourse(input: { slug: \"ok1\", name: \"   \" }) { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(resp.body["errors"][0]["extensions"]["field"], json!("name"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instructors_rename_and_archive_students_and_tas_cannot() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let alan = app.enroll(&ada, &id, "alan", "STUDENT").await?;
    let grace = app.enroll(&ada, &id, "grace", "TA").await?;

    const RENAME: &str =
        "mutation($id: ID!) { updateCourse(id: $id, input: { name: \"Renamed\" }) { name } }";
    for outsider in [&alan, &grace] {
        let resp = outsider.gql(RENAME, json!({ "id": id })).await?;
        assert_eq!(resp.error_code(), Some("FORBIDDEN"), "{}", outsider.login);
        let resp = outsider
            .gql(
                "mutation($id: ID!) { archiveCourse(id: $id) { archived } }",
                json!({ "id": id }),
            )
            .await?;
        assert_eq!(resp.error_code(), Some("FORBIDDEN"), "{}", outsider.login);
    }
    let course = ada
        .gql(COURSE_BY_SLUG, json!({ "slug": "cs101" }))
        .await?
        .ok()?;
    assert_eq!(
        course.str_at("course.name")?,
        "Course cs101",
        "a refused rename changed nothing"
    );

    let renamed = ada.gql(RENAME, json!({ "id": id })).await?.ok()?;
    assert_eq!(renamed.str_at("updateCourse.name")?, "Renamed");

    let archived = ada
        .gql(
            "mutation($id: ID!) { archiveCourse(id: $id) { archived } }",
            json!({ "id": id }),
        )
        .await?
        .ok()?;
    assert_eq!(archived.at("archiveCourse.archived"), &json!(true));
    // Archived courses are read-only and leave the default course list.
    let resp = ada.gql(RENAME, json!({ "id": id })).await?;
    assert_eq!(resp.error_code(), Some("BAD_USER_INPUT"));
    assert!(
        resp.error_message()
            .unwrap_or_default()
            .contains("archived")
    );
    let mine = alan
        .gql(
            "{ me { courses { id } all: courses(includeArchived: true) { id } } }",
            json!({}),
        )
        .await?
        .ok()?;
    assert_eq!(mine.at("me.courses"), &json!([]));
    assert_eq!(mine.at("me.all"), &json!([{ "id": id }]));
    let restored = ada
        .gql(
            "mutation($id: ID!) { archiveCourse(id: $id, archived: false) { archived } }",
            json!({ "id": id }),
        )
        .await?
        .ok()?;
    assert_eq!(restored.at("archiveCourse.archived"), &json!(false));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ta_cannot_delete_a_course_an_instructor_can_with_confirmation() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let grace = app.enroll(&ada, &id, "grace", "TA").await?;
    const DELETE: &str =
        "mutation($id: ID!, $confirm: String!) { deleteCourse(id: $id, confirmSlug: $confirm) }";

    let resp = grace
        .gql(DELETE, json!({ "id": id, "confirm": "cs101" }))
        .await?;
    assert_eq!(resp.error_code(), Some("FORBIDDEN"));
    grace
        .gql(COURSE_BY_SLUG, json!({ "slug": "cs101" }))
        .await?
        .ok()?;

    let resp = ada
        .gql(DELETE, json!({ "id": id, "confirm": "wrong" }))
        .await?;
    assert_eq!(resp.error_code(), Some("BAD_USER_INPUT"));
    assert_eq!(
        resp.body["errors"][0]["extensions"]["field"],
        json!("confirmSlug")
    );

    ada.gql(DELETE, json!({ "id": id, "confirm": "cs101" }))
        .await?
        .ok()?;
    let gone = ada.gql(COURSE_BY_SLUG, json!({ "slug": "cs101" })).await?;
    assert_eq!(gone.error_code(), Some("NOT_FOUND"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_reaches_another_courses_data() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let cs101 = app.course(&ada, "cs101").await?;
    ada.gql(
        "mutation($c: ID!) { createAssignment(input: { courseId: $c, slug: \"hw1\", title: \"HW1\", image: \"python:3.12\", testCommand: \"pytest\" }) { id } }",
        json!({ "c": cs101 }),
    )
    .await?
    .ok()?;
    let linus = app.sign_in("linus").await?;
    let cs202 = app.course(&linus, "cs202").await?;
    let eve = app.enroll(&linus, &cs202, "eve", "STUDENT").await?;
    let assignment_id = ada
        .gql(
            COURSE_BY_SLUG
                .replace("counts", "assignments { id } counts")
                .as_str(),
            json!({ "slug": "cs101" }),
        )
        .await?
        .ok()?;
    let assignment_id = assignment_id.str_at("course.assignments.0.id")?.to_owned();

    for (who, client) in [
        ("instructor of another course", &linus),
        ("student of another course", &eve),
    ] {
        let reads = [
            (COURSE_BY_SLUG, json!({ "slug": "cs101" })),
            (
                "query($id: ID!) { assignment(id: $id) { title } }",
                json!({ "id": assignment_id }),
            ),
        ];
        for (query, vars) in reads {
            let resp = client.gql(query, vars).await?;
            assert_eq!(resp.error_code(), Some("NOT_FOUND"), "{who}: {query}");
            assert_eq!(
                resp.body["data"],
                json!(null),
                "{who} got data: {}",
                resp.body
            );
        }
        let writes = [
            (
                "mutation($id: ID!) { updateCourse(id: $id, input: { name: \"pwned\" }) { id } }",
                json!({ "id": cs101 }),
            ),
            (
                "mutation($id: ID!) { archiveCourse(id: $id) { id } }",
                json!({ "id": cs101 }),
            ),
            (
                "mutation($id: ID!) { deleteCourse(id: $id, confirmSlug: \"cs101\") }",
                json!({ "id": cs101 }),
            ),
            (
                "mutation($id: ID!) { createInvite(input: { courseId: $id, role: INSTRUCTOR }) { code } }",
                json!({ "id": cs101 }),
            ),
            (
                "mutation($id: ID!) { updateAssignment(id: $id, input: { title: \"pwned\" }) { id } }",
                json!({ "id": assignment_id }),
            ),
            (
                "mutation($id: ID!) { deleteAssignment(id: $id) }",
                json!({ "id": assignment_id }),
            ),
            (
                "mutation($id: ID!) { leaveCourse(courseId: $id) }",
                json!({ "id": cs101 }),
            ),
        ];
        for (query, vars) in writes {
            let resp = client.gql(query, vars).await?;
            assert_eq!(resp.error_code(), Some("NOT_FOUND"), "{who}: {query}");
        }
    }
    let course = ada
        .gql(COURSE_BY_SLUG, json!({ "slug": "cs101" }))
        .await?
        .ok()?;
    assert_eq!(course.str_at("course.name")?, "Course cs101");
    assert_eq!(course.at("course.counts.assignments"), &json!(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_ids_are_not_found() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    for id in ["999999", "abc", "-1", "0"] {
        let resp = ada
            .gql(
                "query($id: ID!) { assignment(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await?;
        assert_eq!(resp.error_code(), Some("NOT_FOUND"), "{id}");
    }
    let resp = ada.gql(COURSE_BY_SLUG, json!({ "slug": "nope" })).await?;
    assert_eq!(resp.error_code(), Some("NOT_FOUND"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_creation_can_be_limited_to_admins() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("LECTERN_COURSE_CREATION", "admins")
        .env("LECTERN_ADMINS", "root-admin")
        .start()
        .await?;
    let ada = app.sign_in("ada").await?;
    let me = ada
        .gql("{ me { isAdmin canCreateCourses } }", json!({}))
        .await?
        .ok()?;
    assert_eq!(
        me.at("me"),
        &json!({ "isAdmin": false, "canCreateCourses": false })
    );
    let resp = ada
        .gql(
            "mutation { createCourse(input: { slug: \"c1\", name: \"C\" }) { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(resp.error_code(), Some("BAD_USER_INPUT"));
    assert!(
        resp.error_message()
            .unwrap_or_default()
            .contains("administrators")
    );

    let admin = app.sign_in("Root-Admin").await?;
    let id = app.course(&admin, "c1").await?;
    // Administrators act as instructors in courses they are not members of.
    let alan = app.sign_in("alan").await?;
    let alans = app.course(&alan, "alans-course").await;
    assert!(alans.is_err(), "non-admin created a course");
    let resp = admin
        .gql(
            "mutation($id: ID!) { updateCourse(id: $id, input: { term: \"Spring\" }) { term } }",
            json!({ "id": id }),
        )
        .await?
        .ok()?;
    assert_eq!(resp.str_at("updateCourse.term")?, "Spring");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_lists_count_each_course_separately() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let big = app.course(&ada, "big").await?;
    let small = app.course(&ada, "small").await?;
    app.course(&ada, "empty").await?;
    for login in ["s1", "s2", "s3"] {
        app.enroll(&ada, &big, login, "STUDENT").await?;
    }
    app.enroll(&ada, &small, "t1", "TA").await?;
    ada.gql(
        "mutation($c: ID!) { createAssignment(input: { courseId: $c, slug: \"hw1\", title: \"HW\", image: \"python:3.12\", testCommand: \"true\" }) { id } }",
        json!({ "c": small }),
    )
    .await?
    .ok()?;
    let listed = ada
        .gql(
            "{ me { courses { slug counts { instructors tas students assignments } } } }",
            json!({}),
        )
        .await?
        .ok()?;
    let by_slug: std::collections::HashMap<String, serde_json::Value> = listed
        .at("me.courses")
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["slug"].as_str().unwrap_or_default().to_owned(),
                c["counts"].clone(),
            )
        })
        .collect();
    assert_eq!(
        by_slug["big"],
        json!({ "instructors": 1, "tas": 0, "students": 3, "assignments": 0 })
    );
    assert_eq!(
        by_slug["small"],
        json!({ "instructors": 1, "tas": 1, "students": 0, "assignments": 1 })
    );
    assert_eq!(
        by_slug["empty"],
        json!({ "instructors": 1, "tas": 0, "students": 0, "assignments": 0 })
    );
    Ok(())
}
