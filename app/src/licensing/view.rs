//! What the portal and the console show of a licence: words and dates,
//! shared by the server functions and the pages (server and browser).

use serde::{Deserialize, Serialize};

/// One licence, as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseView {
    /// The licence's id.
    pub id: String,
    /// The key, for those allowed to see it (owners and admins of the
    /// organisation; never the console).
    pub key: Option<String>,
    /// The year and last group of the key, to tell keys apart.
    pub key_hint: String,
    /// Where it stands, in words ("Valid", "Suspended", …).
    pub status: String,
    /// The stable code (`VALID`, `EXPIRED`, …).
    pub code: String,
    /// Valid now (the code is `VALID`).
    pub valid: bool,
    /// Revoked: never valid again.
    pub revoked: bool,
    /// A payment is being collected: valid, with a warning.
    pub past_due: bool,
    /// Suspended by the platform team (not with its organisation).
    pub suspended_by_hand: bool,
    /// The subscription moves the expiry on by itself.
    pub renews: bool,
    /// When a file issued now expires (before the grace period), `YYYY-MM-DD`.
    pub expires_on: String,
    /// The grace period after expiry, in days.
    pub grace_days: i32,
    /// Machines it may activate at once.
    pub max_activations: i32,
    /// Bound to each machine's fingerprint.
    pub node_locked: bool,
    /// How it was issued, in words.
    pub source: String,
    /// When it was issued, `YYYY-MM-DD`.
    pub issued_on: String,
    /// The machines holding a seat.
    pub activations: Vec<ActivationView>,
}

/// A machine holding a seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationView {
    /// The activation's id.
    pub id: String,
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// Its hostname.
    pub hostname: String,
    /// When it activated, `YYYY-MM-DD HH:MM UTC`.
    pub activated_at: String,
    /// When it last checked in, `YYYY-MM-DD HH:MM UTC`.
    pub last_check_in_at: String,
}

/// The portal's licence page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicensesOverview {
    /// The organisation's licences, newest first.
    pub licenses: Vec<LicenseView>,
    /// Whether the viewer may see keys and free seats (owners and admins).
    pub manages: bool,
    /// Whether this Gatehouse has signing keys (licensing is on).
    pub licensing_on: bool,
}
