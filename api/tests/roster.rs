//! Invites, joining, roles and leaving, through the public GraphQL API.

mod support;

use serde_json::json;
use support::TestApp;

const CREATE_INVITE: &str = "mutation($input: CreateInviteInput!) { createInvite(input: $input) { id code role state uses maxUses joinUrl } }";
const JOIN: &str = "mutation($code: String!) { joinCourse(code: $code) { slug viewerRole } }";

/// Uses and state of the course's newest invite, as its staff see them.
async fn newest_invite(staff: &support::Client) -> anyhow::Result<serde_json::Value> {
    let invites = staff
        .gql(
            "query { course(slug: \"cs101\") { invites { uses state } } }",
            json!({}),
        )
        .await?
        .ok()?;
    Ok(invites.at("course.invites.0").clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_codes_join_with_their_role_and_count_uses() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let invite = ada
        .gql(
            CREATE_INVITE,
            json!({ "input": { "courseId": id, "role": "TA", "maxUses": 2 } }),
        )
        .await?
        .ok()?;
    let code = invite.str_at("createInvite.code")?.to_owned();
    assert_eq!(invite.str_at("createInvite.state")?, "ACTIVE");
    assert!(
        invite
            .str_at("createInvite.joinUrl")?
            .ends_with(&format!("/join/{code}"))
    );

    let grace = app.sign_in("grace").await?;
    // Codes are forgiving about case, spaces and dashes.
    let typed = format!(" {}-{} ", code[..6].to_lowercase(), &code[6..]);
    let joined = grace.gql(JOIN, json!({ "code": typed })).await?.ok()?;
    assert_eq!(
        joined.at("joinCourse"),
        &json!({ "slug": "cs101", "viewerRole": "TA" })
    );
    // Joining again changes nothing and uses nothing up.
    grace.gql(JOIN, json!({ "code": code })).await?.ok()?;
    assert_eq!(
        newest_invite(&ada).await?,
        json!({ "uses": 1, "state": "ACTIVE" })
    );

    let alan = app.sign_in("alan").await?;
    alan.gql(JOIN, json!({ "code": code })).await?.ok()?;
    assert_eq!(
        newest_invite(&ada).await?,
        json!({ "uses": 2, "state": "USED_UP" })
    );

    let edsger = app.sign_in("edsger").await?;
    let resp = edsger.gql(JOIN, json!({ "code": code })).await?;
    assert_eq!(resp.error_code(), Some("BAD_USER_INPUT"));
    assert!(
        resp.error_message()
            .unwrap_or_default()
            .contains("used as many times as allowed"),
        "{:?}",
        resp.body
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_revoked_and_unknown_codes_say_why() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let soon = (chrono::Utc::now() + chrono::TimeDelta::seconds(1)).to_rfc3339();
    let expiring = ada
        .gql(
            CREATE_INVITE,
            json!({ "input": { "courseId": id, "role": "STUDENT", "expiresAt": soon } }),
        )
        .await?
        .ok()?;
    let revoked = ada
        .gql(
            CREATE_INVITE,
            json!({ "input": { "courseId": id, "role": "STUDENT" } }),
        )
        .await?
        .ok()?;
    let revoked_id = revoked.str_at("createInvite.id")?.to_owned();
    let after = ada
        .gql(
            "mutation($id: ID!) { revokeInvite(id: $id) { state revokedAt } }",
            json!({ "id": revoked_id }),
        )
        .await?
        .ok()?;
    assert_eq!(after.str_at("revokeInvite.state")?, "REVOKED");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let alan = app.sign_in("alan").await?;
    let resp = alan
        .gql(
            JOIN,
            json!({ "code": expiring.str_at("createInvite.code")? }),
        )
        .await?;
    assert!(
        resp.error_message().unwrap_or_default().contains("expired"),
        "{:?}",
        resp.body
    );
    let resp = alan
        .gql(
            JOIN,
            json!({ "code": revoked.str_at("createInvite.code")? }),
        )
        .await?;
    assert!(
        resp.error_message().unwrap_or_default().contains("revoked"),
        "{:?}",
        resp.body
    );
    let resp = alan.gql(JOIN, json!({ "code": "NOSUCHCODE22" })).await?;
    assert_eq!(resp.error_code(), Some("NOT_FOUND"));
    let mine = alan
        .gql("{ me { courses { id } } }", json!({}))
        .await?
        .ok()?;
    assert_eq!(mine.at("me.courses"), &json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_options_are_validated() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let past = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    let far = (chrono::Utc::now() + chrono::TimeDelta::days(800)).to_rfc3339();
    for (input, field) in [
        (
            json!({ "courseId": id, "role": "STUDENT", "expiresAt": past }),
            "expiresAt",
        ),
        (
            json!({ "courseId": id, "role": "STUDENT", "expiresAt": far }),
            "expiresAt",
        ),
        (
            json!({ "courseId": id, "role": "STUDENT", "maxUses": 0 }),
            "maxUses",
        ),
    ] {
        let resp = ada.gql(CREATE_INVITE, json!({ "input": input })).await?;
        assert_eq!(
            resp.body["errors"][0]["extensions"]["field"],
            json!(field),
            "{}",
            resp.body
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_joins_never_exceed_an_invites_limit() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let invite = ada
        .gql(
            CREATE_INVITE,
            json!({ "input": { "courseId": id, "role": "STUDENT", "maxUses": 3 } }),
        )
        .await?
        .ok()?;
    let code = invite.str_at("createInvite.code")?.to_owned();
    let mut students = Vec::new();
    for i in 0..10 {
        students.push(app.sign_in(&format!("student{i}")).await?);
    }
    let joins = students
        .iter()
        .map(|s| s.gql(JOIN, json!({ "code": code })));
    let results = futures::future::join_all(joins).await;
    let joined = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.error_code().is_none()))
        .count();
    assert_eq!(joined, 3, "exactly the invite's limit joined");
    let counts = ada
        .gql(
            "{ course(slug: \"cs101\") { counts { students } invites { uses } } }",
            json!({}),
        )
        .await?
        .ok()?;
    assert_eq!(counts.at("course.counts.students"), &json!(3));
    assert_eq!(counts.at("course.invites.0.uses"), &json!(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_higher_role_invite_promotes_an_existing_member_a_lower_one_does_not_demote()
-> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let grace = app.enroll(&ada, &id, "grace", "STUDENT").await?;
    let ta = ada
        .gql(
            CREATE_INVITE,
            json!({ "input": { "courseId": id, "role": "TA" } }),
        )
        .await?
        .ok()?;
    let promoted = grace
        .gql(JOIN, json!({ "code": ta.str_at("createInvite.code")? }))
        .await?
        .ok()?;
    assert_eq!(promoted.str_at("joinCourse.viewerRole")?, "TA");
    let student = ada
        .gql(
            CREATE_INVITE,
            json!({ "input": { "courseId": id, "role": "STUDENT" } }),
        )
        .await?
        .ok()?;
    let kept = grace
        .gql(
            JOIN,
            json!({ "code": student.str_at("createInvite.code")? }),
        )
        .await?
        .ok()?;
    assert_eq!(kept.str_at("joinCourse.viewerRole")?, "TA");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_instructors_manage_invites_and_roles() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let grace = app.enroll(&ada, &id, "grace", "TA").await?;
    let alan = app.enroll(&ada, &id, "alan", "STUDENT").await?;
    let alan_id = alan
        .gql("{ me { id } }", json!({}))
        .await?
        .ok()?
        .str_at("me.id")?
        .to_owned();

    for client in [&grace, &alan] {
        let resp = client
            .gql(
                CREATE_INVITE,
                json!({ "input": { "courseId": id, "role": "INSTRUCTOR" } }),
            )
            .await?;
        assert_eq!(resp.error_code(), Some("FORBIDDEN"), "{}", client.login);
        let resp = client
            .gql("mutation($c: ID!, $u: ID!) { setMemberRole(courseId: $c, userId: $u, role: INSTRUCTOR) { role } }", json!({ "c": id, "u": alan_id }))
            .await?;
        assert_eq!(resp.error_code(), Some("FORBIDDEN"), "{}", client.login);
    }
    // TAs see invites; students do not.
    grace
        .gql(
            "{ course(slug: \"cs101\") { invites { code } } }",
            json!({}),
        )
        .await?
        .ok()?;
    let resp = alan
        .gql(
            "{ course(slug: \"cs101\") { invites { code } } }",
            json!({}),
        )
        .await?;
    assert_eq!(resp.error_code(), Some("FORBIDDEN"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_see_staff_and_themselves_staff_see_everyone() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let grace = app.enroll(&ada, &id, "grace", "TA").await?;
    let alan = app.enroll(&ada, &id, "alan", "STUDENT").await?;
    app.enroll(&ada, &id, "barbara", "STUDENT").await?;
    const ROSTER: &str = "{ course(slug: \"cs101\") { members { role user { login } } } }";
    let logins = |resp: &support::Gql| -> Vec<String> {
        resp.at("course.members")
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["user"]["login"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        logins(&grace.gql(ROSTER, json!({})).await?.ok()?),
        ["ada", "grace", "alan", "barbara"]
    );
    assert_eq!(
        logins(&alan.gql(ROSTER, json!({})).await?.ok()?),
        ["ada", "grace", "alan"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_course_always_keeps_an_instructor() -> anyhow::Result<()> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let id = app.course(&ada, "cs101").await?;
    let ada_id = ada
        .gql("{ me { id } }", json!({}))
        .await?
        .ok()?
        .str_at("me.id")?
        .to_owned();
    let demote = "mutation($c: ID!, $u: ID!) { setMemberRole(courseId: $c, userId: $u, role: STUDENT) { role } }";
    let resp = ada.gql(demote, json!({ "c": id, "u": ada_id })).await?;
    assert!(
        resp.error_message()
            .unwrap_or_default()
            .contains("at least one instructor"),
        "{:?}",
        resp.body
    );
    let resp = ada
        .gql(
            "mutation($c: ID!) { leaveCourse(courseId: $c) }",
            json!({ "c": id }),
        )
        .await?;
    assert!(
        resp.error_message()
            .unwrap_or_default()
            .contains("at least one instructor"),
        "{:?}",
        resp.body
    );

    let linus = app.enroll(&ada, &id, "linus", "INSTRUCTOR").await?;
    ada.gql(
        "mutation($c: ID!) { leaveCourse(courseId: $c) }",
        json!({ "c": id }),
    )
    .await?
    .ok()?;
    let resp = ada
        .gql("{ course(slug: \"cs101\") { id } }", json!({}))
        .await?;
    assert_eq!(
        resp.error_code(),
        Some("NOT_FOUND"),
        "a former member sees nothing"
    );
    let counts = linus
        .gql(
            "{ course(slug: \"cs101\") { counts { instructors } } }",
            json!({}),
        )
        .await?
        .ok()?;
    assert_eq!(counts.at("course.counts.instructors"), &json!(1));

    let alan = app.enroll(&linus, &id, "alan", "STUDENT").await?;
    let alan_id = alan
        .gql("{ me { id } }", json!({}))
        .await?
        .ok()?
        .str_at("me.id")?
        .to_owned();
    linus
        .gql(
            "mutation($c: ID!, $u: ID!) { removeMember(courseId: $c, userId: $u) }",
            json!({ "c": id, "u": alan_id }),
        )
        .await?
        .ok()?;
    let resp = alan
        .gql("{ course(slug: \"cs101\") { id } }", json!({}))
        .await?;
    assert_eq!(resp.error_code(), Some("NOT_FOUND"));
    Ok(())
}
