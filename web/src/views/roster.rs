//! A course's people (by role), its invite links for staff (create with a role, an expiry
//! and a limit; revoke), and the course's activity: builds changing state, live.

use dioxus::prelude::*;
use serde_json::json;

use super::home::role_label;
use super::status::{StatusBadge, Timestamp};
use crate::api::{self, Activity, InviteRow, Member};
use crate::live;
use crate::route::Route;
use crate::time;

#[component]
pub fn RosterTab(slug: String, course_id: String, staff: bool) -> Element {
    let roster = use_resource(use_reactive!(
        |slug| async move { api::roster(&slug).await }
    ));
    rsx! {
        match &*roster.read() {
            None => rsx! { div { class: "skeleton-block", "aria-busy": "true" } },
            Some(Err(err)) => rsx! { p { class: "error", role: "alert", "{err}" } },
            Some(Ok(members)) => rsx! {
                for role in ["INSTRUCTOR", "TA", "STUDENT"] {
                    People { role, members: members.iter().filter(|m| m.role == role).cloned().collect::<Vec<_>>() }
                }
            },
        }
        if staff {
            Invites { slug, course_id }
        }
    }
}

#[component]
fn People(role: &'static str, members: Vec<Member>) -> Element {
    let heading = match role {
        "INSTRUCTOR" => "Instructors",
        "TA" => "Teaching assistants",
        _ => "Students",
    };
    rsx! {
        section { class: "people", "data-testid": "people-{role.to_lowercase()}",
            h2 { "{heading} " span { class: "muted", "({members.len()})" } }
            if members.is_empty() {
                p { class: "muted", if role == "STUDENT" { "No students yet: share an invite link below." } else { "None." } }
            }
            ul { class: "people-list",
                for m in members {
                    li { key: "{m.user.id}",
                        if let Some(url) = &m.user.avatar_url {
                            img { class: "avatar", src: "{url}", alt: "", width: "24", height: "24" }
                        }
                        span { {m.user.name.clone().unwrap_or_else(|| m.user.login.clone())} }
                        span { class: "muted", " @{m.user.login}" }
                        span { class: "muted", " · joined " Timestamp { at: m.joined_at.clone() } }
                    }
                }
            }
        }
    }
}

/// Days an invite may be used, as offered in the form ("" = never expires).
const EXPIRIES: [(&str, &str); 4] = [
    ("7", "7 days"),
    ("30", "30 days"),
    ("120", "a term (120 days)"),
    ("", "never"),
];

#[component]
fn Invites(slug: String, course_id: String) -> Element {
    let mut invites = use_resource(use_reactive!(
        |slug| async move { api::invites(&slug).await }
    ));
    let mut role = use_signal(|| "STUDENT".to_owned());
    let mut days = use_signal(|| "30".to_owned());
    let mut max_uses = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let create = move |event: FormEvent| {
        event.prevent_default();
        let course_id = course_id.clone();
        async move {
            let uses = match max_uses.peek().trim() {
                "" => None,
                n => match n.parse::<i32>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        error.set(Some(
                            "Uses must be a whole number above zero, or empty for no limit.".into(),
                        ));
                        return;
                    }
                },
            };
            let expires = days.peek().parse::<f64>().ok().map(|d| {
                let at = js_sys::Date::new(&(time::now() + d * 86_400_000.0).into());
                String::from(at.to_iso_string())
            });
            busy.set(true);
            error.set(None);
            match api::create_invite(&course_id, &role.peek(), expires, uses).await {
                Ok(_) => invites.restart(),
                Err(err) => error.set(Some(err.to_string())),
            }
            busy.set(false);
        }
    };
    rsx! {
        section { class: "invites", "data-testid": "invites",
            h2 { "Invite links" }
            form { class: "invite-form", onsubmit: create,
                label { r#for: "invite-role", "Role" }
                select { id: "invite-role", onchange: move |e| role.set(e.value()),
                    for r in ["STUDENT", "TA", "INSTRUCTOR"] {
                        option { value: r, selected: *role.read() == r, {role_label(Some(r))} }
                    }
                }
                label { r#for: "invite-expiry", "Expires after" }
                select { id: "invite-expiry", onchange: move |e| days.set(e.value()),
                    for (value, label) in EXPIRIES {
                        option { value, selected: *days.read() == value, "{label}" }
                    }
                }
                label { r#for: "invite-uses", "Uses" }
                input { id: "invite-uses", r#type: "number", min: "1", placeholder: "no limit", value: "{max_uses}",
                    oninput: move |e| max_uses.set(e.value()) }
                button { class: "button", r#type: "submit", disabled: busy(), if busy() { "Creating…" } else { "Create link" } }
            }
            if let Some(message) = error() {
                p { class: "error", role: "alert", "{message}" }
            }
            match &*invites.read() {
                None => rsx! { div { class: "skeleton-block" } },
                Some(Err(err)) => rsx! { p { class: "error", "{err}" } },
                Some(Ok(list)) if list.is_empty() => rsx! { p { class: "muted", "No invite links yet. Create one and share it with your class." } },
                Some(Ok(list)) => rsx! {
                    table { class: "table",
                        thead { tr { th { "Link" } th { "Role" } th { "State" } th { "Expires" } th { "Used" } th {} } }
                        tbody {
                            for invite in list.clone() {
                                InviteLine { key: "{invite.id}", invite, on_revoked: move |_| invites.restart() }
                            }
                        }
                    }
                },
            }
        }
    }
}

#[component]
fn InviteLine(invite: InviteRow, on_revoked: EventHandler<()>) -> Element {
    let mut busy = use_signal(|| false);
    let id = invite.id.clone();
    rsx! {
        tr {
            td { code { class: "join-url", "{invite.join_url}" } }
            td { {role_label(Some(&invite.role))} }
            td { {invite.state.to_lowercase().replace('_', " ")} }
            td { if let Some(at) = &invite.expires_at { Timestamp { at: at.clone() } } else { "never" } }
            td { "{invite.uses}" if let Some(max) = invite.max_uses { " of {max}" } }
            td {
                if invite.state == "ACTIVE" {
                    button { class: "button subtle", disabled: busy(),
                        onclick: move |_| {
                            let id = id.clone();
                            async move {
                                busy.set(true);
                                if api::revoke_invite(&id).await.is_ok() {
                                    on_revoked.call(());
                                }
                                busy.set(false);
                            }
                        },
                        if busy() { "Revoking…" } else { "Revoke" }
                    }
                }
            }
        }
    }
}

/// Builds across the course as they change state, newest first (the last hundred).
#[component]
pub fn ActivityTab(course_id: String) -> Element {
    let mut feed = use_signal(Vec::<Activity>::new);
    use_resource(use_reactive!(|course_id| async move {
        loop {
            live::subscribe(
                api::documents::COURSE_ACTIVITY,
                json!({ "course": course_id }),
                |data| {
                    if let Ok(activity) =
                        serde_json::from_value::<Activity>(data["buildUpdated"].clone())
                    {
                        let mut list = feed.write();
                        list.retain(|a| a.id != activity.id);
                        list.insert(0, activity);
                        list.truncate(100);
                    }
                },
            )
            .await;
            time::sleep(2000).await;
        }
    }));
    rsx! {
        section { class: "activity", "data-testid": "activity",
            if feed.read().is_empty() {
                section { class: "empty-state",
                    p { "Watching the course. Builds appear here as students push and their tests run." }
                }
            }
            ul { class: "activity-list",
                for a in feed.read().iter().cloned() {
                    li { key: "{a.id}", "data-testid": "activity-item",
                        StatusBadge { status: a.status.clone() }
                        " "
                        strong { "@{a.repository.owner.login}" }
                        " "
                        Link { to: Route::BuildPage { id: a.id.clone() }, "{a.repository.full_name} #{a.number}" }
                        span { class: "muted",
                            {format!(" · {} · {} · ", source(&a), a.commit_message.lines().next().unwrap_or_default())}
                            Timestamp { at: a.queued_at.clone() }
                        }
                    }
                }
            }
        }
    }
}

/// "main", "PR #7".
fn source(activity: &Activity) -> String {
    match (activity.pull_request, &activity.branch) {
        (Some(pr), _) => format!("PR #{pr}"),
        (None, Some(branch)) => branch.clone(),
        (None, None) => String::new(),
    }
}
