//! The grade matrix (staff): students × assignments, each cell the grading build's score,
//! coloured by standing with a word beside the colour; filters by assignment, standing and
//! name; sorting by name, total or one assignment; the CSV export for a gradebook.

use dioxus::prelude::*;

use super::errors::ErrorPanel;
use super::status::status_icon;
use super::test_results::decimal;
use crate::api::{self, GradeCell, GradeMatrix, GradeRow};
use crate::route::Route;

/// How a student stands on one assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Full,
    Partial,
    Zero,
    /// A build is queued or running and nothing is graded yet.
    Pending,
    /// Linked, but no build reached a verdict (errored, cancelled, never built).
    Ungraded,
    /// No repository linked.
    Missing,
}

impl Standing {
    pub fn of(cell: &GradeCell) -> Self {
        let number = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<f64>().ok());
        match (number(&cell.score), number(&cell.max_score)) {
            (Some(score), Some(max)) if score >= max && max > 0.0 => Self::Full,
            (Some(score), _) if score > 0.0 => Self::Partial,
            (Some(_), _) => Self::Zero,
            (None, _) if cell.repository_id.is_none() => Self::Missing,
            (None, _) if matches!(cell.latest_status.as_deref(), Some("QUEUED" | "RUNNING")) => {
                Self::Pending
            }
            (None, _) => Self::Ungraded,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Partial => "partial",
            Self::Zero => "zero",
            Self::Pending => "pending",
            Self::Ungraded => "ungraded",
            Self::Missing => "missing",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Full => "full marks",
            Self::Partial => "partial",
            Self::Zero => "no points",
            Self::Pending => "building",
            Self::Ungraded => "not graded",
            Self::Missing => "not linked",
        }
    }
}

/// Which rows to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    All,
    Full,
    Partial,
    Zero,
    /// Nothing graded yet: not linked, not built, or building.
    Outstanding,
    Late,
}

impl Show {
    const ALL: [(Self, &'static str, &'static str); 6] = [
        (Self::All, "all", "Everyone"),
        (Self::Full, "full", "Full marks"),
        (Self::Partial, "partial", "Partial"),
        (Self::Zero, "zero", "No points"),
        (Self::Outstanding, "outstanding", "Nothing graded yet"),
        (Self::Late, "late", "Late"),
    ];

    fn matches(self, cell: &GradeCell) -> bool {
        let standing = Standing::of(cell);
        match self {
            Self::All => true,
            Self::Full => standing == Standing::Full,
            Self::Partial => standing == Standing::Partial,
            Self::Zero => standing == Standing::Zero,
            Self::Outstanding => matches!(
                standing,
                Standing::Missing | Standing::Ungraded | Standing::Pending
            ),
            Self::Late => cell.late,
        }
    }
}

/// The order of the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    Name,
    /// Highest first.
    Total,
    /// Highest first on the assignment at this column.
    Column(usize),
}

/// What the controls ask for.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// One assignment's column, or all.
    pub column: Option<usize>,
    pub show: Show,
    /// Part of a login or name.
    pub name: String,
    pub sort: SortBy,
}

fn number(value: Option<&str>) -> f64 {
    value.and_then(|v| v.parse().ok()).unwrap_or(-1.0)
}

/// The rows `view` shows, in its order.
pub fn rows(matrix: &GradeMatrix, view: &View) -> Vec<GradeRow> {
    let needle = view.name.trim().to_lowercase();
    let mut rows: Vec<GradeRow> = matrix
        .rows
        .iter()
        .filter(|row| {
            needle.is_empty()
                || row.student.login.to_lowercase().contains(&needle)
                || row
                    .student
                    .name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&needle))
        })
        .filter(|row| match view.column {
            Some(i) => row.cells.get(i).is_some_and(|c| view.show.matches(c)),
            None => view.show == Show::All || row.cells.iter().any(|c| view.show.matches(c)),
        })
        .cloned()
        .collect();
    // Highest first for scores; ties (and names) by login.
    let key = |r: &GradeRow| match view.sort {
        SortBy::Name => 0.0,
        SortBy::Total => -number(Some(&r.total)),
        SortBy::Column(i) => -number(r.cells.get(i).and_then(|c| c.score.as_deref())),
    };
    rows.sort_by(|a, b| {
        key(a)
            .total_cmp(&key(b))
            .then_with(|| a.student.login.cmp(&b.student.login))
    });
    rows
}

#[component]
pub fn GradesTab(course_id: String, slug: String, can_edit: bool) -> Element {
    let matrix = use_resource(use_reactive!(|course_id| async move {
        api::grade_matrix(&course_id).await
    }));
    let mut view = use_signal(|| View {
        column: None,
        show: Show::All,
        name: String::new(),
        sort: SortBy::Name,
    });
    let read = matrix.read();
    let matrix = match &*read {
        None => {
            return rsx! { div { class: "skeleton-block tall", "aria-busy": "true", "aria-label": "Loading the grades" } };
        }
        Some(Err(err)) => {
            return rsx! { ErrorPanel { what: "The grades", error: err.clone(), testid: "grades-error" } };
        }
        Some(Ok(matrix)) => matrix.clone(),
    };
    if matrix.rows.is_empty() || matrix.assignments.is_empty() {
        return rsx! {
            section { class: "empty-state", "data-testid": "grades-empty",
                p { "Grades appear here once the course has students and assignments: invite students from the Roster tab." }
            }
        };
    }
    let current = view.read().clone();
    let shown = rows(&matrix, &current);
    let columns: Vec<(usize, api::GradeColumn)> = matrix
        .assignments
        .iter()
        .cloned()
        .enumerate()
        .filter(|(i, _)| current.column.is_none_or(|c| c == *i))
        .collect();
    let sort_header = move |label: String, by: SortBy| {
        let sorted = view.read().sort == by;
        rsx! {
            button { class: "sort", r#type: "button", "aria-pressed": sorted,
                onclick: move |_| view.write().sort = by,
                "{label}" if sorted { span { "aria-hidden": "true", " ▾" } }
            }
        }
    };
    rsx! {
        section { class: "grades", "data-testid": "grades",
            form { class: "filters", role: "search", onsubmit: move |e: FormEvent| e.prevent_default(),
                label { r#for: "grades-assignment", "Assignment" }
                select { id: "grades-assignment", "data-testid": "grades-assignment",
                    onchange: move |e| view.write().column = e.value().parse::<usize>().ok(),
                    option { value: "all", selected: current.column.is_none(), "All" }
                    for (i, a) in matrix.assignments.iter().enumerate() {
                        option { value: "{i}", selected: current.column == Some(i), "{a.title}" }
                    }
                }
                label { r#for: "grades-show", "Show" }
                select { id: "grades-show", "data-testid": "grades-show",
                    onchange: move |e| {
                        if let Some((show, _, _)) = Show::ALL.iter().find(|(_, v, _)| *v == e.value()) {
                            view.write().show = *show;
                        }
                    },
                    for (show, value, label) in Show::ALL {
                        option { value, selected: current.show == show, "{label}" }
                    }
                }
                label { r#for: "grades-name", "Student" }
                input { id: "grades-name", r#type: "search", placeholder: "login or name", "data-testid": "grades-name",
                    value: "{current.name}", oninput: move |e| view.write().name = e.value() }
                a { class: "button subtle", href: "/courses/{slug}/grades.csv", download: "{slug}-grades.csv",
                    "data-testid": "grades-export", "Export CSV" }
            }
            div { class: "grades-status",
                p { class: "muted", role: "status", "data-testid": "grades-count",
                    "{shown.len()} of {matrix.rows.len()} students" }
                if can_edit {
                    if let Some(i) = current.column {
                        if let Some(column) = matrix.assignments.get(i).cloned() {
                            Regrade { column }
                        }
                    }
                }
            }
            div { class: "table-scroll",
                table { class: "table matrix", "data-testid": "grade-matrix",
                    thead { tr {
                        th { scope: "col", {sort_header("Student".into(), SortBy::Name)} }
                        for (i, a) in columns.clone() {
                            th { scope: "col", title: "{a.title} ({decimal(&a.points)} points)",
                                {sort_header(a.slug.clone(), SortBy::Column(i))} }
                        }
                        th { scope: "col", {sort_header("Total".into(), SortBy::Total)} }
                    } }
                    tbody {
                        for row in shown {
                            tr { key: "{row.student.id}", "data-testid": "grade-row",
                                th { scope: "row",
                                    span { "{row.student.login}" }
                                    if let Some(name) = &row.student.name { span { class: "muted", " {name}" } }
                                }
                                for (i, _) in columns.clone() {
                                    if let Some(cell) = row.cells.get(i).cloned() {
                                        GradeCellView { cell }
                                    }
                                }
                                td { class: "total", strong { {decimal(&row.total)} } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A score as shown, or a dash without one.
fn or_dash(score: Option<&str>) -> String {
    score.map_or_else(|| "—".to_owned(), decimal)
}

/// Runs the assignment's grading builds again, after a confirmation, then follows them to
/// the end with a summary of the scores that changed.
#[component]
fn Regrade(column: api::GradeColumn) -> Element {
    let mut state = use_signal(|| None::<Result<String, String>>);
    let mut summary = use_signal(|| None::<api::RegradeSummary>);
    let mut busy = use_signal(|| false);
    let mut confirming = use_signal(|| false);
    let id = column.id.clone();
    let regrade = move |_| {
        let id = id.clone();
        async move {
            busy.set(true);
            summary.set(None);
            let done = api::regrade_assignment(&id).await;
            busy.set(false);
            confirming.set(false);
            let ids = match done {
                Ok(ids) => ids,
                Err(err) => return state.set(Some(Err(err.to_string()))),
            };
            state.set(Some(Ok(match ids.len() {
                1 => "1 build queued; its score replaces the old one when it ends.".into(),
                n => format!("{n} builds queued; their scores replace the old ones as they end."),
            })));
            // Follow the builds until every one has ended.
            while !ids.is_empty() {
                if let Ok(now) = api::regrade_summary(&ids).await {
                    let done = now.pending == 0;
                    summary.set(Some(now));
                    if done {
                        break;
                    }
                }
                crate::time::sleep(2000).await;
            }
        }
    };
    rsx! {
        div { class: "actions regrade", "data-testid": "regrade",
            if confirming() {
                span { "Run every student's grading build of {column.title} again?" }
                button { class: "button", r#type: "button", disabled: busy(), onclick: regrade,
                    if busy() { "Queuing…" } else { "Regrade" } }
                button { class: "button subtle", r#type: "button", onclick: move |_| confirming.set(false), "Keep" }
            } else {
                button { class: "button subtle", r#type: "button", onclick: move |_| confirming.set(true),
                    "Regrade {column.title}…" }
            }
            match state() {
                Some(Ok(message)) => rsx! { span { role: "status", "data-testid": "regrade-message", "{message}" } },
                Some(Err(message)) => rsx! { span { class: "error", role: "alert", "{message}" } },
                None => rsx! {},
            }
        }
        if let Some(s) = summary() {
            div { class: "regrade-summary", "data-testid": "regrade-summary", role: "status",
                p {
                    if s.pending > 0 { "{s.pending} still running; " }
                    "{s.changed.len()} changed, {s.unchanged} unchanged."
                }
                if !s.changed.is_empty() {
                    ul {
                        for change in s.changed.iter().cloned() {
                            li { key: "{change.build.id}",
                                Link { to: Route::BuildPage { id: change.build.id.clone() }, "{change.build.repository.full_name}" }
                                ": {or_dash(change.before.as_deref())} → {or_dash(change.after.as_deref())}"
                            }
                        }
                    }
                }
            }
        }
    }
}

#[component]
fn GradeCellView(cell: GradeCell) -> Element {
    let standing = Standing::of(&cell);
    let class = format!("cell cell-{}", standing.class());
    let label = match (&cell.score, &cell.max_score) {
        (Some(score), Some(max)) => format!("{} / {}", decimal(score), decimal(max)),
        _ => "—".to_owned(),
    };
    let status = cell.graded_status.clone().or(cell.latest_status.clone());
    let target = cell
        .graded_build_id
        .clone()
        .or(cell.latest_build_id.clone());
    rsx! {
        td { class: "{class}", "data-testid": "grade-cell", "data-standing": standing.class(),
            title: "{standing.word()}",
            if let Some(status) = &status {
                span { class: "cell-icon", "aria-hidden": "true", {status_icon(status)} " " }
            }
            match target {
                Some(id) => rsx! { Link { to: Route::BuildPage { id }, "{label}" } },
                None => rsx! { span { "{label}" } },
            }
            span { class: "visually-hidden", " ({standing.word()})" }
            if cell.late { span { class: "badge late", "late" } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Person;

    fn cell(score: Option<&str>, linked: bool, latest: Option<&str>, late: bool) -> GradeCell {
        GradeCell {
            assignment_id: "1".into(),
            repository_id: linked.then(|| "7".into()),
            graded_build_id: score.map(|_| "9".into()),
            score: score.map(str::to_owned),
            max_score: score.map(|_| "10".into()),
            late,
            latest_build_id: latest.map(|_| "9".into()),
            latest_status: latest.map(str::to_owned),
            graded_status: None,
        }
    }

    fn row(login: &str, total: &str, cells: Vec<GradeCell>) -> GradeRow {
        GradeRow {
            student: Person {
                id: login.into(),
                login: login.into(),
                name: None,
                avatar_url: None,
            },
            total: total.into(),
            cells,
        }
    }

    fn matrix() -> GradeMatrix {
        GradeMatrix {
            assignments: Vec::new(),
            rows: vec![
                row(
                    "carol",
                    "12",
                    vec![
                        cell(Some("10"), true, None, false),
                        cell(Some("2"), true, None, true),
                    ],
                ),
                row(
                    "alan",
                    "0",
                    vec![
                        cell(None, false, None, false),
                        cell(None, true, Some("RUNNING"), false),
                    ],
                ),
                row(
                    "bea",
                    "15",
                    vec![
                        cell(Some("5"), true, None, false),
                        cell(Some("10"), true, None, false),
                    ],
                ),
            ],
        }
    }

    fn logins(rows: &[GradeRow]) -> Vec<&str> {
        rows.iter().map(|r| r.student.login.as_str()).collect()
    }

    #[test]
    fn standings() {
        assert_eq!(
            Standing::of(&cell(Some("10"), true, None, false)),
            Standing::Full
        );
        assert_eq!(
            Standing::of(&cell(Some("0.000001"), true, None, false)),
            Standing::Partial
        );
        assert_eq!(
            Standing::of(&cell(Some("0"), true, None, false)),
            Standing::Zero
        );
        assert_eq!(
            Standing::of(&cell(None, true, Some("QUEUED"), false)),
            Standing::Pending
        );
        assert_eq!(
            Standing::of(&cell(None, true, Some("ERRORED"), false)),
            Standing::Ungraded
        );
        assert_eq!(
            Standing::of(&cell(None, false, None, false)),
            Standing::Missing
        );
    }

    #[test]
    fn filters_and_sorts() {
        let m = matrix();
        let mut view = View {
            column: None,
            show: Show::All,
            name: String::new(),
            sort: SortBy::Name,
        };
        assert_eq!(logins(&rows(&m, &view)), ["alan", "bea", "carol"]);
        view.sort = SortBy::Total;
        assert_eq!(logins(&rows(&m, &view)), ["bea", "carol", "alan"]);
        view.sort = SortBy::Column(0);
        assert_eq!(logins(&rows(&m, &view)), ["carol", "bea", "alan"]);
        view.show = Show::Full;
        view.column = Some(1);
        assert_eq!(logins(&rows(&m, &view)), ["bea"]);
        view.column = None;
        assert_eq!(logins(&rows(&m, &view)), ["carol", "bea"]);
        view.show = Show::Outstanding;
        assert_eq!(logins(&rows(&m, &view)), ["alan"]);
        view.show = Show::Late;
        assert_eq!(logins(&rows(&m, &view)), ["carol"]);
        view.show = Show::All;
        view.name = "BE".into();
        assert_eq!(logins(&rows(&m, &view)), ["bea"]);
    }
}
