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
use crate::accounts::contacts::email_billing_contacts;
use crate::catalog::domain::BillingCycle;
use crate::email::templates;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// The lead of the provider's own trial notice (Stripe sends
/// `customer.subscription.trial_will_end` three days before the end); it
/// counts as the 3-day reminder.
pub const PROVIDER_NOTICE_DAYS: u32 = 3;

/// The ledger's cause for a trial that ended without a subscription.
pub const TRIAL_EXPIRED_CAUSE: &str = "system:trial_expired";

/// What the trial emails need to say and link to.
#[derive(Debug, Clone)]
pub struct Notices {
    /// The product's name and colour, as emails show them.
    pub brand: crate::email::templates::Brand,
    /// The site's origin as browsers see it.
    pub public_url: String,
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
        select $1, plan_id, $3, $6, $5::timestamptz, $5::timestamptz + make_interval(days => $4)
        from plan where plan_key = $2 and not retired
        returning subscription_id, trial_start as "trial_start!: chrono::DateTime<chrono::Utc>"
        "#,
        organization_id,
        plan_key,
        cycle.as_str(),
        trial_days as i32,
        now as _,
        SubscriptionStatus::Trialing.as_str(),
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

/// What became of one reminder (the `trial_reminder.outcome` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderOutcome {
    /// Mailed.
    Sent,
    /// Passed while a more urgent one was due (downtime): recorded, not mailed.
    Skipped,
}

impl ReminderOutcome {
    fn of(sent: bool) -> Self {
        if sent {
            ReminderOutcome::Sent
        } else {
            ReminderOutcome::Skipped
        }
    }

    /// The column's word.
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderOutcome::Sent => "sent",
            ReminderOutcome::Skipped => "skipped",
        }
    }
}

/// Which of a trial's reminders to record at `now`, given the offsets
/// (days before the end) already recorded for this trial end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DueReminders {
    /// The reminder to send: the most urgent one whose moment has come,
    /// unless a more urgent one was already recorded.
    pub send: Option<u32>,
    /// Reminders whose moment passed while a more urgent one is due (after
    /// downtime): recorded as skipped, never mailed in a burst.
    pub skip: Vec<u32>,
}

/// The reminders due for a trial ending at `trial_end`, at `now`.
pub fn due_reminders(
    offsets: &[u32],
    trial_end: DateTime<Utc>,
    now: DateTime<Utc>,
    recorded: &[u32],
) -> DueReminders {
    if now >= trial_end {
        return DueReminders::default();
    }
    let mut passed: Vec<u32> = offsets
        .iter()
        .copied()
        .filter(|days| trial_end - TimeDelta::days(i64::from(*days)) <= now && !recorded.contains(days))
        .collect();
    passed.sort_unstable();
    passed.dedup();
    let Some(&most_urgent) = passed.first() else {
        return DueReminders::default();
    };
    let already_more_urgent = recorded.iter().any(|days| *days < most_urgent);
    let send = (!already_more_urgent).then_some(most_urgent);
    DueReminders {
        send,
        skip: passed.into_iter().filter(|days| Some(*days) != send).collect(),
    }
}

/// A trial that may owe reminders, as a sweep reads it (row locked).
struct TrialDue {
    subscription_id: Uuid,
    organization_id: Uuid,
    organization: String,
    trial_end: DateTime<Utc>,
    /// What the card on file will be charged at the end (a provider's
    /// trial with its items); `None` for a card-free trial.
    charge_minor: Option<(i64, String)>,
    recorded: Vec<u32>,
}

/// Records one reminder of a locked trial; when `outcome` is sent and the
/// record is new, mails it. Returns whether it was mailed.
async fn record_reminder(
    conn: &mut PgConnection,
    trial: &TrialDue,
    days_before: u32,
    sent: bool,
    cause: &str,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let new = sqlx::query!(
        r#"
        insert into trial_reminder (subscription_id, trial_end, days_before, outcome, cause, recorded_at)
        values ($1, $2, $3, $4, $5, $6)
        on conflict do nothing
        "#,
        trial.subscription_id,
        trial.trial_end as _,
        days_before as i32,
        ReminderOutcome::of(sent).as_str(),
        cause,
        now as _,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !(new && sent) {
        return Ok(false);
    }
    let ends_on = crate::format::long_day(trial.trial_end.date_naive());
    let charge = trial
        .charge_minor
        .as_ref()
        .map(|(amount, currency)| templates::UpcomingCharge {
            amount: crate::catalog::money::Money::display_minor(*amount, currency),
            on: ends_on.clone(),
        });
    let message = templates::trial_ending(
        &notices.brand,
        &trial.organization,
        &ends_on,
        days_left(now, trial.trial_end),
        charge.as_ref(),
        &notices.billing_url(),
    );
    let email_cause = format!(
        "trial_reminder:{}:{}:{days_before}",
        trial.subscription_id,
        trial.trial_end.timestamp()
    );
    email_billing_contacts(conn, trial.organization_id, &message, &email_cause, now).await?;
    Ok(true)
}

/// The live trials (card-free or a provider's) that owe a reminder at
/// `now`, locked, skipping rows another transaction holds. A
/// `provider_notice` (the provider says the trial ends soon) is due
/// whenever it comes, unless a reminder as urgent was recorded.
async fn trials_owing_reminders(
    conn: &mut PgConnection,
    offsets: &[u32],
    now: DateTime<Utc>,
    only: Option<Uuid>,
    provider_notice: bool,
    limit: i64,
) -> Result<Vec<TrialDue>, sqlx::Error> {
    let offsets: Vec<i32> = offsets.iter().map(|d| *d as i32).collect();
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select s.subscription_id, s.organization_id, o.name as organization,
               s.trial_end as "trial_end!: DateTime<Utc>",
               case when s.provider is not null then
                   (select sum(i.unit_amount * i.quantity)::bigint from subscription_item i
                    where i.subscription_id = s.subscription_id) end as "charge_minor: i64",
               (select min(i.currency) from subscription_item i where i.subscription_id = s.subscription_id)
                   as "charge_currency?",
               array(select r.days_before from trial_reminder r
                     where r.subscription_id = s.subscription_id and r.trial_end = s.trial_end) as "recorded!"
        from subscription s join organization o using (organization_id)
        where s.live and s.status = $6 and s.trial_end > $1
          and ($4::uuid is null or s.subscription_id = $4)
          -- some reminder's moment has come (a provider's notice is its own moment) …
          and ($5 or exists (select 1 from unnest($2::int[]) d where s.trial_end - make_interval(days => d) <= $1))
          -- … and no reminder at least as urgent is recorded.
          and not exists (select 1 from trial_reminder r
                          where r.subscription_id = s.subscription_id and r.trial_end = s.trial_end
                            and r.days_before <= (select min(d) from unnest($2::int[]) d
                                                  where s.trial_end - make_interval(days => d) <= $1))
        order by s.trial_end
        limit $3
        for update of s skip locked
        "#,
        now as _,
        &offsets,
        limit,
        only,
        provider_notice,
        SubscriptionStatus::Trialing.as_str(),
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| TrialDue {
            subscription_id: row.subscription_id,
            organization_id: row.organization_id,
            organization: row.organization,
            trial_end: row.trial_end,
            charge_minor: row.charge_minor.zip(row.charge_currency),
            recorded: row.recorded.into_iter().map(|d| d.clamp(0, 90) as u32).collect(),
        })
        .collect())
}

/// The 3-day reminder of a provider's trial when its provider says the
/// trial ends soon (Stripe's `trial_will_end`), in the caller's transaction
/// (which has just applied the subscription). Counts as the catalogue's
/// 3-day reminder: sent once per trial end, whichever of the event and the
/// sweep comes first. Returns whether it was mailed now.
pub async fn remind_provider_trial(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    cause: &str,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // The provider's notice stands for the 3-day reminder whatever the
    // catalogue's offsets: the sweep then skips what it made redundant.
    let owing =
        trials_owing_reminders(conn, &[PROVIDER_NOTICE_DAYS], now, Some(subscription_id), true, 1).await?;
    let Some(trial) = owing.first() else {
        return Ok(false);
    };
    record_reminder(conn, trial, PROVIDER_NOTICE_DAYS, true, cause, notices, now).await
}

/// Sends the most urgent due reminder of every trial that owes one at
/// `now` (the catalogue's `reminder_days`), recording any it skipped, up to
/// `limit` trials, in the caller's transaction. Returns how many were sent.
pub async fn send_due_reminders(
    conn: &mut PgConnection,
    offsets: &[u32],
    cause: &str,
    notices: &Notices,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let mut sent = 0;
    for trial in trials_owing_reminders(conn, offsets, now, None, false, limit).await? {
        let due = due_reminders(offsets, trial.trial_end, now, &trial.recorded);
        for days in &due.skip {
            record_reminder(conn, &trial, *days, false, cause, notices, now).await?;
        }
        if let Some(days) = due.send {
            sent += usize::from(record_reminder(conn, &trial, days, true, cause, notices, now).await?);
        }
    }
    Ok(sent)
}

/// Pauses every signup trial that has ended without a subscription (a
/// provider's trials end at the provider) by `now`, up to `limit`, in the
/// caller's transaction (rows another transaction holds wait for the next
/// run). Returns the organisations whose trial was paused.
pub async fn expire_ended_trials(
    conn: &mut PgConnection,
    notices: &Notices,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    let ended = sqlx::query_scalar!(
        r#"
        select subscription_id from subscription
        where live and provider is null and status = $3 and trial_end <= $1
        order by trial_end
        limit $2
        for update skip locked
        "#,
        now as _,
        limit,
        SubscriptionStatus::Trialing.as_str(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut paused = Vec::new();
    for subscription_id in ended {
        paused.extend(pause_ended_trial(conn, subscription_id, notices, now).await?);
    }
    Ok(paused)
}

/// Ends an organisation's running signup trial at `now`, as if its days had
/// run out (the sandbox's "make time pass" control), through the same
/// pause the expiry sweep makes, in the caller's transaction. Returns
/// whether there was one to end.
pub async fn end_signup_trial_now(
    conn: &mut PgConnection,
    organization_id: Uuid,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let ended = sqlx::query_scalar!(
        r#"
        update subscription set trial_end = greatest($2, trial_start)
        where organization_id = $1 and provider is null and status = $3
        returning subscription_id
        "#,
        organization_id,
        now as _,
        SubscriptionStatus::Trialing.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(subscription_id) = ended else {
        return Ok(false);
    };
    Ok(pause_ended_trial(conn, subscription_id, notices, now)
        .await?
        .is_some())
}

/// Moves a running signup trial's end to `days_left` days from `now` (the
/// sandbox's "make time pass" control, for trials short of their end).
/// In the caller's transaction; returns whether there was one to move.
pub async fn set_signup_trial_days_left(
    conn: &mut PgConnection,
    organization_id: Uuid,
    days_left: u32,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let moved = sqlx::query!(
        r#"
        update subscription set trial_end = greatest($2, trial_start)
        where organization_id = $1 and provider is null and status = $3
        "#,
        organization_id,
        (now + chrono::TimeDelta::days(i64::from(days_left))) as _,
        SubscriptionStatus::Trialing.as_str()
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    Ok(moved)
}

/// Pauses one ended signup trial: the status moves `trialing` → `paused`
/// with its ledger row (no MRR either side) and the owners are told, in the
/// caller's transaction. Checkout later takes the paused subscription over.
/// Returns its organisation, or `None` if it is not an ended signup trial
/// (any more).
async fn pause_ended_trial(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
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
        where s.subscription_id = $1 and s.live and s.provider is null and s.status = $3 and s.trial_end <= $2
        for update of s
        "#,
        subscription_id,
        now as _,
        SubscriptionStatus::Trialing.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    // language=PostgreSQL
    sqlx::query!(
        "update subscription set status = $2 where subscription_id = $1",
        subscription_id,
        SubscriptionStatus::Paused.as_str()
    )
    .execute(&mut *conn)
    .await?;
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
    let message = templates::trial_ended(&notices.brand, &trial.organization, &notices.billing_url());
    let cause = format!("trial_ended:{subscription_id}:{}", trial.trial_end.timestamp());
    email_billing_contacts(conn, trial.organization_id, &message, &cause, now).await?;
    Ok(Some(trial.organization_id))
}

#[cfg(test)]
mod tests;

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
          and s.trial_end is not null and s.status = any($2)
        order by s.created_at desc limit 1
        for update of s
        "#,
        organization_id,
        &[
            SubscriptionStatus::Trialing.as_str(),
            SubscriptionStatus::Paused.as_str()
        ] as &[&str]
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let trial_end = trial.trial_end.max(now) + chrono::TimeDelta::days(i64::from(days));
    // language=PostgreSQL
    sqlx::query!(
        "update subscription set trial_end = $2, status = $3
         where subscription_id = $1",
        trial.subscription_id,
        trial_end as _,
        SubscriptionStatus::Trialing.as_str()
    )
    .execute(&mut *conn)
    .await?;
    if SubscriptionStatus::parse(&trial.status) == Some(SubscriptionStatus::Paused) {
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
    Ok(Some(TrialExtension {
        status_before: trial.status,
        trial_end_before: trial.trial_end,
        trial_end_after: trial_end,
    }))
}
