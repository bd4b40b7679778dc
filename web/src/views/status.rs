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

/// A tick every 30 seconds, so that "3 minutes ago" stays true while a page is open.
#[derive(Clone, Copy)]
pub struct Clock(Signal<u64>);

impl Clock {
    /// Starts the clock and provides it to every descendant (the shell does, once).
    pub fn provide() {
        let mut ticks = use_signal(|| 0_u64);
        use_future(move || async move {
            loop {
                time::sleep(30_000).await;
                ticks += 1;
            }
        });
        use_context_provider(|| Clock(ticks));
    }
}

/// Makes the calling component draw again at every tick of the shell's clock.
pub fn follow_clock() {
    if let Some(clock) = try_use_context::<Clock>() {
        let _ = clock.0.read();
    }
}

#[component]
pub fn Timestamp(at: String) -> Element {
    follow_clock();
    rsx! {
        time { datetime: "{at}", title: "{time::exact(&at)}", {time::relative(&at)} }
    }
}
