//! The Stripe provider: the calls checkout, plan changes and cancellations
//! make, each with its idempotency key, and Stripe's failures in
//! Gatehouse's words.

use app::billing::domain::IntervalUnit;
use app::billing::domain::{ChangeTiming, DesiredItem, PriceKey, ProrationLines, SubscriptionSnapshot};
use app::billing::provider::{
    BillingProvider, ChangePreview, CheckoutOutcome, CheckoutRedirect, CheckoutRequest, ProviderError,
    ProviderName,
};
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::{
    CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
    CreatePreviewInvoiceSubscriptionDetailsItems, CreatePreviewInvoiceSubscriptionDetailsProrationBehavior,
};
use stripe_billing::subscription::{
    RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionPaymentBehavior,
    UpdateSubscriptionProrationBehavior,
};
use stripe_billing::subscription_schedule::{
    CreateSubscriptionSchedule, ReleaseSubscriptionSchedule, UpdateSubscriptionSchedule,
    UpdateSubscriptionSchedulePhases, UpdateSubscriptionSchedulePhasesDuration,
    UpdateSubscriptionSchedulePhasesDurationInterval, UpdateSubscriptionSchedulePhasesEndDate,
    UpdateSubscriptionSchedulePhasesItems, UpdateSubscriptionSchedulePhasesStartDate,
    UpdateSubscriptionScheduleProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
    RetrieveCheckoutSession,
};
use stripe_core::customer::CreateCustomer;
use stripe_shared::{
    CheckoutSessionMode, CheckoutSessionStatus, Subscription, SubscriptionScheduleEndBehavior,
};
use stripe_types::Expandable;

use super::convert::{schedule_is_live, scheduled_change, subscription_snapshot};

/// Stripe, reached through async-stripe.
#[derive(Clone)]
pub struct StripeProvider {
    pub(super) client: Client,
    pub(super) pool: PgPool,
}

pub(super) fn provider_error(error: StripeError) -> ProviderError {
    match error {
        StripeError::Stripe(api, status) => {
            // Stripe's text is for developers: logged here, never shown.
            tracing::warn!(status, code = ?api.code.as_ref().map(|c| c.as_str()), message = ?api.message, "Stripe refused a request");
            match status {
                404 => ProviderError::NotFound("that object".into()),
                429 | 500.. => ProviderError::Unavailable,
                _ => ProviderError::Refused(
                    refusal_words(api.code.as_ref().map(|c| c.as_str()), api.decline_code.as_deref()).into(),
                ),
            }
        }
        StripeError::Timeout | StripeError::ClientError(_) => ProviderError::Unavailable,
        other => ProviderError::Unexpected(other.to_string()),
    }
}

/// Gatehouse's words for a refusal, by Stripe's error code.
pub fn refusal_words(code: Option<&str>, decline_code: Option<&str>) -> &'static str {
    match (code, decline_code) {
        (_, Some("insufficient_funds")) => "the card was declined for insufficient funds; try another card",
        (Some("card_declined"), _) => "the card was declined; try another card",
        (Some("expired_card"), _) => "the card has expired; add another card",
        (Some("incorrect_cvc" | "invalid_cvc"), _) => "the card's security code is incorrect",
        (Some("processing_error"), _) => "the card could not be charged just now; try again",
        (Some("resource_missing"), _) => "the payment provider no longer has that; reload the page",
        (Some("customer_max_subscriptions" | "subscription_already_exists"), _) => {
            "the organisation already has a subscription"
        }
        _ => "the payment provider refused the change; nothing was changed",
    }
}

/// What every subscription read expands: coupons for the ledger's discount,
/// and the schedule down to its prices for a change waiting at period end.
fn subscription_expansions() -> Vec<String> {
    vec![
        "discounts".to_owned(),
        SCHEDULE_PRICES_FROM_SUBSCRIPTION.to_owned(),
    ]
}

const SCHEDULE_PRICES_FROM_SUBSCRIPTION: &str = "schedule.phases.items.price";
const SCHEDULE_PRICES: &str = "phases.items.price";

pub(super) fn idempotent(key: &str) -> Result<RequestStrategy, ProviderError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| ProviderError::Unexpected(e.to_string()))
}

impl StripeProvider {
    /// A client for `secret_key`, talking to `api_base` (Stripe's own when `None`).
    pub fn new(pool: PgPool, secret_key: &str, api_base: Option<&str>) -> Result<Self, StripeError> {
        let mut builder = ClientBuilder::new(secret_key).timeout(Duration::from_secs(20));
        if let Some(base) = api_base {
            builder = builder.url(base);
        }
        Ok(StripeProvider {
            client: builder.build()?,
            pool,
        })
    }

    /// The Stripe price id of each lookup key, as the catalogue sync stored them.
    async fn price_ids(&self, items: &[DesiredItem]) -> Result<Vec<(String, u64)>, ProviderError> {
        let keys: Vec<String> = items.iter().map(|i| i.lookup_key.clone()).collect();
        let ids = app::billing::db::prices::price_ids(&self.pool, ProviderName::Stripe, &keys)
            .await
            .map_err(|e| ProviderError::Unexpected(e.to_string()))?;
        items
            .iter()
            .map(|item| {
                ids.get(&item.lookup_key)
                    .map(|id| (id.clone(), u64::from(item.quantity)))
                    .ok_or_else(|| {
                        tracing::error!(lookup_key = %item.lookup_key, "price not synced to Stripe; run `server sync-stripe`");
                        ProviderError::Unexpected(format!("price {} is not synced to Stripe", item.lookup_key))
                    })
            })
            .collect()
    }

    async fn subscription(&self, id: &str) -> Result<Subscription, ProviderError> {
        RetrieveSubscription::new(id)
            .expand(subscription_expansions())
            .send(&self.client)
            .await
            .map_err(provider_error)
    }

    /// The item changes that turn `current` into `wanted`: existing items
    /// are updated or deleted by id, new prices added.
    async fn item_changes(
        &self,
        current: &Subscription,
        wanted: &[DesiredItem],
    ) -> Result<Vec<ItemChange>, ProviderError> {
        let mut unmatched = self.price_ids(wanted).await?;
        let mut changes = Vec::new();
        for item in &current.items.data {
            let price_id = item.price.id.as_str();
            let kept = unmatched.iter().position(|(id, _)| id == price_id);
            changes.push(ItemChange {
                id: Some(item.id.to_string()),
                price: None,
                quantity: kept.map(|pos| unmatched.remove(pos).1),
                deleted: kept.is_none(),
            });
        }
        changes.extend(unmatched.into_iter().map(|(price, quantity)| ItemChange {
            id: None,
            price: Some(price),
            quantity: Some(quantity),
            deleted: false,
        }));
        Ok(changes)
    }

    /// Schedules `wanted` for the end of the current period through a
    /// subscription schedule: the current items until the period ends, then
    /// `wanted`, after which the schedule releases the subscription. An
    /// earlier scheduled change is replaced.
    async fn schedule_at_period_end(
        &self,
        current: &Subscription,
        wanted: &[DesiredItem],
        idempotency_key: &str,
    ) -> Result<SubscriptionSnapshot, ProviderError> {
        let schedule = match &current.schedule {
            Some(Expandable::Object(schedule)) if schedule_is_live(schedule) => (**schedule).clone(),
            _ => CreateSubscriptionSchedule::new()
                .from_subscription(current.id.as_str())
                .customize()
                .request_strategy(idempotent(&format!("{idempotency_key}:schedule"))?)
                .send(&self.client)
                .await
                .map_err(provider_error)?,
        };
        let (phase_start, phase_end) = schedule
            .current_phase
            .as_ref()
            .map(|phase| (phase.start_date, phase.end_date))
            .ok_or_else(|| {
                ProviderError::Unexpected(format!("schedule {} has no current phase", schedule.id))
            })?;
        let current_items = current
            .items
            .data
            .iter()
            .map(|item| phase_item(item.price.id.to_string(), item.quantity.unwrap_or(1)))
            .collect::<Vec<_>>();
        let mut now = UpdateSubscriptionSchedulePhases::new(current_items);
        now.start_date = Some(UpdateSubscriptionSchedulePhasesStartDate::Timestamp(phase_start));
        now.end_date = Some(UpdateSubscriptionSchedulePhasesEndDate::Timestamp(phase_end));
        let mut then = UpdateSubscriptionSchedulePhases::new(
            self.price_ids(wanted)
                .await?
                .into_iter()
                .map(|(price, quantity)| phase_item(price, quantity))
                .collect::<Vec<_>>(),
        );
        then.duration = Some(UpdateSubscriptionSchedulePhasesDuration::new(phase_interval(
            wanted,
        )));
        let updated = UpdateSubscriptionSchedule::new(schedule.id.as_str())
            .phases(vec![now, then])
            .end_behavior(SubscriptionScheduleEndBehavior::Release)
            // The current phase is unchanged: nothing to prorate.
            .proration_behavior(UpdateSubscriptionScheduleProrationBehavior::None)
            .expand(vec![SCHEDULE_PRICES.to_owned()])
            .customize()
            .request_strategy(idempotent(&format!("{idempotency_key}:phases"))?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        let mut snapshot = subscription_snapshot(current);
        snapshot.scheduled_change = scheduled_change(&updated);
        if snapshot.scheduled_change.is_none() {
            return Err(ProviderError::Unexpected(format!(
                "schedule {} does not show the change just made",
                updated.id
            )));
        }
        Ok(snapshot)
    }

    /// Sends a subscription update under its idempotency key and reads the
    /// result as every subscription read is (with discounts and schedule).
    async fn update_subscription(
        &self,
        update: UpdateSubscription,
        idempotency_key: &str,
    ) -> Result<SubscriptionSnapshot, ProviderError> {
        let updated = update
            .expand(subscription_expansions())
            .customize()
            .request_strategy(idempotent(idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        Ok(subscription_snapshot(&updated))
    }

    /// Releases the schedule managing `subscription`, if any, so the
    /// subscription can be changed directly; a waiting change is dropped.
    async fn release_schedule(
        &self,
        subscription: &Subscription,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        let Some(schedule) = &subscription.schedule else {
            return Ok(());
        };
        if let Expandable::Object(schedule) = schedule
            && !schedule_is_live(schedule)
        {
            return Ok(());
        }
        ReleaseSubscriptionSchedule::new(schedule.id().as_str())
            .customize()
            .request_strategy(idempotent(&format!("{idempotency_key}:release"))?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        Ok(())
    }
}

fn phase_item(price: String, quantity: u64) -> UpdateSubscriptionSchedulePhasesItems {
    let mut item = UpdateSubscriptionSchedulePhasesItems::new();
    item.price = Some(price);
    item.quantity = Some(quantity);
    item
}

/// One billing period of the scheduled items (Gatehouse's items share a cycle).
fn phase_interval(items: &[DesiredItem]) -> UpdateSubscriptionSchedulePhasesDurationInterval {
    let unit = items
        .iter()
        .find_map(|item| PriceKey::parse(&item.lookup_key))
        .map_or(IntervalUnit::Month, |key| key.interval());
    match unit {
        IntervalUnit::Year => UpdateSubscriptionSchedulePhasesDurationInterval::Year,
        IntervalUnit::Week => UpdateSubscriptionSchedulePhasesDurationInterval::Week,
        IntervalUnit::Day => UpdateSubscriptionSchedulePhasesDurationInterval::Day,
        IntervalUnit::Month => UpdateSubscriptionSchedulePhasesDurationInterval::Month,
    }
}

/// One change to a subscription's items, as both the preview and the update
/// take it: an existing item (`id`) kept with a quantity or deleted, or a
/// new price added.
struct ItemChange {
    id: Option<String>,
    price: Option<String>,
    quantity: Option<u64>,
    deleted: bool,
}

#[async_trait::async_trait]
impl BillingProvider for StripeProvider {
    fn name(&self) -> ProviderName {
        ProviderName::Stripe
    }

    async fn create_customer(
        &self,
        organization_id: &str,
        organization_name: &str,
        email: &str,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let customer = CreateCustomer::new()
            .name(organization_name)
            .email(email)
            .metadata(HashMap::from([(
                "gatehouse_organization_id".to_owned(),
                organization_id.to_owned(),
            )]))
            .customize()
            .request_strategy(idempotent(idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        Ok(customer.id.to_string())
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutRedirect, ProviderError> {
        let line_items: Vec<CreateCheckoutSessionLineItems> = self
            .price_ids(&request.items)
            .await?
            .into_iter()
            .map(|(price, quantity)| {
                let mut item = CreateCheckoutSessionLineItems::new();
                item.price = Some(price);
                item.quantity = Some(quantity);
                item
            })
            .collect();
        let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
        subscription_data.trial_end = request.trial_end;
        subscription_data.metadata = Some(HashMap::from([(
            "gatehouse_organization_id".to_owned(),
            request.organization_id.clone(),
        )]));
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .customer(request.customer_id.clone())
            .line_items(line_items)
            .allow_promotion_codes(true)
            .client_reference_id(request.organization_id.clone())
            .subscription_data(subscription_data)
            .success_url(request.success_url.clone())
            .cancel_url(request.cancel_url.clone())
            .customize()
            .request_strategy(idempotent(&request.idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        let url = session
            .url
            .clone()
            .ok_or_else(|| ProviderError::Unexpected("checkout session without a URL".into()))?;
        Ok(CheckoutRedirect {
            session_id: session.id.to_string(),
            url,
        })
    }

    async fn checkout_outcome(&self, session_id: &str) -> Result<CheckoutOutcome, ProviderError> {
        let session = RetrieveCheckoutSession::new(session_id)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        let subscription = match &session.subscription {
            Some(subscription) => Some(subscription_snapshot(
                &self.subscription(subscription.id().as_str()).await?,
            )),
            None => None,
        };
        Ok(CheckoutOutcome {
            complete: session.status == Some(CheckoutSessionStatus::Complete),
            customer_id: session.customer.as_ref().map(|c| c.id().to_string()),
            subscription,
        })
    }

    async fn fetch_subscription(&self, subscription_id: &str) -> Result<SubscriptionSnapshot, ProviderError> {
        Ok(subscription_snapshot(&self.subscription(subscription_id).await?))
    }

    async fn preview_change(
        &self,
        subscription_id: &str,
        items: &[DesiredItem],
    ) -> Result<ChangePreview, ProviderError> {
        let current = self.subscription(subscription_id).await?;
        let mut details = CreatePreviewInvoiceSubscriptionDetails::new();
        details.items = Some(
            self.item_changes(&current, items)
                .await?
                .into_iter()
                .map(|change| {
                    let mut item = CreatePreviewInvoiceSubscriptionDetailsItems::new();
                    item.id = change.id;
                    item.price = change.price;
                    item.quantity = change.quantity;
                    item.deleted = change.deleted.then_some(true);
                    item
                })
                .collect(),
        );
        details.proration_behavior =
            Some(CreatePreviewInvoiceSubscriptionDetailsProrationBehavior::AlwaysInvoice);
        let preview = CreatePreviewInvoice::new()
            .customer(current.customer.id().to_string())
            .subscription(subscription_id)
            .subscription_details(details)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        let credit: i64 = preview
            .lines
            .data
            .iter()
            .filter(|l| l.amount < 0)
            .map(|l| -l.amount)
            .sum();
        let charge: i64 = preview
            .lines
            .data
            .iter()
            .filter(|l| l.amount > 0)
            .map(|l| l.amount)
            .sum();
        Ok(ChangePreview {
            proration: ProrationLines {
                credit,
                charge,
                amount_due: preview.amount_due.max(0),
            },
            currency: preview.currency.to_string(),
        })
    }

    async fn change_items(
        &self,
        subscription_id: &str,
        items: &[DesiredItem],
        timing: ChangeTiming,
        idempotency_key: &str,
    ) -> Result<SubscriptionSnapshot, ProviderError> {
        let current = self.subscription(subscription_id).await?;
        if timing == ChangeTiming::AtPeriodEnd {
            return self
                .schedule_at_period_end(&current, items, idempotency_key)
                .await;
        }
        // A change made now replaces one waiting for the period end.
        self.release_schedule(&current, idempotency_key).await?;
        let changes: Vec<UpdateSubscriptionItems> = self
            .item_changes(&current, items)
            .await?
            .into_iter()
            .map(|change| {
                let mut item = UpdateSubscriptionItems::new();
                item.id = change.id;
                item.price = change.price;
                item.quantity = change.quantity;
                item.deleted = change.deleted.then_some(true);
                item
            })
            .collect();
        let update = UpdateSubscription::new(subscription_id)
            .items(changes)
            .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
            // The change only happens if its invoice is paid.
            .payment_behavior(UpdateSubscriptionPaymentBehavior::PendingIfIncomplete);
        self.update_subscription(update, idempotency_key).await
    }

    async fn set_cancel_at_period_end(
        &self,
        subscription_id: &str,
        cancel: bool,
        idempotency_key: &str,
    ) -> Result<SubscriptionSnapshot, ProviderError> {
        if cancel {
            // Stripe refuses to cancel a subscription a schedule manages, and
            // a cancelled subscription has no later plan to move to.
            let current = self.subscription(subscription_id).await?;
            self.release_schedule(&current, idempotency_key).await?;
        }
        let update = UpdateSubscription::new(subscription_id).cancel_at_period_end(cancel);
        self.update_subscription(update, idempotency_key).await
    }

    async fn payment_methods_url(
        &self,
        customer_id: &str,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer_id)
            .return_url(return_url)
            .customize()
            .request_strategy(idempotent(idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        Ok(session.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduled_phase_lasts_one_period_of_its_own_cycle() {
        let annual = [DesiredItem {
            lookup_key: "gatehouse.tier.starter.annual".into(),
            quantity: 1,
        }];
        assert_eq!(
            phase_interval(&annual),
            UpdateSubscriptionSchedulePhasesDurationInterval::Year
        );
        assert_eq!(
            phase_interval(&[]),
            UpdateSubscriptionSchedulePhasesDurationInterval::Month
        );
    }
}
