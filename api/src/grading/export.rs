//! The grade matrix as CSV for a gradebook import (Canvas, Moodle, Blackboard, a
//! spreadsheet): one row per student — login, name, email, a score per assignment, total.

use crate::db::models::GradeMatrix;

/// A field as CSV holds it: quoted when it must be, and defused when a spreadsheet would
/// read it as a formula (a student's display name is theirs to choose).
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) || text.starts_with('\'') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The whole matrix; an assignment not yet graded for a student is an empty cell.
pub fn csv(matrix: &GradeMatrix) -> String {
    let mut out = String::new();
    let mut header = vec!["login".to_owned(), "name".to_owned(), "email".to_owned()];
    header.extend(matrix.assignments.iter().map(|a| field(&a.title)));
    header.push("total".to_owned());
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for student in &matrix.students {
        let mut row = vec![
            field(&student.login),
            field(student.name.as_deref().unwrap_or_default()),
            field(student.email.as_deref().unwrap_or_default()),
        ];
        for assignment in &matrix.assignments {
            let score = matrix
                .cell(student.id, assignment.id)
                .and_then(|c| c.score.as_ref())
                .map(|s| s.normalized().to_plain_string())
                .unwrap_or_default();
            row.push(score);
        }
        row.push(matrix.total(student.id).normalized().to_plain_string());
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("ada"), "ada");
        assert_eq!(field("Lovelace, Ada"), "\"Lovelace, Ada\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "\"'-1\"");
        assert_eq!(field(""), "");
    }
}
