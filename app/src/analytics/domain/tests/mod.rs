//! Hand-computed fixtures for every figure, including each case METRICS.md
//! names, and properties over generated histories.

use super::*;
use crate::billing::domain::{
    Discount, DiscountDuration, ExactMrr, IntervalUnit, RecurringItem, SubscriptionStatus, customer_mrr,
    subscription_mrr,
};
use SubscriptionStatus::*;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a fixture time")
        .with_timezone(&Utc)
}

fn month(text: &str) -> Month {
    Month::parse(text).expect("a fixture month")
}

/// Builds histories from fixture rows.
#[derive(Default)]
struct Fixture {
    points: Vec<StatePoint>,
    plans: Labels,
    intervals: Labels,
}

/// What a subscription bills: per period amount, quantity, interval, months per interval.
#[derive(Debug, Clone, Copy)]
struct Bill {
    amount: i64,
    quantity: u32,
    interval: IntervalUnit,
    count: u32,
    percent_off_forever: u32,
}

fn monthly(amount: i64) -> Bill {
    Bill {
        amount,
        quantity: 1,
        interval: IntervalUnit::Month,
        count: 1,
        percent_off_forever: 0,
    }
}

fn yearly(amount: i64) -> Bill {
    Bill {
        interval: IntervalUnit::Year,
        ..monthly(amount)
    }
}

impl Bill {
    fn interval_name(self) -> &'static str {
        match (self.interval, self.count) {
            (IntervalUnit::Month, 3) => "quarter",
            (IntervalUnit::Month, _) => "month",
            (IntervalUnit::Year, _) => "year",
            (IntervalUnit::Week, _) => "week",
            (IntervalUnit::Day, _) => "day",
        }
    }

    fn mrr(self, status: SubscriptionStatus) -> ExactMrr {
        let item = RecurringItem {
            unit_amount: self.amount,
            quantity: self.quantity,
            interval: self.interval,
            interval_count: self.count,
        };
        let discounts: Vec<Discount> = (self.percent_off_forever > 0)
            .then_some(Discount::PercentOff {
                basis_points: self.percent_off_forever * 100,
                duration: DiscountDuration::Forever,
            })
            .into_iter()
            .collect();
        subscription_mrr(status, &[item], &discounts)
    }
}

impl Fixture {
    fn state(
        &mut self,
        customer: u32,
        subscription: u32,
        when: &str,
        status: SubscriptionStatus,
        plan: &str,
        bill: Bill,
    ) -> &mut Self {
        self.state_at(customer, subscription, at(when), status, plan, bill)
    }

    fn state_at(
        &mut self,
        customer: u32,
        subscription: u32,
        when: DateTime<Utc>,
        status: SubscriptionStatus,
        plan: &str,
        bill: Bill,
    ) -> &mut Self {
        let point = StatePoint {
            customer,
            subscription,
            at: when,
            status,
            plan: self.plans.id(plan),
            interval: self.intervals.id(bill.interval_name()),
            mrr: bill.mrr(status),
        };
        self.points.push(point);
        self
    }

    fn history(&self) -> History {
        History::build(self.points.clone(), self.plans.clone(), self.intervals.clone())
    }

    fn report(&self, first: &str, last: &str) -> AnalyticsReport {
        let window = Window {
            first: month(first),
            last: month(last),
        };
        report(&Rollup::of(&self.history()), window, at("2030-01-01T00:00:00Z"))
    }
}

fn month_of<'a>(report: &'a AnalyticsReport, name: &str) -> &'a MonthReport {
    report
        .months
        .iter()
        .find(|m| m.month == name)
        .expect("the month is in the report")
}

mod fixtures;
mod headline;
mod properties;
