//! Assignments through the public GraphQL API.

mod support;

use serde_json::json;
use support::TestApp;

const CREATE: &str = "mutation($input: CreateAssignmentInput!) { createAssignment(input: $input) { id slug title image testCommand timeoutSeconds memoryMb cpuMillis points dueAt allowedBranches hiddenTestsRepo hasHiddenTests } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateAssignmentInput!) { updateAssignment(id: $id, input: $input) { title points dueAt hiddenTestsRepo timeoutSeconds } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instructors_create_update_and_list_assignments() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    let created = ada
        .gql(CREATE, json!({ "input": {
            "courseId": course, "slug": "hw1", "title": "  Recursion ", "image": "localhost/lectern-python:3.11",
            "testCommand": "python3 -m pytest -q", "points": "12.5", "dueAt": "2026-12-24T23:59:00Z",
            "allowedBranches": ["main", "feature/*"], "hiddenTestsRepo": "https://github.com/cs101/hw1-hidden"
        } }))
        .await?
        .ok()?;
    assert_eq!(created.str_at("createAssignment.title")?, "Recursion");
    assert_eq!(
        created.at("createAssignment.timeoutSeconds"),
        &json!(600),
        "documented default"
    );
    assert_eq!(created.at("createAssignment.memoryMb"), &json!(512));
    assert_eq!(created.str_at("createAssignment.points")?, "12.50");
    assert_eq!(
        created.at("createAssignment.allowedBranches"),
        &json!(["main", "feature/*"])
    );
    let id = created.str_at("createAssignment.id")?.to_owned();

    let updated = ada
        .gql(UPDATE, json!({ "id": id, "input": { "title": "Recursion, revised", "dueAt": null, "timeoutSeconds": 120 } }))
        .await?
        .ok()?;
    assert_eq!(
        updated.at("updateAssignment"),
        &json!({
            "title": "Recursion, revised", "points": "12.50", "dueAt": null,
            "hiddenTestsRepo": "https://github.com/cs101/hw1-hidden", "timeoutSeconds": 120
        })
    );
    ada.gql(CREATE, json!({ "input": { "courseId": course, "slug": "hw0", "title": "Warm-up", "image": "python:3.12", "testCommand": "true", "dueAt": "2026-12-10T00:00:00Z" } }))
        .await?
        .ok()?;
    let list = ada
        .gql(
            "{ course(slug: \"cs101\") { assignments { slug } } }",
            json!({}),
        )
        .await?
        .ok()?;
    assert_eq!(
        list.at("course.assignments"),
        &json!([{ "slug": "hw0" }, { "slug": "hw1" }]),
        "by due date, undated last"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_read_assignments_but_not_hidden_test_sources_and_cannot_change_them()
-> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    let created = ada
        .gql(CREATE, json!({ "input": { "courseId": course, "slug": "hw1", "title": "HW", "image": "python:3.12", "testCommand": "pytest", "hiddenTestsRepo": "https://git.example.edu/hidden", "hiddenTestsRef": "v1" } }))
        .await?
        .ok()?;
    let id = created.str_at("createAssignment.id")?.to_owned();
    let alan = app.enroll(&ada, &course, "alan", "STUDENT").await?;
    let grace = app.enroll(&ada, &course, "grace", "TA").await?;

    let seen = alan.gql("query($id: ID!) { assignment(id: $id) { title hasHiddenTests hiddenTestsRepo hiddenTestsRef } }", json!({ "id": id })).await?.ok()?;
    assert_eq!(
        seen.at("assignment"),
        &json!({ "title": "HW", "hasHiddenTests": true, "hiddenTestsRepo": null, "hiddenTestsRef": null })
    );
    let seen = grace
        .gql(
            "query($id: ID!) { assignment(id: $id) { hiddenTestsRepo } }",
            json!({ "id": id }),
        )
        .await?
        .ok()?;
    assert_eq!(
        seen.str_at("assignment.hiddenTestsRepo")?,
        "https://git.example.edu/hidden"
    );

    for client in [&alan, &grace] {
        let resp = client
            .gql(UPDATE, json!({ "id": id, "input": { "points": "1000" } }))
            .await?;
        assert_eq!(resp.error_code(), Some("FORBIDDEN"), "{}", client.login);
        let resp = client
            .gql(
                "mutation($id: ID!) { deleteAssignment(id: $id) }",
                json!({ "id": id }),
            )
            .await?;
        assert_eq!(resp.error_code(), Some("FORBIDDEN"), "{}", client.login);
        let resp = client
            .gql(CREATE, json!({ "input": { "courseId": course, "slug": "x", "title": "X", "image": "python:3.12", "testCommand": "true" } }))
            .await?;
        assert_eq!(resp.error_code(), Some("FORBIDDEN"), "{}", client.login);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_fields_are_validated_with_the_field_named() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    let base = json!({ "courseId": course, "slug": "hw1", "title": "HW", "image": "python:3.12", "testCommand": "pytest" });
    let cases = [
        ("timeoutSeconds", json!(0)),
        ("timeoutSeconds", json!(100_000)),
        ("memoryMb", json!(8)),
        ("cpuMillis", json!(10)),
        ("points", json!("-1")),
        ("points", json!("1.234")),
        ("image", json!("python 3; rm -rf /")),
        ("testCommand", json!("   ")),
        ("slug", json!("HW 1")),
        ("allowedBranches", json!(["ok", "bad..name"])),
        ("hiddenTestsRepo", json!("/etc/passwd")),
        ("reportPath", json!("../../etc/shadow")),
    ];
    for (field, value) in cases {
        let mut input = base.clone();
        input[field] = value.clone();
        let resp = ada.gql(CREATE, json!({ "input": input })).await?;
        assert_eq!(
            resp.error_code(),
            Some("BAD_USER_INPUT"),
            "{field}={value}: {}",
            resp.body
        );
        assert_eq!(
            resp.body["errors"][0]["extensions"]["field"],
            json!(field),
            "{field}={value}"
        );
    }
    let mut only_ref = base.clone();
    only_ref["hiddenTestsRef"] = json!("main");
    let resp = ada.gql(CREATE, json!({ "input": only_ref })).await?;
    assert_eq!(
        resp.body["errors"][0]["extensions"]["field"],
        json!("hiddenTestsRef")
    );

    ada.gql(CREATE, json!({ "input": base })).await?.ok()?;
    let resp = ada.gql(CREATE, json!({ "input": base })).await?;
    assert_eq!(resp.error_code(), Some("CONFLICT"));
    let list = ada
        .gql(
            "{ course(slug: \"cs101\") { counts { assignments } } }",
            json!({}),
        )
        .await?
        .ok()?;
    assert_eq!(
        list.at("course.counts.assignments"),
        &json!(1),
        "no invalid assignment was stored"
    );
    Ok(())
}
