//! Transactional email: templates (pure) and the outbox they are queued in.

pub mod api;
pub mod templates;

crate::stored_words! {
    /// Where an email stands (`email_outbox.status`).
    pub enum EmailStatus {
        /// Refused for good, or out of attempts: an operator may send it again.
        Dead => "dead",
        /// Waiting for its delivery job (or retrying).
        Queued => "queued",
        /// Accepted by the mail server.
        Sent => "sent",
    }
}

/// One queued or sent email, as the local mailbox page shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct DevEmailView {
    /// Who it goes to.
    pub to_address: String,
    /// The subject line.
    pub subject: String,
    /// Plain-text body.
    pub text_body: String,
    /// `queued`, `sent` or `dead`.
    pub status: String,
    /// When it was queued (RFC 3339).
    pub created_at: String,
}

#[cfg(feature = "ssr")]
pub mod outbox;
#[cfg(feature = "ssr")]
pub mod outbox_reads;
