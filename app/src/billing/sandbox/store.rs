//! The sandbox's own tables, playing Stripe's side: subscriptions and
//! invoices as snapshots, cards, idempotent answers, and the events it
//! reports into the shared inbox.
//!
//! Every write takes the operation's `now`, read once from the sandbox's
//! clock, so one change carries one time throughout.

use super::prices::currency_of;
use super::{db_error, new_id};
use crate::billing::domain::{
    BillingEvent, InvoiceLine, InvoiceSnapshot, InvoiceStatus, SubscriptionSnapshot,
};
use crate::billing::inbox::{IncomingEvent, store_event};
use crate::billing::provider::{ProviderError, ProviderName};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Days between the sandbox's attempts to charge an unpaid invoice: the
/// first retry 3 days after the failure, then 5, then 7; after the last
/// the subscription turns `unpaid` (Stripe's smart retries play this part
/// when Stripe is the provider).
pub const PAYMENT_RETRY_DAYS: [i64; 3] = [3, 5, 7];

/// Records an event in the inbox, in the caller's transaction.
pub(super) async fn emit(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    event_type: &str,
    event: &BillingEvent,
) -> Result<(), sqlx::Error> {
    let id = new_id("evt");
    let payload = serde_json::to_string(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    store_event(
        conn,
        now,
        &IncomingEvent {
            provider: ProviderName::Sandbox,
            provider_event_id: &id,
            event_type,
            livemode: false,
            created: now,
            payload: &payload,
            decoded: event,
            raw_body: None,
        },
    )
    .await?;
    Ok(())
}

pub(super) async fn emit_subscription(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    event_type: &str,
    snapshot: &SubscriptionSnapshot,
) -> Result<(), sqlx::Error> {
    emit(
        conn,
        now,
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

/// Saves a subscription and reports the change as `event_type`, in the
/// caller's transaction: the sandbox never changes one without telling.
pub(super) async fn save_and_report(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    event_type: &str,
    snapshot: &SubscriptionSnapshot,
) -> Result<(), ProviderError> {
    save_subscription(conn, now, snapshot).await.map_err(db_error)?;
    emit_subscription(conn, now, event_type, snapshot)
        .await
        .map_err(db_error)
}

pub(super) async fn save_subscription(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    snapshot: &SubscriptionSnapshot,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(snapshot).unwrap_or_default();
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into sandbox_subscription (subscription_id, customer_id, snapshot, updated_at)
        values ($1, $2, $3, $4)
        on conflict (subscription_id) do update set snapshot = excluded.snapshot, updated_at = excluded.updated_at
        "#,
        snapshot.id,
        snapshot.customer_id,
        json,
        now as _
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn lock_subscription(
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
pub(super) async fn card_pays(
    conn: &mut PgConnection,
    customer_id: &str,
) -> Result<Option<bool>, sqlx::Error> {
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
pub(super) async fn issue_invoice(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
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
        created: now.timestamp(),
        attempt_count: u32::from(total > 0),
        next_payment_attempt: (!paid).then(|| now.timestamp() + PAYMENT_RETRY_DAYS[0] * 86_400),
    };
    save_invoice(conn, &invoice).await?;
    emit(
        conn,
        now,
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
        now,
        event_type,
        &BillingEvent::InvoiceChanged {
            invoice: Box::new(invoice),
        },
    )
    .await?;
    Ok(paid)
}

/// Settles an open invoice now (the card on file paid it): it is paid, its
/// event reported, and a past-due or unpaid subscription is active again.
pub(super) async fn settle_invoice(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    mut invoice: InvoiceSnapshot,
) -> Result<(), ProviderError> {
    invoice.status = InvoiceStatus::Paid;
    invoice.amount_paid = invoice.amount_due;
    invoice.attempt_count += 1;
    invoice.next_payment_attempt = None;
    let subscription_id = invoice.subscription_id.clone();
    save_invoice(conn, &invoice).await.map_err(db_error)?;
    emit(
        conn,
        now,
        "invoice.paid",
        &BillingEvent::InvoiceChanged {
            invoice: Box::new(invoice),
        },
    )
    .await
    .map_err(db_error)?;
    if let Some(id) = subscription_id
        && let Some(mut snapshot) = lock_subscription(conn, &id).await.map_err(db_error)?
        && matches!(
            snapshot.status,
            crate::billing::domain::SubscriptionStatus::PastDue
                | crate::billing::domain::SubscriptionStatus::Unpaid
        )
    {
        snapshot.status = crate::billing::domain::SubscriptionStatus::Active;
        save_and_report(conn, now, "customer.subscription.updated", &snapshot).await?;
    }
    Ok(())
}

pub(super) async fn save_invoice(
    conn: &mut PgConnection,
    invoice: &InvoiceSnapshot,
) -> Result<(), sqlx::Error> {
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
pub(super) async fn remembered<T: serde::de::DeserializeOwned>(
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

pub(super) async fn remember<T: serde::Serialize>(
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
