//! Stripe's objects in Gatehouse's terms: subscriptions, schedules,
//! invoices and events read into snapshots (pure).

use app::billing::domain::{
    BillingEvent, DesiredItem, InvoiceLine, InvoiceSnapshot, InvoiceStatus, PriceKey, ScheduledChange,
    SnapshotItem, SubscriptionSnapshot,
};
use app::billing::domain::{Discount, DiscountDuration, IntervalUnit, SubscriptionStatus};
use stripe_shared::{
    Invoice, RecurringInterval, Subscription, SubscriptionSchedule, SubscriptionScheduleStatus,
};
use stripe_types::Expandable;

pub(super) fn interval(raw: &RecurringInterval) -> IntervalUnit {
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
pub(super) fn schedule_is_live(schedule: &SubscriptionSchedule) -> bool {
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
        attempt_count: invoice.attempt_count.min(u64::from(u32::MAX)) as u32,
        next_payment_attempt: invoice.next_payment_attempt,
    })
}

/// The Stripe event types Gatehouse acts on; every other type is stored and
/// acknowledged only.
const HANDLED: [&str; 13] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
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
        E::InvoicePaid(invoice)
        | E::InvoicePaymentFailed(invoice)
        | E::InvoicePaymentActionRequired(invoice)
        | E::InvoiceFinalized(invoice) => match invoice_snapshot(invoice) {
            Some(invoice) => BillingEvent::InvoiceChanged {
                invoice: Box::new(invoice),
            },
            None => BillingEvent::Ignored,
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> SubscriptionSchedule {
        serde_json::from_str(include_str!(
            "../../../tests/fixtures/stripe/subscription_schedule_pro_to_starter.json"
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
}
