//! The revenue figures in additive form. Each customer's history reduces to
//! a [`Rollup`]: per day, its MRR movements and the change in whether it is
//! active; per month, its customer churn, trials and the change in its MRR
//! split; per cohort month, what it adds to its cohort. The platform's
//! figures are the sum of every customer's rollup, so when one customer's
//! history changes (a late event, a repeat, an import) the stored totals move
//! by that customer's new rollup minus its old one, and no page ever has to
//! read the whole ledger.

use super::history::{DayValue, History, Labels, MovementKind, Split, Trial};
use super::month::Month;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Something that adds up: a rollup's entries, which vanish when they sum to nothing.
pub trait Flows: Default {
    /// Adds `other` × `sign` (1 or −1) to `self`.
    fn add_signed(&mut self, other: &Self, sign: i64);
    /// Whether it adds nothing.
    fn is_nothing(&self) -> bool;
}

impl Flows for i64 {
    fn add_signed(&mut self, other: &i64, sign: i64) {
        *self += sign * other;
    }

    fn is_nothing(&self) -> bool {
        *self == 0
    }
}

impl<K: Ord + Clone, V: Flows> Flows for BTreeMap<K, V> {
    fn add_signed(&mut self, other: &Self, sign: i64) {
        for (key, value) in other {
            let entry = self.entry(key.clone()).or_default();
            entry.add_signed(value, sign);
            if entry.is_nothing() {
                self.remove(key);
            }
        }
    }

    fn is_nothing(&self) -> bool {
        self.is_empty()
    }
}

/// What one UTC day adds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayFlows {
    /// Each movement kind's sum, in [`MovementKind::ALL`] order.
    pub movements: [i64; 5],
    /// The change in the number of active customers (MRR > 0) over the day.
    pub active: i64,
}

impl Flows for DayFlows {
    fn add_signed(&mut self, other: &DayFlows, sign: i64) {
        for (mine, theirs) in self.movements.iter_mut().zip(other.movements) {
            *mine += sign * theirs;
        }
        self.active += sign * other.active;
    }

    fn is_nothing(&self) -> bool {
        self.active == 0 && self.movements.iter().all(|m| *m == 0)
    }
}

/// What one calendar month adds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthFlows {
    /// Customers with MRR > 0 at the month's start and none at its end.
    pub churned_customers: i64,
    /// Trials that ended in the month.
    pub trials_ended: i64,
    /// Of those, the ones that converted.
    pub trials_converted: i64,
    /// Seconds from trial start to conversion, summed over those.
    pub seconds_to_convert: i64,
    /// The change in MRR by plan from the month's start to its end.
    pub by_plan: BTreeMap<String, i64>,
    /// The change in MRR by billing interval from the month's start to its end.
    pub by_interval: BTreeMap<String, i64>,
}

impl Flows for MonthFlows {
    fn add_signed(&mut self, other: &MonthFlows, sign: i64) {
        self.churned_customers += sign * other.churned_customers;
        self.trials_ended += sign * other.trials_ended;
        self.trials_converted += sign * other.trials_converted;
        self.seconds_to_convert += sign * other.seconds_to_convert;
        self.by_plan.add_signed(&other.by_plan, sign);
        self.by_interval.add_signed(&other.by_interval, sign);
    }

    fn is_nothing(&self) -> bool {
        self.churned_customers == 0
            && self.trials_ended == 0
            && self.trials_converted == 0
            && self.seconds_to_convert == 0
            && self.by_plan.is_empty()
            && self.by_interval.is_empty()
    }
}

/// What one month adds to one cohort.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortFlows {
    /// Customers whose first new business fell in the cohort month (only in that month).
    pub members: i64,
    /// The change in members with MRR > 0 over the month.
    pub retained: i64,
    /// The change in the members' MRR over the month.
    pub mrr: i64,
}

impl Flows for CohortFlows {
    fn add_signed(&mut self, other: &CohortFlows, sign: i64) {
        self.members += sign * other.members;
        self.retained += sign * other.retained;
        self.mrr += sign * other.mrr;
    }

    fn is_nothing(&self) -> bool {
        self.members == 0 && self.retained == 0 && self.mrr == 0
    }
}

/// One customer's figures in additive form, or the sum of many customers'.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollup {
    /// Per day with a movement.
    pub days: BTreeMap<NaiveDate, DayFlows>,
    /// Per month with a churned customer, a trial's end or a changed split.
    pub months: BTreeMap<Month, MonthFlows>,
    /// Per cohort month, per month from it on.
    pub cohorts: BTreeMap<Month, BTreeMap<Month, CohortFlows>>,
}

impl Flows for Rollup {
    fn add_signed(&mut self, other: &Rollup, sign: i64) {
        self.days.add_signed(&other.days, sign);
        self.months.add_signed(&other.months, sign);
        self.cohorts.add_signed(&other.cohorts, sign);
    }

    fn is_nothing(&self) -> bool {
        self.days.is_empty() && self.months.is_empty() && self.cohorts.is_empty()
    }
}

/// What a customer's MRR does at the end of its months: the figures a
/// calendar month reads, at a customer's start and end of month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthState {
    /// MRR at the month's start.
    pub mrr_start: i64,
    /// Active customers at the start.
    pub active_start: i64,
    /// The state at its end.
    pub mrr_end: i64,
    /// Active customers at the end.
    pub active_end: i64,
    /// The month's movements.
    pub movements: [i64; 5],
    /// MRR by plan at the end.
    pub by_plan: BTreeMap<String, i64>,
    /// MRR by interval at the end.
    pub by_interval: BTreeMap<String, i64>,
    /// The month's own flows.
    pub flows: MonthFlows,
}

impl Rollup {
    /// Every customer's rollup, in customer order.
    pub fn per_customer(history: &History) -> Vec<Rollup> {
        let mut trials: Vec<Vec<&Trial>> = vec![Vec::new(); history.series.len()];
        for trial in &history.trials {
            if let Some(list) = trials.get_mut(trial.customer as usize) {
                list.push(trial);
            }
        }
        history
            .series
            .iter()
            .zip(&trials)
            .map(|(series, trials)| Rollup::of_customer(series, trials, &history.plans, &history.intervals))
            .collect()
    }

    /// The platform's rollup: every customer's, summed.
    pub fn of(history: &History) -> Rollup {
        let mut total = Rollup::default();
        for customer in Rollup::per_customer(history) {
            total.add_signed(&customer, 1);
        }
        total
    }

    /// One customer's rollup from its end-of-day series and its trials.
    pub fn of_customer(series: &[DayValue], trials: &[&Trial], plans: &Labels, intervals: &Labels) -> Rollup {
        let mut rollup = Rollup::default();
        let mut cohort: Option<Month> = None;
        let mut had_mrr = false;
        let mut before = 0;
        for value in series {
            if let Some(kind) = MovementKind::of(before, value.mrr, had_mrr) {
                let day = rollup.days.entry(value.day).or_default();
                day.movements[kind as usize] += value.mrr - before;
                day.active += i64::from(value.mrr > 0) - i64::from(before > 0);
                if kind == MovementKind::NewBusiness && cohort.is_none() {
                    cohort = Some(Month::of_day(value.day));
                }
            }
            had_mrr |= value.mrr > 0;
            before = value.mrr;
        }
        // Month by month: the value before the month's first change, and after its last.
        let mut start: Option<&DayValue> = None;
        let mut index = 0;
        while index < series.len() {
            let month = Month::of_day(series[index].day);
            let length = series[index..].partition_point(|v| Month::of_day(v.day) == month);
            let end = &series[index + length - 1];
            let (start_mrr, end_mrr) = (start.map_or(0, |v| v.mrr), end.mrr);
            let flows = MonthFlows {
                churned_customers: i64::from(start_mrr > 0 && end_mrr == 0),
                by_plan: split_change(start.map(|v| &v.by_plan), &end.by_plan, plans),
                by_interval: split_change(start.map(|v| &v.by_interval), &end.by_interval, intervals),
                ..MonthFlows::default()
            };
            rollup.months.add_signed(&BTreeMap::from([(month, flows)]), 1);
            if let Some(cohort) = cohort.filter(|c| *c <= month) {
                let flows = CohortFlows {
                    members: i64::from(cohort == month),
                    retained: i64::from(end_mrr > 0) - i64::from(start_mrr > 0),
                    mrr: end_mrr - start_mrr,
                };
                let entry = BTreeMap::from([(cohort, BTreeMap::from([(month, flows)]))]);
                rollup.cohorts.add_signed(&entry, 1);
            }
            start = Some(end);
            index += length;
        }
        for trial in trials {
            let Some(ended_at) = trial.ended_at else { continue };
            let converted = trial.converted_at.map(|at| (at - trial.started_at).num_seconds());
            let flows = MonthFlows {
                trials_ended: 1,
                trials_converted: i64::from(converted.is_some()),
                seconds_to_convert: converted.unwrap_or(0),
                ..MonthFlows::default()
            };
            rollup
                .months
                .add_signed(&BTreeMap::from([(Month::of(ended_at), flows)]), 1);
        }
        rollup
    }

    /// MRR and active customers at the end of `day`.
    pub fn at_end_of(&self, day: NaiveDate) -> (i64, i64) {
        self.days.range(..=day).fold((0, 0), |(mrr, active), (_, flows)| {
            (mrr + flows.movements.iter().sum::<i64>(), active + flows.active)
        })
    }

    /// Each month's start and end, from `first` to `last`, in one pass.
    pub fn month_states(&self, first: Month, last: Month) -> BTreeMap<Month, MonthState> {
        self.month_states_through(first, last, NaiveDate::MAX)
    }

    /// [`month_states`](Self::month_states) with every day after `through`
    /// left out: a month still running ends at the last day it has had, so
    /// its "end" is the same figure [`at_end_of`](Self::at_end_of) gives.
    pub fn month_states_through(
        &self,
        first: Month,
        last: Month,
        through: NaiveDate,
    ) -> BTreeMap<Month, MonthState> {
        let (mut mrr, mut active) = (0, 0);
        let mut by_plan: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_interval: BTreeMap<String, i64> = BTreeMap::new();
        let mut days = self.days.iter().peekable();
        let mut months = self.months.iter().peekable();
        let mut states = BTreeMap::new();
        for month in Month::range(first, last) {
            while let Some((_, flows)) =
                days.next_if(|(day, _)| **day < month.first_day() && **day <= through)
            {
                mrr += flows.movements.iter().sum::<i64>();
                active += flows.active;
            }
            let (mrr_start, active_start) = (mrr, active);
            let mut movements = [0; 5];
            while let Some((_, flows)) =
                days.next_if(|(day, _)| **day <= month.last_day() && **day <= through)
            {
                for (sum, amount) in movements.iter_mut().zip(flows.movements) {
                    *sum += amount;
                }
                mrr += flows.movements.iter().sum::<i64>();
                active += flows.active;
            }
            let mut own = MonthFlows::default();
            while let Some((at, flows)) = months.next_if(|(at, _)| **at <= month) {
                by_plan.add_signed(&flows.by_plan, 1);
                by_interval.add_signed(&flows.by_interval, 1);
                if *at == month {
                    own = flows.clone();
                }
            }
            states.insert(
                month,
                MonthState {
                    mrr_start,
                    active_start,
                    mrr_end: mrr,
                    active_end: active,
                    movements,
                    by_plan: by_plan.clone(),
                    by_interval: by_interval.clone(),
                    flows: own,
                },
            );
        }
        states
    }
}

/// The change from one split to another, by label name.
fn split_change(start: Option<&Split>, end: &Split, labels: &Labels) -> BTreeMap<String, i64> {
    let mut change: BTreeMap<String, i64> = BTreeMap::new();
    let ends = end.iter().map(|part| (part, 1));
    let starts = start.into_iter().flat_map(|s| s.iter()).map(|part| (part, -1));
    for ((label, cents), sign) in ends.chain(starts) {
        let part = BTreeMap::from([(labels.name(*label).to_owned(), *cents)]);
        change.add_signed(&part, sign);
    }
    change
}
