//! After the tests ran: the report the assignment names (as the executor found it),
//! or else the test runner's output, graded into per-test results and a score.

use crate::app::App;
use crate::db::models::{Assignment, Build, Extension, LogChunk};
use crate::grading::{self, Graded, deadline, points};

/// Grades `build` of `assignment` (as loaded to run it) in a repository of `owner_id`: the
/// visible run (the report its executor found, and whether the tests exited 0) and the hidden
/// tests' run when there was one. `None` when the output could not be read (no score then).
pub async fn grade(
    app: &App,
    build: &Build,
    assignment: &Assignment,
    owner_id: i64,
    (report, passed): (Option<Result<String, String>>, bool),
    hidden: Option<(Option<Result<String, String>>, bool)>,
) -> Option<Graded> {
    let loaded = async {
        let mut conn = app.db().await?;
        let extension = Extension::due_for(&mut conn, assignment.id, owner_id).await?;
        let output = LogChunk::output_text(&mut conn, build.id, false).await?;
        let hidden_output = if hidden.is_some() {
            LogChunk::output_text(&mut conn, build.id, true).await?
        } else {
            String::new()
        };
        Ok::<_, crate::error::AppError>((extension, output, hidden_output))
    }
    .await;
    let (extension, output, hidden_output) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            tracing::warn!(error = %err, "could not read what the build needs to be graded");
            return None;
        }
    };
    let rules = points::rules_from_json(&assignment.test_points);
    // Late by when Lectern received the push, against the student's own deadline if any.
    let due = extension.or(assignment.due_at);
    let days_late = deadline::days_late(build.received_at, due);
    let visible = grading::Run {
        report,
        output: &output,
        passed,
    };
    let hidden = hidden.map(|(report, passed)| grading::Run {
        report,
        output: &hidden_output,
        passed,
    });
    Some(
        grading::grade(visible, hidden, &rules, &assignment.points).late(
            days_late,
            assignment.late_policy,
            &assignment.late_penalty_percent,
        ),
    )
}

/// The line the log ends with: what was found and the score — of every test with
/// `with_hidden`, else of the visible tests alone (what a student may read before the hidden
/// tests are released).
pub fn summary(graded: &Graded, with_hidden: bool) -> String {
    let score = if with_hidden {
        Some(&graded.scored.score)
    } else {
        graded.visible_score.as_ref()
    };
    let score = match score {
        Some(score) => format!(
            "score {} of {}",
            score.normalized(),
            graded.scored.max.normalized()
        ),
        None => "score shown once the hidden tests are released".to_owned(),
    };
    let shown: Vec<grading::TestCase> = graded
        .cases
        .iter()
        .filter(|c| with_hidden || !c.hidden)
        .cloned()
        .collect();
    let found = match graded.format {
        Some(format) => {
            let c = grading::Counts::of(&shown);
            format!(
                "tests: {} passed, {} failed, {} skipped (from the {} report); {score}",
                c.passed,
                c.failed,
                c.skipped,
                format.name()
            )
        }
        None => format!("no test report found: the exit code decides; {score}"),
    };
    match (graded.days_late, &graded.before_penalty) {
        (Some(days), Some(before)) if with_hidden || graded.cases.iter().all(|c| !c.hidden) => {
            format!(
                "{found}; received {days} day(s) late: {} before the late penalty",
                before.normalized()
            )
        }
        (Some(days), _) => format!("{found}; received {days} day(s) late"),
        _ => found,
    }
}
