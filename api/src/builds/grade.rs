//! After the tests ran: the report the assignment names, read out of the finished sandbox,
//! or else the test runner's output, graded into per-test results and a score.

use std::path::Path;

use crate::app::App;
use crate::db::models::{Assignment, Build, Extension, LogChunk, Repository};
use crate::grading::{self, Graded, deadline, junit, points};

/// Where the report the assignment names is.
pub enum Report<'a> {
    /// In the checkout the tests ran in (the local executor).
    InCheckout(&'a Path),
    /// Carried out of a sandbox that is gone (a container's workspace).
    Carried(&'a [u8]),
    /// The sandbox had none to carry out.
    NotWritten,
}

/// Grades `build`, whose tests `passed` (exited 0) or not. `None` when the assignment or the
/// output could not be read (the build then has no score).
pub async fn grade(app: &App, build: &Build, report: Report<'_>, passed: bool) -> Option<Graded> {
    let loaded = async {
        let mut conn = app.db().await?;
        let assignment = Assignment::find(&mut conn, build.assignment_id).await?;
        let repository = Repository::find(&mut conn, build.repository_id).await?;
        let extension = Extension::due_for(&mut conn, assignment.id, repository.owner_id).await?;
        let output = LogChunk::output_text(&mut conn, build.id).await?;
        Ok::<_, crate::error::AppError>((assignment, extension, output))
    }
    .await;
    let (assignment, extension, output) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            tracing::warn!(error = %err, "could not read what the build needs to be graded");
            return None;
        }
    };
    let report = match (assignment.report_path.clone(), report) {
        (None, _) => None,
        (Some(relative), Report::Carried(bytes)) => Some(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| format!("the report at {relative} is not UTF-8 text")),
        ),
        (Some(relative), Report::NotWritten) => Some(Err(format!(
            "no report at {relative}; results were read from the output"
        ))),
        (Some(relative), Report::InCheckout(checkout)) => {
            let checkout = checkout.to_owned();
            Some(
                tokio::task::spawn_blocking(move || read_report(&checkout, &relative))
                    .await
                    .unwrap_or_else(|e| Err(format!("reading the report failed: {e}"))),
            )
        }
    };
    let rules = points::rules_from_json(&assignment.test_points);
    // Late by when Lectern received the push, against the student's own deadline if any.
    let due = extension.or(assignment.due_at);
    let days_late = deadline::days_late(build.received_at, due);
    Some(
        grading::grade(report, &output, passed, &rules, &assignment.points).late(
            days_late,
            assignment.late_policy,
            &assignment.late_penalty_percent,
        ),
    )
}

/// The report at `relative` inside `checkout`, as text. Refuses what is not a regular file
/// inside the checkout (a student's symlink to a server file), too large, or not UTF-8.
fn read_report(checkout: &Path, relative: &str) -> Result<String, String> {
    let missing = || format!("no report at {relative}; results were read from the output");
    let root = checkout.canonicalize().map_err(|_| missing())?;
    let real = checkout
        .join(relative)
        .canonicalize()
        .map_err(|_| missing())?;
    if !real.starts_with(&root) {
        return Err(format!(
            "the report at {relative} points outside the checkout"
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|_| missing())?;
    if !meta.is_file() {
        return Err(format!("{relative} is not a file"));
    }
    if meta.len() > junit::MAX_BYTES as u64 {
        return Err(format!(
            "the report at {relative} is larger than {} MB",
            junit::MAX_BYTES / 1024 / 1024
        ));
    }
    let bytes = std::fs::read(&real).map_err(|e| format!("cannot read {relative}: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("the report at {relative} is not UTF-8 text"))
}

/// The line the log ends with: what was found and the score.
pub fn summary(graded: &Graded) -> String {
    let score = format!(
        "score {} of {}",
        graded.scored.score.normalized(),
        graded.scored.max.normalized()
    );
    let found = match (graded.format, graded.counts()) {
        (Some(format), Some(c)) => format!(
            "tests: {} passed, {} failed, {} skipped (from the {} report); {score}",
            c.passed,
            c.failed,
            c.skipped,
            format.name()
        ),
        _ => format!("no test report found: the exit code decides; {score}"),
    };
    match (graded.days_late, &graded.before_penalty) {
        (Some(days), Some(before)) => format!(
            "{found}; received {days} day(s) late: {} before the late penalty",
            before.normalized()
        ),
        (Some(days), None) => format!("{found}; received {days} day(s) late"),
        _ => found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_outside_the_checkout_or_too_odd_are_refused() {
        let dir = std::env::temp_dir().join(format!("lectern-report-{}", std::process::id()));
        let checkout = dir.join("src");
        std::fs::create_dir_all(checkout.join("out")).expect("test input");
        std::fs::write(checkout.join("out/report.xml"), "<testsuites/>").expect("test input");
        std::fs::write(dir.join("secret"), "server file").expect("test input");
        std::os::unix::fs::symlink(dir.join("secret"), checkout.join("sneaky.xml"))
            .expect("test input");
        std::fs::write(checkout.join("binary.xml"), [0xff, 0xfe]).expect("test input");

        assert_eq!(
            read_report(&checkout, "out/report.xml").expect("test input"),
            "<testsuites/>"
        );
        assert!(
            read_report(&checkout, "sneaky.xml")
                .expect_err("refused")
                .contains("outside the checkout")
        );
        assert!(
            read_report(&checkout, "out")
                .expect_err("refused")
                .contains("not a file")
        );
        assert!(
            read_report(&checkout, "binary.xml")
                .expect_err("refused")
                .contains("UTF-8")
        );
        assert!(
            read_report(&checkout, "nope.xml")
                .expect_err("refused")
                .starts_with("no report at nope.xml")
        );
        std::fs::remove_dir_all(&dir).expect("test input");
    }
}
