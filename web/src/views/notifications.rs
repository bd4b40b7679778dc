//! The course's Notifications tab: what the viewer hears by email; for instructors, the
//! course's Slack channel; for staff, the channels whose messages did not go lately.

use dioxus::prelude::*;

use super::errors::Field;
use super::forms::{field_error, general, text};
use super::status::Timestamp;
use crate::api::{self, ApiError, CourseNotifications};

/// The choices, as the API names them and as people read them.
const WHEN: [(&str, &str); 4] = [
    ("NEVER", "Never"),
    ("FAILURES", "Failures only"),
    ("CHANGES", "Changes of status (broken, fixed)"),
    ("ALWAYS", "Every build"),
];

#[component]
pub fn NotificationsTab(slug: String, staff: bool) -> Element {
    let mut settings = use_resource(use_reactive!(|slug| async move {
        api::course_notifications(&slug).await
    }));
    match &*settings.read() {
        None => {
            rsx! { div { class: "skeleton-block", "aria-busy": "true", "aria-label": "Loading notification settings" } }
        }
        Some(Err(err)) => rsx! { p { class: "error", role: "alert", "{err}" } },
        Some(Ok(s)) => rsx! {
            div { "data-testid": "notifications",
                for problem in s.notification_problems.iter() {
                    div { class: "banner warning", role: "alert", "data-testid": "notification-problem",
                        strong { "{channel_label(&problem.channel)}: " }
                        "{problem.failures} message(s) could not be sent in the last 7 days. "
                        if let Some(error) = &problem.last_error { "Last: {error} " }
                        "(" Timestamp { at: problem.last_at.clone() } ")"
                    }
                }
                EmailPreference { settings: s.clone(), staff, on_saved: move |_| settings.restart() }
                if let Some(slack) = &s.slack {
                    // Drawn afresh when the webhook changes: the typed URL does not linger.
                    SlackForm { key: "{slack.webhook_hint.clone().unwrap_or_default()}", course_id: s.id.clone(), configured: slack.configured,
                        hint: slack.webhook_hint.clone(), when: slack.when.clone(), on_saved: move |_| settings.restart() }
                }
            }
        },
    }
}

fn channel_label(channel: &str) -> &'static str {
    match channel {
        "SLACK" => "Slack",
        _ => "Email",
    }
}

fn when_options(selected: &str) -> Element {
    rsx! {
        for (value, label) in WHEN {
            option { value, selected: value == selected, "{label}" }
        }
    }
}

#[component]
fn EmailPreference(
    settings: CourseNotifications,
    staff: bool,
    on_saved: EventHandler<()>,
) -> Element {
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    let mut saved = use_signal(|| false);
    let mine = settings.my_notifications.clone();
    let course_id = settings.id.clone();
    let submit = move |event: FormEvent| {
        event.prevent_default();
        let email = text(&event, "email");
        let digest = matches!(event.get_first("daily-digest"), Some(FormValue::Text(v)) if v == "true" || v == "on");
        let course_id = course_id.clone();
        async move {
            busy.set(true);
            error.set(None);
            saved.set(false);
            match api::set_notification_preference(&course_id, &email, digest).await {
                Ok(()) => {
                    saved.set(true);
                    on_saved.call(());
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        }
    };
    let e = error.read().clone();
    let what = if staff {
        "Email me about students' builds"
    } else {
        "Email me about my builds"
    };
    rsx! {
        section { class: "panel", "data-testid": "email-preference",
            h2 { "Email" }
            if !mine.email_enabled {
                p { class: "muted", "This server sends no email (its operator has not set SMTP_URL); your choice applies once it does." }
            }
            match &mine.address {
                Some(address) => rsx! { p { class: "muted", "Mail goes to {address}, your verified GitHub email." } },
                None => rsx! { p { class: "muted", "You have no verified email on GitHub: sign in with GitHub again after adding one." } },
            }
            form { class: "form", onsubmit: submit, novalidate: true,
                Field { label: what, id: "email-when", error: field_error(&e, "email"),
                    select { id: "email-when", name: "email", {when_options(&mine.email)} } }
                if staff {
                    label { class: "checkbox",
                        input { r#type: "checkbox", name: "daily-digest", value: "true", checked: mine.daily_digest }
                        " Also a daily digest of the course's builds"
                    }
                }
                if mine.source != "COURSE" {
                    p { class: "muted", if mine.source == "DEFAULT" { "This is your default; saving sets it for this course." } else { "This is Lectern's default; saving sets it for this course." } }
                }
                if let Some(message) = general(&e, &["email"]) {
                    p { class: "error", role: "alert", "{message}" }
                }
                button { class: "button", r#type: "submit", disabled: busy(), if busy() { "Saving…" } else { "Save" } }
                if saved() { span { class: "muted", role: "status", " Saved." } }
            }
        }
    }
}

#[component]
fn SlackForm(
    course_id: String,
    configured: bool,
    hint: Option<String>,
    when: String,
    on_saved: EventHandler<()>,
) -> Element {
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    let id = course_id.clone();
    let submit = move |event: FormEvent| {
        event.prevent_default();
        let (url, when) = (text(&event, "webhook"), text(&event, "when"));
        let id = id.clone();
        async move {
            busy.set(true);
            error.set(None);
            // An empty field keeps the webhook already set.
            let url = (!url.is_empty()).then_some(url);
            match api::set_course_slack(&id, url.as_deref(), &when).await {
                Ok(()) => on_saved.call(()),
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        }
    };
    let remove_when = when.clone();
    let remove = move |_| {
        let (id, when) = (course_id.clone(), remove_when.clone());
        async move {
            busy.set(true);
            match api::set_course_slack(&id, Some(""), &when).await {
                Ok(()) => on_saved.call(()),
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        }
    };
    let e = error.read().clone();
    rsx! {
        section { class: "panel", "data-testid": "slack-settings",
            h2 { "Slack" }
            p { class: "muted",
                "Post builds to a Slack channel through an incoming webhook. The URL is kept encrypted and never shown again."
            }
            if let Some(hint) = &hint {
                p { "data-testid": "slack-hint", "Posting to " code { "{hint}" } }
            }
            form { class: "form", onsubmit: submit, novalidate: true,
                Field { label: if configured { "Replace the webhook URL (leave empty to keep it)" } else { "Webhook URL" },
                    id: "slack-webhook", error: field_error(&e, "webhookUrl"),
                    input { id: "slack-webhook", name: "webhook", r#type: "password", autocomplete: "off",
                        placeholder: "https://hooks.slack.com/services/…" } }
                Field { label: "Post", id: "slack-when", error: field_error(&e, "when"),
                    select { id: "slack-when", name: "when", {when_options(&when)} } }
                if let Some(message) = general(&e, &["webhookUrl", "when"]) {
                    p { class: "error", role: "alert", "{message}" }
                }
                button { class: "button", r#type: "submit", disabled: busy(), if busy() { "Saving…" } else { "Save" } }
                if configured {
                    button { class: "button subtle", r#type: "button", disabled: busy(), onclick: remove, "Remove" }
                }
            }
        }
    }
}
