//! Catalogue storage: the idempotent sync from the file and the read back.

use super::domain::{
    AddOn, Catalog, CollectionTerms, Feature, FeatureGroup, Limit, Metric, PlanLimits, Tier, TrialTerms,
};
use super::money::{Currency, Money};
use sqlx::PgConnection;

/// What one sync changed. A sync of an unchanged file reports all zeros.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Entries new to the database.
    pub inserted: u64,
    /// Entries whose stored values differed from the file.
    pub updated: u64,
    /// Entries no longer in the file, now retired.
    pub retired: u64,
}

impl SyncReport {
    /// Whether the sync changed anything.
    pub fn changed(&self) -> bool {
        self.inserted + self.updated + self.retired > 0
    }

    fn count(&mut self, inserted: Option<bool>) {
        match inserted {
            Some(true) => self.inserted += 1,
            Some(false) => self.updated += 1,
            None => {}
        }
    }
}

/// The channel on which a changed catalogue is announced to every server
/// process, so each drops its cached copy.
pub const CATALOG_CHANGED_CHANNEL: &str = "gatehouse_catalog_changed";

/// A tier's limits as stored: `{"users": 3, "storage_gb": null}`, null for unlimited.
fn limits_to_db(limits: &PlanLimits) -> serde_json::Value {
    limits
        .0
        .iter()
        .map(|(metric, limit)| (metric.clone(), serde_json::json!(limit.as_option())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn limits_from_db(value: serde_json::Value) -> Result<PlanLimits, LoadCatalogError> {
    let serde_json::Value::Object(map) = value else {
        return Err(LoadCatalogError::Inconsistent(
            "a plan's limits are not an object".into(),
        ));
    };
    let mut limits = PlanLimits::default();
    for (metric, limit) in map {
        let limit = match limit {
            serde_json::Value::Null => Limit::Unlimited,
            other => Limit::Limited(other.as_u64().ok_or_else(|| {
                LoadCatalogError::Inconsistent(format!("the limit on {metric} is not a whole number"))
            })?),
        };
        limits.0.insert(metric, limit);
    }
    Ok(limits)
}

/// Writes the catalogue into the database. Idempotent: unchanged rows are not
/// touched (their `updated_at` stays), changed ones are updated, and rows no
/// longer in the file are retired, never deleted. Runs under a transaction-
/// scoped advisory lock so that instances starting together do not race.
pub async fn sync_catalog(
    conn: &mut PgConnection,
    catalog: &Catalog,
    content_sha256: &str,
) -> Result<SyncReport, sqlx::Error> {
    let mut report = SyncReport::default();
    // language=PostgreSQL
    sqlx::query!("select pg_advisory_xact_lock(hashtext('gatehouse.catalog_sync'))")
        .execute(&mut *conn)
        .await?;
    let currency = catalog.currency.code();

    for (rank, metric) in catalog.metrics.iter().enumerate() {
        // language=PostgreSQL
        let inserted = sqlx::query_scalar!(
            r#"
            insert into metric (metric_key, name, unit, units, rank, retired)
            values ($1, $2, $3, $4, $5, false)
            on conflict (metric_key) do update
                set name = excluded.name, unit = excluded.unit, units = excluded.units,
                    rank = excluded.rank, retired = false
                where (metric.name, metric.unit, metric.units, metric.rank, metric.retired)
                      is distinct from (excluded.name, excluded.unit, excluded.units, excluded.rank, false)
            returning (xmax = 0) as "inserted!"
            "#,
            metric.key,
            metric.name,
            metric.unit,
            metric.units,
            rank as i32,
        )
        .fetch_optional(&mut *conn)
        .await?;
        report.count(inserted);
    }
    let metric_keys: Vec<String> = catalog.metrics.iter().map(|m| m.key.clone()).collect();
    // language=PostgreSQL
    report.retired += sqlx::query!(
        "update metric set retired = true where not retired and metric_key <> all($1)",
        &metric_keys
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();

    for (rank, tier) in catalog.tiers.iter().enumerate() {
        // language=PostgreSQL
        let inserted = sqlx::query_scalar!(
            r#"
            insert into plan (plan_key, name, tagline, rank, recommended, currency, monthly_amount,
                              annual_amount, limits, retired)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, false)
            on conflict (plan_key) do update
                set name = excluded.name, tagline = excluded.tagline, rank = excluded.rank,
                    recommended = excluded.recommended, currency = excluded.currency,
                    monthly_amount = excluded.monthly_amount, annual_amount = excluded.annual_amount,
                    limits = excluded.limits, retired = false
                where (plan.name, plan.tagline, plan.rank, plan.recommended, plan.currency, plan.monthly_amount,
                       plan.annual_amount, plan.limits, plan.retired)
                      is distinct from
                      (excluded.name, excluded.tagline, excluded.rank, excluded.recommended, excluded.currency,
                       excluded.monthly_amount, excluded.annual_amount, excluded.limits, false)
            returning (xmax = 0) as "inserted!"
            "#,
            tier.key,
            tier.name,
            tier.tagline,
            rank as i32,
            tier.recommended,
            currency,
            tier.monthly_price.amount_minor,
            tier.annual_price.amount_minor,
            limits_to_db(&tier.limits),
        )
        .fetch_optional(&mut *conn)
        .await?;
        report.count(inserted);
    }
    let tier_keys: Vec<String> = catalog.tiers.iter().map(|t| t.key.clone()).collect();
    // language=PostgreSQL
    report.retired += sqlx::query!(
        "update plan set retired = true where not retired and plan_key <> all($1)",
        &tier_keys
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();

    for (rank, add_on) in catalog.add_ons.iter().enumerate() {
        // language=PostgreSQL
        let inserted = sqlx::query_scalar!(
            r#"
            insert into add_on (add_on_key, name, unit, rank, currency, monthly_unit_amount, max_quantity,
                                raises_metric, per_unit, retired)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, false)
            on conflict (add_on_key) do update
                set name = excluded.name, unit = excluded.unit, rank = excluded.rank,
                    currency = excluded.currency, monthly_unit_amount = excluded.monthly_unit_amount,
                    max_quantity = excluded.max_quantity, raises_metric = excluded.raises_metric,
                    per_unit = excluded.per_unit, retired = false
                where (add_on.name, add_on.unit, add_on.rank, add_on.currency, add_on.monthly_unit_amount,
                       add_on.max_quantity, add_on.raises_metric, add_on.per_unit, add_on.retired)
                      is distinct from
                      (excluded.name, excluded.unit, excluded.rank, excluded.currency,
                       excluded.monthly_unit_amount, excluded.max_quantity, excluded.raises_metric,
                       excluded.per_unit, false)
            returning (xmax = 0) as "inserted!"
            "#,
            add_on.key,
            add_on.name,
            add_on.unit,
            rank as i32,
            currency,
            add_on.monthly_unit_price.amount_minor,
            add_on.max_quantity.map(|q| i32::try_from(q).unwrap_or(i32::MAX)),
            add_on.raises,
            i64::try_from(add_on.per_unit).unwrap_or(i64::MAX),
        )
        .fetch_optional(&mut *conn)
        .await?;
        report.count(inserted);
    }
    let add_on_keys: Vec<String> = catalog.add_ons.iter().map(|a| a.key.clone()).collect();
    // language=PostgreSQL
    report.retired += sqlx::query!(
        "update add_on set retired = true where not retired and add_on_key <> all($1)",
        &add_on_keys
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();

    for (group_rank, group) in catalog.feature_groups.iter().enumerate() {
        // language=PostgreSQL
        let inserted = sqlx::query_scalar!(
            r#"
            insert into feature_group (feature_group_key, name, rank, retired)
            values ($1, $2, $3, false)
            on conflict (feature_group_key) do update
                set name = excluded.name, rank = excluded.rank, retired = false
                where (feature_group.name, feature_group.rank, feature_group.retired)
                      is distinct from (excluded.name, excluded.rank, false)
            returning (xmax = 0) as "inserted!"
            "#,
            group.key,
            group.name,
            group_rank as i32,
        )
        .fetch_optional(&mut *conn)
        .await?;
        report.count(inserted);

        for (rank, feature) in group.features.iter().enumerate() {
            // language=PostgreSQL
            let inserted = sqlx::query_scalar!(
                r#"
                insert into feature (feature_key, feature_group_id, name, rank, included_from_plan_id, retired)
                select $1, g.feature_group_id, $2, $3, p.plan_id, false
                from feature_group g, plan p
                where g.feature_group_key = $4 and p.plan_key = $5
                on conflict (feature_key) do update
                    set feature_group_id = excluded.feature_group_id, name = excluded.name, rank = excluded.rank,
                        included_from_plan_id = excluded.included_from_plan_id, retired = false
                    where (feature.feature_group_id, feature.name, feature.rank, feature.included_from_plan_id,
                           feature.retired)
                          is distinct from
                          (excluded.feature_group_id, excluded.name, excluded.rank,
                           excluded.included_from_plan_id, false)
                returning (xmax = 0) as "inserted!"
                "#,
                feature.key,
                feature.name,
                rank as i32,
                group.key,
                feature.included_from,
            )
            .fetch_optional(&mut *conn)
            .await?;
            report.count(inserted);
        }
    }
    let group_keys: Vec<String> = catalog.feature_groups.iter().map(|g| g.key.clone()).collect();
    let feature_keys: Vec<String> = catalog
        .feature_groups
        .iter()
        .flat_map(|g| g.features.iter().map(|f| f.key.clone()))
        .collect();
    // language=PostgreSQL
    report.retired += sqlx::query!(
        "update feature set retired = true where not retired and feature_key <> all($1)",
        &feature_keys
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // language=PostgreSQL
    report.retired += sqlx::query!(
        "update feature_group set retired = true where not retired and feature_group_key <> all($1)",
        &group_keys
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();

    // language=PostgreSQL
    let settings_changed = sqlx::query_scalar!(
        r#"
        insert into catalog_settings (version, currency, trial_days, trial_default_plan_id, content_sha256,
                                      trial_reminder_days, collection_grace_days)
        select $1, $2, $3, plan_id, $4, $6, $7 from plan where plan_key = $5
        on conflict (singleton) do update
            set version = excluded.version, currency = excluded.currency, trial_days = excluded.trial_days,
                trial_default_plan_id = excluded.trial_default_plan_id,
                trial_reminder_days = excluded.trial_reminder_days,
                collection_grace_days = excluded.collection_grace_days,
                content_sha256 = excluded.content_sha256, synced_at = now()
            where (catalog_settings.version, catalog_settings.currency, catalog_settings.trial_days,
                   catalog_settings.trial_default_plan_id, catalog_settings.trial_reminder_days,
                   catalog_settings.collection_grace_days)
                  is distinct from
                  (excluded.version, excluded.currency, excluded.trial_days, excluded.trial_default_plan_id,
                   excluded.trial_reminder_days, excluded.collection_grace_days)
        returning (xmax = 0) as "inserted!"
        "#,
        catalog.version as i32,
        currency,
        catalog.trial.days as i32,
        content_sha256,
        catalog.trial.default_tier,
        &catalog
            .trial
            .reminder_days
            .iter()
            .map(|d| *d as i32)
            .collect::<Vec<_>>(),
        catalog.collection.grace_days as i32,
    )
    .fetch_optional(&mut *conn)
    .await?;
    report.count(settings_changed);

    if report.changed() {
        // language=PostgreSQL
        sqlx::query!(
            "select pg_notify($1, $2)",
            CATALOG_CHANGED_CHANNEL,
            catalog.version.to_string()
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(report)
}

/// Why the stored catalogue could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadCatalogError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Nothing has been synced yet.
    #[error("the catalogue has not been synced into the database")]
    NotSynced,
    /// A stored value breaks a domain rule (a hand edit, say).
    #[error("stored catalogue is inconsistent: {0}")]
    Inconsistent(String),
}

impl From<LoadCatalogError> for crate::error::AppError {
    /// A server function that cannot read the catalogue fails as an
    /// internal error; the log says why.
    #[track_caller]
    fn from(error: LoadCatalogError) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(error = %error, at = %at, "catalogue unavailable");
        crate::error::AppError::Internal
    }
}

fn currency_of(code: &str) -> Result<Currency, LoadCatalogError> {
    Currency::parse(code.trim()).map_err(|e| LoadCatalogError::Inconsistent(e.to_string()))
}

/// The keys of the tiers on sale, cheapest first (the console's tier filter).
pub async fn tier_keys(pool: &sqlx::PgPool) -> Result<Vec<String>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!("select plan_key from plan where not retired order by rank, plan_key")
        .fetch_all(pool)
        .await
}

/// Reads the live (not retired) catalogue back from the database.
pub async fn load_catalog(conn: &mut PgConnection) -> Result<Catalog, LoadCatalogError> {
    // language=PostgreSQL
    let settings = sqlx::query!(
        r#"
        select s.version, s.currency, s.trial_days, p.plan_key as default_plan,
               s.trial_reminder_days, s.collection_grace_days
        from catalog_settings s join plan p on p.plan_id = s.trial_default_plan_id
        "#
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(LoadCatalogError::NotSynced)?;
    let currency = currency_of(&settings.currency)?;

    // language=PostgreSQL
    let metrics = sqlx::query_as!(
        Metric,
        "select metric_key as key, name, unit, units from metric where not retired order by rank"
    )
    .fetch_all(&mut *conn)
    .await?;

    // language=PostgreSQL
    let plans = sqlx::query!(
        r#"
        select plan_key, name, tagline, recommended, currency, monthly_amount, annual_amount, limits
        from plan where not retired order by rank
        "#
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tiers = Vec::with_capacity(plans.len());
    for plan in plans {
        let plan_currency = currency_of(&plan.currency)?;
        tiers.push(Tier {
            key: plan.plan_key,
            name: plan.name,
            tagline: plan.tagline,
            recommended: plan.recommended,
            monthly_price: Money::new(plan.monthly_amount, plan_currency),
            annual_price: Money::new(plan.annual_amount, plan_currency),
            limits: limits_from_db(plan.limits)?,
        });
    }

    // language=PostgreSQL
    let add_on_rows = sqlx::query!(
        r#"
        select add_on_key, name, unit, currency, monthly_unit_amount, max_quantity, raises_metric, per_unit
        from add_on where not retired order by rank
        "#
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut add_ons = Vec::with_capacity(add_on_rows.len());
    for row in add_on_rows {
        add_ons.push(AddOn {
            key: row.add_on_key,
            name: row.name,
            unit: row.unit,
            monthly_unit_price: Money::new(row.monthly_unit_amount, currency_of(&row.currency)?),
            max_quantity: row.max_quantity.map(|q| q.max(1) as u32),
            raises: row.raises_metric,
            per_unit: row.per_unit.max(1) as u64,
        });
    }

    // language=PostgreSQL
    let feature_rows = sqlx::query!(
        r#"
        select g.feature_group_key, g.name as group_name, f.feature_key, f.name, p.plan_key
        from feature f
        join feature_group g using (feature_group_id)
        join plan p on p.plan_id = f.included_from_plan_id
        where not f.retired and not g.retired
        order by g.rank, f.rank
        "#
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut feature_groups: Vec<FeatureGroup> = Vec::new();
    for row in feature_rows {
        let feature = Feature {
            key: row.feature_key,
            name: row.name,
            included_from: row.plan_key,
        };
        match feature_groups.last_mut() {
            Some(group) if group.key == row.feature_group_key => group.features.push(feature),
            _ => feature_groups.push(FeatureGroup {
                key: row.feature_group_key,
                name: row.group_name,
                features: vec![feature],
            }),
        }
    }

    Ok(Catalog {
        version: settings.version.max(1) as u32,
        currency,
        metrics,
        tiers,
        add_ons,
        feature_groups,
        trial: TrialTerms {
            days: settings.trial_days.max(1) as u32,
            default_tier: settings.default_plan,
            reminder_days: settings
                .trial_reminder_days
                .into_iter()
                .map(|d| d.clamp(1, 90) as u32)
                .collect(),
        },
        collection: CollectionTerms {
            grace_days: settings.collection_grace_days.clamp(1, 90) as u32,
        },
    })
}
