//! What time does to sandbox subscriptions: a period ending (renewal,
//! trial end, scheduled change, cancellation, dunning) and the
//! trial-ending notice. The renewal job and the test-mode "end the period
//! now" control run the same [`Sandbox::end_period`].

use super::prices::{add_months, cycle_of, line_descriptions, priced_items};
use super::store::{
    PAYMENT_RETRY_DAYS, card_pays, emit, issue_invoice, lock_subscription, save_and_report, save_invoice,
    settle_invoice,
};
use super::{Sandbox, db_error};
use crate::billing::domain::{
    BillingEvent, InvoiceSnapshot, InvoiceStatus, SubscriptionSnapshot, SubscriptionStatus,
};
use crate::billing::provider::ProviderError;
use crate::billing::trials::PROVIDER_NOTICE_DAYS;

impl Sandbox {
    /// Ends the subscription's current period now, as if its end had come:
    /// a trial ends, a scheduled change applies, a cancellation takes
    /// effect, or the next period is invoiced and charged (a failing card
    /// leaves it `past_due`; failing again makes it `unpaid`).
    pub async fn end_period(&self, subscription_id: &str) -> Result<SubscriptionSnapshot, ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let at = self.clock.now();
        let snapshot = self.end_period_in(&mut tx, subscription_id, at, false).await?;
        tx.commit().await.map_err(db_error)?;
        snapshot.ok_or_else(|| ProviderError::Refused("This period has not ended yet.".into()))
    }

    /// [`Sandbox::end_period`] in the caller's transaction, at `at`. With
    /// `only_if_due`, a subscription whose period is not over (any more:
    /// another renewal got there first) is left alone and `None` comes back.
    async fn end_period_in(
        &self,
        tx: &mut sqlx::PgConnection,
        subscription_id: &str,
        at: chrono::DateTime<chrono::Utc>,
        only_if_due: bool,
    ) -> Result<Option<SubscriptionSnapshot>, ProviderError> {
        let Some(mut snapshot) = lock_subscription(tx, subscription_id).await.map_err(db_error)? else {
            return Err(ProviderError::NotFound(format!("subscription {subscription_id}")));
        };
        let now = at.timestamp();
        // Re-checked under the row's lock: two renewals of one period
        // make one.
        if only_if_due && snapshot.current_period_end > now {
            return Ok(None);
        }
        match snapshot.status {
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired => {
                return Err(ProviderError::Refused("This subscription has ended.".into()));
            }
            _ if snapshot.cancel_at_period_end => {
                snapshot.status = SubscriptionStatus::Canceled;
                snapshot.current_period_end = now;
                snapshot.scheduled_change = None;
                save_and_report(&mut *tx, at, "customer.subscription.deleted", &snapshot).await?;
            }
            SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
                // Dunning: the open invoice is retried; a second failure ends retries.
                let pays = card_pays(&mut *tx, &snapshot.customer_id)
                    .await
                    .map_err(db_error)?
                    == Some(true);
                if !pays {
                    snapshot.status = SubscriptionStatus::Unpaid;
                    save_and_report(&mut *tx, at, "customer.subscription.updated", &snapshot).await?;
                }
            }
            _ => {
                if let Some(change) = snapshot.scheduled_change.take() {
                    snapshot.items = priced_items(&mut *tx, &change.items).await?;
                }
                let cycle = cycle_of(&snapshot.items);
                let start = now;
                let end = add_months(start, cycle.months() as u32);
                let lines = line_descriptions(&mut *tx, &snapshot.items)
                    .await
                    .map_err(db_error)?;
                let was_trial = snapshot.status == SubscriptionStatus::Trialing;
                snapshot.current_period_start = start;
                snapshot.current_period_end = end;
                if was_trial {
                    snapshot.trial_end = Some(now);
                }
                let paid = issue_invoice(&mut *tx, at, &snapshot, lines, (start, end))
                    .await
                    .map_err(db_error)?;
                snapshot.status = if paid {
                    SubscriptionStatus::Active
                } else {
                    SubscriptionStatus::PastDue
                };
                save_and_report(&mut *tx, at, "customer.subscription.updated", &snapshot).await?;
            }
        }
        Ok(Some(snapshot))
    }

    /// Ends every period that is due at the clock's now (the runner's
    /// renewal job), up to 100, in the job's transaction. Due rows are
    /// locked (skipping rows another renewal holds) and re-checked, so two
    /// processes never renew one period twice. Returns how many it renewed.
    pub async fn renew_due(&self, tx: &mut sqlx::PgConnection) -> Result<usize, ProviderError> {
        let at = self.clock.now();
        // language=PostgreSQL
        let due = sqlx::query_scalar!(
            r#"
            select subscription_id from sandbox_subscription
            where snapshot->>'status' = any($2)
              and (snapshot->>'current_period_end')::bigint <= $1
            order by subscription_id
            limit 100
            for update skip locked
            "#,
            at.timestamp(),
            &SubscriptionStatus::words_where(period_rolls_over) as &[&str]
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut renewed = 0;
        for id in due {
            renewed += usize::from(self.end_period_in(tx, &id, at, true).await?.is_some());
        }
        Ok(renewed)
    }

    /// Charges again every unpaid invoice whose next attempt is due (the
    /// sandbox's retry schedule, `PAYMENT_RETRY_DAYS`: 3, 5 and 7 days), in the job's
    /// transaction: a working card pays it and the subscription is active
    /// again; a failing one records the attempt and schedules the next, and
    /// after the last the subscription turns `unpaid`. Returns how many
    /// invoices were tried.
    pub async fn retry_due_payments(&self, tx: &mut sqlx::PgConnection) -> Result<usize, ProviderError> {
        let at = self.clock.now();
        // language=PostgreSQL
        let due = sqlx::query_scalar!(
            r#"
            select snapshot from sandbox_invoice
            where snapshot->>'status' = $2 and (snapshot->>'next_payment_attempt')::bigint <= $1
            order by invoice_id
            limit 100
            for update skip locked
            "#,
            at.timestamp(),
            InvoiceStatus::Open.as_str()
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut tried = 0;
        for json in due {
            let Ok(mut invoice) = serde_json::from_value::<InvoiceSnapshot>(json) else {
                continue;
            };
            tried += 1;
            if card_pays(tx, &invoice.customer_id).await.map_err(db_error)? == Some(true) {
                settle_invoice(tx, at, invoice).await?;
                continue;
            }
            invoice.attempt_count += 1;
            let subscription = match invoice.subscription_id.clone() {
                Some(id) => lock_subscription(tx, &id).await.map_err(db_error)?,
                None => None,
            };
            // The n-th attempt failed: the next waits the n-th gap, if any.
            let gap = PAYMENT_RETRY_DAYS.get(invoice.attempt_count.saturating_sub(1) as usize);
            invoice.next_payment_attempt = gap.map(|days| at.timestamp() + days * 86_400);
            save_invoice(tx, &invoice).await.map_err(db_error)?;
            let retries_over = invoice.next_payment_attempt.is_none();
            emit(
                tx,
                at,
                "invoice.payment_failed",
                &BillingEvent::InvoiceChanged {
                    invoice: Box::new(invoice),
                },
            )
            .await
            .map_err(db_error)?;
            if retries_over
                && let Some(mut snapshot) = subscription
                && snapshot.status == SubscriptionStatus::PastDue
            {
                snapshot.status = SubscriptionStatus::Unpaid;
                save_and_report(tx, at, "customer.subscription.updated", &snapshot).await?;
            }
        }
        Ok(tried)
    }

    /// Plays Stripe's `customer.subscription.trial_will_end`: one event per
    /// trial end, [`PROVIDER_NOTICE_DAYS`] before it, into the same inbox as
    /// every other sandbox event, in the job's transaction. Returns how many
    /// were announced.
    pub async fn announce_trials_ending(&self, tx: &mut sqlx::PgConnection) -> Result<usize, ProviderError> {
        let at = self.clock.now();
        // language=PostgreSQL
        let rows = sqlx::query!(
            r#"
            select subscription_id, customer_id, (snapshot->>'trial_end')::bigint as "trial_end!"
            from sandbox_subscription
            where snapshot->>'status' = $3
              and (snapshot->>'trial_end')::bigint > $2
              and (snapshot->>'trial_end')::bigint <= $2 + $1::bigint * 86400
              and trial_will_end_sent_for is distinct from (snapshot->>'trial_end')::bigint
            order by subscription_id
            limit 500
            for update skip locked
            "#,
            i64::from(PROVIDER_NOTICE_DAYS),
            at.timestamp(),
            SubscriptionStatus::Trialing.as_str()
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        for row in &rows {
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
                tx,
                at,
                "customer.subscription.trial_will_end",
                &BillingEvent::SubscriptionChanged {
                    subscription_id: row.subscription_id.clone(),
                    customer_id: row.customer_id.clone(),
                    trial_will_end: true,
                    state: None,
                },
            )
            .await
            .map_err(db_error)?;
        }
        Ok(rows.len())
    }
}

/// Whether a subscription in `status` starts a new period when its current
/// one ends, as Stripe's do: an ended one never does, and an unpaid one
/// stays where its retries left it.
fn period_rolls_over(status: SubscriptionStatus) -> bool {
    !(status.has_ended() || status == SubscriptionStatus::Unpaid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_living_subscription_rolls_over_and_only_those() {
        for status in SubscriptionStatus::ALL {
            let expected = !matches!(
                status,
                SubscriptionStatus::Canceled
                    | SubscriptionStatus::IncompleteExpired
                    | SubscriptionStatus::Unpaid
            );
            assert_eq!(period_rolls_over(status), expected, "{status:?}");
        }
    }
}
