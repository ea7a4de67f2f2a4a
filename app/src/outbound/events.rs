//! Writing events into the outbox, in the caller's transaction.

use crate::billing::domain::SubscriptionStatus;
use crate::catalog::domain::Catalog;
use crate::entitlements::db::OrganizationAddress;
use crate::entitlements::guard::{Standing, standing};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// The kinds of event the host product can hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A new organisation.
    OrganizationCreated,
    /// Its subscription's plan, state, period or cancellation changed.
    SubscriptionUpdated,
    /// What it may do changed.
    EntitlementsUpdated,
    /// A reported metric reached its limit.
    UsageLimitReached,
    /// An attempt to charge one of its invoices failed.
    InvoicePaymentFailed,
    /// An unpaid invoice outlived its grace period: it is read-only.
    OrganizationRestricted,
    /// The payment came and the restriction is lifted.
    OrganizationRestored,
}

impl EventType {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrganizationCreated => "organization.created",
            EventType::SubscriptionUpdated => "subscription.updated",
            EventType::EntitlementsUpdated => "entitlements.updated",
            EventType::UsageLimitReached => "usage.limit_reached",
            EventType::InvoicePaymentFailed => "invoice.payment_failed",
            EventType::OrganizationRestricted => "organization.restricted",
            EventType::OrganizationRestored => "organization.restored",
        }
    }
}

/// The event's id: derived from what caused it, so the same cause can never
/// make two events, and every redelivery carries it.
pub fn event_id(event_type: EventType, cause: &str) -> String {
    let digest = Sha256::digest(format!("{}\u{0}{cause}", event_type.as_str()));
    format!("evt_{}", &hex::encode(digest)[..32])
}

/// Writes an event and one pending delivery per enabled endpoint. A second
/// call for the same cause writes nothing. Returns whether it was new.
pub async fn record(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    event_type: EventType,
    cause: &str,
    organization_id: Option<Uuid>,
    data: Value,
) -> Result<bool, sqlx::Error> {
    let id = event_id(event_type, cause);
    let payload = json!({
        "id": id,
        "type": event_type.as_str(),
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": data,
    });
    // language=PostgreSQL
    let inserted = sqlx::query!(
        r#"
        insert into outbound_event (event_id, event_type, organization_id, payload, created_at)
        values ($1, $2, $3, $4, $5)
        on conflict (event_id) do nothing
        "#,
        id,
        event_type.as_str(),
        organization_id,
        payload,
        now as _
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        // language=PostgreSQL
        let deliveries = sqlx::query_scalar!(
            r#"
            insert into outbound_delivery (event_id, endpoint_id, next_attempt_at)
            select $1, endpoint_id, $2 from webhook_endpoint where disabled_at is null
            returning delivery_id
            "#,
            id,
            now as _
        )
        .fetch_all(&mut *conn)
        .await?;
        queue_deliveries(conn, &deliveries, now).await?;
    }
    Ok(inserted)
}

/// The runner's job kind that sends one delivery to its endpoint.
pub const DELIVER_KIND: &str = "webhook.deliver";

/// A delivery is retried for as long as it takes (its endpoint is marked
/// failing meanwhile): at the six-hour cap, 100 attempts are three weeks,
/// and a job still failing then is dead, kept, shown and retryable.
pub const MAX_ATTEMPTS: i32 = 100;

/// Queues a delivery job for each of `deliveries` that has none open, due at `now`.
pub async fn queue_deliveries(
    conn: &mut PgConnection,
    deliveries: &[i64],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let items: Vec<String> = deliveries.iter().map(i64::to_string).collect();
    crate::runner::db::enqueue_items(conn, DELIVER_KIND, &items, now, MAX_ATTEMPTS, now)
        .await
        .map(|_| ())
}

/// The entitlements as the API and events show them.
pub fn entitlements_json(catalog: &Catalog, standing: &Standing) -> Value {
    let entitlements = &standing.entitlements;
    let limits: serde_json::Map<String, Value> = standing
        .allowances(catalog)
        .map(|(metric, allowance)| {
            (
                metric.to_owned(),
                json!({"limit": allowance.limit, "used": allowance.used, "remaining": allowance.remaining}),
            )
        })
        .collect();
    let read_only_reason = match entitlements.access {
        crate::entitlements::domain::Access::ReadOnly(why) => Some(why),
        _ => None,
    };
    json!({
        "organization": {
            "id": standing.header.id,
            "external_id": standing.header.external_id,
            "name": standing.header.name,
        },
        "tier": entitlements.tier,
        "status": entitlements.status.map(|s| s.as_str()),
        "read_only": entitlements.read_only(),
        "read_only_reason": read_only_reason,
        "past_due": matches!(entitlements.access, crate::entitlements::domain::Access::PastDue),
        "features": entitlements.features,
        "limits": limits,
        "add_ons": entitlements.add_ons,
        "trial_ends_at": standing.trial_end.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "current_period_ends_at": standing.current_period_end.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    })
}

/// What decides whether entitlements changed: everything but usage.
fn entitlement_terms(catalog: &Catalog, standing: &Standing) -> Value {
    let mut terms = entitlements_json(catalog, standing);
    if let Some(limits) = terms.get_mut("limits").and_then(Value::as_object_mut) {
        for limit in limits.values_mut() {
            if let Some(limit) = limit.as_object_mut() {
                limit.remove("used");
                limit.remove("remaining");
            }
        }
    }
    terms
}

/// After a change to an organisation's subscription, overrides or standing:
/// records `subscription.updated` (when `subscription_changed`) and, if what
/// it may do differs from what was last published, `entitlements.updated`.
/// `cause` names the change, so a retried change records nothing twice.
pub async fn publish_changes(
    conn: &mut PgConnection,
    catalog: &Catalog,
    organization_id: Uuid,
    cause: &str,
    subscription_changed: bool,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(standing) = standing(
        &mut *conn,
        catalog,
        &OrganizationAddress::Id(organization_id),
        now,
    )
    .await?
    else {
        return Ok(());
    };
    let full = entitlements_json(catalog, &standing);
    if subscription_changed {
        let data = json!({
            "organization": full["organization"],
            "tier": full["tier"],
            "status": full["status"],
            "add_ons": full["add_ons"],
            "trial_ends_at": full["trial_ends_at"],
            "current_period_ends_at": full["current_period_ends_at"],
        });
        record(
            conn,
            now,
            EventType::SubscriptionUpdated,
            cause,
            Some(organization_id),
            data,
        )
        .await?;
    }
    let terms = entitlement_terms(catalog, &standing);
    // language=PostgreSQL
    let revision = sqlx::query_scalar!(
        r#"
        insert into entitlements_published (organization_id, terms, published_at) values ($1, $2, $3)
        on conflict (organization_id) do update
            set terms = excluded.terms, published_at = excluded.published_at,
                revision = entitlements_published.revision + 1
            where entitlements_published.terms is distinct from excluded.terms
        returning revision
        "#,
        organization_id,
        terms,
        now as _
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(revision) = revision {
        let mut data = full;
        data["revision"] = json!(revision);
        record(
            conn,
            now,
            EventType::EntitlementsUpdated,
            cause,
            Some(organization_id),
            data,
        )
        .await?;
    }
    Ok(())
}

/// [`publish_changes`] after a subscription row changed, where no catalogue
/// is at hand: reads it from the database. Each call is one change.
pub async fn subscription_changed(
    conn: &mut PgConnection,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let catalog = match crate::catalog::db::load_catalog(&mut *conn).await {
        Ok(catalog) => catalog,
        Err(crate::catalog::db::LoadCatalogError::Database(error)) => return Err(error),
        Err(error) => {
            tracing::error!(%error, "no catalogue to publish a subscription change with");
            return Ok(());
        }
    };
    let cause = format!("change:{}", Uuid::new_v4());
    publish_changes(conn, &catalog, organization_id, &cause, true, now).await
}

/// Publishes what time alone changed: overrides that expired and trials
/// that ran out since the last sweep. Returns the organisations looked at.
pub async fn publish_time_changes(
    conn: &mut PgConnection,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    // language=PostgreSQL
    let due = sqlx::query!(
        r#"
        select distinct organization_id as "organization_id!", floor(extract(epoch from boundary))::bigint as "boundary!"
        from (
            select organization_id, expires_at as boundary from entitlement_override
            where removed_at is null and expires_at <= $1
            union all
            select organization_id, trial_end from subscription
            where live and status = $2 and trial_end <= $1
            union all
            select organization_id, current_period_end from subscription
            where live and cancel_at_period_end and current_period_end <= $1 and status <> $3
        ) b
        where not exists (select 1 from entitlements_published p
                          where p.organization_id = b.organization_id and p.published_at >= b.boundary)
        limit 500
        "#,
        now as _,
        SubscriptionStatus::Trialing.as_str(),
        SubscriptionStatus::Canceled.as_str()
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in &due {
        let cause = format!("time:{}:{}", row.organization_id, row.boundary);
        publish_changes(conn, catalog, row.organization_id, &cause, false, now).await?;
        // Mark it looked at even when nothing changed, so it is not picked again.
        // language=PostgreSQL
        sqlx::query!(
            r#"
            update entitlements_published set published_at = greatest(published_at, $2)
            where organization_id = $1
            "#,
            row.organization_id,
            now as _
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(due.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_the_same_for_the_same_cause_and_differs_otherwise() {
        let a = event_id(EventType::SubscriptionUpdated, "stripe:evt_1");
        assert_eq!(a, event_id(EventType::SubscriptionUpdated, "stripe:evt_1"));
        assert_ne!(a, event_id(EventType::SubscriptionUpdated, "stripe:evt_2"));
        assert_ne!(a, event_id(EventType::EntitlementsUpdated, "stripe:evt_1"));
        assert!(a.starts_with("evt_") && a.len() == 36);
    }
}
