//! Email over SMTP (`SMTP_URL`: `smtp://` plain or with `?tls=required` for STARTTLS,
//! `smtps://` for TLS, with credentials in the URL), with `lettre`.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use super::Failure;

/// One message: to whom, what, and the id that names it.
pub struct Email {
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `<…@…>`: the same for every attempt at the same notification.
    pub message_id: String,
}

/// Sends mail through one SMTP server.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    /// A sender through the server `url` names, from `from` (`Name <address>`).
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not an SMTP URL Lectern can use: {e}"))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("LECTERN_MAIL_FROM `{from}` is not an address: {e}"))?;
        Ok(Self { transport, from })
    }

    /// Connects to the server and greets it, sending nothing.
    pub async fn check(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("it did not answer the greeting".into()),
            Err(err) => Err(err.to_string()),
        }
    }

    pub async fn send(&self, email: Email) -> Result<(), Failure> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(email.to)
            .subject(email.subject)
            .message_id(Some(email.message_id))
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .map_err(|e| Failure::Permanent(format!("the message could not be made: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(Failure::Permanent(format!(
                "the mail server refused the message: {err}"
            ))),
            Err(err) => Err(Failure::Retry(format!(
                "the mail server (SMTP_URL) did not take the message: {err}"
            ))),
        }
    }
}
