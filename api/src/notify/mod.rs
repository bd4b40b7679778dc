//! Notifications: people hear about results without watching the dashboard.
//!
//! When a build ends, [`outbox::write`] writes its notifications — one row per (build,
//! channel, recipient), chosen by preferences — in the same transaction that finishes the
//! build, with a job per row; so a build never ends without them, nor gets them twice.
//! [`deliver::handle`] (that job) renders each for its recipient ([`render`], hidden tests
//! withheld as the dashboard withholds them) and sends it by email ([`email`], SMTP) or to
//! the course's Slack channel ([`slack`], an incoming webhook), retrying with backoff
//! (honouring Slack's `Retry-After`) and giving up after a number of attempts; what was
//! given up on is shown to the course's staff.
//!
//! A crash between sending and recording it: a row is marked `sending` just before its
//! message leaves. A later attempt that finds it still `sending` cannot know whether it
//! arrived — neither SMTP nor Slack's webhooks take an idempotency key — so it marks it
//! `unconfirmed` and does not send it again: at most one message, never two. Emails carry a
//! `Message-ID` made from the row's key, so a mail system that deduplicates by it would
//! drop a copy anyway.

pub mod deliver;
pub mod digest;
pub mod email;
pub mod outbox;
pub mod render;
pub mod slack;

use std::time::Duration;

/// Why a message did not go.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt later.
    Retry(String),
    /// Worth another attempt, not before this long (Slack's `Retry-After`).
    RetryAfter(String, Duration),
    /// Will not go however often it is tried (a refused address, a revoked webhook).
    Permanent(String),
}
