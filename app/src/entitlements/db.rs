//! Reading what the resolver needs, and the usage Gatehouse counts itself,
//! in one round trip per organisation.

use super::domain::{OrganizationFacts, Override, OverrideGrant, SubscriptionFacts};
use crate::billing::domain::{PlanChoice, SubscriptionStatus};
use crate::catalog::domain::{Limit, USERS_METRIC};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::PgExecutor;
use std::collections::BTreeMap;
use uuid::Uuid;

/// How a caller names an organisation: Gatehouse's id or the host product's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationAddress {
    /// Gatehouse's id.
    Id(Uuid),
    /// The host product's `external_id`.
    External(String),
}

/// An organisation as the API and the console name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationHeader {
    /// Gatehouse's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The host product's id for it.
    pub external_id: Option<String>,
}

/// Everything one entitlement answer needs.
#[derive(Debug, Clone)]
pub struct OrganizationState {
    /// Who.
    pub header: OrganizationHeader,
    /// What the resolver reads.
    pub facts: OrganizationFacts,
    /// Usage now, per metric: users counted here, the rest as reported.
    pub usage: BTreeMap<String, u64>,
    /// When the next open invitation expires (the user count drops then).
    pub next_invitation_expiry: Option<DateTime<Utc>>,
    /// The subscription's own plan (whatever an override grants), if any.
    pub plan: Option<SubscribedPlan>,
}

/// The plan an organisation's subscription is on, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribedPlan {
    /// Tier key.
    pub key: String,
    /// Its name (a retired tier's too).
    pub name: String,
    /// `monthly` or `annual`.
    pub billing_cycle: String,
    /// A provider subscription pays for it (a plan was checked out), as
    /// opposed to the signup trial, which has none.
    pub checked_out: bool,
}

#[derive(Deserialize)]
struct StoredOverride {
    kind: String,
    key: String,
    enabled: Option<bool>,
    limit_value: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    reason: String,
}

impl StoredOverride {
    fn into_override(self) -> Option<Override> {
        let grant = match super::domain::OverrideKind::parse(&self.kind)? {
            super::domain::OverrideKind::Feature => OverrideGrant::Feature {
                feature: self.key,
                enabled: self.enabled?,
            },
            super::domain::OverrideKind::Limit => OverrideGrant::Limit {
                metric: self.key,
                limit: Limit::from_option(self.limit_value.map(|n| n.max(0) as u64)),
            },
            super::domain::OverrideKind::Tier => OverrideGrant::Tier { tier: self.key },
        };
        Some(Override {
            grant,
            expires_at: self.expires_at,
            reason: self.reason,
        })
    }
}

fn decode_error(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} is not one Gatehouse writes").into())
}

/// The organisation at `address` with its subscription, items, overrides,
/// reported usage and counted users at `now`; `None` if there is none.
pub async fn organization_state(
    executor: impl PgExecutor<'_>,
    address: &OrganizationAddress,
    now: DateTime<Utc>,
) -> Result<Option<OrganizationState>, sqlx::Error> {
    let (by_id, by_external) = match address {
        OrganizationAddress::Id(id) => (Some(*id), None),
        OrganizationAddress::External(external) => (None, Some(external.as_str())),
    };
    // language=PostgreSQL
    let Some(row) = sqlx::query!(
        r#"
        select o.organization_id, o.name, o.external_id, o.suspension_reason,
               (o.suspended_at is not null) as "suspended!",
               (o.payment_restricted_at is not null) as "payment_restricted!",
               p.plan_key as "plan_key?", p.name as "plan_name?", s.billing_cycle as "billing_cycle?", s.status as "status?",
               s.cancel_at_period_end as "cancel_at_period_end?",
               (s.provider_subscription_id is not null) as "checked_out?",
               s.current_period_end as "current_period_end: DateTime<Utc>", s.trial_end as "trial_end: DateTime<Utc>",
               array(select i.lookup_key from subscription_item i where i.subscription_id = s.subscription_id
                     order by i.lookup_key) as "item_keys!",
               array(select i.quantity from subscription_item i where i.subscription_id = s.subscription_id
                     order by i.lookup_key) as "item_quantities!",
               coalesce((select jsonb_agg(jsonb_build_object(
                                 'kind', e.kind, 'key', e.key, 'enabled', e.enabled, 'limit_value', e.limit_value,
                                 'expires_at', e.expires_at, 'reason', e.reason) order by e.created_at, e.override_id)
                         from entitlement_override e
                         where e.organization_id = o.organization_id and e.removed_at is null), '[]') as "overrides!",
               coalesce((select jsonb_object_agg(c.metric_key, c.value) from usage_counter c
                         where c.organization_id = o.organization_id), '{}') as "counters!",
               counted_users(o.organization_id, $3) as "users!",
               (select min(v.expires_at) from invitation v
                where v.organization_id = o.organization_id and v.accepted_at is null and v.revoked_at is null
                  and v.expires_at > $3) as "next_invitation_expiry: DateTime<Utc>"
        from organization o
        left join lateral current_subscription(o.organization_id) s on true
        left join plan p on p.plan_id = s.plan_id
        where o.organization_id = $1 or o.external_id = $2
        "#,
        by_id,
        by_external,
        now as _
    )
    .fetch_optional(executor)
    .await?
    else {
        return Ok(None);
    };

    let plan = match (&row.plan_key, &row.plan_name, &row.billing_cycle) {
        (Some(key), Some(name), Some(cycle)) => Some(SubscribedPlan {
            key: key.clone(),
            name: name.clone(),
            billing_cycle: cycle.clone(),
            checked_out: row.checked_out.unwrap_or(false),
        }),
        _ => None,
    };
    let subscription = match (row.plan_key, row.billing_cycle, row.status) {
        (Some(tier), Some(cycle), Some(status)) => {
            let items: Vec<(String, u32)> = row
                .item_keys
                .into_iter()
                .zip(row.item_quantities.into_iter().map(|q| q.max(0) as u32))
                .collect();
            let choice = PlanChoice::of_subscription(&tier, &cycle, &items);
            Some(SubscriptionFacts {
                tier: choice.tier,
                add_ons: choice.add_ons,
                status: SubscriptionStatus::parse(&status)
                    .ok_or_else(|| decode_error("subscription status"))?,
                cancel_at_period_end: row.cancel_at_period_end.unwrap_or(false),
                current_period_end: row.current_period_end,
                trial_end: row.trial_end,
            })
        }
        _ => None,
    };
    let stored: Vec<StoredOverride> =
        serde_json::from_value(row.overrides).map_err(|_| decode_error("entitlement override"))?;
    let overrides = stored
        .into_iter()
        .filter_map(StoredOverride::into_override)
        .collect();
    let mut usage: BTreeMap<String, u64> =
        serde_json::from_value(row.counters).map_err(|_| decode_error("usage counter"))?;
    usage.insert(USERS_METRIC.to_owned(), row.users.max(0) as u64);

    Ok(Some(OrganizationState {
        header: OrganizationHeader {
            id: row.organization_id,
            name: row.name,
            external_id: row.external_id,
        },
        facts: OrganizationFacts {
            subscription,
            overrides,
            suspended: row.suspended.then(|| row.suspension_reason.unwrap_or_default()),
            payment_restricted: row.payment_restricted,
        },
        usage,
        next_invitation_expiry: row.next_invitation_expiry,
        plan,
    }))
}
