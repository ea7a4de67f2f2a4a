//! The collection ladder, stored: one case per unpaid invoice, moved by the
//! provider's invoice events (in the event's own transaction), the
//! subscription's end, and the runner's grace-period sweep. Each step is
//! recorded once per (case, step, attempt) with its cause and the moment it
//! happened at the provider; only a newly recorded step tells anyone, so a
//! redelivered event, a re-run job or a second process changes nothing.
//! The billing contacts are emailed here; the host product hears of each
//! [`StepTaken`] from the flow that moved the case (`crate::flows`).
//!
//! The rules live in [`super::domain::collection`]; what the portal and the
//! console read of the cases is in `reads` ([`cases_of`], [`open_case_of`]).

mod reads;

pub use reads::{cases_of, open_case_of};

use super::domain::collection::{CaseState, Signal, next};
use super::domain::{InvoiceSnapshot, InvoiceStatus};
use super::provider::ProviderName;
use super::trials::Notices;
use crate::accounts::contacts::email_billing_contacts;
use crate::catalog::money::Money;
use crate::email::templates;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A case as its row says, locked by the transaction that read it.
#[derive(Debug, Clone)]
struct CaseRow {
    collection_case_id: Uuid,
    organization_id: Uuid,
    organization: String,
    state: CaseState,
    attempt: i32,
    amount_due: i64,
    currency: String,
    next_retry_at: Option<DateTime<Utc>>,
    hosted_invoice_url: Option<String>,
    provider_invoice_id: String,
}

impl CaseRow {
    fn amount(&self) -> String {
        Money::display_minor(self.amount_due, &self.currency.to_uppercase())
    }
}

/// A step newly recorded on a case, as the host product hears of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the host product hears of a step only from its flow"]
pub struct StepTaken {
    /// The organisation whose invoice it is.
    pub organization_id: Uuid,
    /// The step recorded.
    pub step: CaseState,
    /// The case's state after it.
    pub state: CaseState,
    /// Names the step once per (case, step, attempt): the cause of what it tells.
    pub step_key: String,
    /// Whether the step lifted the organisation's restriction.
    pub lifted: bool,
    /// The provider's invoice.
    pub provider_invoice_id: String,
    /// What is owed, in minor units of `currency`.
    pub amount_due: i64,
    /// The invoice's currency, lower case.
    pub currency: String,
    /// The provider's attempts to charge it so far.
    pub attempt: i32,
    /// When the provider tries again, if it does.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// When the step happened at the provider.
    pub occurred_at: DateTime<Utc>,
}

impl StepTaken {
    /// Whether what the organisation may do changed with this step.
    pub fn changes_access(&self) -> bool {
        self.step == CaseState::Restricted || self.lifted
    }
}

/// What the provider's event says about one invoice.
pub fn signal_of_event(event_type: &str) -> Option<Signal> {
    match event_type {
        "invoice.payment_failed" => Some(Signal::PaymentFailed),
        "invoice.payment_action_required" => Some(Signal::ActionRequired),
        "invoice.paid" => Some(Signal::Paid),
        _ => None,
    }
}

async fn lock_case(
    conn: &mut PgConnection,
    provider: &str,
    invoice_id: &str,
) -> Result<Option<CaseRow>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select c.collection_case_id, c.organization_id, o.name as organization, c.state, c.attempt,
               c.amount_due, c.currency, c.next_retry_at as "next_retry_at: DateTime<Utc>",
               c.hosted_invoice_url, c.provider_invoice_id
        from collection_case c join organization o using (organization_id)
        where c.provider = $1 and c.provider_invoice_id = $2
        for update of c
        "#,
        provider,
        invoice_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|r| {
        Some(CaseRow {
            state: CaseState::parse(&r.state)?,
            collection_case_id: r.collection_case_id,
            organization_id: r.organization_id,
            organization: r.organization,
            attempt: r.attempt,
            amount_due: r.amount_due,
            currency: r.currency,
            next_retry_at: r.next_retry_at,
            hosted_invoice_url: r.hosted_invoice_url,
            provider_invoice_id: r.provider_invoice_id,
        })
    }))
}

/// Moves the case of `invoice` for a provider invoice event of
/// `event_type` that happened at `occurred_at`, in the event's transaction
/// (after the invoice itself was applied). A paid invoice with money in it
/// also sends its receipt, once. `cause` names the event.
#[allow(clippy::too_many_arguments)]
pub async fn on_invoice_event(
    conn: &mut PgConnection,
    provider: ProviderName,
    invoice: &InvoiceSnapshot,
    event_type: &str,
    occurred_at: DateTime<Utc>,
    cause: &str,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<Option<StepTaken>, sqlx::Error> {
    let Some(mut signal) = signal_of_event(event_type) else {
        return Ok(None);
    };
    // The stored invoice is never moved backwards: a failure that arrives
    // after the payment finds it paid, and is a payment.
    // language=PostgreSQL
    let stored = sqlx::query!(
        r#"
        select i.organization_id, i.status, o.name as organization
        from invoice i join organization o using (organization_id)
        where i.provider = $1 and i.provider_invoice_id = $2
        "#,
        provider.as_str(),
        invoice.id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    match InvoiceStatus::parse(&stored.status) {
        Some(InvoiceStatus::Paid) => signal = Signal::Paid,
        Some(InvoiceStatus::Void | InvoiceStatus::Uncollectible) => return Ok(None),
        _ => {}
    }
    if signal == Signal::Paid && invoice.amount_paid > 0 && event_type == "invoice.paid" {
        send_receipt(
            conn,
            stored.organization_id,
            &stored.organization,
            invoice,
            notices,
            now,
        )
        .await?;
    }
    if signal != Signal::Paid && invoice.amount_due <= 0 {
        return Ok(None);
    }
    let case = lock_case(conn, provider.as_str(), &invoice.id).await?;
    let Some(step) = next(case.as_ref().map(|c| c.state), signal) else {
        return Ok(None);
    };
    let attempt = i32::try_from(invoice.attempt_count.clamp(1, 1000)).unwrap_or(1);
    let next_retry_at = invoice
        .next_payment_attempt
        .and_then(|at| DateTime::from_timestamp(at, 0));
    let case = match case {
        Some(case) => {
            // language=PostgreSQL
            sqlx::query!(
                r#"
                update collection_case
                set state = $2, attempt = greatest(attempt, $3), amount_due = $4,
                    next_retry_at = case when $7 then $5 else next_retry_at end,
                    hosted_invoice_url = coalesce($6, hosted_invoice_url),
                    closed_at = case when $8 then coalesce(closed_at, $9) else null end,
                    updated_at = $9
                where collection_case_id = $1
                "#,
                case.collection_case_id,
                step.state.as_str(),
                attempt,
                invoice.amount_due.max(0),
                next_retry_at as _,
                invoice.hosted_invoice_url,
                signal == Signal::PaymentFailed,
                !step.state.is_open(),
                now as _,
            )
            .execute(&mut *conn)
            .await?;
            CaseRow {
                state: step.state,
                attempt: case.attempt.max(attempt),
                amount_due: if signal == Signal::Paid {
                    case.amount_due
                } else {
                    invoice.amount_due.max(0)
                },
                next_retry_at: if signal == Signal::PaymentFailed {
                    next_retry_at
                } else {
                    case.next_retry_at
                },
                hosted_invoice_url: invoice.hosted_invoice_url.clone().or(case.hosted_invoice_url),
                ..case
            }
        }
        None => {
            // language=PostgreSQL
            let subscription_id = sqlx::query_scalar!(
                "select subscription_id from subscription where provider = $1 and provider_subscription_id = $2",
                provider.as_str(),
                invoice.subscription_id
            )
            .fetch_optional(&mut *conn)
            .await?;
            // language=PostgreSQL
            let id = sqlx::query_scalar!(
                r#"
                insert into collection_case (organization_id, subscription_id, provider, provider_invoice_id, state,
                                             attempt, amount_due, currency, next_retry_at, hosted_invoice_url,
                                             past_due_since, opened_at, updated_at)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
                returning collection_case_id
                "#,
                stored.organization_id,
                subscription_id,
                provider.as_str(),
                invoice.id,
                step.state.as_str(),
                attempt,
                invoice.amount_due.max(0),
                invoice.currency.to_lowercase(),
                next_retry_at as _,
                invoice.hosted_invoice_url,
                occurred_at as _,
                now as _,
            )
            .fetch_one(&mut *conn)
            .await?;
            CaseRow {
                collection_case_id: id,
                organization_id: stored.organization_id,
                organization: stored.organization,
                state: step.state,
                attempt,
                amount_due: invoice.amount_due.max(0),
                currency: invoice.currency.to_lowercase(),
                next_retry_at,
                hosted_invoice_url: invoice.hosted_invoice_url.clone(),
                provider_invoice_id: invoice.id.clone(),
            }
        }
    };
    let step_attempt = match step.step {
        CaseState::Failing | CaseState::ActionRequired => attempt,
        _ => 0,
    };
    if !record_step(conn, &case, step.step, step_attempt, cause, occurred_at, now).await? {
        return Ok(None);
    }
    Ok(Some(
        tell(conn, &case, step.step, notices, occurred_at, now).await?,
    ))
}

/// Restricts the organisation of every open case whose first failure is
/// `grace_days` old at `now` (the runner's sweep), up to `limit`, in the
/// caller's transaction. Returns the restrictions.
pub async fn restrict_overdue(
    conn: &mut PgConnection,
    grace_days: u32,
    cause: &str,
    notices: &Notices,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<StepTaken>, sqlx::Error> {
    let grace = TimeDelta::days(i64::from(grace_days));
    // language=PostgreSQL
    let overdue = sqlx::query!(
        r#"
        select provider, provider_invoice_id, past_due_since as "past_due_since: DateTime<Utc>"
        from collection_case
        where state = any($3) and past_due_since <= $1
        order by past_due_since
        limit $2
        for update skip locked
        "#,
        (now - grace) as _,
        limit,
        &CaseState::words_where(CaseState::is_in_grace) as &[&str]
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut restricted = Vec::new();
    for row in overdue {
        let Some(case) = lock_case(conn, &row.provider, &row.provider_invoice_id).await? else {
            continue;
        };
        let Some(step) = next(Some(case.state), Signal::GraceOver) else {
            continue;
        };
        // The restriction happened when the grace period ended, however
        // late the sweep ran.
        let at = row.past_due_since + grace;
        // language=PostgreSQL
        sqlx::query!(
            "update collection_case set state = $2, restricted_at = $3, updated_at = $4 where collection_case_id = $1",
            case.collection_case_id,
            step.state.as_str(),
            at as _,
            now as _
        )
        .execute(&mut *conn)
        .await?;
        let case = CaseRow {
            state: step.state,
            ..case
        };
        if record_step(conn, &case, step.step, 0, cause, at, now).await? {
            restricted.push(tell(conn, &case, step.step, notices, at, now).await?);
        }
    }
    Ok(restricted)
}

/// Closes the open cases of a subscription that ended or ran out of
/// retries (`canceled`, `unpaid`) at `occurred_at`, in the caller's
/// transaction. Returns the steps taken.
pub async fn on_subscription_ended(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    occurred_at: DateTime<Utc>,
    cause: &str,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<Vec<StepTaken>, sqlx::Error> {
    // language=PostgreSQL
    let open = sqlx::query!(
        r#"
        select provider, provider_invoice_id from collection_case
        where subscription_id = $1 and state = any($2)
        order by opened_at
        "#,
        subscription_id,
        &CaseState::words_where(CaseState::is_open) as &[&str]
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut taken = Vec::new();
    for row in open {
        let Some(case) = lock_case(conn, &row.provider, &row.provider_invoice_id).await? else {
            continue;
        };
        let Some(step) = next(Some(case.state), Signal::SubscriptionEnded) else {
            continue;
        };
        // language=PostgreSQL
        sqlx::query!(
            "update collection_case set state = $2, closed_at = $3, updated_at = $3 where collection_case_id = $1",
            case.collection_case_id,
            step.state.as_str(),
            now as _
        )
        .execute(&mut *conn)
        .await?;
        let case = CaseRow {
            state: step.state,
            ..case
        };
        if record_step(conn, &case, step.step, 0, cause, occurred_at, now).await? {
            taken.push(tell(conn, &case, step.step, notices, occurred_at, now).await?);
        }
    }
    Ok(taken)
}

async fn record_step(
    conn: &mut PgConnection,
    case: &CaseRow,
    step: CaseState,
    attempt: i32,
    cause: &str,
    occurred_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let recorded = sqlx::query!(
        r#"
        insert into collection_step (collection_case_id, step, attempt, cause, occurred_at, recorded_at)
        values ($1, $2, $3, $4, $5, $6)
        on conflict (collection_case_id, step, attempt) do nothing
        "#,
        case.collection_case_id,
        step.as_str(),
        attempt,
        cause,
        occurred_at as _,
        now as _,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    Ok(recorded)
}

/// What a newly recorded step does beyond the case: the restriction flag
/// the entitlements resolver reads and the email to the billing contacts.
/// Returns the step for the host product to hear of.
async fn tell(
    conn: &mut PgConnection,
    case: &CaseRow,
    step: CaseState,
    notices: &Notices,
    occurred_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<StepTaken, sqlx::Error> {
    let billing_url = format!("{}/app/billing", notices.public_url);
    let amount = case.amount();
    let brand = &notices.brand;
    let lifted = match step {
        CaseState::Restricted => {
            // language=PostgreSQL
            sqlx::query!(
                "update organization set payment_restricted_at = coalesce(payment_restricted_at, $2) where organization_id = $1",
                case.organization_id,
                occurred_at as _
            )
            .execute(&mut *conn)
            .await?;
            false
        }
        CaseState::Recovered | CaseState::Lapsed => lift_restriction(conn, case.organization_id).await?,
        CaseState::Failing | CaseState::ActionRequired => false,
    };
    let catalog = crate::catalog::db::load_catalog(&mut *conn).await.ok();
    let message = match step {
        CaseState::Failing => Some(templates::payment_failed(
            brand,
            &case.organization,
            &amount,
            case.attempt.max(1) as u32,
            case.next_retry_at
                .map(|at| crate::format::long_day(at.date_naive()))
                .as_deref(),
            &billing_url,
        )),
        CaseState::ActionRequired => Some(templates::payment_action_required(
            brand,
            &case.organization,
            &amount,
            case.hosted_invoice_url.as_deref().unwrap_or(&billing_url),
        )),
        CaseState::Restricted => Some(templates::account_restricted(
            brand,
            &case.organization,
            &amount,
            catalog.as_ref().map_or(14, |c| c.collection.grace_days),
            &billing_url,
        )),
        CaseState::Recovered => Some(templates::account_restored(
            brand,
            &case.organization,
            &amount,
            &format!("{}/app", notices.public_url),
        )),
        // The subscription's own end tells the customer.
        CaseState::Lapsed => None,
    };
    let step_key = format!(
        "collection:{}:{}:{}",
        case.collection_case_id,
        step.as_str(),
        case.attempt
    );
    if let Some(message) = message {
        email_billing_contacts(conn, case.organization_id, &message, &step_key, now).await?;
    }
    Ok(StepTaken {
        organization_id: case.organization_id,
        step,
        state: case.state,
        step_key,
        lifted,
        provider_invoice_id: case.provider_invoice_id.clone(),
        amount_due: case.amount_due,
        currency: case.currency.clone(),
        attempt: case.attempt,
        next_retry_at: case.next_retry_at,
        occurred_at,
    })
}

/// Lifts the organisation's restriction unless another of its cases is
/// still restricted. Returns whether it was lifted.
async fn lift_restriction(conn: &mut PgConnection, organization_id: Uuid) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let lifted = sqlx::query!(
        r#"
        update organization set payment_restricted_at = null
        where organization_id = $1 and payment_restricted_at is not null
          and not exists (select 1 from collection_case
                          where organization_id = $1 and state = $2)
        "#,
        organization_id,
        CaseState::Restricted.as_str()
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    Ok(lifted)
}

async fn send_receipt(
    conn: &mut PgConnection,
    organization_id: Uuid,
    organization: &str,
    invoice: &InvoiceSnapshot,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let amount = Money::display_minor(invoice.amount_paid, &invoice.currency.to_uppercase());
    let invoices_url = format!("{}/app/billing", notices.public_url);
    let message = templates::payment_receipt(
        &notices.brand,
        organization,
        &amount,
        invoice.number.as_deref().unwrap_or(&invoice.id),
        invoice.hosted_invoice_url.as_deref().unwrap_or(&invoices_url),
    );
    email_billing_contacts(
        conn,
        organization_id,
        &message,
        &format!("receipt:{}", invoice.id),
        now,
    )
    .await?;
    Ok(())
}

/// Test mode: moves the organisation's open, unrestricted case back so its
/// grace period ends now, and restricts it through the sweep's own step.
/// Returns the restrictions (none: there was no case to restrict).
pub async fn skip_grace(
    conn: &mut PgConnection,
    organization_id: Uuid,
    grace_days: u32,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<Vec<StepTaken>, sqlx::Error> {
    // language=PostgreSQL
    let moved = sqlx::query!(
        r#"
        update collection_case set past_due_since = $2
        where organization_id = $1 and state = any($3)
        "#,
        organization_id,
        (now - TimeDelta::days(i64::from(grace_days))) as _,
        &CaseState::words_where(CaseState::is_in_grace) as &[&str]
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(Vec::new());
    }
    restrict_overdue(conn, grace_days, "sandbox:skip_grace", notices, now, 10).await
}
