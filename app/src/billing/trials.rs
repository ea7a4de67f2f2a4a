//! Signup trials: their start, and the time-driven work on them: the
//! "trial ends soon" reminder and the expiry of signup trials that end
//! without a subscription.
//!
//! Both run from the billing worker on every server instance; each claims one
//! subscription row at a time with `FOR UPDATE SKIP LOCKED` and does its
//! whole job (state, ledger, email) in that row's transaction, so instances
//! never do the same work twice and a crash leaves it to be done again.

use super::domain::{ExactMrr, SubscriptionStatus};
use super::ledger_store::{Revision, plan_state, record_revision};
use crate::catalog::domain::BillingCycle;
use crate::email::{outbox, templates};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long before a trial ends its reminder goes out (Stripe sends
/// `customer.subscription.trial_will_end` at the same lead).
pub const REMINDER_LEAD_DAYS: i64 = 3;

/// The ledger's cause for a trial that ended without a subscription.
pub const TRIAL_EXPIRED_CAUSE: &str = "system:trial_expired";

/// What the trial emails need to say and link to.
#[derive(Debug, Clone)]
pub struct Notices {
    /// The product's name, as emails sign it.
    pub product: String,
    /// The site's origin as browsers see it.
    pub public_url: String,
    /// The licensing keys, for the licence a self-hosted tier's
    /// subscription carries (`None`: licensing is off).
    pub license_keys: Option<std::sync::Arc<crate::licensing::keys::SigningKeys>>,
}

impl Notices {
    fn billing_url(&self) -> String {
        format!("{}/app/billing", self.public_url)
    }
}

/// Starts a signup's card-free trial on `plan_key` at `now` and records it
/// in the ledger. A trial carries no MRR, so the ledger row is 0 → 0.
pub async fn start_signup_trial(
    conn: &mut PgConnection,
    organization_id: Uuid,
    plan_key: &str,
    cycle: BillingCycle,
    trial_days: u32,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    // language=PostgreSQL
    let subscription = sqlx::query!(
        r#"
        insert into subscription (organization_id, plan_id, billing_cycle, status, trial_start, trial_end)
        select $1, plan_id, $3, 'trialing', $5::timestamptz, $5::timestamptz + make_interval(days => $4)
        from plan where plan_key = $2 and not retired
        returning subscription_id, trial_start as "trial_start!: chrono::DateTime<chrono::Utc>"
        "#,
        organization_id,
        plan_key,
        cycle.as_str(),
        trial_days as i32,
        now as _,
    )
    .fetch_one(&mut *conn)
    .await?;
    record_revision(
        conn,
        &Revision {
            organization_id,
            subscription_id: subscription.subscription_id,
            occurred_at: subscription.trial_start,
            cause: "signup",
            state: plan_state(SubscriptionStatus::Trialing, plan_key, cycle),
            plan: plan_key,
            // A trial carries no MRR.
            mrr: ExactMrr::ZERO,
            interval: cycle.interval(),
            currency,
            recorded_at: now,
        },
    )
    .await?;
    Ok(subscription.subscription_id)
}

/// Whole days left until `trial_end`, counting a started day as one.
pub fn days_left(now: DateTime<Utc>, trial_end: DateTime<Utc>) -> u32 {
    let seconds = (trial_end - now).num_seconds().max(0);
    ((seconds + 86_399) / 86_400).min(i64::from(u32::MAX)) as u32
}

/// The owners of an organisation, who get its billing notices.
pub(crate) async fn owner_emails(
    conn: &mut PgConnection,
    organization_id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        select u.email from membership m join app_user u using (user_id)
        where m.organization_id = $1 and m.role = 'owner'
        order by m.created_at
        "#,
        organization_id
    )
    .fetch_all(&mut *conn)
    .await
}

/// Sends the reminder for one locked, trialing subscription unless it was
/// already sent for this trial end. Returns whether it was sent.
async fn remind_locked(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let Some(trial) = sqlx::query!(
        r#"
        select s.organization_id, o.name as organization, s.provider is not null as "subscribed!",
               s.trial_end as "trial_end!: DateTime<Utc>"
        from subscription s join organization o using (organization_id)
        where s.subscription_id = $1 and s.live and s.status = 'trialing' and s.trial_end > $2
          and s.trial_reminder_sent_for is distinct from s.trial_end
        "#,
        subscription_id,
        now as _,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    let message = templates::trial_ending(
        &notices.product,
        &trial.organization,
        &trial.trial_end.format("%-d %B %Y").to_string(),
        days_left(now, trial.trial_end),
        trial.subscribed,
        &notices.billing_url(),
    );
    for owner in owner_emails(conn, trial.organization_id).await? {
        outbox::enqueue(conn, now, &owner, &message).await?;
    }
    // language=PostgreSQL
    sqlx::query!(
        "update subscription set trial_reminder_sent_for = trial_end where subscription_id = $1",
        subscription_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The reminder for a provider's subscription, when its provider says the
/// trial ends soon (Stripe's `trial_will_end`), in the caller's transaction
/// (which has just applied the subscription and holds its row). Sent once
/// per trial end, whichever of the event and the sweep comes first.
pub async fn remind_provider_trial(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    remind_locked(conn, subscription_id, notices, now).await
}

/// Sends the reminder for every trial ending within [`REMINDER_LEAD_DAYS`]
/// that has not had one at `now`, up to `limit`. Returns how many were sent.
pub async fn send_due_reminders(
    pool: &PgPool,
    notices: &Notices,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<usize, sqlx::Error> {
    let mut sent = 0;
    for _ in 0..limit {
        let mut tx = pool.begin().await?;
        // language=PostgreSQL
        let Some(subscription_id) = sqlx::query_scalar!(
            r#"
            select subscription_id from subscription
            where live and status = 'trialing' and trial_end > $1
              and trial_end <= $1 + make_interval(days => $2)
              and trial_reminder_sent_for is distinct from trial_end
            order by trial_end
            limit 1
            for update skip locked
            "#,
            now as _,
            REMINDER_LEAD_DAYS as i32,
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            break;
        };
        sent += usize::from(remind_locked(&mut tx, subscription_id, notices, now).await?);
        tx.commit().await?;
    }
    Ok(sent)
}

/// Pauses every signup trial that has ended without a subscription (a
/// provider's trials end at the provider) by `now`, up to `limit`. Returns
/// how many were paused.
pub async fn expire_ended_trials(
    pool: &PgPool,
    notices: &Notices,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<usize, sqlx::Error> {
    let mut expired = 0;
    for _ in 0..limit {
        let mut tx = pool.begin().await?;
        // language=PostgreSQL
        let Some(subscription_id) = sqlx::query_scalar!(
            r#"
            select subscription_id from subscription
            where live and provider is null and status = 'trialing' and trial_end <= $1
            order by trial_end
            limit 1
            for update skip locked
            "#,
            now as _
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            break;
        };
        expired += usize::from(pause_ended_trial(&mut tx, subscription_id, notices, now).await?);
        tx.commit().await?;
    }
    Ok(expired)
}

/// Ends an organisation's running signup trial at `now`, as if its days had
/// run out (the sandbox's "make time pass" control), through the same
/// pause the expiry sweep makes. Returns whether there was one to end.
pub async fn end_signup_trial_now(
    pool: &PgPool,
    organization_id: Uuid,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    let ended = sqlx::query_scalar!(
        r#"
        update subscription set trial_end = greatest($2, trial_start)
        where organization_id = $1 and provider is null and status = 'trialing'
        returning subscription_id
        "#,
        organization_id,
        now as _
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(subscription_id) = ended else {
        return Ok(false);
    };
    let paused = pause_ended_trial(&mut tx, subscription_id, notices, now).await?;
    tx.commit().await?;
    Ok(paused)
}

/// Moves a running signup trial's end to `days_left` days from `now` (the
/// sandbox's "make time pass" control, for trials short of their end).
/// Returns whether there was one to move.
pub async fn set_signup_trial_days_left(
    pool: &PgPool,
    organization_id: Uuid,
    days_left: u32,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    let moved = sqlx::query!(
        r#"
        update subscription set trial_end = greatest($2, trial_start)
        where organization_id = $1 and provider is null and status = 'trialing'
        "#,
        organization_id,
        (now + chrono::TimeDelta::days(i64::from(days_left))) as _
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if moved {
        crate::outbound::events::subscription_changed(&mut tx, organization_id, now).await?;
    }
    tx.commit().await?;
    Ok(moved)
}

/// Pauses one ended signup trial: the status moves `trialing` → `paused`
/// with its ledger row (no MRR either side) and the owners are told, in the
/// caller's transaction. Checkout later takes the paused subscription over.
/// Returns false if it is not an ended signup trial (any more).
async fn pause_ended_trial(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let Some(trial) = sqlx::query!(
        r#"
        select s.organization_id, o.name as organization, p.plan_key, p.currency, s.billing_cycle,
               -- Never before the trial's own recorded start: a local
               -- history stays in the order it happened here.
               greatest(s.trial_end, (select max(r.occurred_at) from subscription_revision r
                                      where r.subscription_id = s.subscription_id))
                   as "trial_end!: chrono::DateTime<Utc>"
        from subscription s join organization o using (organization_id) join plan p using (plan_id)
        where s.subscription_id = $1 and s.live and s.provider is null and s.status = 'trialing' and s.trial_end <= $2
        for update of s
        "#,
        subscription_id,
        now as _
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    // language=PostgreSQL
    sqlx::query!(
        "update subscription set status = 'paused' where subscription_id = $1",
        subscription_id
    )
    .execute(&mut *conn)
    .await?;
    crate::outbound::events::subscription_changed(conn, trial.organization_id, now).await?;
    let cycle = BillingCycle::from_query(Some(&trial.billing_cycle));
    record_revision(
        conn,
        &Revision {
            organization_id: trial.organization_id,
            subscription_id,
            occurred_at: trial.trial_end,
            cause: TRIAL_EXPIRED_CAUSE,
            state: plan_state(SubscriptionStatus::Paused, &trial.plan_key, cycle),
            plan: &trial.plan_key,
            // A paused subscription carries no MRR.
            mrr: ExactMrr::ZERO,
            interval: cycle.interval(),
            currency: &trial.currency,
            recorded_at: now,
        },
    )
    .await?;
    let message = templates::trial_ended(&notices.product, &trial.organization, &notices.billing_url());
    for owner in owner_emails(conn, trial.organization_id).await? {
        outbox::enqueue(conn, now, &owner, &message).await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_started_day_counts_as_a_day_left() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let days = |hours: i64| days_left(now, now + chrono::Duration::hours(hours));
        assert_eq!(days(72), 3);
        assert_eq!(days(71), 3);
        assert_eq!(days(49), 3);
        assert_eq!(days(48), 2);
        assert_eq!(days(1), 1);
        assert_eq!(days(-5), 0, "an ended trial has none");
    }
}

/// A card-free trial before and after an admin extended it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrialExtension {
    /// The status before (`trialing`, or `paused` once it had run out).
    pub status_before: String,
    /// The trial's end before.
    pub trial_end_before: DateTime<Utc>,
    /// The trial's end now.
    pub trial_end_after: DateTime<Utc>,
}

/// Extends an organisation's card-free trial by `days` from its end (or
/// from now, when it already ran out and was paused, which reopens it), in
/// the caller's transaction; `None` when it has no such trial (a provider's
/// subscription is extended at the provider). `cause` names the admin action
/// for the ledger.
pub async fn extend_signup_trial(
    conn: &mut PgConnection,
    organization_id: Uuid,
    days: u32,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<Option<TrialExtension>, sqlx::Error> {
    // language=PostgreSQL
    let Some(trial) = sqlx::query!(
        r#"
        select s.subscription_id, s.status, s.trial_end as "trial_end!: DateTime<Utc>", s.billing_cycle,
               p.plan_key, p.currency
        from subscription s join plan p using (plan_id)
        where s.organization_id = $1 and s.live and s.provider is null and s.import_key is null
          and s.trial_end is not null and s.status in ('trialing', 'paused')
        order by s.created_at desc limit 1
        for update of s
        "#,
        organization_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let trial_end = trial.trial_end.max(now) + chrono::TimeDelta::days(i64::from(days));
    // language=PostgreSQL
    sqlx::query!(
        "update subscription set trial_end = $2, status = 'trialing', trial_reminder_sent_for = null
         where subscription_id = $1",
        trial.subscription_id,
        trial_end as _
    )
    .execute(&mut *conn)
    .await?;
    if trial.status == "paused" {
        let cycle = BillingCycle::from_query(Some(&trial.billing_cycle));
        record_revision(
            conn,
            &Revision {
                organization_id,
                subscription_id: trial.subscription_id,
                occurred_at: now,
                cause,
                state: plan_state(SubscriptionStatus::Trialing, &trial.plan_key, cycle),
                plan: &trial.plan_key,
                mrr: ExactMrr::ZERO,
                interval: cycle.interval(),
                currency: &trial.currency,
                recorded_at: now,
            },
        )
        .await?;
    }
    crate::outbound::events::subscription_changed(conn, organization_id, now).await?;
    Ok(Some(TrialExtension {
        status_before: trial.status,
        trial_end_before: trial.trial_end,
        trial_end_after: trial_end,
    }))
}
