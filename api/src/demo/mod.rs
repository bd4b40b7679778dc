//! `lectern demo`: a demo course with staff, students and an assignment, seeded idempotently
//! so that running it twice changes nothing — and, when the server is configured with the
//! GitHub stand-in, the students' repositories on it (see `github`).

pub mod github;

use bigdecimal::BigDecimal;
use chrono::{TimeDelta, Utc};
use diesel_async::AsyncPgConnection;

use crate::db::enums::Role;
use crate::db::models::{Assignment, Course, Invite, Membership, NewAssignment, User};

/// The demo course's slug.
pub const COURSE_SLUG: &str = "cs101-demo";

/// The demo people: login, name, role.
pub const PEOPLE: &[(&str, &str, Role)] = &[
    ("ada", "Ada Lovelace", Role::Instructor),
    ("grace", "Grace Hopper", Role::Ta),
    ("alan", "Alan Turing", Role::Student),
    ("barbara", "Barbara Liskov", Role::Student),
    ("edsger", "Edsger Dijkstra", Role::Student),
];

/// What was seeded, for printing.
#[derive(Debug)]
pub struct Seeded {
    pub course: Course,
    pub created: bool,
    pub student_invite: String,
}

/// Seeds the demo course (or finds it) and returns it.
pub async fn seed(conn: &mut AsyncPgConnection) -> anyhow::Result<Seeded> {
    let mut users = Vec::new();
    for (login, name, role) in PEOPLE {
        users.push((
            User::find_or_create_local(conn, login, Some(name)).await?,
            *role,
        ));
    }
    let instructor = users[0].0.id;
    let (course, created) = match Course::find_by_slug(conn, COURSE_SLUG).await {
        Ok(course) => (course, false),
        Err(diesel::result::Error::NotFound) => (
            Course::create(
                conn,
                instructor,
                COURSE_SLUG,
                "CS 101: Introduction to Programming (demo)",
                "Fall 2026",
            )
            .await?,
            true,
        ),
        Err(err) => return Err(err.into()),
    };
    for (user, role) in &users {
        Membership::join(conn, course.id, user.id, *role, None).await?;
    }
    if Assignment::find_by_slug(conn, course.id, "hello")
        .await
        .is_err()
    {
        Assignment::create(
            conn,
            &NewAssignment {
                course_id: course.id,
                slug: "hello".into(),
                title: "Hello, tests".into(),
                description: "Write `greet(name)` in greet.py so that `greet(\"Ada\")` returns \"Hello, Ada!\".".into(),
                image: "localhost/lectern-python:3.11".into(),
                test_command: "python3 -m unittest -v".into(),
                timeout_seconds: 30,
                memory_mb: 256,
                cpu_millis: 1000,
                points: BigDecimal::from(10),
                due_at: Some(Utc::now() + TimeDelta::days(7)),
                allow_dockerfile: false,
                allowed_branches: Vec::new(),
                hidden_tests_repo: None,
                hidden_tests_ref: None,
                report_path: None,
                test_points: serde_json::json!([]),
                late_policy: crate::db::enums::LatePolicy::Accept,
                late_penalty_percent: BigDecimal::from(0),
                grade_policy: crate::db::enums::GradePolicy::Latest,
                hidden_tests_path: "hidden_tests".into(),
                hidden_tests_command: None,
                starter_repo: None,
                starter_ref: None,
                protected_paths: Vec::new(),
                graded_run_limit: None,
                graded_run_period_hours: 24,
                image_source: crate::db::enums::ImageSource::Assignment,
            },
        )
        .await?;
    }
    let invites = Invite::list(conn, course.id).await?;
    let now = Utc::now();
    let student_invite = match invites
        .into_iter()
        .find(|i| i.role == Role::Student && i.state(now) == crate::db::models::InviteState::Active)
    {
        Some(invite) => invite.code,
        None => {
            Invite::create(conn, course.id, Role::Student, None, None, instructor)
                .await?
                .code
        }
    };
    Ok(Seeded {
        course,
        created,
        student_invite,
    })
}
