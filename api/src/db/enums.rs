//! Enumerations stored as TEXT with a CHECK constraint, mapped to Rust enums here.

use std::io::Write as _;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;

/// Declares an enum stored as TEXT, with its SQL spelling per variant.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The value stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let text = std::str::from_utf8(bytes.as_bytes())?;
                Ok(text.parse()?)
            }
        }
    };
}

text_enum! {
    /// A person's role in one course. Ordered by what it may do: student < ta < instructor.
    #[derive(PartialOrd, Ord, async_graphql::Enum)]
    pub enum Role {
        Student = "student",
        Ta = "ta",
        Instructor = "instructor",
    }
}

text_enum! {
    /// Where a build is in its life.
    #[derive(async_graphql::Enum)]
    pub enum BuildStatus {
        Queued = "queued",
        Running = "running",
        Passed = "passed",
        Failed = "failed",
        Errored = "errored",
        TimedOut = "timed_out",
        Cancelled = "cancelled",
    }
}

impl BuildStatus {
    /// Whether the build has ended for good.
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

text_enum! {
    /// What caused a build.
    #[derive(async_graphql::Enum)]
    pub enum BuildTrigger {
        Push = "push",
        PullRequest = "pull_request",
        Retry = "retry",
        Manual = "manual",
    }
}

text_enum! {
    /// Which sandbox ran a build.
    #[derive(async_graphql::Enum)]
    pub enum ExecutorKind {
        Kubernetes = "kubernetes",
        Docker = "docker",
        Local = "local",
    }
}

text_enum! {
    /// Which stream a chunk of build output came from.
    #[derive(async_graphql::Enum)]
    pub enum LogStream {
        Stdout = "stdout",
        Stderr = "stderr",
        System = "system",
        /// The hidden tests' output and Lectern's lines about them: staff only until
        /// the hidden tests are released.
        HiddenStdout = "hidden_stdout",
        HiddenStderr = "hidden_stderr",
        HiddenSystem = "hidden_system",
    }
}

impl LogStream {
    /// The stream this one becomes in the hidden tests' run.
    pub fn hidden(self) -> Self {
        match self {
            Self::Stdout | Self::HiddenStdout => Self::HiddenStdout,
            Self::Stderr | Self::HiddenStderr => Self::HiddenStderr,
            Self::System | Self::HiddenSystem => Self::HiddenSystem,
        }
    }

    /// Whether it belongs to the hidden tests' run.
    pub fn is_hidden(self) -> bool {
        matches!(
            self,
            Self::HiddenStdout | Self::HiddenStderr | Self::HiddenSystem
        )
    }

    /// Whether Lectern wrote it (rather than the tests).
    pub fn is_system(self) -> bool {
        matches!(self, Self::System | Self::HiddenSystem)
    }
}

text_enum! {
    /// How one test ended.
    #[derive(async_graphql::Enum)]
    pub enum TestOutcome {
        Passed = "passed",
        Failed = "failed",
        Skipped = "skipped",
        Errored = "errored",
    }
}

text_enum! {
    /// What becomes of work received after the deadline.
    #[derive(async_graphql::Enum)]
    pub enum LatePolicy {
        /// Graded as it is, marked late.
        Accept = "accept",
        /// Its score loses a share per started day late.
        Penalty = "penalty",
        /// Not graded: an on-time build grades the assignment.
        Refuse = "refuse",
    }
}

text_enum! {
    /// Which of a student's graded builds grades an assignment.
    #[derive(async_graphql::Enum)]
    pub enum GradePolicy {
        /// The newest.
        Latest = "latest",
        /// The highest-scoring.
        Best = "best",
    }
}

text_enum! {
    /// Where a build's image comes from on Kubernetes.
    #[derive(async_graphql::Enum)]
    pub enum ImageSource {
        /// The assignment's image, with the commit fetched in the cluster.
        Assignment = "assignment",
        /// An image built for the build (base image + checkout), pushed to the registry.
        PerBuild = "per_build",
    }
}

text_enum! {
    /// The state of a repository's webhook on GitHub.
    #[derive(async_graphql::Enum)]
    pub enum WebhookStatus {
        Pending = "pending",
        Active = "active",
        Missing = "missing",
        Failed = "failed",
    }
}

text_enum! {
    /// What became of a webhook delivery.
    #[derive(async_graphql::Enum)]
    pub enum DeliveryOutcome {
        /// A build was queued.
        Queued = "queued",
        /// Accepted, but nothing to build (with the reason).
        Ignored = "ignored",
        /// Accepted, but handling it failed.
        Failed = "failed",
        /// Refused: bad signature, unknown repository or malformed body.
        Rejected = "rejected",
    }
}

text_enum! {
    /// When someone hears about a build's end.
    #[derive(async_graphql::Enum)]
    pub enum NotifyWhen {
        Never = "never",
        /// Builds that did not pass.
        Failures = "failures",
        /// A build whose outcome differs from the one before it (failed after passing,
        /// fixed after failing), and the first one.
        Changes = "changes",
        Always = "always",
    }
}

text_enum! {
    /// How a notification travels.
    #[derive(async_graphql::Enum)]
    pub enum NotificationChannel {
        Email = "email",
        Slack = "slack",
    }
}

text_enum! {
    /// What a notification is about.
    #[derive(async_graphql::Enum)]
    pub enum NotificationKind {
        /// A build ended.
        Build = "build",
        /// A regrade changed a build's score.
        Regrade = "regrade",
        /// A day of a course's builds, for its staff.
        Digest = "digest",
    }
}

text_enum! {
    /// What became of a notification.
    #[derive(async_graphql::Enum)]
    pub enum NotificationStatus {
        /// Waiting to be sent (again, after a failure).
        Pending = "pending",
        /// Leaving now.
        Sending = "sending",
        Sent = "sent",
        /// Given up: the channel refused it, or kept failing.
        Failed = "failed",
        /// A server stopped while sending it: perhaps sent, and not sent again so that no
        /// one gets it twice.
        Unconfirmed = "unconfirmed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        for status in BuildStatus::ALL {
            assert_eq!(status.as_str().parse::<BuildStatus>(), Ok(*status));
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Student < Role::Ta && Role::Ta < Role::Instructor);
    }
}
