//! Billing's SQL: provider customers, applying provider subscriptions and
//! invoices to local state with one ledger row per change, and what the
//! billing page reads.

use super::domain::{Discount, IntervalUnit, RecurringItem, SubscriptionStatus, subscription_mrr};
use super::provider::ProviderName;
use super::subscription::{
    ChangeKind, InvoiceLine, InvoiceSnapshot, InvoiceStatus, LedgerState, PriceKey, SubscriptionSnapshot,
    classify_change,
};
use crate::catalog::domain::BillingCycle;
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

/// Records a customer's new email from the provider; false if unknown.
pub async fn update_customer_email(
    conn: &mut PgConnection,
    provider: ProviderName,
    customer_id: &str,
    email: Option<&str>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let updated = sqlx::query!(
        "update billing_customer set email = $3 where provider = $1 and provider_customer_id = $2",
        provider.as_str(),
        customer_id,
        email
    )
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() > 0)
}

fn interval_from_db(raw: &str) -> IntervalUnit {
    match raw {
        "day" => IntervalUnit::Day,
        "week" => IntervalUnit::Week,
        "year" => IntervalUnit::Year,
        _ => IntervalUnit::Month,
    }
}

fn interval_to_db(unit: IntervalUnit) -> &'static str {
    match unit {
        IntervalUnit::Day => "day",
        IntervalUnit::Week => "week",
        IntervalUnit::Month => "month",
        IntervalUnit::Year => "year",
    }
}

/// The local subscription a provider subscription maps onto, locked.
struct LocalSubscription {
    subscription_id: Uuid,
    organization_id: Uuid,
    before: LedgerState,
    mrr_before: i64,
    plan_before: String,
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

async fn lock_local_subscription(
    conn: &mut PgConnection,
    provider: ProviderName,
    snapshot: &SubscriptionSnapshot,
) -> Result<Result<LocalSubscription, String>, sqlx::Error> {
    // The local copy: the one already linked to this provider subscription,
    // else (a new provider subscription) the trial of the organisation whose
    // customer it bills, else a new row. Callers hold the customer's advisory
    // lock, so nothing links another row in between.
    let linked = linked_subscription_id(conn, provider, &snapshot.id).await?;
    let subscription_id = match linked {
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
                    let created = sqlx::query_scalar!(
                        r#"
                        insert into subscription (organization_id, plan_id, billing_cycle, status)
                        select $1, plan_id, 'monthly', 'incomplete' from plan order by rank limit 1
                        returning subscription_id
                        "#,
                        organization_id
                    )
                    .fetch_one(&mut *conn)
                    .await?;
                    return Ok(Ok(LocalSubscription {
                        subscription_id: created,
                        organization_id,
                        before: LedgerState {
                            status: SubscriptionStatus::Incomplete,
                            items: vec![],
                            discounts: vec![],
                        },
                        mrr_before: 0,
                        plan_before: String::new(),
                    }));
                }
            }
        }
    };
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select s.organization_id, s.status, s.discount, s.billing_cycle, p.plan_key
        from subscription s join plan p using (plan_id)
        where s.subscription_id = $1
        for update of s
        "#,
        subscription_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let (organization_id, status, discount, cycle, plan_key) = (
        row.organization_id,
        row.status,
        row.discount,
        row.billing_cycle,
        row.plan_key,
    );
    // language=PostgreSQL
    let stored_items = sqlx::query!(
        r#"
        select lookup_key, quantity, unit_amount, interval, interval_count
        from subscription_item where subscription_id = $1 order by lookup_key
        "#,
        subscription_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let status = SubscriptionStatus::parse(&status).unwrap_or(SubscriptionStatus::Incomplete);
    let discounts: Vec<Discount> = discount
        .and_then(|d| serde_json::from_value(d).ok())
        .unwrap_or_default();
    let recurring: Vec<RecurringItem> = stored_items
        .iter()
        .map(|i| RecurringItem {
            unit_amount: i.unit_amount,
            quantity: i.quantity.max(0) as u32,
            interval: interval_from_db(&i.interval),
            interval_count: i.interval_count.max(1) as u32,
        })
        .collect();
    let mut items: Vec<(String, u32)> = stored_items
        .iter()
        .map(|i| (i.lookup_key.clone(), i.quantity.max(0) as u32))
        .collect();
    if items.is_empty() {
        // A trial from signup has no provider items yet: it stands for its plan.
        let cycle = BillingCycle::from_query(Some(&cycle));
        items.push((PriceKey::tier(&plan_key, cycle).lookup_key(), 1));
    }
    Ok(Ok(LocalSubscription {
        subscription_id,
        organization_id,
        mrr_before: subscription_mrr(status, &recurring, &discounts).rounded(),
        before: LedgerState {
            status,
            items,
            discounts,
        },
        plan_before: plan_key,
    }))
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

/// Writes a provider subscription over its local copy, in the caller's
/// transaction, and appends one ledger row if its plan, quantities, status or
/// discount changed. `cause` names what caused it (`stripe:evt_…`,
/// `sandbox:evt_…`, `user:<id>`); `occurred_at` is Unix seconds.
pub async fn apply_subscription(
    conn: &mut PgConnection,
    provider: ProviderName,
    snapshot: &SubscriptionSnapshot,
    cause: &str,
    occurred_at: f64,
) -> Result<Applied, sqlx::Error> {
    let plan = match snapshot.plan() {
        Ok(plan) => plan,
        Err(error) => {
            return Ok(Applied::Unmatched(format!(
                "subscription {}: {error}",
                snapshot.id
            )));
        }
    };
    // One writer per provider customer at a time: a checkout's success page
    // and the worker may both apply its first subscription at once.
    // language=PostgreSQL
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1, 0))",
        format!("{}:{}", provider.as_str(), snapshot.customer_id)
    )
    .execute(&mut *conn)
    .await?;
    let local = match lock_local_subscription(conn, provider, snapshot).await? {
        Ok(local) => local,
        Err(reason) => return Ok(Applied::Unmatched(reason)),
    };
    // language=PostgreSQL
    let Some(plan_id) = sqlx::query_scalar!("select plan_id from plan where plan_key = $1", plan.tier)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(Applied::Unmatched(format!(
            "subscription {}: plan \"{}\" is not in the catalogue",
            snapshot.id, plan.tier
        )));
    };
    let after = ledger_state(snapshot);
    let mrr_after = snapshot.mrr();
    let currency = snapshot
        .items
        .first()
        .map_or_else(|| "USD".to_owned(), |i| i.currency.to_uppercase());
    let discount = (!snapshot.discounts.is_empty())
        .then(|| serde_json::to_value(&snapshot.discounts).unwrap_or_default());
    let scheduled = snapshot
        .scheduled_change
        .as_ref()
        .map(|c| serde_json::to_value(c).unwrap_or_default());
    // language=PostgreSQL
    let updated = sqlx::query!(
        r#"
        update subscription
        set provider = $2, provider_subscription_id = $3, plan_id = $4, billing_cycle = $5, status = $6,
            trial_start = to_timestamp($7), trial_end = to_timestamp($8),
            current_period_start = to_timestamp($9), current_period_end = to_timestamp($10),
            cancel_at_period_end = $11, discount = $12, scheduled_change = $13,
            last_event_at = greatest(last_event_at, to_timestamp($14))
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
        occurred_at,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    let kind = classify_change(Some(&local.before), &after);
    if kind.is_some() || updated {
        replace_items(conn, local.subscription_id, snapshot).await?;
    }
    if let Some(kind) = kind {
        append_ledger(
            conn,
            &LedgerRow {
                organization_id: local.organization_id,
                subscription_id: local.subscription_id,
                occurred_at,
                kind: kind.as_str(),
                status_before: Some(local.before.status.as_str()),
                status_after: snapshot.status.as_str(),
                plan_before: Some(local.plan_before.as_str()).filter(|p| !p.is_empty()),
                plan_after: &plan.tier,
                mrr_before: local.mrr_before,
                mrr_after,
                currency: &currency,
                cause,
            },
        )
        .await?;
    }
    Ok(match (updated, kind) {
        (false, None) => Applied::Unchanged,
        (_, kind) => Applied::Changed(kind),
    })
}

/// One row of the subscription ledger analytics read.
#[derive(Debug, Clone, Copy)]
pub struct LedgerRow<'a> {
    /// The organisation.
    pub organization_id: Uuid,
    /// The local subscription.
    pub subscription_id: Uuid,
    /// When the change happened, Unix seconds.
    pub occurred_at: f64,
    /// What changed (`trial_started`, or a [`ChangeKind`] word).
    pub kind: &'a str,
    /// Status before; `None` for the first row.
    pub status_before: Option<&'a str>,
    /// Status after.
    pub status_after: &'a str,
    /// Tier before; `None` for the first row.
    pub plan_before: Option<&'a str>,
    /// Tier after.
    pub plan_after: &'a str,
    /// MRR before, minor units.
    pub mrr_before: i64,
    /// MRR after, minor units.
    pub mrr_after: i64,
    /// ISO currency of both MRR figures.
    pub currency: &'a str,
    /// What caused it: `signup`, `user:<id>`, `system:…`, `stripe:<event id>`, `sandbox:<event id>`.
    pub cause: &'a str,
}

/// Appends a ledger row in the caller's transaction. A provider event
/// appends at most one row per subscription: a repeat is a no-op.
pub async fn append_ledger(conn: &mut PgConnection, row: &LedgerRow<'_>) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into subscription_event (organization_id, subscription_id, occurred_at, kind, status_before,
                                        status_after, plan_before, plan_after, mrr_before, mrr_after,
                                        currency, cause)
        values ($1, $2, to_timestamp($3), $4, $5, $6, $7, $8, $9, $10, $11, $12)
        on conflict (subscription_id, cause) where cause like 'stripe:%' or cause like 'sandbox:%' do nothing
        "#,
        row.organization_id,
        row.subscription_id,
        row.occurred_at,
        row.kind,
        row.status_before,
        row.status_after,
        row.plan_before,
        row.plan_after,
        row.mrr_before,
        row.mrr_after,
        row.currency,
        row.cause,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn replace_items(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    snapshot: &SubscriptionSnapshot,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "delete from subscription_item where subscription_id = $1",
        subscription_id
    )
    .execute(&mut *conn)
    .await?;
    for item in &snapshot.items {
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into subscription_item (subscription_id, lookup_key, quantity, unit_amount, currency, interval,
                                           interval_count)
            values ($1, $2, $3, $4, $5, $6, $7)
            on conflict (subscription_id, lookup_key) do update set quantity = subscription_item.quantity + excluded.quantity
            "#,
            subscription_id,
            item.lookup_key,
            item.quantity as i32,
            item.unit_amount,
            item.currency.to_uppercase(),
            interval_to_db(item.interval),
            item.interval_count as i32,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Mirrors a provider invoice. An event older than the stored one, or one
/// that would move the status backwards (paid → open), changes nothing.
pub async fn apply_invoice(
    conn: &mut PgConnection,
    provider: ProviderName,
    invoice: &InvoiceSnapshot,
    event_at: f64,
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
    // language=PostgreSQL
    let stored = sqlx::query!(
        r#"
        select status, extract(epoch from last_event_at)::float8 as "last_event_at"
        from invoice where provider = $1 and provider_invoice_id = $2
        for update
        "#,
        provider.as_str(),
        invoice.id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(stored) = &stored {
        let stored_rank = InvoiceStatus::parse(&stored.status).map_or(0, InvoiceStatus::rank);
        let older = stored.last_event_at.is_some_and(|at| at > event_at);
        if older || invoice.status.rank() < stored_rank {
            return Ok(Applied::Unchanged);
        }
    }
    let lines = serde_json::to_value(&invoice.lines).unwrap_or_default();
    // language=PostgreSQL
    let changed = sqlx::query!(
        r#"
        insert into invoice (organization_id, provider, provider_invoice_id, provider_subscription_id, number, status,
                             currency, subtotal, total, amount_due, amount_paid, period_start, period_end, lines,
                             hosted_invoice_url, invoice_pdf_url, issued_at, last_event_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12), to_timestamp($13), $14, $15, $16,
                to_timestamp($17), to_timestamp($18))
        on conflict (provider, provider_invoice_id) do update
            set number = excluded.number, status = excluded.status, subtotal = excluded.subtotal,
                total = excluded.total, amount_due = excluded.amount_due, amount_paid = excluded.amount_paid,
                period_start = excluded.period_start, period_end = excluded.period_end, lines = excluded.lines,
                hosted_invoice_url = excluded.hosted_invoice_url, invoice_pdf_url = excluded.invoice_pdf_url,
                last_event_at = excluded.last_event_at
            where (invoice.number, invoice.status, invoice.total, invoice.amount_due, invoice.amount_paid, invoice.lines,
                   invoice.hosted_invoice_url, invoice.invoice_pdf_url)
                  is distinct from
                  (excluded.number, excluded.status, excluded.total, excluded.amount_due, excluded.amount_paid,
                   excluded.lines, excluded.hosted_invoice_url, excluded.invoice_pdf_url)
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
        event_at,
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
