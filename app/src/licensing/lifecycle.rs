//! The licence follows the subscription: issued when a self-hosted tier's
//! subscription turns active, and its owners warned 30 and 7 days before
//! it really ends. The sweeps run as jobs of the runner (one a period
//! across every process, each in its job's transaction); unique rows make
//! each effect happen once even so (a licence an organisation, an alert a
//! licence, lead and expiry), and each email is queued in the same
//! transaction as its row.

use super::db::{self, SELF_HOSTED_FEATURE, SUBSCRIPTION_ACTIVATIONS, Source};
use super::domain::{LicenseFacts, expiry_alert_due, standing};
use super::keys::SigningKeys;
use crate::billing::domain::SubscriptionStatus;
use crate::billing::trials::{Notices, owner_emails};
use crate::catalog::domain::Catalog;
use crate::email::{outbox, templates};
use crate::entitlements::db::OrganizationAddress;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

fn licenses_url(notices: &Notices) -> String {
    format!("{}/app/licenses", notices.public_url)
}

/// Issues the organisation's licence if its subscription is active (or
/// being collected) on a tier whose entitlements include self-hosting and
/// it has none yet; emails its owners. Returns the new licence's id.
pub async fn follow_subscription(
    conn: &mut PgConnection,
    catalog: &Catalog,
    keys: &SigningKeys,
    notices: &Notices,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    let paying = sqlx::query_scalar!(
        r#"select exists (select 1 from subscription
                          where organization_id = $1 and live and status = any($2)) as "paying!""#,
        organization_id,
        &SubscriptionStatus::words_where(SubscriptionStatus::carries_mrr) as &[&str]
    )
    .fetch_one(&mut *conn)
    .await?;
    if !paying {
        return Ok(None);
    }
    let Some(standing) = crate::entitlements::guard::standing(
        &mut *conn,
        catalog,
        &OrganizationAddress::Id(organization_id),
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    if standing.check_feature(catalog, SELF_HOSTED_FEATURE) != Some(Ok(())) {
        return Ok(None);
    }
    let Some(license_id) = db::issue(
        conn,
        keys,
        organization_id,
        Source::Subscription,
        SUBSCRIPTION_ACTIVATIONS,
        true,
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    let message = templates::license_issued(&notices.brand, &standing.header.name, &licenses_url(notices));
    for owner in owner_emails(conn, organization_id).await? {
        outbox::enqueue(conn, now, &owner, &message).await?;
    }
    Ok(Some(license_id))
}

/// The sweep behind [`follow_subscription`], for subscriptions that turned
/// active without an event this process applied: organisations paying for
/// a tier that includes self-hosting with no licence yet, up to `limit`.
/// Returns how many licences were issued.
pub async fn issue_due(
    conn: &mut PgConnection,
    catalog: &Catalog,
    keys: &SigningKeys,
    notices: &Notices,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let Some(feature) = catalog.feature(SELF_HOSTED_FEATURE) else {
        return Ok(0);
    };
    let tiers: Vec<String> = catalog
        .tiers
        .iter()
        .filter(|tier| catalog.tier_includes(&tier.key, feature))
        .map(|tier| tier.key.clone())
        .collect();
    // language=PostgreSQL
    let candidates = sqlx::query_scalar!(
        r#"select distinct s.organization_id from subscription s join plan p using (plan_id)
           where s.live and s.status = any($3) and p.plan_key = any($1)
             and not exists (select 1 from license l
                             where l.organization_id = s.organization_id and l.source = 'subscription')
           limit $2"#,
        &tiers,
        limit,
        &SubscriptionStatus::words_where(SubscriptionStatus::carries_mrr) as &[&str]
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut issued = 0;
    for organization_id in candidates {
        issued += usize::from(
            follow_subscription(conn, catalog, keys, notices, organization_id, now)
                .await?
                .is_some(),
        );
    }
    Ok(issued)
}

/// Emails each licence's owners once per lead (30, then 7 days) before an
/// end that no renewal will move. Returns how many alerts went out.
pub async fn send_expiry_alerts(
    conn: &mut PgConnection,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    // language=PostgreSQL
    let licenses = sqlx::query!(
        r#"
        select l.license_id, l.organization_id, o.name as organization,
               l.issued_at as "issued_at: DateTime<Utc>", l.extended_until as "extended_until: DateTime<Utc>",
               l.suspended_at as "suspended_at: DateTime<Utc>",
               o.suspended_at is not null as "organization_suspended!",
               s.status as "subscription_status?", s.current_period_end as "current_period_end: DateTime<Utc>",
               coalesce(s.cancel_at_period_end, false) as "cancel_at_period_end!"
        from license l
        join organization o using (organization_id)
        left join lateral current_subscription(l.organization_id) s on true
        where l.revoked_at is null
        "#
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut sent = 0;
    for license in licenses {
        let facts = LicenseFacts {
            revoked_at: None,
            suspended_at: license.suspended_at,
            organization_suspended: license.organization_suspended,
            subscription_status: license.subscription_status,
            current_period_end: license.current_period_end,
            cancel_at_period_end: license.cancel_at_period_end,
            extended_until: license.extended_until,
            issued_at: license.issued_at,
        };
        let standing = standing(&facts, now);
        let Some(days_before) = expiry_alert_due(&standing, now) else {
            continue;
        };
        // language=PostgreSQL
        let first = sqlx::query!(
            "insert into license_expiry_alert (license_id, days_before, expires_at, sent_at) values ($1, $2, $3, $4)
             on conflict do nothing",
            license.license_id,
            days_before as i32,
            standing.expires_at as _,
            now as _
        )
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if first {
            let days_left = (standing.expires_at - now).num_hours().div_euclid(24) + 1;
            let message = templates::license_expiring(
                &notices.brand,
                &license.organization,
                &crate::format::long_day(standing.expires_at.date_naive()),
                days_left.min(days_before),
                &licenses_url(notices),
            );
            for owner in owner_emails(conn, license.organization_id).await? {
                outbox::enqueue(conn, now, &owner, &message).await?;
            }
            sent += 1;
        }
    }
    Ok(sent)
}
