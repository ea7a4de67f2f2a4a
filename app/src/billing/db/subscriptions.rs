//! Provider subscriptions over their local copies: the present state (read
//! from the provider under the customer's lock) and the state each event
//! carried, recorded in the ledger at the event's time.

use crate::billing::domain::{ChangeKind, LedgerState, SubscriptionSnapshot};
use crate::billing::domain::{IntervalUnit, SubscriptionStatus};
use crate::billing::ledger_store::{Revision, record_revision};
use crate::billing::provider::ProviderName;
use crate::catalog::domain::BillingCycle;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

fn interval_to_db(unit: IntervalUnit) -> &'static str {
    match unit {
        IntervalUnit::Day => "day",
        IntervalUnit::Week => "week",
        IntervalUnit::Month => "month",
        IntervalUnit::Year => "year",
    }
}

/// The local copy of a provider subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSubscription {
    /// The local subscription.
    pub subscription_id: Uuid,
    /// Its organisation.
    pub organization_id: Uuid,
}

/// The local subscription linked to a provider subscription, if any.
pub async fn linked_subscription_id(
    conn: &mut PgConnection,
    provider: ProviderName,
    provider_subscription_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select subscription_id from subscription where provider = $1 and provider_subscription_id = $2",
        provider.as_str(),
        provider_subscription_id
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Makes one writer per provider customer at a time, until the caller's
/// transaction ends: a checkout's success page and event workers on any
/// instance may all apply the same customer's subscription at once, and
/// each must read the provider *after* the one before it wrote, so a slower
/// reader can never write an older state over a newer one.
pub async fn lock_customer(
    conn: &mut PgConnection,
    provider: ProviderName,
    customer_id: &str,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1, 0))",
        format!("customer:{}:{customer_id}", provider.as_str())
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The local copy of a provider subscription, locked: the one already
/// linked to it, else (a new provider subscription) the trial of the
/// organisation whose customer it bills, else a new row. `None` when its
/// customer is not a Gatehouse customer. Callers hold [`lock_customer`], so
/// nothing links another row in between.
pub async fn local_subscription(
    conn: &mut PgConnection,
    provider: ProviderName,
    snapshot: &SubscriptionSnapshot,
) -> Result<Option<LocalSubscription>, sqlx::Error> {
    let subscription_id = match linked_subscription_id(conn, provider, &snapshot.id).await? {
        Some(id) => id,
        None => {
            // language=PostgreSQL
            let organization_id = sqlx::query_scalar!(
                "select organization_id from billing_customer where provider = $1 and provider_customer_id = $2",
                provider.as_str(),
                snapshot.customer_id
            )
            .fetch_optional(&mut *conn)
            .await?;
            let Some(organization_id) = organization_id else {
                return Ok(None);
            };
            // language=PostgreSQL
            let trial = sqlx::query_scalar!(
                r#"
                select subscription_id from subscription
                where organization_id = $1 and provider is null and live
                order by created_at desc limit 1
                "#,
                organization_id
            )
            .fetch_optional(&mut *conn)
            .await?;
            match trial {
                Some(id) => id,
                None => {
                    // language=PostgreSQL
                    sqlx::query_scalar!(
                        r#"
                        insert into subscription (organization_id, plan_id, billing_cycle, status)
                        select $1, plan_id, $2, $3 from plan order by rank limit 1
                        returning subscription_id
                        "#,
                        organization_id,
                        BillingCycle::Monthly.as_str(),
                        SubscriptionStatus::Incomplete.as_str()
                    )
                    .fetch_one(&mut *conn)
                    .await?
                }
            }
        }
    };
    // language=PostgreSQL
    let organization_id = sqlx::query_scalar!(
        "select organization_id from subscription where subscription_id = $1 for update",
        subscription_id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(LocalSubscription {
        subscription_id,
        organization_id,
    }))
}

/// What applying a provider subscription's present state found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Present {
    /// Applied to this local copy; `changed` when the copy differed, so
    /// the host product has news (the flow that applied it tells it).
    Applied {
        /// The local copy.
        local: LocalSubscription,
        /// Whether any of its columns or items changed.
        changed: bool,
    },
    /// Not Gatehouse's: kept for admins, never retried.
    Unmatched(String),
}

/// Writes a provider subscription as it is now over its local copy, in the
/// caller's transaction, which holds [`lock_customer`] since before the
/// provider was read. No ledger row: the ledger records each change at the
/// time it happened, from the events ([`crate::billing::ledger_store`]).
pub async fn apply_present(
    conn: &mut PgConnection,
    provider: ProviderName,
    snapshot: &SubscriptionSnapshot,
) -> Result<Present, sqlx::Error> {
    let plan = match snapshot.plan() {
        Ok(plan) => plan,
        Err(error) => {
            return Ok(Present::Unmatched(format!(
                "subscription {}: {error}",
                snapshot.id
            )));
        }
    };
    let Some(local) = local_subscription(conn, provider, snapshot).await? else {
        return Ok(Present::Unmatched(format!(
            "customer {} of subscription {} is not a Gatehouse customer",
            snapshot.customer_id, snapshot.id
        )));
    };
    // language=PostgreSQL
    let Some(plan_id) = sqlx::query_scalar!("select plan_id from plan where plan_key = $1", plan.tier)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(Present::Unmatched(format!(
            "subscription {}: plan \"{}\" is not in the catalogue",
            snapshot.id, plan.tier
        )));
    };
    let discount = (!snapshot.discounts.is_empty())
        .then(|| serde_json::to_value(&snapshot.discounts).unwrap_or_default());
    let scheduled = snapshot
        .scheduled_change
        .as_ref()
        .map(|c| serde_json::to_value(c).unwrap_or_default());
    // Unchanged columns are not rewritten (no dead rows, no trigger).
    // language=PostgreSQL
    let rewritten = sqlx::query!(
        r#"
        update subscription
        set provider = $2, provider_subscription_id = $3, plan_id = $4, billing_cycle = $5, status = $6,
            trial_start = to_timestamp($7), trial_end = to_timestamp($8),
            current_period_start = to_timestamp($9), current_period_end = to_timestamp($10),
            cancel_at_period_end = $11, discount = $12, scheduled_change = $13
        where subscription_id = $1
          and (provider, provider_subscription_id, plan_id, billing_cycle, status, trial_start, trial_end,
               current_period_start, current_period_end, cancel_at_period_end, discount, scheduled_change)
              is distinct from
              ($2, $3, $4, $5, $6, to_timestamp($7), to_timestamp($8), to_timestamp($9), to_timestamp($10),
               $11, $12, $13)
        "#,
        local.subscription_id,
        provider.as_str(),
        snapshot.id,
        plan_id,
        plan.cycle.as_str(),
        snapshot.status.as_str(),
        snapshot.trial_start.map(|t| t as f64),
        snapshot.trial_end.map(|t| t as f64),
        snapshot.current_period_start as f64,
        snapshot.current_period_end as f64,
        snapshot.cancel_at_period_end,
        discount,
        scheduled,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let items_changed = replace_items(conn, local.subscription_id, snapshot).await?;
    Ok(Present::Applied {
        local,
        changed: rewritten || items_changed,
    })
}

/// Records the state an event carried, at the event's time (learnt at
/// `recorded_at`), in the ledger of the local subscription. `None` when the state is not a Gatehouse plan
/// (its present state says why; nothing is recorded).
pub async fn record_event_state(
    conn: &mut PgConnection,
    local: LocalSubscription,
    state: &SubscriptionSnapshot,
    occurred_at: DateTime<Utc>,
    cause: &str,
    recorded_at: DateTime<Utc>,
) -> Result<Option<ChangeKind>, sqlx::Error> {
    let Ok(plan) = state.plan() else {
        return Ok(None);
    };
    let currency = state.items.first().map(|i| i.currency.to_uppercase());
    let Some(currency) = currency else {
        return Ok(None);
    };
    record_revision(
        conn,
        &Revision {
            organization_id: local.organization_id,
            subscription_id: local.subscription_id,
            occurred_at,
            cause,
            state: ledger_state(state),
            plan: &plan.tier,
            mrr: state.exact_mrr(),
            interval: plan.cycle.interval(),
            currency: &currency,
            recorded_at,
        },
    )
    .await
}

fn ledger_state(snapshot: &SubscriptionSnapshot) -> LedgerState {
    let mut items: Vec<(String, u32)> = snapshot
        .items
        .iter()
        .map(|i| (i.lookup_key.clone(), i.quantity))
        .collect();
    items.sort();
    LedgerState {
        status: snapshot.status,
        items,
        discounts: snapshot.discounts.clone(),
    }
}

/// Makes the stored items those of `snapshot` (no write when they are).
/// Returns whether anything changed.
async fn replace_items(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    snapshot: &SubscriptionSnapshot,
) -> Result<bool, sqlx::Error> {
    let mut wanted: Vec<(String, i32, i64, String, &'static str, i32)> = Vec::new();
    for item in &snapshot.items {
        let row = (
            item.lookup_key.clone(),
            item.quantity as i32,
            item.unit_amount,
            item.currency.to_uppercase(),
            interval_to_db(item.interval),
            item.interval_count as i32,
        );
        // Two provider items with one price count as one item of both quantities.
        match wanted.iter_mut().find(|w| w.0 == row.0) {
            Some(existing) => existing.1 += row.1,
            None => wanted.push(row),
        }
    }
    wanted.sort();
    // language=PostgreSQL
    let stored: Vec<(String, i32, i64, String, String, i32)> = sqlx::query!(
        r#"
        select lookup_key, quantity, unit_amount, currency::text as "currency!", interval, interval_count
        from subscription_item where subscription_id = $1 order by lookup_key
        "#,
        subscription_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        (
            r.lookup_key,
            r.quantity,
            r.unit_amount,
            r.currency,
            r.interval,
            r.interval_count,
        )
    })
    .collect();
    let same = stored.len() == wanted.len()
        && stored
            .iter()
            .zip(&wanted)
            .all(|(s, w)| s.0 == w.0 && s.1 == w.1 && s.2 == w.2 && s.3 == w.3 && s.4 == w.4 && s.5 == w.5);
    if same {
        return Ok(false);
    }
    // language=PostgreSQL
    sqlx::query!(
        "delete from subscription_item where subscription_id = $1",
        subscription_id
    )
    .execute(&mut *conn)
    .await?;
    for (lookup_key, quantity, unit_amount, currency, interval, interval_count) in &wanted {
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into subscription_item (subscription_id, lookup_key, quantity, unit_amount, currency, interval,
                                           interval_count)
            values ($1, $2, $3, $4, $5, $6, $7)
            "#,
            subscription_id,
            lookup_key,
            quantity,
            unit_amount,
            currency,
            interval,
            interval_count,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}
