//! A build's log, live: chunks from `buildLog` (replayed, then as they are written; on a
//! dropped connection it goes on from the last chunk it has) joined into lines. Only the
//! lines in view are drawn, so a log of a hundred thousand lines scrolls as one of a
//! hundred. Colours are styled spans, never HTML.

use dioxus::prelude::*;
use serde_json::json;

use crate::ansi::{self, Style};
use crate::live::{self, End};
use crate::log::{self, Log, Stream};
use crate::time;

/// Each line's height in pixels (the stylesheet's `--log-line`).
const LINE_HEIGHT: f64 = 20.0;
/// Lines drawn above and below the view.
const OVERSCAN: usize = 40;
const VIEW_ID: &str = "log-view";

#[derive(Clone, Debug, PartialEq)]
enum Feed {
    Connecting,
    Live,
    Reconnecting,
    Complete,
    Failed(String),
}

/// "812 B", "14.2 KB", "3.1 MB".
fn size(bytes: usize) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

fn view_element() -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id(VIEW_ID)
}

/// The line named by the address's `#L123`, if any.
fn line_in_address() -> Option<usize> {
    let hash = web_sys::window()?.location().hash().ok()?;
    hash.strip_prefix("#L")?.parse().ok()
}

#[component]
pub fn LogView(build_id: String, finished: bool, truncated: bool) -> Element {
    let mut log = use_signal(Log::default);
    let mut feed = use_signal(|| Feed::Connecting);
    let mut scroll = use_signal(|| (0.0_f64, 600.0_f64));
    let mut follow = use_signal(|| line_in_address().is_none());
    let mut selected = use_signal(line_in_address);
    let mut query = use_signal(String::new);
    let mut hit = use_signal(|| 0_usize);

    use_resource(use_reactive!(|build_id| async move {
        log.set(Log::default());
        feed.set(Feed::Connecting);
        loop {
            let after = log.peek().last_seq();
            let end = live::subscribe(
                crate::api::documents::BUILD_LOG,
                json!({ "id": build_id, "after": after }),
                |data| {
                    let chunk = &data["buildLog"];
                    let seq = chunk["seq"].as_i64().unwrap_or(-1) as i32;
                    let stream = Stream::parse(chunk["stream"].as_str().unwrap_or_default());
                    log.write()
                        .append(seq, stream, chunk["text"].as_str().unwrap_or_default());
                    if *feed.peek() != Feed::Live {
                        feed.set(Feed::Live);
                    }
                },
            )
            .await;
            match end {
                End::Complete => {
                    feed.set(Feed::Complete);
                    break;
                }
                End::Refused(message) => {
                    feed.set(Feed::Failed(message));
                    break;
                }
                End::Lost(_) => {
                    feed.set(Feed::Reconnecting);
                    time::sleep(1500).await;
                }
            }
        }
    }));

    // Keep the newest line in view while following; go to a linked line once it exists.
    use_effect(move || {
        let total = log.read().len();
        let Some(view) = view_element() else { return };
        if follow() {
            view.set_scroll_top(view.scroll_height());
        } else if let Some(line) = selected.peek().filter(|&l| l <= total && l > 0)
            && view.scroll_top() == 0
        {
            let top = (line as f64 - 5.0).max(0.0) * LINE_HEIGHT;
            view.set_scroll_top(top as i32);
        }
    });

    let on_scroll = move |_| {
        if let Some(view) = view_element() {
            let (top, height) = (
                f64::from(view.scroll_top()),
                f64::from(view.client_height()),
            );
            scroll.set((top, height));
            let at_bottom = top + height >= f64::from(view.scroll_height()) - LINE_HEIGHT * 2.0;
            if follow() != at_bottom {
                follow.set(at_bottom);
            }
        }
    };
    let mut jump_to = move |line: usize| {
        follow.set(false);
        selected.set(Some(line));
        if let Some(view) = view_element() {
            view.set_scroll_top(((line as f64 - 5.0).max(0.0) * LINE_HEIGHT) as i32);
        }
    };

    // Lines matching the search, worked out once per change of the log or the query.
    let found_lines = use_memo(move || log.read().search(&query.read()));
    let log_ref = log.read();
    let total = log_ref.len();
    let (top, height) = scroll();
    let range = log::window(top, height, LINE_HEIGHT, total, OVERSCAN);
    let matches = found_lines.read();
    let current_hit = matches
        .get(hit().min(matches.len().saturating_sub(1)))
        .copied();
    // Styles carry across lines: work them out from the start of the window's first line.
    // Lines above the window may set a colour; a short look-back covers the common case.
    let mut style = Style::default();
    for line in &log_ref.lines()[range.start.saturating_sub(200)..range.start] {
        ansi::spans(&line.text, &mut style);
    }
    let rows: Vec<(usize, Stream, Vec<ansi::Span>)> = log_ref.lines()[range.clone()]
        .iter()
        .enumerate()
        .map(|(i, line)| {
            (
                range.start + i + 1,
                line.stream,
                ansi::spans(&line.text, &mut style),
            )
        })
        .collect();
    let status = match feed() {
        Feed::Connecting => "Connecting…".to_owned(),
        Feed::Live => "Live".to_owned(),
        Feed::Reconnecting => "Connection lost; reconnecting…".to_owned(),
        Feed::Complete => "Complete".to_owned(),
        Feed::Failed(message) => message,
    };
    let feed_class = match feed() {
        Feed::Live => "live",
        Feed::Failed(_) | Feed::Reconnecting => "trouble",
        _ => "",
    };
    let download = format!("/builds/{build_id}/log");
    rsx! {
        section { class: "log", "aria-label": "Build log",
            div { class: "log-toolbar",
                span { class: "feed {feed_class}", role: "status", "data-testid": "log-feed", "{status}" }
                span { class: "muted", "data-testid": "log-lines", "{total} lines · {size(log_ref.bytes())}" }
                form { class: "log-search", role: "search",
                    onsubmit: move |event: FormEvent| {
                        event.prevent_default();
                        let found = found_lines.peek().clone();
                        if !found.is_empty() {
                            let next = (hit() + 1) % found.len();
                            hit.set(next);
                            jump_to(found[next]);
                        }
                    },
                    input { r#type: "search", placeholder: "Search the log", "aria-label": "Search the log",
                        value: "{query}", oninput: move |e| { query.set(e.value()); hit.set(0); } }
                    if !query.read().is_empty() {
                        span { class: "muted", "data-testid": "search-count",
                            if matches.is_empty() { "no match" } else { "{hit() % matches.len().max(1) + 1} of {matches.len()}" }
                        }
                    }
                }
                label { class: "toggle",
                    input { r#type: "checkbox", checked: follow(), "data-testid": "follow",
                        onchange: move |e| {
                            let on = e.checked();
                            follow.set(on);
                            if on && let Some(view) = view_element() {
                                view.set_scroll_top(view.scroll_height());
                            }
                        } }
                    " Follow"
                }
                a { class: "button subtle", href: "{download}", download: "", "Download raw" }
            }
            div { id: VIEW_ID, class: "log-view", tabindex: "0", onscroll: on_scroll, "data-testid": "log-view",
                if log_ref.is_empty() {
                    p { class: "log-empty muted",
                        if finished { "This build wrote no output." } else { "Waiting for output…" }
                    }
                }
                // Geometry only, as custom properties the stylesheet uses.
                div { class: "log-lines", style: "--lines: {total}; --digits: {total.max(1000).to_string().len()}",
                    div { class: "log-window", style: "--first: {range.start}",
                        for (number, stream, spans) in rows {
                            div {
                                key: "{number}",
                                class: {
                                    let mut c = format!("log-line {}", stream.class());
                                    if selected() == Some(number) { c.push_str(" selected"); }
                                    if current_hit == Some(number) { c.push_str(" hit"); }
                                    c
                                },
                                id: "L{number}",
                                a { class: "line-number", href: "#L{number}",
                                    onclick: move |event: MouseEvent| {
                                        event.prevent_default();
                                        selected.set(Some(number));
                                        follow.set(false);
                                        if let Some(window) = web_sys::window()
                                            && let Ok(history) = window.history()
                                        {
                                            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("#L{number}")));
                                        }
                                    },
                                    "{number}"
                                }
                                span { class: "line-text",
                                    for span in spans {
                                        span { class: span.style.classes(), "{span.text}" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if truncated {
                p { class: "status-reason", "The log reached its size limit; later output was not kept." }
            }
        }
    }
}
