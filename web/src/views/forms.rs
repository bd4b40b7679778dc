//! Forms for instructors: a new course or changes to one, a new assignment or changes to
//! one. The server validates; its complaint about a field is shown next to that field,
//! anything else above the button.

use dioxus::prelude::*;
use serde_json::{Value, json};

use super::errors::Field;
use super::status::Timestamp;
use crate::api::{self, ApiError, AssignmentRow, CourseDetail};
use crate::route::Route;

/// The error to show at the bottom of a form: the one not about any of its `fields`.
pub(super) fn general(error: &Option<ApiError>, fields: &[&str]) -> Option<String> {
    error
        .as_ref()
        .filter(|e| e.field.as_deref().is_none_or(|f| !fields.contains(&f)))
        .map(ToString::to_string)
}

pub(super) fn field_error(error: &Option<ApiError>, field: &str) -> Option<String> {
    error.as_ref().and_then(|e| e.for_field(field))
}

/// After a submission: on success the form is drawn afresh (its `generation` moves on) and
/// the parent hears of it; otherwise the error is shown.
fn settle(
    saved: Result<(), ApiError>,
    mut error: Signal<Option<ApiError>>,
    mut generation: Signal<u32>,
    on_saved: EventHandler<()>,
) {
    match saved {
        Ok(()) => {
            generation += 1;
            on_saved.call(());
        }
        Err(err) => error.set(Some(err)),
    }
}

/// The text a submitted form holds under `name`, trimmed. (Read from the form on submit,
/// so what is submitted is what the fields show, however they were filled.)
pub(super) fn text(event: &FormEvent, name: &str) -> String {
    match event.get_first(name) {
        Some(FormValue::Text(value)) => value.trim().to_owned(),
        _ => String::new(),
    }
}

#[component]
pub fn NewCourseForm() -> Element {
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    let navigator = use_navigator();
    let submit = move |event: FormEvent| {
        event.prevent_default();
        let (slug, name, term) = (
            text(&event, "slug"),
            text(&event, "name"),
            text(&event, "term"),
        );
        async move {
            busy.set(true);
            error.set(None);
            match api::create_course(&slug, &name, &term).await {
                Ok(created) => {
                    navigator.push(Route::CoursePage { slug: created });
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        }
    };
    let e = error.read().clone();
    rsx! {
        details { class: "panel", "data-testid": "new-course",
            summary { "New course" }
            form { class: "form", onsubmit: submit, novalidate: true,
                Field { label: "Name", id: "course-name", error: field_error(&e, "name"),
                    input { id: "course-name", name: "name", placeholder: "Operating Systems" }
                }
                Field { label: "Short name (in its address)", id: "course-slug", error: field_error(&e, "slug"),
                    hint: "lower-case letters, digits and dashes, like cs-341",
                    input { id: "course-slug", name: "slug", placeholder: "cs-341" }
                }
                Field { label: "Term", id: "course-term", error: field_error(&e, "term"),
                    input { id: "course-term", name: "term", placeholder: "Spring 2027" }
                }
                if let Some(message) = general(&e, &["name", "slug", "term"]) {
                    p { class: "error", role: "alert", "{message}" }
                }
                button { class: "button", r#type: "submit", disabled: busy(), if busy() { "Creating…" } else { "Create course" } }
            }
        }
    }
}

/// The fields of the assignment form, in the API's names.
const ASSIGNMENT_FIELDS: [&str; 22] = [
    "imageSource",
    "hiddenTestsPath",
    "hiddenTestsCommand",
    "starterRepo",
    "starterRef",
    "protectedPaths",
    "gradedRunLimit",
    "gradedRunPeriodHours",
    "latePolicy",
    "latePenaltyPercent",
    "gradePolicy",
    "slug",
    "title",
    "description",
    "image",
    "testCommand",
    "points",
    "dueAt",
    "timeoutSeconds",
    "memoryMb",
    "cpuMillis",
    "reportPath",
];

/// A whole number from a form field, or the error to show beside it.
fn whole(event: &FormEvent, name: &str, unit: &str) -> Result<i64, ApiError> {
    text(event, name).parse::<i64>().map_err(|_| ApiError {
        code: Some("INVALID".into()),
        message: format!("give a whole number of {unit}"),
        field: Some(name.into()),
    })
}

/// The API input an assignment form holds. Creating leaves empty optional fields out (the
/// server's defaults apply); editing sends them as null, which clears them.
fn assignment_input(event: &FormEvent, editing: bool) -> Result<Value, ApiError> {
    let field = |name: &str| text(event, name);
    let mut input = json!({
        "slug": field("slug"), "title": field("title"), "description": field("description"),
        "image": field("image"), "testCommand": field("testCommand"),
        "timeoutSeconds": whole(event, "timeoutSeconds", "seconds")?,
        "memoryMb": whole(event, "memoryMb", "MiB")?,
        "cpuMillis": whole(event, "cpuMillis", "millicores")?,
        "latePolicy": field("latePolicy"), "gradePolicy": field("gradePolicy"),
        "imageSource": field("imageSource"),
        "gradedRunPeriodHours": whole(event, "gradedRunPeriodHours", "hours")?,
        // One pattern per line.
        "protectedPaths": field("protectedPaths").lines().map(str::trim)
            .filter(|l| !l.is_empty()).collect::<Vec<_>>(),
    });
    let limit = field("gradedRunLimit");
    let limit = if limit.is_empty() {
        Value::Null
    } else {
        json!(whole(event, "gradedRunLimit", "runs")?)
    };
    if editing || !limit.is_null() {
        input["gradedRunLimit"] = limit;
    }
    if !field("hiddenTestsPath").is_empty() {
        input["hiddenTestsPath"] = json!(field("hiddenTestsPath"));
    }
    let optional = |value: String| match value.is_empty() {
        true => Value::Null,
        false => Value::String(value),
    };
    // <input type=datetime-local> gives a time without a zone: it is read as UTC.
    let due = field("dueAt");
    let due = optional(if due.is_empty() {
        due
    } else {
        format!("{due}:00Z")
    });
    for (name, value) in [
        ("points", optional(field("points"))),
        ("dueAt", due),
        ("reportPath", optional(field("reportPath"))),
        ("hiddenTestsCommand", optional(field("hiddenTestsCommand"))),
        ("starterRepo", optional(field("starterRepo"))),
        ("starterRef", optional(field("starterRef"))),
        ("latePenaltyPercent", optional(field("latePenaltyPercent"))),
    ] {
        if editing || !value.is_null() {
            input[name] = value;
        }
    }
    if editing && input["points"].is_null() {
        // Points cannot be cleared; an emptied field means the default.
        input["points"] = json!("100");
    }
    if input["latePenaltyPercent"].is_null() {
        input["latePenaltyPercent"] = json!("0");
    }
    Ok(input)
}

/// A stored due time as `<input type=datetime-local>` shows it: `2026-12-10T23:59`.
fn local_input(at: &str) -> String {
    at.chars().take(16).collect()
}

/// Creates an assignment in `course_id`, or edits `editing`. The server validates; what it
/// says about a field appears beside that field.
#[component]
pub fn AssignmentForm(
    course_id: String,
    editing: Option<AssignmentRow>,
    on_saved: EventHandler<()>,
    on_cancel: Option<EventHandler<()>>,
) -> Element {
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    // Bumped after a success: a new-assignment form is drawn afresh, empty.
    let generation = use_signal(|| 0_u32);
    let existing = editing.clone();
    let submit = move |event: FormEvent| {
        event.prevent_default();
        let course_id = course_id.clone();
        let existing = existing.clone();
        let input = assignment_input(&event, existing.is_some());
        async move {
            let mut input = match input {
                Ok(input) => input,
                Err(err) => return error.set(Some(err)),
            };
            busy.set(true);
            error.set(None);
            let saved = match &existing {
                Some(assignment) => api::update_assignment(&assignment.id, input).await,
                None => {
                    input["courseId"] = Value::String(course_id);
                    api::create_assignment(input).await
                }
            };
            busy.set(false);
            settle(saved, error, generation, on_saved);
        }
    };
    let e = error.read().clone();
    let a = editing.clone();
    let value = |f: fn(&AssignmentRow) -> String, default: &str| {
        a.as_ref().map(f).unwrap_or_else(|| default.to_owned())
    };
    let (action, busy_label) = match editing {
        Some(_) => ("Save changes", "Saving…"),
        None => ("Create assignment", "Creating…"),
    };
    // Element ids: `a-title` in the new-assignment form, `e-title` in the one editing.
    let p = if editing.is_some() { "e" } else { "a" };
    let editing_now = editing.is_some();
    let form = rsx! {
        form { key: "{generation}", class: "form wide", onsubmit: submit, novalidate: true,
            "data-testid": if editing.is_some() { "edit-assignment-form" } else { "new-assignment-form" },
            Field { label: "Title", id: "{p}-title", error: field_error(&e, "title"),
                input { id: "{p}-title", name: "title", initial_value: value(|a| a.title.clone(), ""),
                    // The edit form opens below the table: bring it into view, ready to type.
                    onmounted: move |element| async move {
                        if editing_now {
                            let _ = element.scroll_to(ScrollBehavior::Smooth).await;
                            let _ = element.set_focus(true).await;
                        }
                    },
                } }
            Field { label: "Short name", id: "{p}-slug", error: field_error(&e, "slug"), hint: "like hw1; students see it in links",
                input { id: "{p}-slug", name: "slug", initial_value: value(|a| a.slug.clone(), "") } }
            Field { label: "Description", id: "{p}-description", error: field_error(&e, "description"),
                textarea { id: "{p}-description", name: "description", rows: 3, initial_value: value(|a| a.description.clone(), "") } }
            Field { label: "Image", id: "{p}-image", error: field_error(&e, "image"), hint: "the container image the tests run in",
                input { id: "{p}-image", name: "image", initial_value: value(|a| a.image.clone(), "localhost/lectern-python:3.11") } }
            Field { label: "Test command", id: "{p}-command", error: field_error(&e, "testCommand"),
                input { id: "{p}-command", name: "testCommand", class: "mono", initial_value: value(|a| a.test_command.clone(), "python3 -m unittest -v") } }
            Field { label: "Test report (JUnit XML path)", id: "{p}-report", error: field_error(&e, "reportPath"),
                hint: "empty: results are read from the test runner's output",
                input { id: "{p}-report", name: "reportPath", class: "mono", initial_value: value(|a| a.report_path.clone().unwrap_or_default(), "") } }
            div { class: "field-row",
                Field { label: "Points", id: "{p}-points", error: field_error(&e, "points"), hint: "empty: 100",
                    input { id: "{p}-points", name: "points", inputmode: "decimal", initial_value: value(|a| a.points.clone(), "") } }
                Field { label: "Due (UTC)", id: "{p}-due", error: field_error(&e, "dueAt"), hint: "empty: no deadline",
                    input { id: "{p}-due", name: "dueAt", r#type: "datetime-local",
                        initial_value: value(|a| a.due_at.as_deref().map(local_input).unwrap_or_default(), "") } }
            }
            div { class: "field-row",
                Field { label: "Time limit (s)", id: "{p}-timeout", error: field_error(&e, "timeoutSeconds"),
                    input { id: "{p}-timeout", name: "timeoutSeconds", inputmode: "numeric", initial_value: value(|a| a.timeout_seconds.to_string(), "600") } }
                Field { label: "Memory (MiB)", id: "{p}-memory", error: field_error(&e, "memoryMb"),
                    input { id: "{p}-memory", name: "memoryMb", inputmode: "numeric", initial_value: value(|a| a.memory_mb.to_string(), "512") } }
                Field { label: "CPU (millicores)", id: "{p}-cpu", error: field_error(&e, "cpuMillis"),
                    input { id: "{p}-cpu", name: "cpuMillis", inputmode: "numeric", initial_value: value(|a| a.cpu_millis.to_string(), "1000") } }
            }
            div { class: "field-row",
                Field { label: "Work received late", id: "{p}-late", error: field_error(&e, "latePolicy"),
                    select { id: "{p}-late", name: "latePolicy",
                        for (value, label) in [("ACCEPT", "is graded, marked late"), ("PENALTY", "loses a share per day"), ("REFUSE", "is not graded")] {
                            option { value, initial_selected: a.as_ref().map_or(value == "ACCEPT", |a| a.late_policy == value), "{label}" }
                        }
                    }
                }
                Field { label: "Penalty per day (%)", id: "{p}-penalty", error: field_error(&e, "latePenaltyPercent"),
                    input { id: "{p}-penalty", name: "latePenaltyPercent", inputmode: "decimal",
                        initial_value: value(|a| a.late_penalty_percent.clone(), "10") } }
                Field { label: "On Kubernetes, run", id: "{p}-image-source", error: field_error(&e, "imageSource"),
                    select { id: "{p}-image-source", name: "imageSource",
                        for (value, label) in [("ASSIGNMENT", "the image, fetching the commit"), ("PER_BUILD", "an image built per build")] {
                            option { value, initial_selected: a.as_ref().map_or(value == "ASSIGNMENT", |a| a.image_source == value), "{label}" }
                        }
                    }
                }
                Field { label: "Grade from", id: "{p}-grade", error: field_error(&e, "gradePolicy"),
                    select { id: "{p}-grade", name: "gradePolicy",
                        for (value, label) in [("LATEST", "the latest build"), ("BEST", "the best build")] {
                            option { value, initial_selected: a.as_ref().map_or(value == "LATEST", |a| a.grade_policy == value), "{label}" }
                        }
                    }
                }
            }
            fieldset { class: "fieldset",
                legend { "Hidden tests, protected files, graded runs" }
                div { class: "field-row",
                    Field { label: "Hidden tests go to", id: "{p}-hidden-path", error: field_error(&e, "hiddenTestsPath"),
                        hint: "a folder of the checkout; whatever the student has there is replaced",
                        input { id: "{p}-hidden-path", name: "hiddenTestsPath", class: "mono",
                            initial_value: value(|a| a.hidden_tests_path.clone().unwrap_or_default(), "hidden_tests") } }
                    Field { label: "Hidden tests command", id: "{p}-hidden-command", error: field_error(&e, "hiddenTestsCommand"),
                        hint: "empty: the test command",
                        input { id: "{p}-hidden-command", name: "hiddenTestsCommand", class: "mono",
                            initial_value: value(|a| a.hidden_tests_command.clone().unwrap_or_default(), "") } }
                }
                div { class: "field-row",
                    Field { label: "Starter repository", id: "{p}-starter", error: field_error(&e, "starterRepo"),
                        hint: "https:// git URL of the code students start from",
                        input { id: "{p}-starter", name: "starterRepo", class: "mono",
                            initial_value: value(|a| a.starter_repo.clone().unwrap_or_default(), "") } }
                    Field { label: "Starter branch or tag", id: "{p}-starter-ref", error: field_error(&e, "starterRef"),
                        hint: "empty: its default branch",
                        input { id: "{p}-starter-ref", name: "starterRef", class: "mono",
                            initial_value: value(|a| a.starter_ref.clone().unwrap_or_default(), "") } }
                }
                Field { label: "Protected paths", id: "{p}-protected", error: field_error(&e, "protectedPaths"),
                    hint: "one per line (tests/ or *.cfg); a build whose commit changes them against the starter is flagged",
                    textarea { id: "{p}-protected", name: "protectedPaths", rows: 2, class: "mono",
                        initial_value: value(|a| a.protected_paths.join("\n"), "") } }
                div { class: "field-row",
                    Field { label: "Graded runs allowed", id: "{p}-runs", error: field_error(&e, "gradedRunLimit"),
                        hint: "empty: no limit; past it a push runs the visible tests only",
                        input { id: "{p}-runs", name: "gradedRunLimit", inputmode: "numeric",
                            initial_value: value(|a| a.graded_run_limit.map(|n| n.to_string()).unwrap_or_default(), "") } }
                    Field { label: "per (hours)", id: "{p}-period", error: field_error(&e, "gradedRunPeriodHours"),
                        input { id: "{p}-period", name: "gradedRunPeriodHours", inputmode: "numeric",
                            initial_value: value(|a| a.graded_run_period_hours.max(1).to_string(), "24") } }
                }
            }
            if let Some(message) = general(&e, &ASSIGNMENT_FIELDS) {
                p { class: "error", role: "alert", "{message}" }
            }
            div { class: "actions",
                button { class: "button", r#type: "submit", disabled: busy(), if busy() { "{busy_label}" } else { "{action}" } }
                if let Some(cancel) = on_cancel {
                    button { class: "button subtle", r#type: "button", onclick: move |_| cancel.call(()), "Cancel" }
                }
            }
        }
    };
    match &editing {
        Some(assignment) => rsx! {
            section { class: "panel", "data-testid": "edit-assignment", "aria-label": "Edit {assignment.title}",
                h2 { "Edit {assignment.title}" }
                {form}
                HiddenTests { assignment: assignment.clone() }
            }
        },
        None => rsx! {
            details { class: "panel", "data-testid": "new-assignment",
                summary { "New assignment" }
                {form}
            }
        },
    }
}

/// An assignment's hidden tests: upload an archive, remove it, release the results.
#[component]
fn HiddenTests(assignment: AssignmentRow) -> Element {
    let mut busy = use_signal(|| None::<&'static str>);
    // What changed here since the course was loaded (the edit form stays open).
    let mut uploaded = use_signal(|| assignment.hidden_tests_uploaded == Some(true));
    let mut released = use_signal(|| assignment.hidden_tests_released_at.is_some());
    let mut message = use_signal(|| None::<Result<String, String>>);
    let id = assignment.id.clone();
    let upload = move |_| {
        let id = id.clone();
        async move {
            busy.set(Some("Uploading…"));
            let done = api::upload_hidden_tests(&id, "hidden-tests-file").await;
            busy.set(None);
            if done.is_ok() {
                uploaded.set(true);
            }
            message.set(Some(done.map(|(files, digest)| {
                format!(
                    "Uploaded {files} files (sha256:{}…)",
                    &digest[..digest.len().min(12)]
                )
            })));
        }
    };
    let id = assignment.id.clone();
    let remove = move |_| {
        let id = id.clone();
        async move {
            busy.set(Some("Removing…"));
            let done = api::remove_hidden_tests(&id).await;
            busy.set(None);
            if done.is_ok() {
                uploaded.set(false);
            }
            message.set(Some(done.map(|()| "Hidden tests removed".to_owned())));
        }
    };
    let id = assignment.id.clone();
    let release = move |_| {
        let id = id.clone();
        async move {
            busy.set(Some("Releasing…"));
            let done = api::release_hidden_tests(&id).await;
            busy.set(None);
            if done.is_ok() {
                released.set(true);
            }
            message.set(Some(
                done.map(|()| "Released: students now see the hidden tests' results".to_owned())
                    .map_err(|e| e.to_string()),
            ));
        }
    };
    rsx! {
        div { class: "hidden-tests", "data-testid": "hidden-tests",
            h3 { "Hidden tests" }
            p { class: "muted",
                match (uploaded(), assignment.has_hidden_tests) {
                    (true, _) => "An uploaded archive runs after the student's tests.",
                    (false, true) => "Fetched from a git repository for every build.",
                    (false, false) => "None yet. Upload a .tar.gz of test files: they run after the student's own tests, in a fresh copy of their commit.",
                }
                " "
                match (&assignment.hidden_tests_released_at, released()) {
                    (Some(at), _) => rsx! { "Students see their results from " Timestamp { at: at.clone() } "." },
                    (None, true) => rsx! { "Students see their results now." },
                    (None, false) => rsx! { "Students do not see their names, output or points until you release them." },
                }
            }
            div { class: "actions",
                label { class: "visually-hidden", r#for: "hidden-tests-file", "Hidden tests archive" }
                input { id: "hidden-tests-file", r#type: "file", accept: ".tar.gz,.tgz,application/gzip" }
                button { class: "button", r#type: "button", disabled: busy().is_some(), onclick: upload, "Upload" }
                if uploaded() {
                    button { class: "button subtle", r#type: "button", disabled: busy().is_some(), onclick: remove, "Remove" }
                }
                if (uploaded() || assignment.has_hidden_tests) && !released() {
                    button { class: "button subtle", r#type: "button", "data-testid": "release-hidden",
                        disabled: busy().is_some(), onclick: release, "Release results now" }
                }
                if let Some(label) = busy() { span { class: "muted", role: "status", "{label}" } }
            }
            match message() {
                Some(Ok(text)) => rsx! { p { role: "status", "{text}" } },
                Some(Err(text)) => rsx! { p { class: "error", role: "alert", "{text}" } },
                None => rsx! {},
            }
        }
    }
}

/// Renaming a course or changing its term (instructors).
#[component]
pub fn EditCourseForm(course: CourseDetail, on_saved: EventHandler<()>) -> Element {
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    // Bumped after a success: the panel is drawn afresh, closed.
    let generation = use_signal(|| 0_u32);
    let id = course.id.clone();
    let submit = move |event: FormEvent| {
        event.prevent_default();
        let (id, name, term) = (id.clone(), text(&event, "name"), text(&event, "term"));
        async move {
            busy.set(true);
            error.set(None);
            let saved = api::update_course(&id, &name, &term).await;
            busy.set(false);
            settle(saved, error, generation, on_saved);
        }
    };
    let e = error.read().clone();
    rsx! {
        details { key: "{generation}", class: "panel", "data-testid": "edit-course",
            summary { "Edit course" }
            form { class: "form", onsubmit: submit, novalidate: true,
                Field { label: "Name", id: "edit-course-name", error: field_error(&e, "name"),
                    input { id: "edit-course-name", name: "name", initial_value: "{course.name}" } }
                Field { label: "Term", id: "edit-course-term", error: field_error(&e, "term"),
                    input { id: "edit-course-term", name: "term", initial_value: "{course.term}" } }
                if let Some(message) = general(&e, &["name", "term"]) {
                    p { class: "error", role: "alert", "{message}" }
                }
                button { class: "button", r#type: "submit", disabled: busy(), if busy() { "Saving…" } else { "Save" } }
            }
        }
    }
}

/// Joining a course with the code from an invite link.
#[component]
pub fn JoinWithCode() -> Element {
    let mut code = use_signal(String::new);
    let navigator = use_navigator();
    rsx! {
        form { class: "join-code", "data-testid": "join-code",
            onsubmit: move |event: FormEvent| {
                event.prevent_default();
                let code = code.peek().trim().rsplit('/').next().unwrap_or_default().to_owned();
                if !code.is_empty() {
                    navigator.push(Route::JoinPage { code });
                }
            },
            label { r#for: "join-code", "Have an invite? " }
            input { id: "join-code", placeholder: "code or link", value: "{code}", oninput: move |e| code.set(e.value()) }
            button { class: "button subtle", r#type: "submit", "Join" }
        }
    }
}
