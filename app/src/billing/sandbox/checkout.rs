//! The sandbox's hosted pages: its checkout and its card form.

use super::cards::{TestCard, test_card};
use super::prices::{add_months, currency_of, cycle_of, line_descriptions, period_amount, priced_items};
use super::store::{emit, emit_subscription, issue_invoice, save_subscription, settle_invoice};
use super::{Sandbox, db_error, new_id};
use crate::billing::domain::{BillingEvent, DesiredItem, InvoiceLine, InvoiceSnapshot, SubscriptionSnapshot};
use crate::billing::domain::{InvoiceStatus, SandboxCheckoutStatus, SubscriptionStatus};
use crate::billing::provider::ProviderError;
use crate::catalog::domain::BillingCycle;

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
            select s.session_id, s.status, s.items, floor(extract(epoch from s.trial_end))::bigint as trial_end,
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
        let items = match priced_items(&mut conn, &desired).await {
            Ok(items) => items,
            // Its prices left the catalogue since: nothing to pay any more.
            Err(ProviderError::Refused(_)) => return Ok(None),
            Err(other) => return Err(other),
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
        let at = self.clock.now();
        // language=PostgreSQL
        let Some(session) = sqlx::query!(
            r#"
            select customer_id, status, items, floor(extract(epoch from trial_end))::bigint as trial_end, success_url
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
        if session.status == SandboxCheckoutStatus::Complete.as_str() {
            return Ok(success_url);
        }
        if session.status != SandboxCheckoutStatus::Open.as_str() {
            return Err(ProviderError::Refused(
                "This checkout has expired; start again from your billing page.".into(),
            ));
        }
        // No trial and a card that cannot pay: the first charge fails now.
        let now = at.timestamp();
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
        let items = priced_items(&mut tx, &desired).await?;
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
        save_subscription(&mut tx, at, &snapshot)
            .await
            .map_err(db_error)?;
        // language=PostgreSQL
        sqlx::query!(
            "update sandbox_checkout_session set status = $3, subscription_id = $2 where session_id = $1",
            session_id,
            snapshot.id,
            SandboxCheckoutStatus::Complete.as_str()
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        emit(
            &mut tx,
            at,
            "checkout.session.completed",
            &BillingEvent::CheckoutCompleted {
                customer_id: Some(snapshot.customer_id.clone()),
                subscription_id: Some(snapshot.id.clone()),
            },
        )
        .await
        .map_err(db_error)?;
        emit_subscription(&mut tx, at, "customer.subscription.created", &snapshot)
            .await
            .map_err(db_error)?;
        if trial_end.is_none() {
            let lines = line_descriptions(&mut tx, &snapshot.items)
                .await
                .map_err(db_error)?;
            issue_invoice(&mut tx, at, &snapshot, lines, (now, period_end))
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
        let at = self.clock.now();
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
                where customer_id = $1 and snapshot->>'status' = $2 for update
                "#,
                customer_id,
                InvoiceStatus::Open.as_str()
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
            for json in open {
                if let Ok(invoice) = serde_json::from_value::<InvoiceSnapshot>(json) {
                    settle_invoice(&mut tx, at, invoice).await?;
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
}
