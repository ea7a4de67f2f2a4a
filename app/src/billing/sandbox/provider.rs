//! The sandbox as a [`BillingProvider`]: customers, checkout sessions,
//! subscription changes and cancellation, each idempotent like Stripe's.

use super::prices::{add_months, currency_of, cycle_of, priced_items, proration};
use super::store::{card_pays, issue_invoice, lock_subscription, remember, remembered, save_and_report};
use super::{Sandbox, db_error, new_id};
use crate::billing::domain::{ChangeTiming, DesiredItem, InvoiceLine, ScheduledChange, SubscriptionSnapshot};
use crate::billing::domain::{SandboxCheckoutStatus, SubscriptionStatus};
use crate::billing::provider::{
    BillingProvider, ChangePreview, CheckoutOutcome, CheckoutRedirect, CheckoutRequest, ProviderError,
    ProviderName,
};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

impl Sandbox {
    /// Makes one idempotent change to a subscription: under its row lock,
    /// `change` edits it; the result is saved, reported as
    /// `customer.subscription.updated` and remembered under the key, all in one
    /// transaction. A repeated key returns the first answer unchanged.
    async fn change_subscription(
        &self,
        subscription_id: &str,
        idempotency_key: &str,
        request: &str,
        change: impl AsyncFnOnce(
            &mut PgConnection,
            DateTime<Utc>,
            &mut SubscriptionSnapshot,
        ) -> Result<(), ProviderError>,
    ) -> Result<SubscriptionSnapshot, ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let at = self.clock.now();
        if let Some(answer) = remembered(&mut tx, idempotency_key, request).await? {
            return Ok(answer);
        }
        let Some(mut current) = lock_subscription(&mut tx, subscription_id)
            .await
            .map_err(db_error)?
        else {
            return Err(ProviderError::NotFound(format!("subscription {subscription_id}")));
        };
        change(&mut tx, at, &mut current).await?;
        save_and_report(&mut tx, at, "customer.subscription.updated", &current).await?;
        remember(&mut tx, idempotency_key, request, &current)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(current)
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
        priced_items(&mut tx, &request.items).await?;
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
            complete: session.status == SandboxCheckoutStatus::Complete.as_str(),
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
        let new_items = priced_items(&mut conn, items).await?;
        Ok(ChangePreview {
            proration: proration(&current, &new_items, self.clock.unix()),
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
        self.change_subscription(subscription_id, idempotency_key, &request, async |tx, at, current| {
            if matches!(
                current.status,
                SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired | SubscriptionStatus::Unpaid
            ) {
                return Err(ProviderError::Refused(
                    "This subscription can no longer be changed.".into(),
                ));
            }
            let new_items = priced_items(tx, items).await?;
            match timing {
                ChangeTiming::AtPeriodEnd => {
                    current.scheduled_change = Some(ScheduledChange {
                        items: items.to_vec(),
                        effective_at: current.current_period_end,
                    });
                }
                ChangeTiming::Immediately => {
                    let now = at.timestamp();
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
                        issue_invoice(tx, at, current, invoice_lines, (start, end))
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
        self.change_subscription(
            subscription_id,
            idempotency_key,
            &request,
            async |_, _, current| {
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
            },
        )
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
