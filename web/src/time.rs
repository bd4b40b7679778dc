//! Times as people read them: "3 minutes ago" with the exact time on hover, and durations.

/// Milliseconds since the epoch of an RFC 3339 time from the server (`None` if unparsable).
pub fn parse(rfc3339: &str) -> Option<f64> {
    let ms = js_sys::Date::parse(rfc3339);
    (!ms.is_nan()).then_some(ms)
}

pub fn now() -> f64 {
    js_sys::Date::now()
}

/// "just now", "5 seconds ago", "3 minutes ago", "2 hours ago", "4 days ago"; for a time
/// still to come (negative), "in 7 days".
pub fn ago(seconds: f64) -> String {
    let s = seconds.round() as i64;
    if s < -4 {
        let later = ago(-seconds);
        return format!("in {}", later.trim_end_matches(" ago"));
    }
    let (n, unit) = match s.max(0) {
        0..=4 => return "just now".to_owned(),
        5..=59 => (s, "second"),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// "0.4 s", "42 s", "3 min 5 s", "1 h 2 min".
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 10.0 {
        return format!("{s:.1} s");
    }
    let s = s.round() as i64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// How long ago `rfc3339` was, as [`ago`] says it.
pub fn relative(rfc3339: &str) -> String {
    parse(rfc3339).map_or_else(|| rfc3339.to_owned(), |t| ago((now() - t) / 1000.0))
}

/// The exact time, for a tooltip: "2026-12-04 22:03:07 UTC".
pub fn exact(rfc3339: &str) -> String {
    let trimmed: String = rfc3339.replace('T', " ").chars().take(19).collect();
    format!("{trimmed} UTC")
}

/// Seconds from `start` to `end` (or to now while it runs).
pub fn between(start: &str, end: Option<&str>) -> Option<f64> {
    let start = parse(start)?;
    let end = end.and_then(parse).unwrap_or_else(now);
    Some((end - start) / 1000.0)
}

/// Waits `ms` milliseconds (a browser timer).
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        assert_eq!(ago(-3.0), "just now");
        assert_eq!(ago(-86_400.0 * 7.0), "in 7 days");
        assert_eq!(ago(-90.0), "in 1 minute");
        assert_eq!(ago(4.4), "just now");
        assert_eq!(ago(5.0), "5 seconds ago");
        assert_eq!(ago(61.0), "1 minute ago");
        assert_eq!(ago(7200.0), "2 hours ago");
        assert_eq!(ago(86_400.0 * 3.5), "3 days ago");
    }

    #[test]
    fn durations_keep_a_decimal_only_when_short() {
        assert_eq!(duration(0.42), "0.4 s");
        assert_eq!(duration(42.0), "42 s");
        assert_eq!(duration(185.0), "3 min 5 s");
        assert_eq!(duration(3720.0), "1 h 2 min");
    }

    #[test]
    fn exact_times_drop_fractions() {
        assert_eq!(
            exact("2026-12-04T22:03:07.123456Z"),
            "2026-12-04 22:03:07 UTC"
        );
    }
}
