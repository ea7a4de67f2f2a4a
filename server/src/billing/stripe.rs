//! The Stripe provider, through async-stripe: Stripe's objects read into
//! Gatehouse's snapshots, the calls checkout and plan changes make, and the
//! catalogue sync (products and prices matched by lookup key).

use app::billing::domain::{Discount, DiscountDuration, IntervalUnit, SubscriptionStatus};
use app::billing::provider::{
    BillingProvider, ChangePreview, CheckoutOutcome, CheckoutRedirect, CheckoutRequest, ProviderError,
    ProviderName,
};
use app::billing::subscription::{
    BillingEvent, ChangeTiming, DesiredItem, InvoiceLine, InvoiceSnapshot, InvoiceStatus, PriceKey,
    PriceKind, ProrationLines, ScheduledChange, SnapshotItem, SubscriptionSnapshot,
};
use app::catalog::domain::Catalog;
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
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, ListPrice, UpdatePrice,
};
use stripe_product::product::{CreateProduct, RetrieveProduct};
use stripe_shared::{
    CheckoutSessionMode, CheckoutSessionStatus, Invoice, RecurringInterval, Subscription,
    SubscriptionSchedule, SubscriptionScheduleEndBehavior, SubscriptionScheduleStatus,
};
use stripe_types::{Currency, Expandable};

// ---------------------------------------------------------------------------
// Stripe's objects in Gatehouse's terms (pure).

fn interval(raw: &RecurringInterval) -> IntervalUnit {
    match raw {
        RecurringInterval::Day => IntervalUnit::Day,
        RecurringInterval::Week => IntervalUnit::Week,
        RecurringInterval::Year => IntervalUnit::Year,
        _ => IntervalUnit::Month,
    }
}

fn status(raw: &stripe_shared::SubscriptionStatus) -> SubscriptionStatus {
    SubscriptionStatus::parse(raw.as_str()).unwrap_or(SubscriptionStatus::Incomplete)
}

fn discount(raw: &stripe_shared::Discount) -> Option<Discount> {
    let Some(Expandable::Object(coupon)) = &raw.source.coupon else {
        return None;
    };
    let duration = match coupon.duration {
        stripe_shared::CouponDuration::Forever => DiscountDuration::Forever,
        stripe_shared::CouponDuration::Once => DiscountDuration::Once,
        _ => DiscountDuration::Repeating,
    };
    match (coupon.percent_off, coupon.amount_off) {
        // Percentages arrive as floats with at most two decimals: basis points are exact.
        (Some(percent), _) => Some(Discount::PercentOff {
            basis_points: (percent * 100.0).round().clamp(0.0, 10_000.0) as u32,
            duration,
        }),
        (None, Some(amount)) => Some(Discount::AmountOff { amount, duration }),
        (None, None) => None,
    }
}

/// A Stripe subscription as a snapshot. Periods come from the items (where
/// Stripe's current API keeps them).
pub fn subscription_snapshot(subscription: &Subscription) -> SubscriptionSnapshot {
    let items: Vec<SnapshotItem> = subscription
        .items
        .data
        .iter()
        .map(|item| SnapshotItem {
            lookup_key: item.price.lookup_key.clone().unwrap_or_default(),
            quantity: item.quantity.unwrap_or(1).min(u64::from(u32::MAX)) as u32,
            unit_amount: item.price.unit_amount.unwrap_or(0),
            currency: item.price.currency.to_string(),
            interval: item
                .price
                .recurring
                .as_ref()
                .map_or(IntervalUnit::Month, |r| interval(&r.interval)),
            interval_count: item
                .price
                .recurring
                .as_ref()
                .map_or(1, |r| r.interval_count.clamp(1, 1000) as u32),
        })
        .collect();
    let (start, end) = subscription
        .items
        .data
        .iter()
        .map(|i| (i.current_period_start, i.current_period_end))
        .fold(None, |acc: Option<(i64, i64)>, (s, e)| {
            Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
        })
        .unwrap_or((subscription.start_date, subscription.start_date));
    SubscriptionSnapshot {
        id: subscription.id.to_string(),
        customer_id: subscription.customer.id().to_string(),
        status: status(&subscription.status),
        items,
        discounts: subscription
            .discounts
            .iter()
            .filter_map(|d| match d {
                Expandable::Object(d) => discount(d),
                Expandable::Id(_) => None,
            })
            .collect(),
        current_period_start: start,
        current_period_end: end,
        trial_start: subscription.trial_start,
        trial_end: subscription.trial_end,
        cancel_at_period_end: subscription.cancel_at_period_end,
        scheduled_change: match &subscription.schedule {
            Some(Expandable::Object(schedule)) => scheduled_change(schedule),
            _ => None,
        },
    }
}

/// Whether a schedule still manages its subscription (not released,
/// completed or cancelled).
fn schedule_is_live(schedule: &SubscriptionSchedule) -> bool {
    matches!(
        schedule.status,
        SubscriptionScheduleStatus::Active | SubscriptionScheduleStatus::NotStarted
    )
}

/// What a subscription schedule changes when its current phase ends: the
/// next phase's items, read from their expanded prices' lookup keys. `None`
/// when the schedule is over, has no next phase, or names a price that is
/// not one of Gatehouse's.
pub fn scheduled_change(schedule: &SubscriptionSchedule) -> Option<ScheduledChange> {
    if !schedule_is_live(schedule) {
        return None;
    }
    let current_end = schedule.current_phase.as_ref()?.end_date;
    let next = schedule
        .phases
        .iter()
        .find(|phase| phase.start_date == current_end)?;
    let items = next
        .items
        .iter()
        .map(|item| match &item.price {
            Expandable::Object(price) => Some(DesiredItem {
                lookup_key: price
                    .lookup_key
                    .clone()
                    .filter(|k| PriceKey::parse(k).is_some())?,
                quantity: item.quantity.unwrap_or(1).min(u64::from(u32::MAX)) as u32,
            }),
            Expandable::Id(_) => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ScheduledChange {
        items,
        effective_at: next.start_date,
    })
}

/// A Stripe invoice as a snapshot; `None` for previews (no id) or invoices
/// without a customer.
pub fn invoice_snapshot(invoice: &Invoice) -> Option<InvoiceSnapshot> {
    let id = invoice.id.as_ref()?.to_string();
    let customer_id = invoice.customer.as_ref()?.id().to_string();
    Some(InvoiceSnapshot {
        id,
        customer_id,
        // Stripe's current API names the subscription under `parent`; older
        // payloads carry it at the top.
        subscription_id: invoice
            .parent
            .as_ref()
            .and_then(|parent| parent.subscription_details.as_ref())
            .map(|details| details.subscription.id().to_string())
            .or_else(|| invoice.subscription.as_ref().map(|s| s.id().to_string())),
        number: invoice.number.clone(),
        status: invoice
            .status
            .as_ref()
            .and_then(|s| InvoiceStatus::parse(s.as_str()))
            .unwrap_or(InvoiceStatus::Draft),
        currency: invoice.currency.to_string(),
        subtotal: invoice.subtotal,
        total: invoice.total,
        amount_due: invoice.amount_due,
        amount_paid: invoice.amount_paid,
        period_start: Some(invoice.period_start),
        period_end: Some(invoice.period_end),
        lines: invoice
            .lines
            .data
            .iter()
            .map(|line| InvoiceLine {
                description: line.description.clone().unwrap_or_default(),
                quantity: line.quantity.unwrap_or(1).min(u64::from(u32::MAX)) as u32,
                amount: line.amount,
            })
            .collect(),
        hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        invoice_pdf_url: invoice.invoice_pdf.clone(),
        created: invoice.created,
    })
}

/// The Stripe event types Gatehouse acts on; every other type is stored and
/// acknowledged only.
const HANDLED: [&str; 12] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.finalized",
    "customer.updated",
    "checkout.session.async_payment_succeeded",
];

/// A verified Stripe event in Gatehouse's terms (the endpoint decodes each
/// body once, into this). Subscription events carry the subscription as it
/// was at the event, for the ledger.
pub fn billing_event_from_stripe_event(event: &stripe_webhook::Event) -> BillingEvent {
    use stripe_webhook::EventObject as E;
    if !HANDLED.contains(&event.type_.as_str()) {
        return BillingEvent::Ignored;
    }
    let changed = |subscription: &Subscription, trial_will_end: bool| BillingEvent::SubscriptionChanged {
        subscription_id: subscription.id.to_string(),
        customer_id: subscription.customer.id().to_string(),
        trial_will_end,
        state: Some(Box::new(subscription_snapshot(subscription))),
    };
    match &event.data.object {
        E::CheckoutSessionCompleted(session) | E::CheckoutSessionAsyncPaymentSucceeded(session) => {
            BillingEvent::CheckoutCompleted {
                customer_id: session.customer.as_ref().map(|c| c.id().to_string()),
                subscription_id: session.subscription.as_ref().map(|s| s.id().to_string()),
            }
        }
        E::CustomerSubscriptionCreated(s)
        | E::CustomerSubscriptionUpdated(s)
        | E::CustomerSubscriptionDeleted(s)
        | E::CustomerSubscriptionPaused(s)
        | E::CustomerSubscriptionResumed(s) => changed(s, false),
        E::CustomerSubscriptionTrialWillEnd(s) => changed(s, true),
        E::InvoicePaid(invoice) | E::InvoicePaymentFailed(invoice) | E::InvoiceFinalized(invoice) => {
            match invoice_snapshot(invoice) {
                Some(invoice) => BillingEvent::InvoiceChanged {
                    invoice: Box::new(invoice),
                },
                None => BillingEvent::Ignored,
            }
        }
        E::CustomerUpdated(customer) => BillingEvent::CustomerUpdated {
            customer_id: customer.id.to_string(),
            email: customer.email.clone(),
        },
        _ => BillingEvent::Ignored,
    }
}

/// Reads a stored Stripe event as a billing event: for events stored before
/// the endpoint decoded them.
pub fn billing_event_from_stripe(payload: &serde_json::Value) -> Result<BillingEvent, String> {
    if !payload["type"].as_str().is_some_and(|t| HANDLED.contains(&t)) {
        return Ok(BillingEvent::Ignored);
    }
    let event: stripe_webhook::Event = serde_json::from_value(payload.clone()).map_err(|e| e.to_string())?;
    Ok(billing_event_from_stripe_event(&event))
}

// ---------------------------------------------------------------------------
// The provider.

/// Stripe, reached through async-stripe.
#[derive(Clone)]
pub struct StripeProvider {
    client: Client,
    pool: PgPool,
}

fn provider_error(error: StripeError) -> ProviderError {
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

fn idempotent(key: &str) -> Result<RequestStrategy, ProviderError> {
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
        // language=PostgreSQL
        let rows = sqlx::query!(
            "select lookup_key, provider_price_id from provider_price where provider = 'stripe' and lookup_key = any($1)",
            &keys
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| ProviderError::Unexpected(e.to_string()))?;
        let ids: HashMap<String, String> = rows
            .into_iter()
            .map(|r| (r.lookup_key, r.provider_price_id))
            .collect();
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

    /// Creates or updates Stripe's products and prices so every catalogue
    /// price exists under its lookup key with the catalogue's amount. Prices
    /// cannot change amount at Stripe: a changed amount gets a new price that
    /// takes the lookup key over. Returns one line per change made.
    pub async fn sync_catalog(&self, catalog: &Catalog) -> Result<Vec<String>, ProviderError> {
        let mut changes = Vec::new();
        let keys = PriceKey::all_for(catalog);
        let existing = self.prices_by_lookup_key(&keys).await?;
        for key in &keys {
            let Some(amount) = key.catalog_amount(catalog) else {
                continue;
            };
            let product_id = format!("gatehouse_{}_{}", kind_word(key.kind), key.key);
            let lookup_key = key.lookup_key();
            let currency = catalog.currency.code().to_lowercase();
            if let Some(price) = existing.get(&lookup_key)
                && price.unit_amount == Some(amount)
                && price.currency.to_string() == currency
                && price
                    .recurring
                    .as_ref()
                    .is_some_and(|r| interval(&r.interval) == key.interval())
            {
                self.record_price(&lookup_key, price.id.as_str(), &product_id, amount, &currency)
                    .await?;
                if !price.active {
                    UpdatePrice::new(price.id.clone())
                        .active(true)
                        .send(&self.client)
                        .await
                        .map_err(provider_error)?;
                    changes.push(format!("{lookup_key}: reactivated"));
                }
                continue;
            }
            self.ensure_product(&product_id, &product_name(catalog, key))
                .await?;
            let recurring_interval = match key.interval() {
                IntervalUnit::Year => CreatePriceRecurringInterval::Year,
                _ => CreatePriceRecurringInterval::Month,
            };
            // Stripe's currency list takes any code (unknown ones too).
            let Ok(stripe_currency) = currency.parse::<Currency>();
            let created = CreatePrice::new(stripe_currency)
                .product(product_id.clone())
                .unit_amount(amount)
                .lookup_key(lookup_key.clone())
                .transfer_lookup_key(true)
                .recurring(CreatePriceRecurring::new(recurring_interval))
                .customize()
                .request_strategy(idempotent(&format!("price:{lookup_key}:{amount}:{currency}"))?)
                .send(&self.client)
                .await
                .map_err(provider_error)?;
            self.record_price(&lookup_key, created.id.as_str(), &product_id, amount, &currency)
                .await?;
            changes.push(match existing.get(&lookup_key) {
                Some(old) => format!(
                    "{lookup_key}: new price {} ({amount}) replaces {} ({})",
                    created.id,
                    old.id,
                    old.unit_amount.unwrap_or_default()
                ),
                None => format!("{lookup_key}: created price {} ({amount})", created.id),
            });
        }
        Ok(changes)
    }

    /// What differs between the catalogue and Stripe, one line each; empty
    /// when they match.
    pub async fn catalog_differences(&self, catalog: &Catalog) -> Result<Vec<String>, ProviderError> {
        let keys = PriceKey::all_for(catalog);
        let existing = self.prices_by_lookup_key(&keys).await?;
        let mut differences = Vec::new();
        for key in &keys {
            let lookup_key = key.lookup_key();
            let Some(amount) = key.catalog_amount(catalog) else {
                continue;
            };
            match existing.get(&lookup_key) {
                None => differences.push(format!("{lookup_key}: missing at Stripe (catalogue: {amount})")),
                Some(price) if price.unit_amount != Some(amount) => differences.push(format!(
                    "{lookup_key}: Stripe has {}, the catalogue {amount}",
                    price.unit_amount.unwrap_or_default()
                )),
                Some(price) if !price.active => differences.push(format!("{lookup_key}: inactive at Stripe")),
                Some(_) => {}
            }
        }
        Ok(differences)
    }

    async fn prices_by_lookup_key(
        &self,
        keys: &[PriceKey],
    ) -> Result<HashMap<String, stripe_shared::Price>, ProviderError> {
        let mut found = HashMap::new();
        // Stripe takes at most ten lookup keys per list call.
        for chunk in keys.chunks(10) {
            let lookup_keys: Vec<String> = chunk.iter().map(PriceKey::lookup_key).collect();
            let page = ListPrice::new()
                .lookup_keys(lookup_keys)
                .limit(100)
                .send(&self.client)
                .await
                .map_err(provider_error)?;
            for price in page.data {
                if let Some(key) = price.lookup_key.clone() {
                    found.insert(key, price);
                }
            }
        }
        Ok(found)
    }

    async fn ensure_product(&self, product_id: &str, name: &str) -> Result<(), ProviderError> {
        match RetrieveProduct::new(product_id).send(&self.client).await {
            Ok(_) => Ok(()),
            Err(StripeError::Stripe(_, 404)) => CreateProduct::new(name)
                .id(product_id)
                .customize()
                .request_strategy(idempotent(&format!("product:{product_id}"))?)
                .send(&self.client)
                .await
                .map(|_| ())
                .map_err(provider_error),
            Err(error) => Err(provider_error(error)),
        }
    }

    async fn record_price(
        &self,
        lookup_key: &str,
        price_id: &str,
        product_id: &str,
        amount: i64,
        currency: &str,
    ) -> Result<(), ProviderError> {
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into provider_price (provider, lookup_key, provider_price_id, provider_product_id, unit_amount, currency)
            values ('stripe', $1, $2, $3, $4, upper($5))
            on conflict (provider, lookup_key) do update
                set provider_price_id = excluded.provider_price_id, provider_product_id = excluded.provider_product_id,
                    unit_amount = excluded.unit_amount, currency = excluded.currency, synced_at = now()
            "#,
            lookup_key,
            price_id,
            product_id,
            amount,
            currency
        )
        .execute(&self.pool)
        .await
        .map_err(|e| ProviderError::Unexpected(e.to_string()))?;
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

fn kind_word(kind: PriceKind) -> &'static str {
    match kind {
        PriceKind::Tier => "tier",
        PriceKind::AddOn => "add_on",
    }
}

fn product_name(catalog: &Catalog, key: &PriceKey) -> String {
    match key.kind {
        PriceKind::Tier => catalog
            .tier(&key.key)
            .map_or(key.key.clone(), |t| format!("{} plan", t.name)),
        PriceKind::AddOn => catalog
            .add_ons
            .iter()
            .find(|a| a.key == key.key)
            .map_or(key.key.clone(), |a| a.name.clone()),
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

    fn schedule() -> SubscriptionSchedule {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/stripe/subscription_schedule_pro_to_starter.json"
        ))
        .unwrap()
    }

    #[test]
    fn a_live_schedule_shows_its_next_phase_as_the_scheduled_change() {
        let change = scheduled_change(&schedule()).unwrap();
        assert_eq!(change.effective_at, 1_766_292_000);
        assert_eq!(
            change.items,
            [DesiredItem {
                lookup_key: "gatehouse.tier.starter.monthly".into(),
                quantity: 1
            }]
        );
    }

    #[test]
    fn released_schedules_and_foreign_prices_schedule_nothing() {
        let mut released = schedule();
        released.status = SubscriptionScheduleStatus::Released;
        assert_eq!(scheduled_change(&released), None);

        let mut foreign = schedule();
        if let Expandable::Object(price) = &mut foreign.phases[1].items[0].price {
            price.lookup_key = Some("someone_elses_price".into());
        }
        assert_eq!(scheduled_change(&foreign), None);

        let mut last_phase = schedule();
        last_phase.phases.truncate(1);
        assert_eq!(scheduled_change(&last_phase), None);
    }

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
