//! Licences and their activations in Postgres. An activation's seat limit
//! is checked under the licence row's lock, so any number of parallel
//! activations on any number of processes end with at most the limit.

use super::domain::{LicenseFacts, LicenseStanding, ValidationCode, standing};
use super::keys::SigningKeys;
use crate::accounts::secrets::token_hash;
use crate::catalog::domain::Catalog;
use crate::entitlements::db::OrganizationAddress;
use chrono::{DateTime, TimeDelta, Utc};
use license::{AfterGrace, Claims, LicenseKey};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A licence as the checks need it (read under its row's lock).
#[derive(Debug, Clone)]
struct LicenseRow {
    license_id: Uuid,
    organization_id: Uuid,
    max_activations: i32,
    node_locked: bool,
    grace_days: i32,
    after_grace: AfterGrace,
    floating_lease_hours: i32,
    facts: LicenseFacts,
}

/// A machine holding a seat, as an answer lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activation {
    /// The activation's id.
    pub id: Uuid,
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// Its hostname.
    pub hostname: String,
    /// When it activated.
    pub activated_at: DateTime<Utc>,
    /// When it last checked in.
    pub last_check_in_at: DateTime<Utc>,
}

/// What a machine sends to activate.
#[derive(Debug, Clone)]
pub struct Machine<'a> {
    /// A stable fingerprint of the machine.
    pub fingerprint: &'a str,
    /// Its hostname.
    pub hostname: &'a str,
    /// The HMAC of an operator-supplied instance id, for containers.
    pub instance_hmac: Option<Vec<u8>>,
}

/// What an activation or validation came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// No licence has the key (or the licence's code is not `VALID`).
    Refused(ValidationCode),
    /// Every seat is held by other machines.
    TooManyMachines(Vec<Activation>),
    /// Valid: the machine holds a seat; with the file to keep.
    Valid {
        /// The licence's standing.
        standing: LicenseStanding,
        /// The machine-bound signed file.
        file: String,
        /// The machine's activation.
        activation: Activation,
    },
}

/// The catalogue feature that makes a tier's subscription carry a licence.
pub const SELF_HOSTED_FEATURE: &str = "self_hosted_licence";

/// Machines a licence issued with a subscription may activate at once.
pub const SUBSCRIPTION_ACTIVATIONS: i32 = 3;

/// Where a licence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Issued when a self-hosted tier's subscription became active (one an
    /// organisation).
    Subscription,
    /// Issued by a platform admin.
    Console,
}

impl Source {
    /// The word stored in `license.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Subscription => "subscription",
            Source::Console => "console",
        }
    }
}

/// Issues a licence to an organisation; returns its id, or `None` when it
/// comes from a subscription and the organisation already has that one.
/// Its key is derived from the licensing secret; only the hash is stored.
pub async fn issue(
    conn: &mut PgConnection,
    keys: &SigningKeys,
    organization_id: Uuid,
    source: Source,
    max_activations: i32,
    node_locked: bool,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    use chrono::Datelike;
    let license_id = Uuid::new_v4();
    let year = u16::try_from(now.year()).unwrap_or(2026).clamp(2000, 2999);
    let key = keys
        .license_key(license_id, year)
        .map_err(|error| sqlx::Error::Protocol(error.to_string()))?;
    let hint = format!("{}-…-{}", &key.as_str()[..4], &key.as_str()[15..]);
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"insert into license (license_id, organization_id, key_hash, key_hint, max_activations, node_locked, source, issued_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8)
           on conflict (organization_id) where source = 'subscription' do nothing
           returning license_id"#,
        license_id,
        organization_id,
        token_hash(key.as_str()),
        hint,
        max_activations,
        node_locked,
        source.as_str(),
        now as _
    )
    .fetch_optional(conn)
    .await
}

/// The key of a licence as its customer sees it: derived again from the
/// licensing secret, and shown only if it still hashes to the stored one
/// (a changed secret would give another).
pub(super) fn shown_key(
    keys: &SigningKeys,
    license_id: Uuid,
    issued_at: DateTime<Utc>,
    key_hash: &[u8],
) -> Option<String> {
    use chrono::Datelike;
    let year = u16::try_from(issued_at.year()).ok()?;
    let key = keys.license_key(license_id, year).ok()?;
    (token_hash(key.as_str()) == key_hash).then(|| key.as_str().to_owned())
}

/// Which licence a request names.
#[derive(Debug, Clone, Copy)]
pub enum Named<'a> {
    /// By its key (an install).
    Key(&'a LicenseKey),
    /// By its id, within an organisation (the portal's offline exchange).
    Id {
        /// The licence.
        license_id: Uuid,
        /// The organisation it must belong to.
        organization_id: Uuid,
    },
}

/// The licence named, locked for the transaction.
async fn locked(conn: &mut PgConnection, named: Named<'_>) -> Result<Option<LicenseRow>, sqlx::Error> {
    let (key_hash, license_id, organization_id) = match named {
        Named::Key(key) => (Some(token_hash(key.as_str())), None, None),
        Named::Id {
            license_id,
            organization_id,
        } => (None, Some(license_id), Some(organization_id)),
    };
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select l.license_id, l.organization_id, l.max_activations, l.node_locked, l.grace_days, l.after_grace,
               l.floating_lease_hours, l.issued_at as "issued_at: DateTime<Utc>",
               l.extended_until as "extended_until: DateTime<Utc>",
               l.suspended_at as "suspended_at: DateTime<Utc>", l.revoked_at as "revoked_at: DateTime<Utc>",
               o.suspended_at is not null as "organization_suspended!",
               s.status as "subscription_status?", s.current_period_end as "current_period_end: DateTime<Utc>",
               coalesce(s.cancel_at_period_end, false) as "cancel_at_period_end!"
        from license l
        join organization o using (organization_id)
        left join lateral current_subscription(l.organization_id) s on true
        where (l.key_hash = $1 or ($1 is null and l.license_id = $2 and l.organization_id = $3))
        for update of l
        "#,
        key_hash,
        license_id,
        organization_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| LicenseRow {
        license_id: r.license_id,
        organization_id: r.organization_id,
        max_activations: r.max_activations,
        node_locked: r.node_locked,
        grace_days: r.grace_days,
        // The database allows only the two words; the stricter reading otherwise.
        after_grace: AfterGrace::parse(&r.after_grace).unwrap_or(AfterGrace::ReadOnly),
        floating_lease_hours: r.floating_lease_hours,
        facts: LicenseFacts {
            revoked_at: r.revoked_at,
            suspended_at: r.suspended_at,
            organization_suspended: r.organization_suspended,
            subscription_status: r.subscription_status,
            current_period_end: r.current_period_end,
            cancel_at_period_end: r.cancel_at_period_end,
            extended_until: r.extended_until,
            issued_at: r.issued_at,
        },
    }))
}

/// The licence with `key`, locked, and its standing if it is valid; else
/// the code that says why not.
async fn valid_license(
    conn: &mut PgConnection,
    named: Named<'_>,
    now: DateTime<Utc>,
) -> Result<Result<(LicenseRow, LicenseStanding), ValidationCode>, sqlx::Error> {
    let Some(license) = locked(conn, named).await? else {
        return Ok(Err(ValidationCode::NotFound));
    };
    let standing = standing(&license.facts, now);
    Ok(if standing.code == ValidationCode::Valid {
        Ok((license, standing))
    } else {
        Err(standing.code)
    })
}

async fn live_activations(conn: &mut PgConnection, license_id: Uuid) -> Result<Vec<Activation>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        Activation,
        r#"select activation_id as id, fingerprint, hostname, activated_at as "activated_at: DateTime<Utc>",
                  last_check_in_at as "last_check_in_at: DateTime<Utc>"
           from license_activation where license_id = $1 and deactivated_at is null
           order by activated_at, activation_id"#,
        license_id
    )
    .fetch_all(conn)
    .await
}

/// Activates `machine` on the licence with `key`: the same machine again
/// holds the same seat; a new one takes a free seat, if there is one.
pub async fn activate(
    pool: &PgPool,
    catalog: &Catalog,
    keys: &SigningKeys,
    named: Named<'_>,
    machine: &Machine<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (license, standing) = match valid_license(&mut tx, named, now).await? {
        Ok(valid) => valid,
        Err(code) => return Ok(Outcome::Refused(code)),
    };
    if !license.node_locked {
        // Floating seats not checked in for a while are free again.
        // language=PostgreSQL
        sqlx::query!(
            "update license_activation set deactivated_at = $2
             where license_id = $1 and deactivated_at is null and last_check_in_at < $3",
            license.license_id,
            now as _,
            (now - TimeDelta::hours(i64::from(license.floating_lease_hours))) as _
        )
        .execute(&mut *tx)
        .await?;
    }
    let live = live_activations(&mut tx, license.license_id).await?;
    let held = match live.iter().find(|a| a.fingerprint == machine.fingerprint) {
        Some(held) => Some(held.id),
        // A container starts with a new fingerprint each time; the operator's
        // stable instance id says it is the same install, which keeps its seat.
        None => match &machine.instance_hmac {
            Some(instance) => {
                // language=PostgreSQL
                sqlx::query_scalar!(
                    "update license_activation set fingerprint = $3, hostname = $4
                     where license_id = $1 and instance_hmac = $2 and deactivated_at is null
                     returning activation_id",
                    license.license_id,
                    instance,
                    machine.fingerprint,
                    machine.hostname
                )
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        },
    };
    let activation_id = match held {
        Some(held) => held,
        None if live.len() >= usize::try_from(license.max_activations).unwrap_or(0) => {
            return Ok(Outcome::TooManyMachines(live));
        }
        None => {
            // language=PostgreSQL
            sqlx::query_scalar!(
                r#"insert into license_activation (license_id, fingerprint, hostname, instance_hmac, activated_at, last_check_in_at)
                   values ($1, $2, $3, $4, $5, $5) returning activation_id"#,
                license.license_id,
                machine.fingerprint,
                machine.hostname,
                machine.instance_hmac.as_deref(),
                now as _
            )
            .fetch_one(&mut *tx)
            .await?
        }
    };
    let outcome = checked_in(&mut tx, catalog, keys, &license, standing, activation_id, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The periodic check-in: the licence's code for this machine, and a fresh
/// file when valid.
pub async fn validate(
    pool: &PgPool,
    catalog: &Catalog,
    keys: &SigningKeys,
    key: &LicenseKey,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (license, standing) = match valid_license(&mut tx, Named::Key(key), now).await? {
        Ok(valid) => valid,
        Err(code) => return Ok(Outcome::Refused(code)),
    };
    let live = live_activations(&mut tx, license.license_id).await?;
    let Some(held) = live.iter().find(|a| a.fingerprint == fingerprint) else {
        return Ok(Outcome::Refused(ValidationCode::NoMachine));
    };
    let outcome = checked_in(&mut tx, catalog, keys, &license, standing, held.id, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Frees the seat `fingerprint` holds; returns whether it held one.
pub async fn deactivate(
    pool: &PgPool,
    key: &LicenseKey,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Option<bool>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(license) = locked(&mut tx, Named::Key(key)).await? else {
        return Ok(None);
    };
    // language=PostgreSQL
    let freed = sqlx::query!(
        "update license_activation set deactivated_at = $3
         where license_id = $1 and fingerprint = $2 and deactivated_at is null",
        license.license_id,
        fingerprint,
        now as _
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Some(freed == 1))
}

/// Records the check-in and signs the machine's file.
async fn checked_in(
    conn: &mut PgConnection,
    catalog: &Catalog,
    keys: &SigningKeys,
    license: &LicenseRow,
    standing: LicenseStanding,
    activation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Outcome, sqlx::Error> {
    // language=PostgreSQL
    let activation = sqlx::query_as!(
        Activation,
        r#"update license_activation set last_check_in_at = $2 where activation_id = $1
           returning activation_id as id, fingerprint, hostname, activated_at as "activated_at: DateTime<Utc>",
                     last_check_in_at as "last_check_in_at: DateTime<Utc>""#,
        activation_id,
        now as _
    )
    .fetch_one(&mut *conn)
    .await?;
    let file = sign_file(
        conn,
        catalog,
        keys,
        license,
        standing,
        Some(&activation.fingerprint),
        now,
    )
    .await?;
    Ok(Outcome::Valid {
        standing,
        file,
        activation,
    })
}

/// The licence's file as of `now`, bound to `fingerprint` when the licence
/// is node-locked.
async fn sign_file(
    conn: &mut PgConnection,
    catalog: &Catalog,
    keys: &SigningKeys,
    license: &LicenseRow,
    standing: LicenseStanding,
    fingerprint: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let entitlements = crate::entitlements::guard::standing(
        &mut *conn,
        catalog,
        &OrganizationAddress::Id(license.organization_id),
        now,
    )
    .await?
    .map(|standing| crate::outbound::events::entitlements_json(catalog, &standing))
    .unwrap_or_default();
    let claims = Claims {
        format: license::file::FORMAT,
        license_id: license.license_id.to_string(),
        organization: entitlements["organization"].clone(),
        tier: entitlements["tier"].as_str().unwrap_or_default().to_owned(),
        features: entitlements["features"].clone(),
        limits: entitlements["limits"].clone(),
        issued_at: now.timestamp(),
        expires_at: standing.expires_at.timestamp(),
        grace_days: u32::try_from(license.grace_days).unwrap_or(0),
        after_grace: license.after_grace,
        max_activations: u32::try_from(license.max_activations).unwrap_or(1),
        node_locked: license.node_locked,
        fingerprint: license
            .node_locked
            .then(|| fingerprint.map(str::to_owned))
            .flatten(),
    };
    let signer = keys.signer();
    license::issue::sign(&claims, &signer.id, &signer.key)
        .map_err(|error| sqlx::Error::Protocol(error.to_string()))
}

/// The licence's file for one of the organisation's machines (`None` for a
/// floating licence's unbound file), signed now, without a check-in; or the
/// code that says why there is none.
pub async fn file_for(
    pool: &PgPool,
    catalog: &Catalog,
    keys: &SigningKeys,
    organization_id: Uuid,
    license_id: Uuid,
    fingerprint: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<String, ValidationCode>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let named = Named::Id {
        license_id,
        organization_id,
    };
    let (license, standing) = match valid_license(&mut tx, named, now).await? {
        Ok(valid) => valid,
        Err(code) => return Ok(Err(code)),
    };
    if license.node_locked && fingerprint.is_none() {
        return Ok(Err(ValidationCode::NoMachine));
    }
    let file = sign_file(&mut tx, catalog, keys, &license, standing, fingerprint, now).await?;
    tx.commit().await?;
    Ok(Ok(file))
}
