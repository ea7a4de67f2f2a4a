//! The trial and grace-period moves made from a page, each in the caller's
//! transaction and each told to the host product: the console's extension
//! and the sandbox's "make time pass" controls.

use super::tell_host::{collection_steps, subscription_changed};
use crate::billing::trials::{self, Notices, TrialExtension};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Extends the organisation's card-free trial by `days`
/// ([`trials::extend_signup_trial`]); `None` when it has none.
pub async fn extend(
    conn: &mut PgConnection,
    organization_id: Uuid,
    days: u32,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<Option<TrialExtension>, sqlx::Error> {
    let extension = trials::extend_signup_trial(conn, organization_id, days, cause, now).await?;
    if extension.is_some() {
        subscription_changed(conn, organization_id, now).await?;
    }
    Ok(extension)
}

/// Ends the organisation's running signup trial now
/// ([`trials::end_signup_trial_now`]); whether there was one.
pub async fn end_now(
    conn: &mut PgConnection,
    organization_id: Uuid,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let ended = trials::end_signup_trial_now(conn, organization_id, notices, now).await?;
    if ended {
        subscription_changed(conn, organization_id, now).await?;
    }
    Ok(ended)
}

/// Leaves `days_left` days of the organisation's running signup trial
/// ([`trials::set_signup_trial_days_left`]); whether there was one.
pub async fn set_days_left(
    conn: &mut PgConnection,
    organization_id: Uuid,
    days_left: u32,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let moved = trials::set_signup_trial_days_left(conn, organization_id, days_left, now).await?;
    if moved {
        subscription_changed(conn, organization_id, now).await?;
    }
    Ok(moved)
}

/// Lets the organisation's open collection case's grace period run out now
/// ([`crate::billing::collection::skip_grace`]); whether it was restricted.
pub async fn skip_grace(
    conn: &mut PgConnection,
    organization_id: Uuid,
    grace_days: u32,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let steps =
        crate::billing::collection::skip_grace(conn, organization_id, grace_days, notices, now).await?;
    collection_steps(conn, &steps, now).await?;
    Ok(!steps.is_empty())
}
