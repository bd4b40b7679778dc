//! Slack incoming webhooks: a course's channel, set by an instructor. The URL is a secret
//! (anyone holding it can post there): sealed at rest, shown back only as a hint.

use std::time::Duration;

use super::Failure;

/// The context the webhook URL is sealed with.
pub fn sealing_context(course_id: i64) -> String {
    format!("course-slack-webhook:{course_id}")
}

/// Checks a webhook URL an instructor gives: `https` on one of `allowed_hosts` (by
/// default Slack's own), or `http` to one of them on this machine (a test's receiver).
pub fn check_url(url: &str, allowed_hosts: &[String]) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|_| "that is not a URL; paste the webhook URL Slack gave you".to_owned())?;
    let host = parsed.host_str().unwrap_or_default();
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    if !allowed_hosts.iter().any(|h| *h == authority || *h == host) {
        return Err(format!(
            "webhooks may only go to {} (LECTERN_SLACK_HOSTS)",
            allowed_hosts.join(", ")
        ));
    }
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        return Err("a webhook URL must start with https://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("a webhook URL carries no user name or password".into());
    }
    Ok(parsed)
}

/// What is shown of a webhook URL: where it goes, and its last four characters.
pub fn hint(url: &reqwest::Url) -> String {
    let tail: String = {
        let chars: Vec<char> = url.path().chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!(
        "{}://{}/…{tail}",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )
}

/// Posts `message` (Block Kit JSON) to the webhook at `url`.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    message: &serde_json::Value,
) -> Result<(), Failure> {
    let response = http
        .post(url)
        .json(message)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| Failure::Retry(format!("cannot reach Slack: {}", without_url(&e))))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(3600)));
    let body: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    Err(match status.as_u16() {
        429 => Failure::RetryAfter(
            format!("Slack asked to slow down ({status})"),
            retry_after.unwrap_or(Duration::from_secs(60)),
        ),
        408 | 500..=599 => Failure::Retry(format!(
            "Slack could not take the message ({status}) {body}"
        )),
        _ => Failure::Permanent(format!(
            "Slack refused the message ({status}: {body}); an instructor should check the course's webhook URL"
        )),
    })
}

/// A request error without the URL (which is the secret).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "the webhook");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_of_allowed_hosts_are_taken() {
        let slack = vec!["hooks.slack.com".to_owned()];
        let url = check_url(
            "https://hooks.slack.com/services/T000/B000/XXXXabcd",
            &slack,
        );
        assert_eq!(hint(&url.expect("ok")), "https://hooks.slack.com/…abcd");
        assert!(check_url("http://hooks.slack.com/services/x", &slack).is_err());
        assert!(check_url("https://evil.example/services/x", &slack).is_err());
        assert!(check_url("https://169.254.169.254/latest", &slack).is_err());
        assert!(check_url("https://u:p@hooks.slack.com/x", &slack).is_err());
        assert!(check_url("not a url", &slack).is_err());
        let local = vec!["127.0.0.1:4567".to_owned()];
        assert!(check_url("http://127.0.0.1:4567/hook", &local).is_ok());
        assert!(check_url("http://127.0.0.1:9999/hook", &local).is_err());
    }
}
