//! The sandbox provider: Gatehouse's own test-mode payment provider, used
//! when no Stripe keys are set. It keeps its customers, subscriptions and
//! invoices in its own tables (playing Stripe's side), charges test cards,
//! numbers invoices, renews at period end, and reports every change as an
//! event in the same inbox Stripe's webhooks fill, so everything downstream
//! runs the same code for both.
//!
//! Test cards: `4242 4242 4242 4242` pays; `4000 0000 0000 0341` is accepted
//! at checkout but every later charge fails; `4000 0000 0000 0002` is declined.

use super::domain::{IntervalUnit, SubscriptionStatus};
use super::inbox::{IncomingEvent, store_event};
use super::provider::{
    BillingProvider, ChangePreview, CheckoutOutcome, CheckoutRedirect, CheckoutRequest, ProviderError,
    ProviderName,
};
use super::subscription::{
    BillingEvent, ChangeTiming, DesiredItem, InvoiceLine, InvoiceSnapshot, InvoiceStatus, PriceKey,
    PriceKind, ProrationLines, ScheduledChange, SnapshotItem, SubscriptionSnapshot, prorated_amount_due,
};
use super::trials::REMINDER_LEAD_DAYS;
use crate::catalog::domain::BillingCycle;
use chrono::{DateTime, Months, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;

/// The card that always pays.
pub const CARD_SUCCEEDS: &str = "4242424242424242";
/// The card accepted at checkout whose later charges fail.
pub const CARD_FAILS_LATER: &str = "4000000000000341";
/// The card declined outright.
pub const CARD_DECLINED: &str = "4000000000000002";

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCard {
    /// Pays.
    Succeeds,
    /// Attaches; charges fail.
    FailsLater,
}

impl TestCard {
    /// The last four digits kept on file.
    pub fn last4(self) -> &'static str {
        let number = match self {
            TestCard::Succeeds => CARD_SUCCEEDS,
            TestCard::FailsLater => CARD_FAILS_LATER,
        };
        &number[number.len() - 4..]
    }
}

/// Reads a test card number (spaces and dashes allowed).
pub fn test_card(number: &str) -> Result<TestCard, ProviderError> {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    match digits.as_str() {
        CARD_SUCCEEDS => Ok(TestCard::Succeeds),
        CARD_FAILS_LATER => Ok(TestCard::FailsLater),
        CARD_DECLINED => Err(ProviderError::Refused(
            "Your card was declined (test card 4000 0000 0000 0002).".into(),
        )),
        _ => Err(ProviderError::Refused(
            "Test mode takes test cards only: 4242 4242 4242 4242 pays, 4000 0000 0000 0341 fails later, 4000 0000 0000 0002 is declined."
                .into(),
        )),
    }
}

/// The sandbox, bound to the database and the site's public URL.
#[derive(Clone)]
pub struct Sandbox {
    pool: PgPool,
    public_url: String,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_sbx_{}", uuid::Uuid::new_v4().simple())
}

fn db_error(error: sqlx::Error) -> ProviderError {
    tracing::error!(%error, "sandbox provider database error");
    ProviderError::Unexpected(error.to_string())
}

fn add_months(start: i64, months: u32) -> i64 {
    DateTime::<Utc>::from_timestamp(start, 0)
        .and_then(|t| t.checked_add_months(Months::new(months)))
        .map_or(start + i64::from(months) * 30 * 86_400, |t| t.timestamp())
}

fn cycle_of(items: &[SnapshotItem]) -> BillingCycle {
    if items.iter().any(|i| i.interval == IntervalUnit::Year) {
        BillingCycle::Annual
    } else {
        BillingCycle::Monthly
    }
}

fn period_amount(items: &[SnapshotItem]) -> i64 {
    items.iter().map(|i| i.unit_amount * i64::from(i.quantity)).sum()
}

/// One price of the sandbox's price list.
struct SandboxPrice {
    /// What invoices call it.
    name: String,
    /// Per unit per period, in minor units.
    amount: i64,
    /// ISO code, lower case as Stripe writes it.
    currency: String,
}

/// The currency a subscription bills in (all its items share one).
fn currency_of(items: &[SnapshotItem]) -> String {
    items.first().map(|i| i.currency.clone()).unwrap_or_default()
}

/// The sandbox's price list: one price per lookup key, from the synced catalogue.
async fn prices(conn: &mut PgConnection) -> Result<HashMap<String, SandboxPrice>, sqlx::Error> {
    let mut prices = HashMap::new();
    // language=PostgreSQL
    for plan in sqlx::query!(
        "select plan_key, name, currency, monthly_amount, annual_amount from plan where not retired"
    )
    .fetch_all(&mut *conn)
    .await?
    {
        for (cycle, amount) in [
            (BillingCycle::Monthly, plan.monthly_amount),
            (BillingCycle::Annual, plan.annual_amount),
        ] {
            prices.insert(
                PriceKey::tier(&plan.plan_key, cycle).lookup_key(),
                SandboxPrice {
                    name: format!("{} plan", plan.name),
                    amount,
                    currency: plan.currency.to_lowercase(),
                },
            );
        }
    }
    // language=PostgreSQL
    for add_on in
        sqlx::query!("select add_on_key, name, currency, monthly_unit_amount from add_on where not retired")
            .fetch_all(&mut *conn)
            .await?
    {
        for cycle in [BillingCycle::Monthly, BillingCycle::Annual] {
            prices.insert(
                PriceKey::add_on(&add_on.add_on_key, cycle).lookup_key(),
                SandboxPrice {
                    name: add_on.name.clone(),
                    amount: add_on.monthly_unit_amount * cycle.months(),
                    currency: add_on.currency.to_lowercase(),
                },
            );
        }
    }
    Ok(prices)
}

async fn priced_items(
    conn: &mut PgConnection,
    items: &[DesiredItem],
) -> Result<Result<Vec<SnapshotItem>, ProviderError>, sqlx::Error> {
    let prices = prices(conn).await?;
    let mut priced = Vec::new();
    for item in items {
        let Some(price) = prices.get(&item.lookup_key) else {
            return Ok(Err(ProviderError::Refused(format!(
                "No such price: {}",
                item.lookup_key
            ))));
        };
        let Some(key) = PriceKey::parse(&item.lookup_key) else {
            return Ok(Err(ProviderError::Refused(format!(
                "No such price: {}",
                item.lookup_key
            ))));
        };
        if item.quantity == 0 {
            return Ok(Err(ProviderError::Refused(
                "Quantities must be at least 1.".into(),
            )));
        }
        priced.push(SnapshotItem {
            lookup_key: item.lookup_key.clone(),
            quantity: item.quantity,
            unit_amount: price.amount,
            currency: price.currency.clone(),
            interval: key.interval(),
            interval_count: 1,
        });
    }
    let cycles: Vec<BillingCycle> = priced
        .iter()
        .filter_map(|i| PriceKey::parse(&i.lookup_key).map(|k| k.cycle))
        .collect();
    if cycles.windows(2).any(|w| w[0] != w[1]) {
        return Ok(Err(ProviderError::Refused(
            "All items of a subscription must bill on the same interval.".into(),
        )));
    }
    if priced
        .iter()
        .filter(|i| PriceKey::parse(&i.lookup_key).is_some_and(|k| k.kind == PriceKind::Tier))
        .count()
        != 1
    {
        return Ok(Err(ProviderError::Refused(
            "A subscription needs exactly one plan.".into(),
        )));
    }
    Ok(Ok(priced))
}

async fn line_descriptions(
    conn: &mut PgConnection,
    items: &[SnapshotItem],
) -> Result<Vec<InvoiceLine>, sqlx::Error> {
    let prices = prices(conn).await?;
    Ok(items
        .iter()
        .map(|i| InvoiceLine {
            description: prices
                .get(&i.lookup_key)
                .map_or_else(|| i.lookup_key.clone(), |price| price.name.clone()),
            quantity: i.quantity,
            amount: i.unit_amount * i64::from(i.quantity),
        })
        .collect())
}

/// Records an event in the inbox, in the caller's transaction.
async fn emit(conn: &mut PgConnection, event_type: &str, event: &BillingEvent) -> Result<(), sqlx::Error> {
    let id = new_id("evt");
    let payload = serde_json::to_string(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    store_event(
        conn,
        &IncomingEvent {
            provider: ProviderName::Sandbox,
            provider_event_id: &id,
            event_type,
            livemode: false,
            created: Utc::now(),
            payload: &payload,
            decoded: event,
            raw_body: None,
        },
    )
    .await?;
    Ok(())
}

async fn emit_subscription(
    conn: &mut PgConnection,
    event_type: &str,
    snapshot: &SubscriptionSnapshot,
) -> Result<(), sqlx::Error> {
    emit(
        conn,
        event_type,
        &BillingEvent::SubscriptionChanged {
            subscription_id: snapshot.id.clone(),
            customer_id: snapshot.customer_id.clone(),
            trial_will_end: false,
            state: Some(Box::new(snapshot.clone())),
        },
    )
    .await
}

async fn save_subscription(
    conn: &mut PgConnection,
    snapshot: &SubscriptionSnapshot,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(snapshot).unwrap_or_default();
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into sandbox_subscription (subscription_id, customer_id, snapshot) values ($1, $2, $3)
        on conflict (subscription_id) do update set snapshot = excluded.snapshot, updated_at = now()
        "#,
        snapshot.id,
        snapshot.customer_id,
        json
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn lock_subscription(
    conn: &mut PgConnection,
    subscription_id: &str,
) -> Result<Option<SubscriptionSnapshot>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query_scalar!(
        "select snapshot from sandbox_subscription where subscription_id = $1 for update",
        subscription_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|json| serde_json::from_value(json).ok()))
}

/// Whether the customer's card pays, or `None` without a card.
async fn card_pays(conn: &mut PgConnection, customer_id: &str) -> Result<Option<bool>, sqlx::Error> {
    // language=PostgreSQL
    let card = sqlx::query!(
        "select card_last4, card_fails from sandbox_customer where customer_id = $1",
        customer_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(card.and_then(|c| c.card_last4.map(|_| !c.card_fails)))
}

/// Issues a numbered invoice and tries to charge it; returns whether it was paid.
async fn issue_invoice(
    conn: &mut PgConnection,
    snapshot: &SubscriptionSnapshot,
    lines: Vec<InvoiceLine>,
    period: (i64, i64),
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let number = sqlx::query_scalar!("update sandbox_invoice_counter set last = last + 1 returning last")
        .fetch_one(&mut *conn)
        .await?;
    let total: i64 = lines.iter().map(|l| l.amount).sum::<i64>().max(0);
    let paid = total == 0 || card_pays(conn, &snapshot.customer_id).await? == Some(true);
    let invoice = InvoiceSnapshot {
        id: new_id("in"),
        customer_id: snapshot.customer_id.clone(),
        subscription_id: Some(snapshot.id.clone()),
        number: Some(format!("SBX-{number:06}")),
        status: if paid {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::Open
        },
        currency: currency_of(&snapshot.items),
        subtotal: total,
        total,
        amount_due: total,
        amount_paid: if paid { total } else { 0 },
        period_start: Some(period.0),
        period_end: Some(period.1),
        lines,
        hosted_invoice_url: None,
        invoice_pdf_url: None,
        created: Utc::now().timestamp(),
    };
    save_invoice(conn, &invoice).await?;
    emit(
        conn,
        "invoice.finalized",
        &BillingEvent::InvoiceChanged {
            invoice: Box::new(InvoiceSnapshot {
                status: InvoiceStatus::Open,
                amount_paid: 0,
                ..invoice.clone()
            }),
        },
    )
    .await?;
    let event_type = if paid {
        "invoice.paid"
    } else {
        "invoice.payment_failed"
    };
    emit(
        conn,
        event_type,
        &BillingEvent::InvoiceChanged {
            invoice: Box::new(invoice),
        },
    )
    .await?;
    Ok(paid)
}

async fn save_invoice(conn: &mut PgConnection, invoice: &InvoiceSnapshot) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(invoice).unwrap_or_default();
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into sandbox_invoice (invoice_id, customer_id, subscription_id, snapshot) values ($1, $2, $3, $4)
        on conflict (invoice_id) do update set snapshot = excluded.snapshot
        "#,
        invoice.id,
        invoice.customer_id,
        invoice.subscription_id.as_deref().unwrap_or_default(),
        json
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Replays a stored answer for an idempotency key, when the key was first
/// used for this same `request`; a key reused for another request is
/// refused, as Stripe refuses it.
async fn remembered<T: serde::de::DeserializeOwned>(
    conn: &mut PgConnection,
    key: &str,
    request: &str,
) -> Result<Option<T>, ProviderError> {
    // language=PostgreSQL
    let stored = sqlx::query!(
        "select response, request from sandbox_idempotency where idempotency_key = $1",
        key
    )
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    match stored {
        Some(stored) if stored.request.as_deref().is_some_and(|first| first != request) => {
            Err(ProviderError::Refused(
                "this form was already used for another change; reload the page and try again".into(),
            ))
        }
        Some(stored) => Ok(serde_json::from_value(stored.response).ok()),
        None => Ok(None),
    }
}

async fn remember<T: serde::Serialize>(
    conn: &mut PgConnection,
    key: &str,
    request: &str,
    answer: &T,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(answer).unwrap_or_default();
    // language=PostgreSQL
    sqlx::query!(
        "insert into sandbox_idempotency (idempotency_key, request, response) values ($1, $2, $3) on conflict do nothing",
        key,
        request,
        json
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What the sandbox checkout page shows.
#[derive(Debug, Clone)]
pub struct SandboxCheckout {
    /// Session id.
    pub session_id: String,
    /// `open`, `complete` or `expired`.
    pub status: String,
    /// Lines of one period.
    pub lines: Vec<InvoiceLine>,
    /// Total per period.
    pub total: i64,
    /// ISO code the amounts are in.
    pub currency: String,
    /// `monthly` or `annual`.
    pub cycle: BillingCycle,
    /// When the trial ends (Unix seconds), if it carries over.
    pub trial_end: Option<i64>,
    /// Where to go after paying.
    pub success_url: String,
    /// Where to go on cancel.
    pub cancel_url: String,
}

impl Sandbox {
    /// The sandbox over a database; `public_url` makes its checkout links absolute.
    pub fn new(pool: PgPool, public_url: &str) -> Self {
        Sandbox {
            pool,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// A checkout session for its page, if it belongs to the organisation.
    pub async fn checkout_page(
        &self,
        session_id: &str,
        organization_id: uuid::Uuid,
    ) -> Result<Option<SandboxCheckout>, ProviderError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        // language=PostgreSQL
        let Some(session) = sqlx::query!(
            r#"
            select s.session_id, s.status, s.items, extract(epoch from s.trial_end)::bigint as trial_end,
                   s.success_url, s.cancel_url
            from sandbox_checkout_session s join sandbox_customer c using (customer_id)
            where s.session_id = $1 and c.organization_id = $2
            "#,
            session_id,
            organization_id
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        else {
            return Ok(None);
        };
        let desired: Vec<DesiredItem> = serde_json::from_value(session.items).unwrap_or_default();
        let items = match priced_items(&mut conn, &desired).await.map_err(db_error)? {
            Ok(items) => items,
            Err(_) => return Ok(None),
        };
        let lines = line_descriptions(&mut conn, &items).await.map_err(db_error)?;
        Ok(Some(SandboxCheckout {
            session_id: session.session_id,
            status: session.status,
            total: period_amount(&items),
            currency: currency_of(&items),
            cycle: cycle_of(&items),
            lines,
            trial_end: session.trial_end,
            success_url: session.success_url,
            cancel_url: session.cancel_url,
        }))
    }

    /// Pays an open checkout session with a test card: the subscription
    /// starts (in trial if the session carries one, else with its first
    /// invoice paid). Returns where to send the browser.
    pub async fn complete_checkout(
        &self,
        session_id: &str,
        card_number: &str,
    ) -> Result<String, ProviderError> {
        let card = test_card(card_number)?;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // language=PostgreSQL
        let Some(session) = sqlx::query!(
            r#"
            select customer_id, status, items, extract(epoch from trial_end)::bigint as trial_end, success_url
            from sandbox_checkout_session where session_id = $1 for update
            "#,
            session_id
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        else {
            return Err(ProviderError::NotFound(format!("checkout session {session_id}")));
        };
        let success_url = session.success_url.replace("{CHECKOUT_SESSION_ID}", session_id);
        if session.status == "complete" {
            return Ok(success_url);
        }
        if session.status != "open" {
            return Err(ProviderError::Refused(
                "This checkout has expired; start again from your billing page.".into(),
            ));
        }
        // No trial and a card that cannot pay: the first charge fails now.
        let now = Utc::now().timestamp();
        let trial_end = session.trial_end.filter(|end| *end > now);
        if trial_end.is_none() && card == TestCard::FailsLater {
            return Err(ProviderError::Refused(
                "Your card was declined (test card 4000 0000 0000 0341 fails every charge).".into(),
            ));
        }
        // language=PostgreSQL
        sqlx::query!(
            "update sandbox_customer set card_last4 = $2, card_fails = $3 where customer_id = $1",
            session.customer_id,
            card.last4(),
            card == TestCard::FailsLater
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let desired: Vec<DesiredItem> = serde_json::from_value(session.items).unwrap_or_default();
        let items = priced_items(&mut tx, &desired).await.map_err(db_error)??;
        let cycle = cycle_of(&items);
        let (status, period_end) = match trial_end {
            Some(end) => (SubscriptionStatus::Trialing, end),
            None => (SubscriptionStatus::Active, add_months(now, cycle.months() as u32)),
        };
        let snapshot = SubscriptionSnapshot {
            id: new_id("sub"),
            customer_id: session.customer_id.clone(),
            status,
            items,
            discounts: vec![],
            current_period_start: now,
            current_period_end: period_end,
            trial_start: trial_end.map(|_| now),
            trial_end,
            cancel_at_period_end: false,
            scheduled_change: None,
        };
        save_subscription(&mut tx, &snapshot).await.map_err(db_error)?;
        // language=PostgreSQL
        sqlx::query!(
            "update sandbox_checkout_session set status = 'complete', subscription_id = $2 where session_id = $1",
            session_id,
            snapshot.id
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        emit(
            &mut tx,
            "checkout.session.completed",
            &BillingEvent::CheckoutCompleted {
                customer_id: Some(snapshot.customer_id.clone()),
                subscription_id: Some(snapshot.id.clone()),
            },
        )
        .await
        .map_err(db_error)?;
        emit_subscription(&mut tx, "customer.subscription.created", &snapshot)
            .await
            .map_err(db_error)?;
        if trial_end.is_none() {
            let lines = line_descriptions(&mut tx, &snapshot.items)
                .await
                .map_err(db_error)?;
            issue_invoice(&mut tx, &snapshot, lines, (now, period_end))
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(success_url)
    }

    /// Replaces the customer's test card; an open invoice of a past-due
    /// subscription is charged again with it.
    pub async fn update_card(
        &self,
        organization_id: uuid::Uuid,
        card_number: &str,
    ) -> Result<(), ProviderError> {
        let card = test_card(card_number)?;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // language=PostgreSQL
        let Some(customer_id) = sqlx::query_scalar!(
            r#"
            update sandbox_customer set card_last4 = $2, card_fails = $3 where organization_id = $1
            returning customer_id
            "#,
            organization_id,
            card.last4(),
            card == TestCard::FailsLater
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        else {
            return Err(ProviderError::NotFound(
                "a billing customer for this organisation".into(),
            ));
        };
        if card == TestCard::Succeeds {
            // language=PostgreSQL
            let open = sqlx::query_scalar!(
                r#"
                select snapshot from sandbox_invoice
                where customer_id = $1 and snapshot->>'status' = 'open' for update
                "#,
                customer_id
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
            for json in open {
                let Ok(mut invoice) = serde_json::from_value::<InvoiceSnapshot>(json) else {
                    continue;
                };
                invoice.status = InvoiceStatus::Paid;
                invoice.amount_paid = invoice.amount_due;
                save_invoice(&mut tx, &invoice).await.map_err(db_error)?;
                let subscription_id = invoice.subscription_id.clone();
                emit(
                    &mut tx,
                    "invoice.paid",
                    &BillingEvent::InvoiceChanged {
                        invoice: Box::new(invoice),
                    },
                )
                .await
                .map_err(db_error)?;
                if let Some(id) = subscription_id
                    && let Some(mut snapshot) = lock_subscription(&mut tx, &id).await.map_err(db_error)?
                    && matches!(
                        snapshot.status,
                        SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid
                    )
                {
                    snapshot.status = SubscriptionStatus::Active;
                    save_subscription(&mut tx, &snapshot).await.map_err(db_error)?;
                    emit_subscription(&mut tx, "customer.subscription.updated", &snapshot)
                        .await
                        .map_err(db_error)?;
                }
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    /// The customer's card on file: last four digits and whether it fails.
    pub async fn card_on_file(
        &self,
        organization_id: uuid::Uuid,
    ) -> Result<Option<(String, bool)>, ProviderError> {
        // language=PostgreSQL
        let card = sqlx::query!(
            "select card_last4, card_fails from sandbox_customer where organization_id = $1",
            organization_id
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(card.and_then(|c| c.card_last4.map(|last4| (last4, c.card_fails))))
    }

    /// Ends the subscription's current period now, as if its end had come:
    /// a trial ends, a scheduled change applies, a cancellation takes
    /// effect, or the next period is invoiced and charged (a failing card
    /// leaves it `past_due`; failing again makes it `unpaid`).
    pub async fn end_period(&self, subscription_id: &str) -> Result<SubscriptionSnapshot, ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let Some(mut snapshot) = lock_subscription(&mut tx, subscription_id)
            .await
            .map_err(db_error)?
        else {
            return Err(ProviderError::NotFound(format!("subscription {subscription_id}")));
        };
        let now = Utc::now().timestamp();
        match snapshot.status {
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired => {
                return Err(ProviderError::Refused("This subscription has ended.".into()));
            }
            _ if snapshot.cancel_at_period_end => {
                snapshot.status = SubscriptionStatus::Canceled;
                snapshot.current_period_end = now;
                snapshot.scheduled_change = None;
                save_subscription(&mut tx, &snapshot).await.map_err(db_error)?;
                emit_subscription(&mut tx, "customer.subscription.deleted", &snapshot)
                    .await
                    .map_err(db_error)?;
            }
            SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
                // Dunning: the open invoice is retried; a second failure ends retries.
                let pays = card_pays(&mut tx, &snapshot.customer_id)
                    .await
                    .map_err(db_error)?
                    == Some(true);
                if !pays {
                    snapshot.status = SubscriptionStatus::Unpaid;
                    save_subscription(&mut tx, &snapshot).await.map_err(db_error)?;
                    emit_subscription(&mut tx, "customer.subscription.updated", &snapshot)
                        .await
                        .map_err(db_error)?;
                }
            }
            _ => {
                if let Some(change) = snapshot.scheduled_change.take() {
                    snapshot.items = priced_items(&mut tx, &change.items).await.map_err(db_error)??;
                }
                let cycle = cycle_of(&snapshot.items);
                let start = now;
                let end = add_months(start, cycle.months() as u32);
                let lines = line_descriptions(&mut tx, &snapshot.items)
                    .await
                    .map_err(db_error)?;
                let was_trial = snapshot.status == SubscriptionStatus::Trialing;
                snapshot.current_period_start = start;
                snapshot.current_period_end = end;
                if was_trial {
                    snapshot.trial_end = Some(now);
                }
                let paid = issue_invoice(&mut tx, &snapshot, lines, (start, end))
                    .await
                    .map_err(db_error)?;
                snapshot.status = if paid {
                    SubscriptionStatus::Active
                } else {
                    SubscriptionStatus::PastDue
                };
                save_subscription(&mut tx, &snapshot).await.map_err(db_error)?;
                emit_subscription(&mut tx, "customer.subscription.updated", &snapshot)
                    .await
                    .map_err(db_error)?;
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(snapshot)
    }

    /// Makes one idempotent change to a subscription: under its row lock,
    /// `change` edits it; the result is saved, reported as
    /// `customer.subscription.updated` and remembered under the key, all in one
    /// transaction. A repeated key returns the first answer unchanged.
    async fn change_subscription(
        &self,
        subscription_id: &str,
        idempotency_key: &str,
        request: &str,
        change: impl AsyncFnOnce(&mut PgConnection, &mut SubscriptionSnapshot) -> Result<(), ProviderError>,
    ) -> Result<SubscriptionSnapshot, ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if let Some(answer) = remembered(&mut tx, idempotency_key, request).await? {
            return Ok(answer);
        }
        let Some(mut current) = lock_subscription(&mut tx, subscription_id)
            .await
            .map_err(db_error)?
        else {
            return Err(ProviderError::NotFound(format!("subscription {subscription_id}")));
        };
        change(&mut tx, &mut current).await?;
        save_subscription(&mut tx, &current).await.map_err(db_error)?;
        emit_subscription(&mut tx, "customer.subscription.updated", &current)
            .await
            .map_err(db_error)?;
        remember(&mut tx, idempotency_key, request, &current)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(current)
    }

    /// Ends every period that is due (the renewal job).
    pub async fn renew_due(&self) -> Result<usize, ProviderError> {
        // language=PostgreSQL
        let due = sqlx::query_scalar!(
            r#"
            select subscription_id from sandbox_subscription
            where snapshot->>'status' not in ('canceled', 'incomplete_expired', 'unpaid')
              and (snapshot->>'current_period_end')::bigint <= extract(epoch from now())
            limit 100
            "#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut renewed = 0;
        for id in due {
            match self.end_period(&id).await {
                Ok(_) => renewed += 1,
                Err(error) => tracing::warn!(%error, subscription = %id, "sandbox renewal failed"),
            }
        }
        Ok(renewed)
    }

    /// Plays Stripe's `customer.subscription.trial_will_end`: one event per
    /// trial end, [`REMINDER_LEAD_DAYS`] before it, into the same inbox as
    /// every other sandbox event. Returns how many were announced.
    pub async fn announce_trials_ending(&self) -> Result<usize, ProviderError> {
        let mut announced = 0;
        loop {
            let mut tx = self.pool.begin().await.map_err(db_error)?;
            // language=PostgreSQL
            let Some(row) = sqlx::query!(
                r#"
                select subscription_id, customer_id, (snapshot->>'trial_end')::bigint as "trial_end!"
                from sandbox_subscription
                where snapshot->>'status' = 'trialing'
                  and (snapshot->>'trial_end')::bigint > extract(epoch from now())
                  and (snapshot->>'trial_end')::bigint <= extract(epoch from now()) + $1::bigint * 86400
                  and trial_will_end_sent_for is distinct from (snapshot->>'trial_end')::bigint
                limit 1
                for update skip locked
                "#,
                REMINDER_LEAD_DAYS
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            else {
                break;
            };
            // language=PostgreSQL
            sqlx::query!(
                "update sandbox_subscription set trial_will_end_sent_for = $2 where subscription_id = $1",
                row.subscription_id,
                row.trial_end
            )
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            emit(
                &mut tx,
                "customer.subscription.trial_will_end",
                &BillingEvent::SubscriptionChanged {
                    subscription_id: row.subscription_id,
                    customer_id: row.customer_id,
                    trial_will_end: true,
                    state: None,
                },
            )
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            announced += 1;
        }
        Ok(announced)
    }
}

/// The proration of an immediate change. A switch of billing cycle starts a
/// new period now: the unused time is credited and the whole new period charged.
fn proration(current: &SubscriptionSnapshot, new_items: &[SnapshotItem], now: i64) -> ProrationLines {
    if current.status == SubscriptionStatus::Trialing {
        return ProrationLines {
            credit: 0,
            charge: 0,
            amount_due: 0,
        };
    }
    let old = period_amount(&current.items);
    let new = period_amount(new_items);
    let lines = prorated_amount_due(
        old,
        new,
        current.current_period_start,
        current.current_period_end,
        now,
    );
    if cycle_of(&current.items) == cycle_of(new_items) {
        lines
    } else {
        ProrationLines {
            credit: lines.credit,
            charge: new,
            amount_due: (new - lines.credit).max(0),
        }
    }
}

#[async_trait::async_trait]
impl BillingProvider for Sandbox {
    fn name(&self) -> ProviderName {
        ProviderName::Sandbox
    }

    async fn create_customer(
        &self,
        organization_id: &str,
        _organization_name: &str,
        email: &str,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let organization_id: uuid::Uuid = organization_id
            .parse()
            .map_err(|_| ProviderError::Refused("invalid organisation id".into()))?;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let request = format!("customer:{organization_id}");
        if let Some(id) = remembered::<String>(&mut tx, idempotency_key, &request).await? {
            return Ok(id);
        }
        let id = new_id("cus");
        // language=PostgreSQL
        sqlx::query!(
            "insert into sandbox_customer (customer_id, organization_id, email) values ($1, $2, $3)",
            id,
            organization_id,
            email
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        remember(&mut tx, idempotency_key, &request, &id)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(id)
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutRedirect, ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let items = serde_json::to_value(&request.items).unwrap_or_default();
        priced_items(&mut tx, &request.items).await.map_err(db_error)??;
        // language=PostgreSQL
        let session_id = sqlx::query_scalar!(
            r#"
            insert into sandbox_checkout_session (session_id, customer_id, items, trial_end, success_url, cancel_url,
                                                  idempotency_key)
            values ($1, $2, $3, to_timestamp($4), $5, $6, $7)
            on conflict (idempotency_key) do update set idempotency_key = excluded.idempotency_key
            returning session_id
            "#,
            new_id("cs"),
            request.customer_id,
            items,
            request.trial_end.map(|t| t as f64),
            request.success_url,
            request.cancel_url,
            request.idempotency_key
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(CheckoutRedirect {
            url: format!("{}/billing/sandbox/checkout/{session_id}", self.public_url),
            session_id,
        })
    }

    async fn checkout_outcome(&self, session_id: &str) -> Result<CheckoutOutcome, ProviderError> {
        // language=PostgreSQL
        let session = sqlx::query!(
            "select customer_id, status, subscription_id from sandbox_checkout_session where session_id = $1",
            session_id
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ProviderError::NotFound(format!("checkout session {session_id}")))?;
        let subscription = match &session.subscription_id {
            Some(id) => Some(self.fetch_subscription(id).await?),
            None => None,
        };
        Ok(CheckoutOutcome {
            complete: session.status == "complete",
            customer_id: Some(session.customer_id),
            subscription,
        })
    }

    async fn fetch_subscription(&self, subscription_id: &str) -> Result<SubscriptionSnapshot, ProviderError> {
        // language=PostgreSQL
        let json = sqlx::query_scalar!(
            "select snapshot from sandbox_subscription where subscription_id = $1",
            subscription_id
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ProviderError::NotFound(format!("subscription {subscription_id}")))?;
        serde_json::from_value(json).map_err(|e| ProviderError::Unexpected(e.to_string()))
    }

    async fn preview_change(
        &self,
        subscription_id: &str,
        items: &[DesiredItem],
    ) -> Result<ChangePreview, ProviderError> {
        let current = self.fetch_subscription(subscription_id).await?;
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let new_items = priced_items(&mut conn, items).await.map_err(db_error)??;
        Ok(ChangePreview {
            proration: proration(&current, &new_items, Utc::now().timestamp()),
            currency: currency_of(&new_items),
        })
    }

    async fn change_items(
        &self,
        subscription_id: &str,
        items: &[DesiredItem],
        timing: ChangeTiming,
        idempotency_key: &str,
    ) -> Result<SubscriptionSnapshot, ProviderError> {
        let request = format!("items:{items:?}:{timing:?}");
        self.change_subscription(subscription_id, idempotency_key, &request, async |tx, current| {
            if matches!(
                current.status,
                SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired | SubscriptionStatus::Unpaid
            ) {
                return Err(ProviderError::Refused(
                    "This subscription can no longer be changed.".into(),
                ));
            }
            let new_items = priced_items(tx, items).await.map_err(db_error)??;
            match timing {
                ChangeTiming::AtPeriodEnd => {
                    current.scheduled_change = Some(ScheduledChange {
                        items: items.to_vec(),
                        effective_at: current.current_period_end,
                    });
                }
                ChangeTiming::Immediately => {
                    let now = Utc::now().timestamp();
                    let lines = proration(current, &new_items, now);
                    let cycle_switch = cycle_of(&current.items) != cycle_of(&new_items);
                    if current.status != SubscriptionStatus::Trialing {
                        let (start, end) = if cycle_switch {
                            (now, add_months(now, cycle_of(&new_items).months() as u32))
                        } else {
                            (now, current.current_period_end)
                        };
                        let invoice_lines = vec![
                            InvoiceLine {
                                description: "Unused time on the previous plan".into(),
                                quantity: 1,
                                amount: -lines.credit,
                            },
                            InvoiceLine {
                                description: "Remaining time on the new plan".into(),
                                quantity: 1,
                                amount: lines.charge,
                            },
                        ];
                        // The change only happens if its invoice is paid.
                        if lines.amount_due > 0
                            && card_pays(tx, &current.customer_id).await.map_err(db_error)? != Some(true)
                        {
                            return Err(ProviderError::Refused(
                                "Your card was declined, so the plan was not changed. Update your card and try again.".into(),
                            ));
                        }
                        issue_invoice(tx, current, invoice_lines, (start, end))
                            .await
                            .map_err(db_error)?;
                        if cycle_switch {
                            current.current_period_start = start;
                            current.current_period_end = end;
                        }
                    }
                    current.items = new_items;
                    current.scheduled_change = None;
                }
            }
            Ok(())
        })
        .await
    }

    async fn set_cancel_at_period_end(
        &self,
        subscription_id: &str,
        cancel: bool,
        idempotency_key: &str,
    ) -> Result<SubscriptionSnapshot, ProviderError> {
        let request = format!("cancel_at_period_end:{cancel}");
        self.change_subscription(subscription_id, idempotency_key, &request, async |_, current| {
            if current.status == SubscriptionStatus::Canceled {
                return Err(ProviderError::Refused(
                    "This subscription has already ended.".into(),
                ));
            }
            current.cancel_at_period_end = cancel;
            if cancel {
                current.scheduled_change = None;
            }
            Ok(())
        })
        .await
    }

    async fn payment_methods_url(
        &self,
        _customer_id: &str,
        _return_url: &str,
        _idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        Ok(format!("{}/app/billing/card", self.public_url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_are_read_with_spaces_and_others_refused() {
        assert_eq!(test_card("4242 4242 4242 4242"), Ok(TestCard::Succeeds));
        assert_eq!(test_card("4000-0000-0000-0341"), Ok(TestCard::FailsLater));
        assert_eq!(
            (TestCard::Succeeds.last4(), TestCard::FailsLater.last4()),
            ("4242", "0341")
        );
        assert!(matches!(test_card(CARD_DECLINED), Err(ProviderError::Refused(m)) if m.contains("declined")));
        assert!(
            matches!(test_card("5555555555554444"), Err(ProviderError::Refused(m)) if m.contains("test cards"))
        );
        assert!(test_card("").is_err());
    }

    #[test]
    fn months_are_calendar_months() {
        // 2026-01-31 + 1 month = 2026-02-28.
        let jan31 = 1_769_817_600;
        assert_eq!(add_months(jan31, 1), 1_772_236_800);
        assert_eq!(add_months(jan31, 12) - jan31, 365 * 86_400);
    }
}
