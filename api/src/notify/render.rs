//! What notifications say: pure functions from a [`Notice`] (what its recipient may read of
//! a build) to an email's subject, plain text and HTML, and to a Slack Block Kit message.
//! Hidden tests withheld from the recipient are already left out of the notice; these
//! functions only say that some were.

use bigdecimal::BigDecimal;

use crate::db::enums::{BuildStatus, NotificationKind};

/// At most this many failing tests are named; the rest are counted.
pub const MAX_NAMED_FAILURES: usize = 10;

/// A build's end as one recipient may read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub kind: NotificationKind,
    pub course: String,
    pub course_slug: String,
    pub assignment: String,
    /// The student whose build it is: login, and name when known.
    pub student: String,
    pub number: i32,
    pub status: BuildStatus,
    pub reason: Option<String>,
    pub branch: Option<String>,
    pub pr_number: Option<i32>,
    pub commit_sha: String,
    pub commit_message: String,
    /// Score and maximum, as far as the recipient may see (visible tests only while hidden
    /// ones are withheld).
    pub score: Option<(BigDecimal, BigDecimal)>,
    /// A regrade: the score before it.
    pub previous_score: Option<BigDecimal>,
    /// Failing tests the recipient may see, at most [`MAX_NAMED_FAILURES`].
    pub failing: Vec<String>,
    /// Failing tests beyond those named.
    pub more_failing: usize,
    /// The build ran hidden tests whose results are withheld from the recipient.
    pub hidden_withheld: bool,
    pub late: bool,
    /// The build's page.
    pub url: String,
}

impl Notice {
    fn short_sha(&self) -> &str {
        &self.commit_sha[..self.commit_sha.len().min(7)]
    }

    /// Where the commit was pushed: `main`, `pull request #3`.
    fn place(&self) -> String {
        match (self.pr_number, &self.branch) {
            (Some(pr), _) => format!("pull request #{pr}"),
            (None, Some(branch)) => branch.clone(),
            (None, None) => "a commit".into(),
        }
    }

    fn headline(&self) -> String {
        match self.kind {
            NotificationKind::Regrade => format!(
                "{} regraded: {} → {}",
                self.assignment,
                self.previous_score
                    .as_ref()
                    .map_or_else(|| "no score".to_owned(), number),
                self.score
                    .as_ref()
                    .map_or_else(|| "no score".to_owned(), |(s, _)| number(s)),
            ),
            _ => format!(
                "{} {} {}",
                mark(self.status),
                self.assignment,
                said(self.status)
            ),
        }
    }

    fn first_line(&self) -> &str {
        self.commit_message.lines().next().unwrap_or_default()
    }
}

/// A decimal without trailing zeros: `8`, `7.5`.
fn number(n: &BigDecimal) -> String {
    n.normalized().to_string()
}

fn mark(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Passed => "✓",
        BuildStatus::Failed | BuildStatus::Errored | BuildStatus::TimedOut => "✗",
        _ => "•",
    }
}

fn said(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Passed => "passed",
        BuildStatus::Failed => "failed",
        BuildStatus::Errored => "could not be run",
        BuildStatus::TimedOut => "timed out",
        BuildStatus::Cancelled => "was cancelled",
        BuildStatus::Queued | BuildStatus::Running => "is not finished",
    }
}

/// The email's subject: course, status, assignment and branch.
pub fn subject(n: &Notice) -> String {
    match n.kind {
        NotificationKind::Regrade => format!("[{}] {}", n.course_slug, n.headline()),
        _ => format!(
            "[{}] {} on {} ({}, build #{})",
            n.course_slug,
            n.headline(),
            n.place(),
            n.short_sha(),
            n.number
        ),
    }
}

/// The lines both the text and the HTML part say, as (label, value).
fn facts(n: &Notice) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("Student", n.student.clone()),
        ("Assignment", format!("{} ({})", n.assignment, n.course)),
        ("Where", n.place()),
        ("Commit", format!("{} {}", n.short_sha(), n.first_line())),
    ];
    if let Some((score, max)) = &n.score {
        let mut line = format!("{} of {}", number(score), number(max));
        if n.hidden_withheld {
            line.push_str(" (visible tests; the hidden tests' results come later)");
        }
        facts.push(("Score", line));
    } else if n.hidden_withheld {
        facts.push(("Hidden tests", "results come later".into()));
    }
    if n.late {
        facts.push(("Late", "received after the due date".into()));
    }
    if let Some(reason) = &n.reason {
        facts.push(("Why", reason.clone()));
    }
    facts
}

/// The plain-text part.
pub fn text(n: &Notice) -> String {
    let mut out = format!("{}\n\n", n.headline());
    for (label, value) in facts(n) {
        out.push_str(&format!("{label}: {value}\n"));
    }
    if !n.failing.is_empty() {
        out.push_str("\nFailing tests:\n");
        for name in &n.failing {
            out.push_str(&format!("  - {name}\n"));
        }
        if n.more_failing > 0 {
            out.push_str(&format!("  … and {} more\n", n.more_failing));
        }
    }
    out.push_str(&format!("\nThe build: {}\n", n.url));
    out.push_str(
        "\n-- \nLectern. Change what you hear about in the course's notification settings.\n",
    );
    out
}

/// Text made safe inside HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML part.
pub fn html(n: &Notice) -> String {
    let colour = match n.status {
        BuildStatus::Passed => "#1a7f37",
        _ => "#cf222e",
    };
    let mut out = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <h2 style=\"color:{colour}\">{}</h2><table>",
        escape(&n.headline())
    );
    for (label, value) in facts(n) {
        out.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(&value)
        ));
    }
    out.push_str("</table>");
    if !n.failing.is_empty() {
        out.push_str("<p>Failing tests:</p><ul>");
        for name in &n.failing {
            out.push_str(&format!("<li><code>{}</code></li>", escape(name)));
        }
        if n.more_failing > 0 {
            out.push_str(&format!("<li>… and {} more</li>", n.more_failing));
        }
        out.push_str("</ul>");
    }
    out.push_str(&format!(
        "<p><a href=\"{}\">Open the build</a></p>\
         <p style=\"color:#666;font-size:small\">Lectern. Change what you hear about in the course's notification settings.</p>\
         </body></html>",
        escape(&n.url)
    ));
    out
}

/// Text made safe inside Slack's `mrkdwn` (its three control characters).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack message: Block Kit, with a plain-text fallback.
pub fn slack(n: &Notice) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = facts(n)
        .into_iter()
        .map(|(label, value)| {
            serde_json::json!({
                "type": "mrkdwn",
                "text": format!("*{label}*\n{}", slack_escape(&value)),
            })
        })
        .take(10)
        .collect();
    let mut blocks = vec![
        serde_json::json!({
            "type": "header",
            "text": { "type": "plain_text", "text": truncate(&n.headline(), 150), "emoji": true },
        }),
        serde_json::json!({ "type": "section", "fields": fields }),
    ];
    if !n.failing.is_empty() {
        let mut list: String = n
            .failing
            .iter()
            .map(|name| format!("• `{}`\n", slack_escape(name)))
            .collect();
        if n.more_failing > 0 {
            list.push_str(&format!("… and {} more", n.more_failing));
        }
        blocks.push(serde_json::json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": truncate(&format!("*Failing tests*\n{list}"), 3000) },
        }));
    }
    blocks.push(serde_json::json!({
        "type": "actions",
        "elements": [{
            "type": "button",
            "text": { "type": "plain_text", "text": "Open the build" },
            "url": n.url,
        }],
    }));
    serde_json::json!({ "text": subject(n), "blocks": blocks })
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A day of a course's builds, for one of its staff.
#[derive(Clone, Debug, PartialEq)]
pub struct Digest {
    pub course: String,
    pub course_slug: String,
    /// Finished builds per status, most first.
    pub counts: Vec<(BuildStatus, i64)>,
    /// Students who pushed.
    pub students: i64,
    /// Students whose latest build of an assignment did not pass: (login, assignment, status).
    pub failing: Vec<(String, String, BuildStatus)>,
    pub more_failing: usize,
    /// The course's page.
    pub url: String,
}

pub fn digest_subject(d: &Digest) -> String {
    let builds: i64 = d.counts.iter().map(|(_, n)| n).sum();
    format!(
        "[{}] The day's builds: {builds}, {} not passing",
        d.course_slug,
        d.failing.len() + d.more_failing
    )
}

pub fn digest_text(d: &Digest) -> String {
    let mut out = format!("{} — the last 24 hours\n\n", d.course);
    if d.counts.is_empty() {
        out.push_str("No builds finished.\n");
    }
    for (status, n) in &d.counts {
        out.push_str(&format!("{} {}: {n}\n", mark(*status), said(*status)));
    }
    out.push_str(&format!("Students who pushed: {}\n", d.students));
    if !d.failing.is_empty() {
        out.push_str("\nLatest build not passing:\n");
        for (login, assignment, status) in &d.failing {
            out.push_str(&format!("  - {login}, {assignment}: {}\n", said(*status)));
        }
        if d.more_failing > 0 {
            out.push_str(&format!("  … and {} more\n", d.more_failing));
        }
    }
    out.push_str(&format!("\nThe course: {}\n", d.url));
    out.push_str(
        "\n-- \nLectern. You asked for this daily digest in the course's notification settings.\n",
    );
    out
}

pub fn digest_html(d: &Digest) -> String {
    let mut out = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{} — the last 24 hours</h2><table>",
        escape(&d.course)
    );
    for (status, n) in &d.counts {
        out.push_str(&format!(
            "<tr><th align=\"left\">{} {}</th><td>{n}</td></tr>",
            mark(*status),
            said(*status)
        ));
    }
    out.push_str(&format!(
        "<tr><th align=\"left\">Students who pushed</th><td>{}</td></tr></table>",
        d.students
    ));
    if !d.failing.is_empty() {
        out.push_str("<p>Latest build not passing:</p><ul>");
        for (login, assignment, status) in &d.failing {
            out.push_str(&format!(
                "<li>{}, {}: {}</li>",
                escape(login),
                escape(assignment),
                said(*status)
            ));
        }
        if d.more_failing > 0 {
            out.push_str(&format!("<li>… and {} more</li>", d.more_failing));
        }
        out.push_str("</ul>");
    }
    out.push_str(&format!(
        "<p><a href=\"{}\">Open the course</a></p></body></html>",
        escape(&d.url)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    fn notice() -> Notice {
        Notice {
            kind: NotificationKind::Build,
            course: "Programming 1".into(),
            course_slug: "cs101".into(),
            assignment: "hw1".into(),
            student: "octocat (The Octocat)".into(),
            number: 12,
            status: BuildStatus::Failed,
            reason: None,
            branch: Some("main".into()),
            pr_number: None,
            commit_sha: "6dcb09b5b57875f334f61aebed695e2e4193db5e".into(),
            commit_message: "Fix <greet>\n\nlonger text".into(),
            score: Some((
                BigDecimal::from_str("7.50").expect("n"),
                BigDecimal::from(10),
            )),
            previous_score: None,
            failing: vec!["test_greet.GreetTest.test_empty <&>".into()],
            more_failing: 2,
            hidden_withheld: true,
            late: false,
            url: "https://lectern.example.edu/builds/42".into(),
        }
    }

    #[test]
    fn the_subject_names_status_assignment_and_branch() {
        assert_eq!(
            subject(&notice()),
            "[cs101] ✗ hw1 failed on main (6dcb09b, build #12)"
        );
        let regrade = Notice {
            kind: NotificationKind::Regrade,
            status: BuildStatus::Passed,
            previous_score: Some(BigDecimal::from(8)),
            score: Some((BigDecimal::from(10), BigDecimal::from(10))),
            ..notice()
        };
        assert_eq!(subject(&regrade), "[cs101] hw1 regraded: 8 → 10");
    }

    #[test]
    fn both_parts_carry_the_failures_the_score_and_the_link() {
        let n = notice();
        let text = text(&n);
        assert!(text.contains("Score: 7.5 of 10 (visible tests;"), "{text}");
        assert!(
            text.contains("  - test_greet.GreetTest.test_empty <&>\n"),
            "{text}"
        );
        assert!(text.contains("… and 2 more"), "{text}");
        assert!(
            text.contains("https://lectern.example.edu/builds/42"),
            "{text}"
        );
        let html = html(&n);
        assert!(html.contains("<code>test_greet.GreetTest.test_empty &lt;&amp;&gt;</code>"));
        assert!(html.contains("Fix &lt;greet&gt;"), "escaped: {html}");
        assert!(
            !html.contains("longer text"),
            "the commit's first line only"
        );
        assert!(html.contains("href=\"https://lectern.example.edu/builds/42\""));
    }

    #[test]
    fn the_digest_counts_the_day_and_names_who_is_not_passing() {
        let d = Digest {
            course: "Programming 1".into(),
            course_slug: "cs101".into(),
            counts: vec![(BuildStatus::Passed, 5), (BuildStatus::Failed, 2)],
            students: 4,
            failing: vec![("octocat".into(), "HW1 <x>".into(), BuildStatus::Failed)],
            more_failing: 0,
            url: "https://lectern.example.edu/courses/cs101".into(),
        };
        assert_eq!(
            digest_subject(&d),
            "[cs101] The day's builds: 7, 1 not passing"
        );
        let text = digest_text(&d);
        assert!(text.contains("✓ passed: 5\n✗ failed: 2\n"), "{text}");
        assert!(text.contains("  - octocat, HW1 <x>: failed"), "{text}");
        assert!(digest_html(&d).contains("octocat, HW1 &lt;x&gt;: failed"));
    }

    #[test]
    fn slack_gets_block_kit_with_a_button_to_the_build() {
        let message = slack(&notice());
        let blocks = message["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["text"], "✗ hw1 failed");
        let fields = blocks[1]["fields"].to_string();
        assert!(
            fields.contains("octocat (The Octocat)")
                && fields.contains("6dcb09b Fix &lt;greet&gt;")
        );
        assert!(
            blocks[2]["text"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("`test_greet.GreetTest.test_empty &lt;&amp;&gt;`")
        );
        assert_eq!(
            blocks[3]["elements"][0]["url"],
            "https://lectern.example.edu/builds/42"
        );
        assert_eq!(message["text"], subject(&notice()));
    }
}
