//! The entitlement resolver: what an organisation may do, decided in one
//! place from its tier, add-ons, admin overrides and subscription state.
//! Pure: the caller reads the facts, this decides. Every gated server
//! function and every API route asks these functions, never their own rule.

use crate::billing::domain::SubscriptionStatus;
use crate::catalog::domain::{Catalog, Limit};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

crate::stored_words! {
    /// What an override changes (`entitlement_override.kind`).
    pub enum OverrideKind {
        /// A feature turned on or off.
        Feature => "feature",
        /// A metric's limit raised, lowered or lifted.
        Limit => "limit",
        /// The tier the organisation is treated as.
        Tier => "tier",
    }
}

/// What an admin changed for one organisation, on top of its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OverrideGrant {
    /// A feature switched on or off whatever the tier says.
    Feature {
        /// Feature key.
        feature: String,
        /// On or off.
        enabled: bool,
    },
    /// A limit replaced (not added to) whatever the tier and add-ons give.
    Limit {
        /// Metric key.
        metric: String,
        /// The limit that applies instead.
        limit: Limit,
    },
    /// The organisation gets another tier's features and limits.
    Tier {
        /// Tier key.
        tier: String,
    },
}

/// One admin override with its optional expiry and its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// What it grants.
    pub grant: OverrideGrant,
    /// When it stops counting; `None` lasts until removed.
    pub expires_at: Option<DateTime<Utc>>,
    /// Why it was made.
    pub reason: String,
}

impl Override {
    /// Whether it still counts at `now` (an expiry is exclusive).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }
}

/// The subscription facts the resolver needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionFacts {
    /// Tier key.
    pub tier: String,
    /// Add-on keys and quantities.
    pub add_ons: BTreeMap<String, u32>,
    /// Provider state.
    pub status: SubscriptionStatus,
    /// Set to cancel when the current period ends.
    pub cancel_at_period_end: bool,
    /// When the current period ends.
    pub current_period_end: Option<DateTime<Utc>>,
    /// When the trial ends, if it has one.
    pub trial_end: Option<DateTime<Utc>>,
}

/// Everything the resolver reads about one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationFacts {
    /// Its subscription, if it ever had one.
    pub subscription: Option<SubscriptionFacts>,
    /// Overrides not removed (expired ones included: the resolver drops them).
    pub overrides: Vec<Override>,
    /// Suspended by a platform admin, with the reason.
    pub suspended: Option<String>,
    /// Restricted by the collection ladder (an invoice unpaid past its
    /// grace period).
    pub payment_restricted: bool,
}

impl OrganizationFacts {
    /// The first instant after `now` at which [`resolve`] may answer
    /// differently although no stored fact changed: a trial or period
    /// ending, an override expiring. `None`: no such instant. Until then an
    /// answer resolved at `now` stays exact, which is what lets it be cached.
    pub fn next_change_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let subscription_ends = self
            .subscription
            .iter()
            .flat_map(|s| [s.current_period_end, s.trial_end])
            .flatten();
        let override_ends = self.overrides.iter().filter_map(|o| o.expires_at);
        subscription_ends
            .chain(override_ends)
            .filter(|end| *end > now)
            .min()
    }
}

/// Why an organisation may read but not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadOnlyReason {
    /// The free trial ended without a plan being bought.
    TrialEnded,
    /// Payment retries ran out.
    Unpaid,
    /// An invoice stayed unpaid past the grace period (the collection
    /// ladder's restriction); paying it lifts this at once.
    PaymentOverdue,
    /// The subscription ended.
    Canceled,
    /// A platform admin suspended the organisation.
    Suspended,
    /// The organisation has never had a subscription.
    NoSubscription,
}

impl ReadOnlyReason {
    /// The stable code (as the API and the banner's `data-reason` spell it).
    pub fn code(self) -> &'static str {
        match self {
            ReadOnlyReason::TrialEnded => "trial_ended",
            ReadOnlyReason::Unpaid => "unpaid",
            ReadOnlyReason::PaymentOverdue => "payment_overdue",
            ReadOnlyReason::Canceled => "canceled",
            ReadOnlyReason::Suspended => "suspended",
            ReadOnlyReason::NoSubscription => "no_subscription",
        }
    }

    /// What the customer reads, and what to do about it.
    pub fn explain(self) -> &'static str {
        match self {
            ReadOnlyReason::TrialEnded => "Your free trial has ended. Choose a plan to keep working.",
            ReadOnlyReason::Unpaid => {
                "Payment failed and every retry has run out. Update your payment method to keep working."
            }
            ReadOnlyReason::PaymentOverdue => {
                "An invoice is overdue, so your account is read-only. Pay it or update your payment method and full access returns at once."
            }
            ReadOnlyReason::Canceled => "Your subscription has ended. Choose a plan to start again.",
            ReadOnlyReason::Suspended => {
                "This organisation has been suspended. Contact support to reactivate it."
            }
            ReadOnlyReason::NoSubscription => "This organisation has no plan. Choose one to start working.",
        }
    }
}

/// How far an organisation may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "access", content = "reason", rename_all = "snake_case")]
pub enum Access {
    /// Everything the plan allows.
    Full,
    /// The plan, with a warning: the latest payment failed.
    PastDue,
    /// Reads only; every gated write is refused.
    ReadOnly(ReadOnlyReason),
}

/// An organisation's effective entitlements at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlements {
    /// The tier whose features and limits apply (an override's, if any).
    pub tier: Option<String>,
    /// The subscription's state, if there is one.
    pub status: Option<SubscriptionStatus>,
    /// Full, warned or read-only.
    pub access: Access,
    /// Every catalogue feature and whether it is on.
    pub features: BTreeMap<String, bool>,
    /// Every catalogue metric and its limit.
    pub limits: BTreeMap<String, Limit>,
    /// The add-ons counted in the limits.
    pub add_ons: BTreeMap<String, u32>,
}

impl Entitlements {
    /// Whether gated writes are refused.
    pub fn read_only(&self) -> bool {
        matches!(self.access, Access::ReadOnly(_))
    }

    /// The limit on `metric` (none for a metric the catalogue does not have).
    pub fn limit(&self, metric: &str) -> Option<Limit> {
        self.limits.get(metric).copied()
    }
}

/// Why a gated action was refused. The portal turns it into a message with
/// an upgrade link; the API into a stable JSON error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// The plan does not include the feature.
    #[error("{feature} is not in your plan")]
    FeatureNotInPlan {
        /// Feature key.
        feature: String,
        /// The cheapest tier that includes it, if a tier would.
        upgrade_to: Option<String>,
    },
    /// The action would take a metric past its limit.
    #[error("the {metric} limit of {limit} is reached ({used} used)")]
    LimitReached {
        /// Metric key.
        metric: String,
        /// The limit.
        limit: u64,
        /// Used now.
        used: u64,
        /// The cheapest tier (with the current add-ons) that would allow it.
        upgrade_to: Option<String>,
    },
    /// Writes are refused in this state.
    #[error("the organisation is read-only: {}", .why.explain())]
    ReadOnly {
        /// Why.
        why: ReadOnlyReason,
    },
}

impl Refusal {
    /// The stable code the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::FeatureNotInPlan { .. } => "feature_not_in_plan",
            Refusal::LimitReached { .. } => "limit_reached",
            Refusal::ReadOnly { .. } => "read_only",
        }
    }

    /// The tier that would allow it, for an upgrade link (none when read-only).
    pub fn upgrade_to(&self) -> Option<&str> {
        match self {
            Refusal::FeatureNotInPlan { upgrade_to, .. } | Refusal::LimitReached { upgrade_to, .. } => {
                upgrade_to.as_deref()
            }
            Refusal::ReadOnly { .. } => None,
        }
    }
}

/// The access a subscription state gives, `now` deciding a cancellation
/// that waits for its period's end.
fn access_of(
    subscription: Option<&SubscriptionFacts>,
    suspended: bool,
    payment_restricted: bool,
    now: DateTime<Utc>,
) -> Access {
    if suspended {
        return Access::ReadOnly(ReadOnlyReason::Suspended);
    }
    let Some(sub) = subscription else {
        return Access::ReadOnly(ReadOnlyReason::NoSubscription);
    };
    // Only while the subscription still bills: once it ends, its end says why.
    if payment_restricted
        && matches!(
            sub.status,
            SubscriptionStatus::PastDue | SubscriptionStatus::Active
        )
    {
        return Access::ReadOnly(ReadOnlyReason::PaymentOverdue);
    }
    let period_over = sub.current_period_end.is_some_and(|end| now >= end);
    match sub.status {
        // A cancellation at period end keeps the plan until that end, even
        // when the provider's `canceled` event is late.
        _ if sub.cancel_at_period_end && period_over && sub.status != SubscriptionStatus::Trialing => {
            Access::ReadOnly(ReadOnlyReason::Canceled)
        }
        SubscriptionStatus::Trialing => {
            if sub.trial_end.is_some_and(|end| now >= end) {
                Access::ReadOnly(ReadOnlyReason::TrialEnded)
            } else {
                Access::Full
            }
        }
        SubscriptionStatus::Active => Access::Full,
        SubscriptionStatus::PastDue | SubscriptionStatus::Incomplete => Access::PastDue,
        SubscriptionStatus::Paused => Access::ReadOnly(ReadOnlyReason::TrialEnded),
        SubscriptionStatus::Unpaid => Access::ReadOnly(ReadOnlyReason::Unpaid),
        SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired => {
            Access::ReadOnly(ReadOnlyReason::Canceled)
        }
    }
}

/// The latest live override of each kind and key wins; overrides are given
/// oldest first.
fn live_overrides(overrides: &[Override], now: DateTime<Utc>) -> impl Iterator<Item = &Override> {
    overrides.iter().filter(move |o| o.is_live(now))
}

/// Resolves an organisation's effective entitlements at `now`.
pub fn resolve(catalog: &Catalog, facts: &OrganizationFacts, now: DateTime<Utc>) -> Entitlements {
    let subscription = facts.subscription.as_ref();
    let access = access_of(
        subscription,
        facts.suspended.is_some(),
        facts.payment_restricted,
        now,
    );
    let tier_override = live_overrides(&facts.overrides, now)
        .filter_map(|o| match &o.grant {
            OverrideGrant::Tier { tier } if catalog.tier(tier).is_some() => Some(tier.clone()),
            _ => None,
        })
        .last();
    let tier = tier_override.or_else(|| subscription.map(|s| s.tier.clone()));
    let add_ons = subscription.map(|s| s.add_ons.clone()).unwrap_or_default();
    let tier_rank = tier.as_deref().and_then(|t| catalog.tier_rank(t));

    let mut features: BTreeMap<String, bool> = catalog
        .features()
        .map(|f| {
            let included = match (tier_rank, catalog.tier_rank(&f.included_from)) {
                (Some(have), Some(from)) => have >= from,
                _ => false,
            };
            (f.key.clone(), included)
        })
        .collect();
    let mut limits: BTreeMap<String, Limit> = catalog
        .metrics
        .iter()
        .map(|m| {
            let limit = match &tier {
                Some(t) => catalog.plan_limit(t, &add_ons, &m.key),
                None => Limit::Limited(0),
            };
            (m.key.clone(), limit)
        })
        .collect();
    for grant in live_overrides(&facts.overrides, now).map(|o| &o.grant) {
        match grant {
            OverrideGrant::Feature { feature, enabled } => {
                if let Some(on) = features.get_mut(feature) {
                    *on = *enabled;
                }
            }
            OverrideGrant::Limit { metric, limit } => {
                if let Some(current) = limits.get_mut(metric) {
                    *current = *limit;
                }
            }
            OverrideGrant::Tier { .. } => {}
        }
    }
    Entitlements {
        tier,
        status: subscription.map(|s| s.status),
        access,
        features,
        limits,
        add_ons,
    }
}

/// Whether a gated write may happen at all.
pub fn check_write(entitlements: &Entitlements) -> Result<(), Refusal> {
    match entitlements.access {
        Access::ReadOnly(why) => Err(Refusal::ReadOnly { why }),
        Access::Full | Access::PastDue => Ok(()),
    }
}

/// Whether a gated action using `feature` may happen. `None` when the
/// catalogue has no such feature (the caller's input is wrong).
pub fn check_feature(
    catalog: &Catalog,
    entitlements: &Entitlements,
    feature: &str,
) -> Option<Result<(), Refusal>> {
    let on = *entitlements.features.get(feature)?;
    Some(check_write(entitlements).and_then(|()| {
        if on {
            Ok(())
        } else {
            let from = catalog.feature(feature).map(|f| f.included_from.clone());
            let have = entitlements.tier.as_deref().and_then(|t| catalog.tier_rank(t));
            let upgrade_to = from.filter(|f| catalog.tier_rank(f) > have || have.is_none());
            Err(Refusal::FeatureNotInPlan {
                feature: feature.to_owned(),
                upgrade_to,
            })
        }
    }))
}

/// Whether `metric` may grow by `increment` from `used`. `None` when the
/// catalogue has no such metric.
pub fn check_increment(
    catalog: &Catalog,
    entitlements: &Entitlements,
    metric: &str,
    used: u64,
    increment: u64,
) -> Option<Result<(), Refusal>> {
    let limit = entitlements.limit(metric)?;
    Some(check_write(entitlements).and_then(|()| {
        let wanted = used.saturating_add(increment);
        match limit {
            Limit::Limited(n) if wanted > n => Err(Refusal::LimitReached {
                metric: metric.to_owned(),
                limit: n,
                used,
                upgrade_to: upgrade_for(catalog, entitlements, metric, wanted),
            }),
            _ => Ok(()),
        }
    }))
}

/// The cheapest tier above the current one that, with the same add-ons,
/// allows `wanted` of `metric`.
fn upgrade_for(catalog: &Catalog, entitlements: &Entitlements, metric: &str, wanted: u64) -> Option<String> {
    let have = entitlements.tier.as_deref().and_then(|t| catalog.tier_rank(t));
    catalog
        .tiers
        .iter()
        .enumerate()
        .filter(|(rank, _)| have.is_none_or(|h| *rank > h))
        .find(|(_, t)| {
            catalog
                .plan_limit(&t.key, &entitlements.add_ons, metric)
                .allows(wanted)
        })
        .map(|(_, t)| t.key.clone())
}

/// Usage against one limit, for bars and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// The limit (`None` = unlimited).
    pub limit: Option<u64>,
    /// Used now.
    pub used: u64,
    /// What is left (`None` = unlimited); 0 when over.
    pub remaining: Option<u64>,
}

impl Allowance {
    /// `used` against `limit`.
    pub fn of(limit: Limit, used: u64) -> Self {
        let limit = limit.as_option();
        Allowance {
            limit,
            used,
            remaining: limit.map(|n| n.saturating_sub(used)),
        }
    }

    /// Whole percent used, capped at 100 (`None` for unlimited).
    pub fn percent(&self) -> Option<u64> {
        self.limit.map(|n| {
            if n == 0 {
                100
            } else {
                (u128::from(self.used) * 100 / u128::from(n)).min(100) as u64
            }
        })
    }

    /// How full it is: calm below 80 %, warning from 80 %, full at 100 %.
    pub fn level(&self) -> UsageLevel {
        match self.percent() {
            Some(p) if p >= 100 => UsageLevel::AtLimit,
            Some(p) if p >= 80 => UsageLevel::Warning,
            _ => UsageLevel::Calm,
        }
    }
}

/// How close usage is to its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageLevel {
    /// Under 80 %.
    Calm,
    /// 80 % or more.
    Warning,
    /// At or over the limit.
    AtLimit,
}

#[cfg(test)]
mod tests;
