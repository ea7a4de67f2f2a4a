//! What time does to sandbox subscriptions: a period ending (renewal,
//! trial end, scheduled change, cancellation, dunning) and the
//! trial-ending notice. The renewal job and the test-mode "end the period
//! now" control run the same [`Sandbox::end_period`].

use super::prices::{add_months, cycle_of, line_descriptions, priced_items};
use super::store::{card_pays, emit, issue_invoice, lock_subscription, save_and_report};
use super::{Sandbox, db_error};
use crate::billing::domain::SubscriptionStatus;
use crate::billing::domain::{BillingEvent, SubscriptionSnapshot};
use crate::billing::provider::ProviderError;
use crate::billing::trials::REMINDER_LEAD_DAYS;

impl Sandbox {
    /// Ends the subscription's current period now, as if its end had come:
    /// a trial ends, a scheduled change applies, a cancellation takes
    /// effect, or the next period is invoiced and charged (a failing card
    /// leaves it `past_due`; failing again makes it `unpaid`).
    pub async fn end_period(&self, subscription_id: &str) -> Result<SubscriptionSnapshot, ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let at = self.clock.now();
        let Some(mut snapshot) = lock_subscription(&mut tx, subscription_id)
            .await
            .map_err(db_error)?
        else {
            return Err(ProviderError::NotFound(format!("subscription {subscription_id}")));
        };
        let now = at.timestamp();
        match snapshot.status {
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired => {
                return Err(ProviderError::Refused("This subscription has ended.".into()));
            }
            _ if snapshot.cancel_at_period_end => {
                snapshot.status = SubscriptionStatus::Canceled;
                snapshot.current_period_end = now;
                snapshot.scheduled_change = None;
                save_and_report(&mut tx, at, "customer.subscription.deleted", &snapshot).await?;
            }
            SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
                // Dunning: the open invoice is retried; a second failure ends retries.
                let pays = card_pays(&mut tx, &snapshot.customer_id)
                    .await
                    .map_err(db_error)?
                    == Some(true);
                if !pays {
                    snapshot.status = SubscriptionStatus::Unpaid;
                    save_and_report(&mut tx, at, "customer.subscription.updated", &snapshot).await?;
                }
            }
            _ => {
                if let Some(change) = snapshot.scheduled_change.take() {
                    snapshot.items = priced_items(&mut tx, &change.items).await?;
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
                let paid = issue_invoice(&mut tx, at, &snapshot, lines, (start, end))
                    .await
                    .map_err(db_error)?;
                snapshot.status = if paid {
                    SubscriptionStatus::Active
                } else {
                    SubscriptionStatus::PastDue
                };
                save_and_report(&mut tx, at, "customer.subscription.updated", &snapshot).await?;
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(snapshot)
    }

    /// Ends every period that is due (the renewal job).
    pub async fn renew_due(&self) -> Result<usize, ProviderError> {
        // language=PostgreSQL
        let due = sqlx::query_scalar!(
            r#"
            select subscription_id from sandbox_subscription
            where snapshot->>'status' not in ('canceled', 'incomplete_expired', 'unpaid')
              and (snapshot->>'current_period_end')::bigint <= $1
            limit 100
            "#,
            self.clock.unix()
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
            let at = self.clock.now();
            // language=PostgreSQL
            let Some(row) = sqlx::query!(
                r#"
                select subscription_id, customer_id, (snapshot->>'trial_end')::bigint as "trial_end!"
                from sandbox_subscription
                where snapshot->>'status' = 'trialing'
                  and (snapshot->>'trial_end')::bigint > $2
                  and (snapshot->>'trial_end')::bigint <= $2 + $1::bigint * 86400
                  and trial_will_end_sent_for is distinct from (snapshot->>'trial_end')::bigint
                limit 1
                for update skip locked
                "#,
                REMINDER_LEAD_DAYS,
                at.timestamp()
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
                at,
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
