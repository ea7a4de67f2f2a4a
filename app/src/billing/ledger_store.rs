//! The ledger in Postgres: revisions recorded at their effective time, and
//! the rows [`super::domain::place`] says they make. The only writer of
//! `subscription_revision` and `subscription_event`.

use super::domain::{ChangeKind, LedgerState, PriceKey};
use super::domain::{ExactMrr, SubscriptionStatus};
use super::domain::{NextRowFix, place};
use crate::catalog::domain::BillingCycle;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// One state of a subscription, at the time it held at the provider (or
/// locally, for the card-free trial).
#[derive(Debug, Clone)]
pub struct Revision<'a> {
    /// The organisation.
    pub organization_id: Uuid,
    /// The local subscription.
    pub subscription_id: Uuid,
    /// When the state began: the provider event's time, not when it was processed.
    pub occurred_at: DateTime<Utc>,
    /// What caused it: `signup`, `system:…`, `stripe:<event id>`, `sandbox:<event id>`.
    /// Orders revisions of the same instant.
    pub cause: &'a str,
    /// The state.
    pub state: LedgerState,
    /// The tier key.
    pub plan: &'a str,
    /// MRR in this state, exact (the ledger rounds it for the subscription).
    pub mrr: ExactMrr,
    /// The billing interval: `month`, `year`, `quarter`, `week` or `day`.
    pub interval: &'a str,
    /// ISO currency of `mrr`.
    pub currency: &'a str,
    /// When Gatehouse learnt it (the clock's now): the ledger's transaction time.
    pub recorded_at: DateTime<Utc>,
}

/// The state of a subscription that bills only its tier (the card-free
/// trial, before the provider knows it).
pub fn plan_state(status: SubscriptionStatus, tier: &str, cycle: BillingCycle) -> LedgerState {
    LedgerState {
        status,
        items: vec![(PriceKey::tier(tier, cycle).lookup_key(), 1)],
        discounts: vec![],
    }
}

/// A stored revision, as a neighbour of a new one.
struct Neighbour {
    occurred_at: DateTime<Utc>,
    cause: String,
    state: LedgerState,
    plan: String,
    mrr: i64,
    currency: String,
}

impl Neighbour {
    fn from_row(
        occurred_at: DateTime<Utc>,
        cause: String,
        state: serde_json::Value,
        plan: String,
        mrr: i64,
        currency: String,
    ) -> Result<Self, sqlx::Error> {
        let state = serde_json::from_value(state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(Neighbour {
            occurred_at,
            cause,
            state,
            plan,
            mrr,
            currency,
        })
    }
}

/// Records `revision` once (a repeat of its cause is a no-op), makes the
/// ledger rows it implies and brings its organisation's MRR series up to
/// date; returns the kind of its own row, if it has one.
/// Revisions of one subscription are recorded one at a time (an advisory
/// lock per subscription), in the caller's transaction.
pub async fn record_revision(
    conn: &mut PgConnection,
    revision: &Revision<'_>,
) -> Result<Option<ChangeKind>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('ledger:' || $1::uuid::text, 0))",
        revision.subscription_id
    )
    .execute(&mut *conn)
    .await?;
    let state = serde_json::to_value(&revision.state).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let (numerator, denominator) = exact_columns(revision.mrr);
    // language=PostgreSQL
    let inserted = sqlx::query_scalar!(
        r#"
        insert into subscription_revision (subscription_id, occurred_at, cause, state, plan, mrr, currency,
                                           recorded_at, mrr_numerator, mrr_denominator, billing_interval)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        on conflict (subscription_id, cause) do nothing
        returning true as "inserted!"
        "#,
        revision.subscription_id,
        revision.occurred_at as _,
        revision.cause,
        state,
        revision.plan,
        revision.mrr.rounded(),
        revision.currency,
        revision.recorded_at as _,
        numerator,
        denominator,
        revision.interval,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        return Ok(None);
    }
    // The revisions right before and right after it, in (time, cause) order.
    // language=PostgreSQL
    let neighbours = sqlx::query!(
        r#"
        (select true as "previous!", occurred_at as "occurred_at!: DateTime<Utc>", cause as "cause!",
                state as "state!", plan as "plan!", mrr as "mrr!", currency as "currency!"
         from subscription_revision
         where subscription_id = $1 and (occurred_at, cause) < ($2, $3)
         order by occurred_at desc, cause desc limit 1)
        union all
        (select false, occurred_at, cause, state, plan, mrr, currency
         from subscription_revision
         where subscription_id = $1 and (occurred_at, cause) > ($2, $3)
         order by occurred_at, cause limit 1)
        "#,
        revision.subscription_id,
        revision.occurred_at as _,
        revision.cause,
    )
    .fetch_all(&mut *conn)
    .await?;
    let (mut previous, mut next) = (None, None);
    for row in neighbours {
        let neighbour = Neighbour::from_row(
            row.occurred_at,
            row.cause,
            row.state,
            row.plan,
            row.mrr,
            row.currency,
        )?;
        if row.previous {
            previous = Some(neighbour);
        } else {
            next = Some(neighbour);
        }
    }

    let placement = place(
        previous.as_ref().map(|p| &p.state),
        &revision.state,
        next.as_ref().map(|n| &n.state),
    );
    let this = Neighbour {
        occurred_at: revision.occurred_at,
        cause: revision.cause.to_owned(),
        state: revision.state.clone(),
        plan: revision.plan.to_owned(),
        mrr: revision.mrr.rounded(),
        currency: revision.currency.to_owned(),
    };
    let sub = revision.subscription_id;
    if let Some(kind) = placement.row {
        append_row(conn, revision, previous.as_ref(), &this, kind, None).await?;
    }
    if let Some(next) = &next {
        match placement.next {
            NextRowFix::Keep => {}
            NextRowFix::Supersede => {
                supersede_row(conn, sub, &next.cause, revision.recorded_at).await?;
            }
            NextRowFix::Restate(kind) => {
                let old = supersede_row(conn, sub, &next.cause, revision.recorded_at).await?;
                append_row(conn, revision, Some(&this), next, kind, old).await?;
            }
            NextRowFix::Append(kind) => {
                append_row(conn, revision, Some(&this), next, kind, None).await?;
            }
        }
    }
    super::series_store::refresh(conn, &[revision.organization_id], revision.recorded_at).await?;
    Ok(placement.row)
}

/// Marks the live row of `cause` superseded; returns its id.
async fn supersede_row(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    cause: &str,
    at: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        update subscription_event set superseded_at = $3
        where subscription_id = $1 and cause = $2 and superseded_at is null
        returning subscription_event_id
        "#,
        subscription_id,
        cause,
        at as _
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Writes the ledger row for the change `before` → `after` of `revision`'s
/// subscription, recorded when `revision` was.
async fn append_row(
    conn: &mut PgConnection,
    revision: &Revision<'_>,
    before: Option<&Neighbour>,
    after: &Neighbour,
    kind: ChangeKind,
    restates: Option<i64>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into subscription_event (organization_id, subscription_id, occurred_at, kind, status_before,
                                        status_after, plan_before, plan_after, mrr_before, mrr_after,
                                        currency, cause, restates, recorded_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        "#,
        revision.organization_id,
        revision.subscription_id,
        after.occurred_at as _,
        kind.as_str(),
        before.map(|b| b.state.status.as_str()),
        after.state.status.as_str(),
        before.map(|b| b.plan.as_str()),
        after.plan,
        before.map_or(0, |b| b.mrr),
        after.mrr,
        // Both figures in the currency the subscription bills in now.
        after.currency,
        after.cause,
        restates,
        revision.recorded_at as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The exact MRR as the revision's two columns; an amount too large for them
/// (never a real price) is stored rounded.
pub fn exact_columns(mrr: ExactMrr) -> (i64, i64) {
    let (numerator, denominator) = mrr.parts();
    match (i64::try_from(numerator), i64::try_from(denominator)) {
        (Ok(numerator), Ok(denominator)) => (numerator, denominator),
        _ => (mrr.rounded(), 1),
    }
}

/// Subscriptions in each status at `at`, from the ledger's revisions (the
/// console's dashboard compares now with 30 days before).
pub async fn statuses_at(
    pool: &sqlx::PgPool,
    at: DateTime<Utc>,
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select status as "status!", count(*) as "count!"
        from (select distinct on (subscription_id) state ->> 'status' as status
              from subscription_revision where occurred_at < $1
              order by subscription_id, occurred_at desc, cause desc) latest
        group by status
        "#,
        at as _
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.count)).collect())
}
