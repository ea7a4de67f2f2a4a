//! The one guard: every gated server function and every API route reads the
//! organisation's standing through [`standing`] and asks it before acting.

use super::cache::CachedStanding;
use super::db::{
    OrganizationAddress, OrganizationHeader, OrganizationState, SubscribedPlan, organization_state,
};
use super::domain::{self, Allowance, Entitlements, Refusal};
use crate::accounts::session::TenantScope;
use crate::catalog::domain::{Catalog, USERS_METRIC};
use crate::context::AppContext;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An organisation's entitlements and usage at one instant.
#[derive(Debug, Clone)]
pub struct Standing {
    /// Who.
    pub header: OrganizationHeader,
    /// What it may do.
    pub entitlements: Entitlements,
    /// What it uses, per metric.
    pub usage: BTreeMap<String, u64>,
    /// When its trial ends, if it is in one.
    pub trial_end: Option<DateTime<Utc>>,
    /// When the current period ends.
    pub current_period_end: Option<DateTime<Utc>>,
    /// The subscription's own plan, if it has one.
    pub plan: Option<SubscribedPlan>,
}

/// Reads and resolves the standing of the organisation at `address`.
pub async fn standing(
    executor: impl PgExecutor<'_>,
    catalog: &Catalog,
    address: &OrganizationAddress,
    now: DateTime<Utc>,
) -> Result<Option<Standing>, sqlx::Error> {
    Ok(organization_state(executor, address, now)
        .await?
        .map(|state| standing_of(catalog, state, now)))
}

/// Resolves a read organisation's standing at `now`.
pub fn standing_of(catalog: &Catalog, state: OrganizationState, now: DateTime<Utc>) -> Standing {
    let entitlements = domain::resolve(catalog, &state.facts, now);
    let subscription = state.facts.subscription.as_ref();
    Standing {
        header: state.header,
        entitlements,
        usage: state.usage,
        trial_end: subscription
            .filter(|s| s.status == crate::billing::domain::SubscriptionStatus::Trialing)
            .and_then(|s| s.trial_end),
        current_period_end: subscription.and_then(|s| s.current_period_end),
        plan: state.plan,
    }
}

impl Standing {
    /// Usage of `metric` now (0 if none was reported).
    pub fn used(&self, metric: &str) -> u64 {
        self.usage.get(metric).copied().unwrap_or(0)
    }

    /// Usage against the limit, for every catalogue metric, in catalogue order.
    pub fn allowances<'a>(&'a self, catalog: &'a Catalog) -> impl Iterator<Item = (&'a str, Allowance)> + 'a {
        catalog.metrics.iter().filter_map(|m| {
            let limit = self.entitlements.limit(&m.key)?;
            Some((m.key.as_str(), Allowance::of(limit, self.used(&m.key))))
        })
    }

    /// Refuses a gated write in a read-only state.
    pub fn check_write(&self) -> Result<(), Refusal> {
        domain::check_write(&self.entitlements)
    }

    /// Whether a gated action using `feature` may happen (`None`: no such feature).
    pub fn check_feature(&self, catalog: &Catalog, feature: &str) -> Option<Result<(), Refusal>> {
        domain::check_feature(catalog, &self.entitlements, feature)
    }

    /// Whether `metric` may grow by `increment` (`None`: no such metric).
    pub fn check_room(&self, catalog: &Catalog, metric: &str, increment: u64) -> Option<Result<(), Refusal>> {
        domain::check_increment(catalog, &self.entitlements, metric, self.used(metric), increment)
    }
}

/// The catalogue and the standing of the scope's organisation, for a page
/// (`None`: the organisation is gone). Read from this process's standing
/// cache when it holds a current entry: the change listener keeps it so
/// within the notice's latency, and a write this process answers drops
/// its organisation's entry before the answer leaves (`server`'s
/// `forget_own_writes`), so a page loaded after a form post shows the post.
/// Gated writes read their standing afresh inside their transaction, never
/// from here.
pub async fn page_standing(
    context: &AppContext,
    scope: &TenantScope,
    now: DateTime<Utc>,
) -> Result<(Arc<Catalog>, Option<Arc<CachedStanding>>), AppError> {
    // The generation is read before the catalogue, so an entry is never
    // filed under a newer catalogue than the one it was resolved with.
    let catalog_cache = crate::catalog::cache::catalog_cache()?;
    let generation = catalog_cache.generation();
    let catalog = catalog_cache.get(&context.pool).await?;
    let standing = super::cache::standing_cache()?
        .standing(
            &context.pool,
            &catalog,
            generation,
            &OrganizationAddress::Id(scope.organization_id()),
            now,
        )
        .await?;
    Ok((catalog, standing))
}

/// Users counted now and the user limit (`None`: unlimited), as the guard
/// sees them, for pages that show seats (a missing organisation has none).
pub fn seats(standing: Option<&Standing>) -> (u64, Option<u64>) {
    match standing {
        Some(standing) => {
            let limit = standing
                .entitlements
                .limit(USERS_METRIC)
                .and_then(|l| l.as_option());
            (standing.used(USERS_METRIC), limit)
        }
        None => (0, Some(0)),
    }
}

/// What a refusal says to a customer, with the tier that would allow it.
pub fn explain(catalog: &Catalog, refusal: &Refusal) -> String {
    let tier_name = |key: &str| {
        catalog
            .tier(key)
            .map_or_else(|| key.to_owned(), |t| t.name.clone())
    };
    match refusal {
        Refusal::FeatureNotInPlan { feature, upgrade_to } => {
            let name = catalog
                .feature(feature)
                .map_or(feature.as_str(), |f| f.name.as_str());
            match upgrade_to {
                Some(tier) => format!(
                    "{name} is not in your plan. Upgrade to {} to use it.",
                    tier_name(tier)
                ),
                None => format!("{name} is switched off for your organisation."),
            }
        }
        Refusal::LimitReached {
            metric,
            limit,
            upgrade_to,
            ..
        } => {
            let units = catalog
                .metric(metric)
                .map_or(metric.as_str(), |m| m.units.as_str());
            let first = format!("Your plan includes {limit} {units} and all are in use.");
            match upgrade_to {
                Some(tier) => format!("{first} Upgrade to {} or add more to your plan.", tier_name(tier)),
                None => format!("{first} Add more to your plan."),
            }
        }
        Refusal::ReadOnly { why } => why.explain().to_owned(),
    }
}
