//! Reading and managing licences from the portal and the console: the
//! organisation's licences with their standing and machines, freeing a
//! seat, a file for a machine, the offline exchange, and the console's
//! issue, extend, suspend and revoke (each returns what it changed, for the
//! audit log).

use super::db::{self, Named, Outcome};
use super::domain::{LicenseFacts, LicenseStanding, ValidationCode, standing};
use super::keys::SigningKeys;
use super::view::{ActivationView, LicenseView};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A standing in words, for people.
pub fn status_words(standing: &LicenseStanding) -> &'static str {
    match standing.code {
        ValidationCode::Valid if standing.past_due => "Valid, payment being collected",
        ValidationCode::Valid => "Valid",
        ValidationCode::Expired => "Expired",
        ValidationCode::Suspended => "Suspended",
        ValidationCode::Revoked => "Revoked",
        ValidationCode::NotFound | ValidationCode::NoMachine | ValidationCode::TooManyMachines => "Unknown",
    }
}

fn minute(time: DateTime<Utc>) -> String {
    crate::format::minute(time)
}

/// The organisation's licences, newest first, with their live machines;
/// keys shown (derived again) only when `keys` is given.
pub async fn licenses_of(
    conn: &mut PgConnection,
    organization_id: Uuid,
    keys: Option<&SigningKeys>,
    now: DateTime<Utc>,
) -> Result<Vec<LicenseView>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select l.license_id, l.key_hash, l.key_hint, l.max_activations, l.node_locked, l.grace_days, l.source,
               l.issued_at as "issued_at: DateTime<Utc>", l.extended_until as "extended_until: DateTime<Utc>",
               l.suspended_at as "suspended_at: DateTime<Utc>", l.revoked_at as "revoked_at: DateTime<Utc>",
               o.suspended_at is not null as "organization_suspended!",
               s.status as "subscription_status?", s.current_period_end as "current_period_end: DateTime<Utc>",
               coalesce(s.cancel_at_period_end, false) as "cancel_at_period_end!"
        from license l
        join organization o using (organization_id)
        left join lateral current_subscription(l.organization_id) s on true
        where l.organization_id = $1
        order by l.issued_at desc, l.license_id
        "#,
        organization_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let suspended_at = row.suspended_at;
        let facts = LicenseFacts {
            revoked_at: row.revoked_at,
            suspended_at: row.suspended_at,
            organization_suspended: row.organization_suspended,
            subscription_status: row.subscription_status,
            current_period_end: row.current_period_end,
            cancel_at_period_end: row.cancel_at_period_end,
            extended_until: row.extended_until,
            issued_at: row.issued_at,
        };
        let standing = standing(&facts, now);
        // language=PostgreSQL
        let activations = sqlx::query!(
            r#"select activation_id, fingerprint, hostname, activated_at as "activated_at: DateTime<Utc>",
                      last_check_in_at as "last_check_in_at: DateTime<Utc>"
               from license_activation where license_id = $1 and deactivated_at is null
               order by activated_at, activation_id"#,
            row.license_id
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|a| ActivationView {
            id: a.activation_id.to_string(),
            fingerprint: a.fingerprint,
            hostname: a.hostname,
            activated_at: minute(a.activated_at),
            last_check_in_at: minute(a.last_check_in_at),
        })
        .collect();
        views.push(LicenseView {
            id: row.license_id.to_string(),
            key: keys.and_then(|keys| db::shown_key(keys, row.license_id, row.issued_at, &row.key_hash)),
            key_hint: row.key_hint,
            status: status_words(&standing).to_owned(),
            code: standing.code.as_str().to_owned(),
            valid: standing.code == ValidationCode::Valid,
            revoked: standing.code == ValidationCode::Revoked,
            past_due: standing.past_due,
            suspended_by_hand: suspended_at.is_some(),
            renews: standing.renews,
            expires_on: crate::format::day(standing.expires_at.date_naive()),
            grace_days: row.grace_days,
            max_activations: row.max_activations,
            node_locked: row.node_locked,
            source: if row.source == super::db::Source::Subscription.as_str() {
                "With the subscription"
            } else {
                "By the platform team"
            }
            .to_owned(),
            issued_on: crate::format::day(row.issued_at.date_naive()),
            activations,
        });
    }
    Ok(views)
}

/// Frees the seat of one of the organisation's machines; whether it held one.
pub async fn free_seat(
    executor: impl PgExecutor<'_>,
    organization_id: Uuid,
    activation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let freed = sqlx::query!(
        "update license_activation a set deactivated_at = $3
         from license l
         where a.activation_id = $2 and a.license_id = l.license_id and l.organization_id = $1
           and a.deactivated_at is null",
        organization_id,
        activation_id,
        now as _
    )
    .execute(executor)
    .await?
    .rows_affected();
    Ok(freed == 1)
}

/// The fingerprint of a live activation of the organisation's licence.
pub async fn activation_fingerprint(
    executor: impl PgExecutor<'_>,
    organization_id: Uuid,
    license_id: Uuid,
    activation_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select a.fingerprint from license_activation a join license l using (license_id)
         where a.activation_id = $3 and l.license_id = $2 and l.organization_id = $1 and a.deactivated_at is null",
        organization_id,
        license_id,
        activation_id
    )
    .fetch_optional(executor)
    .await
}

/// What the console changed on a licence, before and after, for the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The licence's organisation.
    pub organization_id: Uuid,
    /// The state before, as JSON.
    pub before: serde_json::Value,
    /// The state after, as JSON.
    pub after: serde_json::Value,
}

/// An admin action on a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// Valid at least until then, whatever the billing.
    Extend(DateTime<Utc>),
    /// Suspended by hand (validates `SUSPENDED` at once).
    Suspend,
    /// Suspension lifted.
    Reinstate,
    /// Never valid again.
    Revoke,
}

/// Applies an admin action under the licence's row lock; `None` when there
/// is no such licence, `Err(message)` when the action cannot apply (a
/// revoked licence stays revoked; suspending a suspended one changes
/// nothing).
pub async fn apply_admin_action(
    conn: &mut PgConnection,
    license_id: Uuid,
    action: AdminAction,
    now: DateTime<Utc>,
) -> Result<Option<Result<Changed, &'static str>>, sqlx::Error> {
    // language=PostgreSQL
    let Some(row) = sqlx::query!(
        r#"select organization_id, extended_until as "extended_until: DateTime<Utc>",
                  suspended_at is not null as "suspended!", revoked_at is not null as "revoked!"
           from license where license_id = $1 for update"#,
        license_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    if row.revoked {
        return Ok(Some(Err("this licence is revoked; issue a new one instead")));
    }
    let state = |extended: Option<DateTime<Utc>>, suspended: bool, revoked: bool| {
        serde_json::json!({
            "extended_until": extended.map(|t| t.to_rfc3339()), "suspended": suspended, "revoked": revoked
        })
    };
    let before = state(row.extended_until, row.suspended, false);
    let (extended, suspended, revoked) = match action {
        AdminAction::Extend(until) if until <= now => {
            return Ok(Some(Err("choose a date in the future")));
        }
        AdminAction::Extend(until) => (Some(until), row.suspended, false),
        AdminAction::Suspend if row.suspended => return Ok(Some(Err("the licence is already suspended"))),
        AdminAction::Suspend => (row.extended_until, true, false),
        AdminAction::Reinstate if !row.suspended => return Ok(Some(Err("the licence is not suspended"))),
        AdminAction::Reinstate => (row.extended_until, false, false),
        AdminAction::Revoke => (row.extended_until, row.suspended, true),
    };
    // language=PostgreSQL
    sqlx::query!(
        "update license set extended_until = $2,
                suspended_at = case when $3 then coalesce(suspended_at, $5) end,
                revoked_at = case when $4 then $5 end
         where license_id = $1",
        license_id,
        extended as _,
        suspended,
        revoked,
        now as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(Ok(Changed {
        organization_id: row.organization_id,
        before,
        after: state(extended, suspended, revoked),
    })))
}

/// The offline exchange: the request's machine takes (or keeps) a seat on
/// the organisation's licence, and gets its file, as an online activation
/// would.
pub async fn offline_exchange(
    pool: &sqlx::PgPool,
    catalog: &crate::catalog::domain::Catalog,
    keys: &SigningKeys,
    organization_id: Uuid,
    license_id: Uuid,
    machine: &db::Machine<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, sqlx::Error> {
    db::activate(
        pool,
        catalog,
        keys,
        Named::Id {
            license_id,
            organization_id,
        },
        machine,
        now,
    )
    .await
}
