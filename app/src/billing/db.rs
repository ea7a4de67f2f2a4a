//! Billing's SQL: provider customers, applying provider subscriptions and
//! invoices to local state with one ledger row per change, and what the
//! billing page reads.

use super::domain::{IntervalUnit, SubscriptionStatus};
use super::ledger_store::{Revision, record_revision};
use super::provider::ProviderName;
use super::subscription::{ChangeKind, InvoiceLine, InvoiceSnapshot, LedgerState, SubscriptionSnapshot};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What applying a provider object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Local state changed; the ledger got a row of this kind (or none when
    /// only periods or flags moved).
    Changed(Option<ChangeKind>),
    /// Nothing differed (or the object was older than what is stored).
    Unchanged,
    /// Not Gatehouse's: kept for admins, never retried.
    Unmatched(String),
}

/// The provider customer of an organisation.
pub async fn customer_of(
    pool: &PgPool,
    organization_id: Uuid,
    provider: ProviderName,
) -> Result<Option<String>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select provider_customer_id from billing_customer where organization_id = $1 and provider = $2",
        organization_id,
        provider.as_str()
    )
    .fetch_optional(pool)
    .await
}

/// Links an organisation to its provider customer (replacing a link to
/// another provider's customer, which happens when a deployment moves from the
/// sandbox to Stripe).
pub async fn link_customer(
    pool: &PgPool,
    organization_id: Uuid,
    provider: ProviderName,
    customer_id: &str,
    email: &str,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into billing_customer (organization_id, provider, provider_customer_id, email)
        values ($1, $2, $3, $4)
        on conflict (organization_id) do update
            set provider = excluded.provider, provider_customer_id = excluded.provider_customer_id,
                email = excluded.email
        "#,
        organization_id,
        provider.as_str(),
        customer_id,
        email
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a customer's email as an event of `event_at` carried it; an
/// older event than the one stored changes nothing. False if the customer
/// is not Gatehouse's.
pub async fn update_customer_email(
    conn: &mut PgConnection,
    provider: ProviderName,
    customer_id: &str,
    email: Option<&str>,
    event_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let known = sqlx::query_scalar!(
        r#"
        update billing_customer
        set email = case when email_event_at is null or email_event_at <= $4 then $3 else email end,
            email_event_at = greatest(email_event_at, $4)
        where provider = $1 and provider_customer_id = $2
        returning true as "known!"
        "#,
        provider.as_str(),
        customer_id,
        email,
        event_at as _
    )
    .fetch_optional(conn)
    .await?;
    Ok(known.is_some())
}

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
/// organisation whose customer it bills, else a new row. `Err` names why it
/// is not Gatehouse's. Callers hold [`lock_customer`], so nothing links
/// another row in between.
pub async fn local_subscription(
    conn: &mut PgConnection,
    provider: ProviderName,
    snapshot: &SubscriptionSnapshot,
) -> Result<Result<LocalSubscription, String>, sqlx::Error> {
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
                return Ok(Err(format!(
                    "customer {} of subscription {} is not a Gatehouse customer",
                    snapshot.customer_id, snapshot.id
                )));
            };
            // language=PostgreSQL
            let trial = sqlx::query_scalar!(
                r#"
                select subscription_id from subscription
                where organization_id = $1 and provider is null
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
                        select $1, plan_id, 'monthly', 'incomplete' from plan order by rank limit 1
                        returning subscription_id
                        "#,
                        organization_id
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
    Ok(Ok(LocalSubscription {
        subscription_id,
        organization_id,
    }))
}

/// What applying a provider subscription's present state found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Present {
    /// Applied to this local copy.
    Applied(LocalSubscription),
    /// Not Gatehouse's: kept for admins, never retried.
    Unmatched(String),
}

/// Writes a provider subscription as it is now over its local copy, in the
/// caller's transaction, which holds [`lock_customer`] since before the
/// provider was read. No ledger row: the ledger records each change at the
/// time it happened, from the events ([`super::ledger_store`]).
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
    let local = match local_subscription(conn, provider, snapshot).await? {
        Ok(local) => local,
        Err(reason) => return Ok(Present::Unmatched(reason)),
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
    sqlx::query!(
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
    .await?;
    replace_items(conn, local.subscription_id, snapshot).await?;
    Ok(Present::Applied(local))
}

/// Records the state an event carried, at the event's time, in the ledger
/// of the local subscription. `None` when the state is not a Gatehouse plan
/// (its present state says why; nothing is recorded).
pub async fn record_event_state(
    conn: &mut PgConnection,
    local: LocalSubscription,
    state: &SubscriptionSnapshot,
    occurred_at: DateTime<Utc>,
    cause: &str,
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
            mrr: state.mrr(),
            currency: &currency,
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
async fn replace_items(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    snapshot: &SubscriptionSnapshot,
) -> Result<(), sqlx::Error> {
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
        return Ok(());
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
    Ok(())
}

/// Mirrors a provider invoice as an event carried it. A status never moves
/// backwards (paid → open), whatever the events' times; within one status
/// an older event than the stored one changes nothing. Both rules sit inside
/// the upsert itself, so they hold when two workers insert the same new
/// invoice at once (the later insert re-checks them against the row the
/// earlier one wrote).
pub async fn apply_invoice(
    conn: &mut PgConnection,
    provider: ProviderName,
    invoice: &InvoiceSnapshot,
    event_at: DateTime<Utc>,
) -> Result<Applied, sqlx::Error> {
    // language=PostgreSQL
    let Some(organization_id) = sqlx::query_scalar!(
        "select organization_id from billing_customer where provider = $1 and provider_customer_id = $2",
        provider.as_str(),
        invoice.customer_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Applied::Unmatched(format!(
            "customer {} of invoice {} is not a Gatehouse customer",
            invoice.customer_id, invoice.id
        )));
    };
    let lines = serde_json::to_value(&invoice.lines).unwrap_or_default();
    // language=PostgreSQL
    let changed = sqlx::query!(
        r#"
        insert into invoice (organization_id, provider, provider_invoice_id, provider_subscription_id, number, status,
                             currency, subtotal, total, amount_due, amount_paid, period_start, period_end, lines,
                             hosted_invoice_url, invoice_pdf_url, issued_at, last_event_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12), to_timestamp($13), $14, $15, $16,
                to_timestamp($17), $18)
        on conflict (provider, provider_invoice_id) do update
            set number = excluded.number, status = excluded.status, subtotal = excluded.subtotal,
                total = excluded.total, amount_due = excluded.amount_due, amount_paid = excluded.amount_paid,
                period_start = excluded.period_start, period_end = excluded.period_end, lines = excluded.lines,
                hosted_invoice_url = excluded.hosted_invoice_url, invoice_pdf_url = excluded.invoice_pdf_url,
                provider_subscription_id = coalesce(excluded.provider_subscription_id, invoice.provider_subscription_id),
                last_event_at = greatest(invoice.last_event_at, excluded.last_event_at)
            where (invoice_status_rank(excluded.status) > invoice_status_rank(invoice.status)
                   or (invoice_status_rank(excluded.status) = invoice_status_rank(invoice.status)
                       and (invoice.last_event_at is null or excluded.last_event_at >= invoice.last_event_at)))
              and (invoice.number, invoice.status, invoice.total, invoice.amount_due, invoice.amount_paid,
                   invoice.lines, invoice.hosted_invoice_url, invoice.invoice_pdf_url, invoice.provider_subscription_id)
                  is distinct from
                  (excluded.number, excluded.status, excluded.total, excluded.amount_due, excluded.amount_paid,
                   excluded.lines, excluded.hosted_invoice_url, excluded.invoice_pdf_url,
                   coalesce(excluded.provider_subscription_id, invoice.provider_subscription_id))
        "#,
        organization_id,
        provider.as_str(),
        invoice.id,
        invoice.subscription_id,
        invoice.number,
        invoice.status.as_str(),
        invoice.currency.to_uppercase(),
        invoice.subtotal,
        invoice.total,
        invoice.amount_due.max(0),
        invoice.amount_paid.max(0),
        invoice.period_start.map(|t| t as f64),
        invoice.period_end.map(|t| t as f64),
        lines,
        invoice.hosted_invoice_url,
        invoice.invoice_pdf_url,
        invoice.created as f64,
        event_at as _,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    Ok(if changed {
        Applied::Changed(None)
    } else {
        Applied::Unchanged
    })
}

/// An organisation's subscription as the billing page shows it.
#[derive(Debug, Clone)]
pub struct BillingRow {
    /// Local id.
    pub subscription_id: Uuid,
    /// Provider and its subscription id, once checkout completed.
    pub provider_subscription: Option<(String, String)>,
    /// Tier key.
    pub plan_key: String,
    /// Tier name.
    pub plan_name: String,
    /// `monthly` or `annual`.
    pub billing_cycle: String,
    /// Stripe's status word.
    pub status: String,
    /// Trial end, Unix seconds.
    pub trial_end: Option<i64>,
    /// Period start, Unix seconds.
    pub current_period_start: Option<i64>,
    /// Period end, Unix seconds.
    pub current_period_end: Option<i64>,
    /// Set to end at period end.
    pub cancel_at_period_end: bool,
    /// A change waiting for period end.
    pub scheduled_change: Option<serde_json::Value>,
    /// Items (lookup key, quantity).
    pub items: Vec<(String, u32)>,
}

impl BillingRow {
    /// Whether a provider subscription is running (not ended): the billing
    /// page offers plan changes, and a second checkout is refused.
    pub fn has_live_subscription(&self) -> bool {
        self.provider_subscription.is_some()
            && !matches!(
                SubscriptionStatus::parse(&self.status),
                Some(SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired)
            )
    }
}

/// The organisation's newest subscription.
pub async fn billing_row(pool: &PgPool, organization_id: Uuid) -> Result<Option<BillingRow>, sqlx::Error> {
    // language=PostgreSQL
    let Some(row) = sqlx::query!(
        r#"
        select s.subscription_id, s.provider, s.provider_subscription_id, p.plan_key, p.name as plan_name,
               s.billing_cycle, s.status, s.cancel_at_period_end, s.scheduled_change,
               extract(epoch from s.trial_end)::bigint as trial_end,
               extract(epoch from s.current_period_start)::bigint as current_period_start,
               extract(epoch from s.current_period_end)::bigint as current_period_end
        from subscription s join plan p using (plan_id)
        where s.organization_id = $1
        order by s.created_at desc limit 1
        "#,
        organization_id
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    // language=PostgreSQL
    let items = sqlx::query!(
        "select lookup_key, quantity from subscription_item where subscription_id = $1 order by lookup_key",
        row.subscription_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|i| (i.lookup_key, i.quantity.max(0) as u32))
    .collect();
    Ok(Some(BillingRow {
        subscription_id: row.subscription_id,
        provider_subscription: row.provider.zip(row.provider_subscription_id),
        plan_key: row.plan_key,
        plan_name: row.plan_name,
        billing_cycle: row.billing_cycle,
        status: row.status,
        trial_end: row.trial_end,
        current_period_start: row.current_period_start,
        current_period_end: row.current_period_end,
        cancel_at_period_end: row.cancel_at_period_end,
        scheduled_change: row.scheduled_change,
        items,
    }))
}

/// One invoice as listed and shown to its organisation.
#[derive(Debug, Clone)]
pub struct InvoiceRow {
    /// Local id (in URLs).
    pub invoice_id: Uuid,
    /// Number.
    pub number: Option<String>,
    /// Status word.
    pub status: String,
    /// Currency.
    pub currency: String,
    /// Totals.
    pub subtotal: i64,
    /// Total.
    pub total: i64,
    /// Due.
    pub amount_due: i64,
    /// Paid.
    pub amount_paid: i64,
    /// Issued, `YYYY-MM-DD`.
    pub issued_on: String,
    /// Period, `YYYY-MM-DD`.
    pub period: Option<(String, String)>,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
    /// Provider's hosted page.
    pub hosted_invoice_url: Option<String>,
    /// Provider's PDF.
    pub invoice_pdf_url: Option<String>,
}

/// An organisation's invoices, newest first (or one of them).
pub async fn invoices(
    pool: &PgPool,
    organization_id: Uuid,
    only: Option<Uuid>,
) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select invoice_id, number, status, currency, subtotal, total, amount_due, amount_paid, lines,
               hosted_invoice_url, invoice_pdf_url,
               to_char(issued_at at time zone 'UTC', 'YYYY-MM-DD') as "issued_on!",
               to_char(period_start at time zone 'UTC', 'YYYY-MM-DD') as period_start,
               to_char(period_end at time zone 'UTC', 'YYYY-MM-DD') as period_end
        from invoice
        where organization_id = $1 and ($2::uuid is null or invoice_id = $2)
        order by issued_at desc, number desc
        limit 100
        "#,
        organization_id,
        only
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| InvoiceRow {
            invoice_id: r.invoice_id,
            number: r.number,
            status: r.status,
            currency: r.currency,
            subtotal: r.subtotal,
            total: r.total,
            amount_due: r.amount_due,
            amount_paid: r.amount_paid,
            issued_on: r.issued_on,
            period: r.period_start.zip(r.period_end),
            lines: serde_json::from_value(r.lines).unwrap_or_default(),
            hosted_invoice_url: r.hosted_invoice_url,
            invoice_pdf_url: r.invoice_pdf_url,
        })
        .collect())
}

/// Users counted against the seat limit: members plus open invitations.
pub async fn users_counted(pool: &PgPool, organization_id: Uuid) -> Result<u64, sqlx::Error> {
    // language=PostgreSQL
    let count = sqlx::query_scalar!(
        r#"
        select (select count(*) from membership where organization_id = $1)
             + (select count(*) from invitation where organization_id = $1
                  and accepted_at is null and revoked_at is null and expires_at > now()) as "count!"
        "#,
        organization_id
    )
    .fetch_one(pool)
    .await?;
    Ok(count.max(0) as u64)
}
