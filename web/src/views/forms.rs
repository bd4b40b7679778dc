//! Forms for instructors: a new course, a new assignment. The server validates; its
//! complaint about a field is shown next to that field, anything else above the button.

use dioxus::prelude::*;
use serde_json::{Value, json};

use super::errors::Field;
use crate::api::{self, ApiError};
use crate::route::Route;

/// The error to show at the bottom of a form: the one not about any of its `fields`.
fn general(error: &Option<ApiError>, fields: &[&str]) -> Option<String> {
    error
        .as_ref()
        .filter(|e| e.field.as_deref().is_none_or(|f| !fields.contains(&f)))
        .map(ToString::to_string)
}

fn field_error(error: &Option<ApiError>, field: &str) -> Option<String> {
    error.as_ref().and_then(|e| e.for_field(field))
}

/// The text a submitted form holds under `name`, trimmed. (Read from the form on submit,
/// so what is submitted is what the fields show, however they were filled.)
fn text(event: &FormEvent, name: &str) -> String {
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
const ASSIGNMENT_FIELDS: [&str; 7] = [
    "slug",
    "title",
    "image",
    "testCommand",
    "points",
    "dueAt",
    "timeoutSeconds",
];

#[component]
pub fn NewAssignmentForm(course_id: String, on_created: EventHandler<()>) -> Element {
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    // Bumped after a success: the form is drawn afresh, empty.
    let mut generation = use_signal(|| 0_u32);
    let submit = move |event: FormEvent| {
        event.prevent_default();
        let course_id = course_id.clone();
        let field = |name: &str| text(&event, name);
        let timeout = field("timeoutSeconds").parse::<i64>();
        let mut input = json!({
            "courseId": course_id, "slug": field("slug"), "title": field("title"),
            "image": field("image"), "testCommand": field("testCommand"),
        });
        if !field("points").is_empty() {
            input["points"] = Value::String(field("points"));
        }
        if !field("dueAt").is_empty() {
            // <input type=datetime-local> gives a time without a zone: it is read as UTC.
            input["dueAt"] = Value::String(format!("{}:00Z", field("dueAt")));
        }
        async move {
            match timeout {
                Ok(seconds) => input["timeoutSeconds"] = json!(seconds),
                Err(_) => {
                    error.set(Some(ApiError {
                        code: Some("INVALID".into()),
                        message: "give a whole number of seconds".into(),
                        field: Some("timeoutSeconds".into()),
                    }));
                    return;
                }
            }
            busy.set(true);
            error.set(None);
            match api::create_assignment(input).await {
                Ok(()) => {
                    generation += 1;
                    on_created.call(());
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        }
    };
    let e = error.read().clone();
    rsx! {
        details { class: "panel", "data-testid": "new-assignment",
            summary { "New assignment" }
            form { key: "{generation}", class: "form wide", onsubmit: submit, novalidate: true,
                Field { label: "Title", id: "a-title", error: field_error(&e, "title"),
                    input { id: "a-title", name: "title" } }
                Field { label: "Short name", id: "a-slug", error: field_error(&e, "slug"), hint: "like hw1",
                    input { id: "a-slug", name: "slug" } }
                Field { label: "Image", id: "a-image", error: field_error(&e, "image"), hint: "the container image the tests run in",
                    input { id: "a-image", name: "image", value: "localhost/lectern-python:3.11" } }
                Field { label: "Test command", id: "a-command", error: field_error(&e, "testCommand"),
                    input { id: "a-command", name: "testCommand", class: "mono", value: "python3 -m unittest -v" } }
                Field { label: "Points", id: "a-points", error: field_error(&e, "points"), hint: "empty: 100",
                    input { id: "a-points", name: "points", inputmode: "decimal" } }
                Field { label: "Due (UTC)", id: "a-due", error: field_error(&e, "dueAt"), hint: "empty: no deadline",
                    input { id: "a-due", name: "dueAt", r#type: "datetime-local" } }
                Field { label: "Time limit (seconds)", id: "a-timeout", error: field_error(&e, "timeoutSeconds"),
                    input { id: "a-timeout", name: "timeoutSeconds", inputmode: "numeric", value: "600" } }
                if let Some(message) = general(&e, &ASSIGNMENT_FIELDS) {
                    p { class: "error", role: "alert", "{message}" }
                }
                button { class: "button", r#type: "submit", disabled: busy(), if busy() { "Creating…" } else { "Create assignment" } }
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
