//! Small pieces every page uses: a build's status as a badge (an icon and a word, never
//! colour alone), and a time shown relative with the exact time on hover.

use dioxus::prelude::*;

use crate::time;

/// The icon that goes with a status (its shape tells it apart without colour).
pub fn status_icon(status: &str) -> &'static str {
    match status {
        "PASSED" => "✓",
        "FAILED" => "✗",
        "RUNNING" => "◐",
        "QUEUED" => "◷",
        "TIMED_OUT" => "⧗",
        "CANCELLED" => "⊘",
        _ => "!",
    }
}

#[component]
pub fn StatusBadge(status: String) -> Element {
    let class = status.to_lowercase().replace('_', "-");
    let word = super::build::status_word(&status);
    rsx! {
        span { class: "status status-{class}", "data-testid": "status", "data-status": "{status}",
            span { class: "status-icon", "aria-hidden": "true", {status_icon(&status)} }
            " {word}"
        }
    }
}

#[component]
pub fn Timestamp(at: String) -> Element {
    rsx! {
        time { datetime: "{at}", title: "{time::exact(&at)}", {time::relative(&at)} }
    }
}
