//! The floor for work that spans features. A flow moves one feature's state
//! and then tells the features above it, in one transaction: billing
//! returns what changed ([`crate::billing::db::Present`],
//! [`crate::billing::collection::StepTaken`], the organisations whose trial
//! it paused) and never calls `outbound` or `licensing` itself; the flow
//! records the host product's events and follows with licences.
//!
//! - [`provider_events`]: applying a batch of provider events (the billing
//!   state, the ledger row, the collection ladder, then the outbound events
//!   and the licence). The server's `provider_event.apply` job is a thin
//!   adapter over it.
//! - [`sweeps`]: every time-driven sweep the job runner schedules.
//! - [`trials`]: the trial and grace-period moves made from a page (the
//!   console's extension, the sandbox's "make time pass" controls).
//! - [`tell_host`]: how a billing change becomes the host product's events.
//! - [`usage_reports`]: a host product's usage batch, then the near-limit
//!   warning and the `usage.limit_reached` event.
//!
//! Signup (user, organisation and trial in one transaction) is the flow of
//! `crate::signup`, which stands above this floor.

pub mod provider_events;
pub mod sweeps;
pub mod tell_host;
pub mod trials;
pub mod usage_reports;

use crate::billing::trials::Notices;
use crate::licensing::keys::SigningKeys;
use std::sync::Arc;

/// What a flow needs besides its transaction and the time.
#[derive(Clone)]
pub struct FlowContext {
    /// Who emails are from and what they link to.
    pub notices: Notices,
    /// The licence signing keys (`None`: licensing is off), for the
    /// licence a self-hosted tier's subscription carries.
    pub license_keys: Option<Arc<SigningKeys>>,
}

impl FlowContext {
    /// The flow context of a page render or server function.
    pub fn of_request(context: &crate::context::AppContext) -> Result<Self, crate::error::AppError> {
        Ok(FlowContext {
            notices: Notices::of_request(context)?,
            license_keys: crate::licensing::keys::license_keys()?,
        })
    }
}
