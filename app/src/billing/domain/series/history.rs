//! Subscription histories turned into what every figure reads: each
//! customer's MRR at the end of each UTC day it changed, split by plan and
//! by billing interval, the movements between those values, and each trial.

use crate::billing::domain::{ExactMrr, SubscriptionStatus};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;

/// An index into [`History::plans`] or [`History::intervals`].
pub type LabelId = u16;

/// One state of one subscription, from `at` until its next state.
#[derive(Debug, Clone)]
pub struct StatePoint {
    /// The customer (organisation), as a dense index the caller assigns.
    pub customer: u32,
    /// The subscription, unique across customers.
    pub subscription: u32,
    /// When the state began at the provider.
    pub at: DateTime<Utc>,
    /// The state's status.
    pub status: SubscriptionStatus,
    /// The tier, as an index into the plan labels.
    pub plan: LabelId,
    /// The billing interval, as an index into the interval labels.
    pub interval: LabelId,
    /// The subscription's exact MRR in this state (zero unless it carries MRR).
    pub mrr: ExactMrr,
}

/// Assigns small ids to repeated strings (plan keys, interval names).
#[derive(Debug, Default, Clone)]
pub struct Labels {
    names: Vec<String>,
    ids: HashMap<String, LabelId>,
}

impl Labels {
    /// The id of `name`, assigned on first sight.
    pub fn id(&mut self, name: &str) -> LabelId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = LabelId::try_from(self.names.len()).unwrap_or(LabelId::MAX);
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// The name of `id`.
    pub fn name(&self, id: LabelId) -> &str {
        self.names.get(usize::from(id)).map_or("", String::as_str)
    }
}

/// A customer's rounded MRR split into parts that sum to it exactly.
pub type Split = Box<[(LabelId, i64)]>;

/// A customer's MRR at the end of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayValue {
    /// The day.
    pub day: NaiveDate,
    /// Customer MRR, rounded half-even once, in minor units.
    pub mrr: i64,
    /// `mrr` by plan (largest remainder).
    pub by_plan: Split,
    /// `mrr` by billing interval (largest remainder).
    pub by_interval: Split,
}

/// What a change of a customer's end-of-day MRR is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MovementKind {
    /// 0 → > 0, the customer's first MRR.
    NewBusiness,
    /// 0 → > 0, after an earlier stretch of MRR.
    Reactivation,
    /// Higher, from > 0.
    Expansion,
    /// Lower but still > 0.
    Contraction,
    /// > 0 → 0.
    Churn,
}

impl MovementKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [MovementKind; 5] = [
        MovementKind::NewBusiness,
        MovementKind::Reactivation,
        MovementKind::Expansion,
        MovementKind::Contraction,
        MovementKind::Churn,
    ];

    /// The kind of the change `before` → `after` (`None` if they are equal),
    /// given whether the customer ever had MRR before.
    pub fn of(before: i64, after: i64, had_mrr_before: bool) -> Option<MovementKind> {
        match (before > 0, after > 0) {
            _ if before == after => None,
            (false, true) if had_mrr_before => Some(MovementKind::Reactivation),
            (false, true) => Some(MovementKind::NewBusiness),
            (true, false) => Some(MovementKind::Churn),
            (true, true) if after > before => Some(MovementKind::Expansion),
            (true, true) => Some(MovementKind::Contraction),
            (false, false) => None,
        }
    }

    /// The snake-case name the export uses.
    pub fn key(self) -> &'static str {
        match self {
            MovementKind::NewBusiness => "new_business",
            MovementKind::Reactivation => "reactivation",
            MovementKind::Expansion => "expansion",
            MovementKind::Contraction => "contraction",
            MovementKind::Churn => "churn",
        }
    }
}

/// One MRR movement of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Movement {
    /// The customer.
    pub customer: u32,
    /// The UTC day at whose end the customer's MRR moved.
    pub day: NaiveDate,
    /// What kind of movement.
    pub kind: MovementKind,
    /// Signed amount in minor units: `after − before`.
    pub amount: i64,
}

/// One unbroken stretch of `trialing` of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trial {
    /// The customer whose subscription it is.
    pub customer: u32,
    /// The first moment of `trialing`.
    pub started_at: DateTime<Utc>,
    /// When the subscription left `trialing` (`None`: still trialing when the data ends).
    pub ended_at: Option<DateTime<Utc>>,
    /// When it first reached `active` after the trial, before any cancellation.
    pub converted_at: Option<DateTime<Utc>>,
}

/// Every customer's end-of-day MRR series, the movements, and the trials.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Per customer, its end-of-day values on the days they changed, in day order.
    pub series: Vec<Vec<DayValue>>,
    /// Every movement, in day order.
    pub movements: Vec<Movement>,
    /// Every trial, in no particular order.
    pub trials: Vec<Trial>,
    /// Plan names.
    pub plans: Labels,
    /// Interval names.
    pub intervals: Labels,
    /// The earliest and latest state times.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The current state of one subscription while a customer is walked.
#[derive(Debug, Clone, Copy)]
struct Current {
    subscription: u32,
    plan: LabelId,
    interval: LabelId,
    mrr: ExactMrr,
}

/// Tracks one subscription's trial stretches.
#[derive(Debug, Clone, Copy, Default)]
struct TrialWatch {
    status: Option<SubscriptionStatus>,
    /// The trial (an index into the trial list) that ended and might still convert.
    open: Option<usize>,
}

impl History {
    /// Builds the history from states in any order across subscriptions;
    /// states of one subscription with the same time apply in the order given.
    pub fn build(mut points: Vec<StatePoint>, plans: Labels, intervals: Labels) -> History {
        points.sort_by_key(|p| (p.customer, p.at));
        let customers = points.last().map_or(0, |p| p.customer as usize + 1);
        let mut history = History {
            series: vec![Vec::new(); customers],
            plans,
            intervals,
            span: points
                .iter()
                .map(|p| p.at)
                .min()
                .zip(points.iter().map(|p| p.at).max()),
            ..History::default()
        };
        let mut watches: HashMap<u32, TrialWatch> = HashMap::new();
        let mut start = 0;
        while start < points.len() {
            let customer = points[start].customer;
            let end = start + points[start..].partition_point(|p| p.customer == customer);
            history.walk_customer(&points[start..end], &mut watches);
            start = end;
        }
        history.movements.sort_by_key(|m| (m.day, m.customer));
        history
    }

    fn walk_customer(&mut self, points: &[StatePoint], watches: &mut HashMap<u32, TrialWatch>) {
        let customer = points[0].customer;
        let mut current: Vec<Current> = Vec::new();
        let mut series: Vec<DayValue> = Vec::new();
        let mut last_mrr = 0;
        let mut had_mrr = false;
        let mut i = 0;
        while i < points.len() {
            let day = points[i].at.date_naive();
            while i < points.len() && points[i].at.date_naive() == day {
                let point = &points[i];
                self.watch_trial(watches.entry(point.subscription).or_default(), point);
                let state = Current {
                    subscription: point.subscription,
                    plan: point.plan,
                    interval: point.interval,
                    mrr: point.mrr,
                };
                match current.iter_mut().find(|c| c.subscription == point.subscription) {
                    Some(slot) => *slot = state,
                    None => current.push(state),
                }
                i += 1;
            }
            let value = day_value(day, &current, &self.plans, &self.intervals);
            if let Some(kind) = MovementKind::of(last_mrr, value.mrr, had_mrr) {
                self.movements.push(Movement {
                    customer,
                    day,
                    kind,
                    amount: value.mrr - last_mrr,
                });
            }
            had_mrr |= value.mrr > 0;
            last_mrr = value.mrr;
            let unchanged = series.last().is_some_and(|last: &DayValue| {
                last.mrr == value.mrr
                    && last.by_plan == value.by_plan
                    && last.by_interval == value.by_interval
            });
            if !unchanged {
                series.push(value);
            }
        }
        self.series[customer as usize] = series;
    }

    fn watch_trial(&mut self, watch: &mut TrialWatch, point: &StatePoint) {
        use SubscriptionStatus::*;
        let was = watch.status.replace(point.status);
        if was == Some(point.status) {
            return;
        }
        if point.status == Trialing {
            // A new stretch: an earlier trial that never converted stays unconverted.
            watch.open = None;
            self.trials.push(Trial {
                customer: point.customer,
                started_at: point.at,
                ended_at: None,
                converted_at: None,
            });
            watch.open = Some(self.trials.len() - 1);
            return;
        }
        let Some(open) = watch.open else { return };
        let trial = &mut self.trials[open];
        if was == Some(Trialing) {
            trial.ended_at = Some(point.at);
        }
        match point.status {
            Active => {
                trial.converted_at = Some(point.at);
                watch.open = None;
            }
            Canceled | IncompleteExpired => watch.open = None,
            _ => {}
        }
    }

    /// The customer's MRR value at the end of `day` (the latest change on or
    /// before it), or `None` before its first state.
    pub fn value_at_end_of(&self, customer: usize, day: NaiveDate) -> Option<&DayValue> {
        let series = &self.series[customer];
        let index = series.partition_point(|v| v.day <= day);
        index.checked_sub(1).map(|i| &series[i])
    }

    /// The customer's MRR at the end of `day`, zero before its first state.
    pub fn mrr_at_end_of(&self, customer: usize, day: NaiveDate) -> i64 {
        self.value_at_end_of(customer, day).map_or(0, |v| v.mrr)
    }
}

/// The customer's value at the end of `day` from its subscriptions' states.
fn day_value(day: NaiveDate, current: &[Current], plans: &Labels, intervals: &Labels) -> DayValue {
    let total = current.iter().fold(ExactMrr::ZERO, |sum, c| sum.plus(c.mrr));
    let mrr = total.rounded();
    DayValue {
        day,
        mrr,
        by_plan: split(mrr, current.iter().map(|c| (c.plan, c.mrr)), plans),
        by_interval: split(mrr, current.iter().map(|c| (c.interval, c.mrr)), intervals),
    }
}

/// Splits the rounded `total` over the labels' exact shares by largest
/// remainder, so the parts sum to `total` exactly. Labels with nothing are
/// left out. Equal remainders go to the label whose name sorts first (byte
/// order, METRICS.md), never to the one seen first: ids are handed out in
/// arrival order, so the same history read in another order splits alike.
pub fn split(total: i64, shares: impl Iterator<Item = (LabelId, ExactMrr)>, labels: &Labels) -> Split {
    let mut grouped: Vec<(LabelId, ExactMrr)> = Vec::new();
    for (label, share) in shares {
        if share == ExactMrr::ZERO {
            continue;
        }
        match grouped.iter_mut().find(|(l, _)| *l == label) {
            Some((_, sum)) => *sum = sum.plus(share),
            None => grouped.push((label, share)),
        }
    }
    if total <= 0 || grouped.is_empty() {
        return Box::new([]);
    }
    grouped.sort_by_key(|(label, _)| *label);
    let mut parts: Vec<(LabelId, i64, ExactMrr)> = grouped
        .iter()
        .map(|(label, share)| {
            let floor = share.floor();
            (*label, floor, share.minus_whole(floor))
        })
        .collect();
    let mut left = total - parts.iter().map(|(_, floor, _)| floor).sum::<i64>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Largest fractional remainder first; on a tie, the name that sorts first.
    order.sort_by(|a, b| {
        parts[*b]
            .2
            .cmp_value(&parts[*a].2)
            .then_with(|| labels.name(parts[*a].0).cmp(labels.name(parts[*b].0)))
    });
    let mut k = 0;
    while left > 0 && !order.is_empty() {
        parts[order[k % order.len()]].1 += 1;
        left -= 1;
        k += 1;
    }
    while left < 0 {
        // Only when a part's floor exceeds what rounding left (never for
        // non-negative shares); take from the largest part.
        let largest = parts
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| a.1.cmp(&b.1).then_with(|| labels.name(b.0).cmp(labels.name(a.0))))
            .map(|(index, _)| index);
        if let Some(index) = largest {
            parts[index].1 -= 1;
        }
        left += 1;
    }
    parts
        .into_iter()
        .filter(|(_, cents, _)| *cents != 0)
        .map(|(label, cents, _)| (label, cents))
        .collect()
}
