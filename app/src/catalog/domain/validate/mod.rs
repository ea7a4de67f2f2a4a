//! The catalogue's rules: a file becomes a [`Catalog`] only if every entry
//! keeps them, and the first that does not is named with its problem.

use super::*;
use crate::catalog::money::Currency;
use std::collections::HashSet;
use std::fmt;

/// A catalogue entry that is wrong, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {problem}")]
pub struct CatalogError {
    /// Where in the file, such as `tiers[1] "professional".annual_price`.
    pub entry: String,
    /// What is wrong, in words an operator can act on.
    pub problem: String,
}

impl CatalogError {
    fn new(entry: impl fmt::Display, problem: impl fmt::Display) -> Self {
        CatalogError {
            entry: entry.to_string(),
            problem: problem.to_string(),
        }
    }
}

/// The longest trial an operator may offer.
pub const MAX_TRIAL_DAYS: i64 = 90;

/// The longest grace period before an unpaid organisation is restricted.
pub const MAX_GRACE_DAYS: i64 = 90;

fn check_key(entry: &str, key: &str) -> Result<(), CatalogError> {
    let valid = !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && key.as_bytes()[0].is_ascii_lowercase();
    if valid {
        Ok(())
    } else {
        Err(CatalogError::new(
            format!("{entry}.key"),
            format!("\"{key}\" must be 1–40 characters of a-z, 0-9, '-' or '_', starting with a letter"),
        ))
    }
}

fn check_name(entry: &str, field: &str, value: &str) -> Result<(), CatalogError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 80 {
        Err(CatalogError::new(
            format!("{entry}.{field}"),
            "must be between 1 and 80 characters",
        ))
    } else {
        Ok(())
    }
}

fn check_unique<'a>(seen: &mut HashSet<&'a str>, entry: &str, key: &'a str) -> Result<(), CatalogError> {
    if seen.insert(key) {
        Ok(())
    } else {
        Err(CatalogError::new(
            format!("{entry}.key"),
            format!("\"{key}\" is used twice"),
        ))
    }
}

fn parse_price(entry: &str, field: &str, raw: &str, currency: Currency) -> Result<Money, CatalogError> {
    Money::parse_major(raw, currency)
        .map_err(|e: MoneyError| CatalogError::new(format!("{entry}.{field}"), e))
}

fn parse_limit(entry: &str, field: &str, raw: &RawLimit) -> Result<Limit, CatalogError> {
    let wrong = || {
        CatalogError::new(
            format!("{entry}.limits.{field}"),
            "must be a whole number of at least 1 or \"unlimited\"",
        )
    };
    match raw {
        RawLimit::Number(n) if *n >= 1 => Ok(Limit::Limited(*n as u64)),
        RawLimit::Word(word) if word == "unlimited" => Ok(Limit::Unlimited),
        _ => Err(wrong()),
    }
}

fn validate_metrics(raw: &[RawMetric]) -> Result<Vec<Metric>, CatalogError> {
    let mut keys = HashSet::new();
    let mut metrics = Vec::with_capacity(raw.len());
    for (index, metric) in raw.iter().enumerate() {
        let entry = format!("metrics[{index}] \"{}\"", metric.key);
        check_key(&entry, &metric.key)?;
        check_unique(&mut keys, &entry, &metric.key)?;
        check_name(&entry, "name", &metric.name)?;
        check_name(&entry, "unit", &metric.unit)?;
        check_name(&entry, "units", &metric.units)?;
        metrics.push(Metric {
            key: metric.key.clone(),
            name: metric.name.trim().to_owned(),
            unit: metric.unit.trim().to_owned(),
            units: metric.units.trim().to_owned(),
        });
    }
    if !keys.contains(USERS_METRIC) {
        return Err(CatalogError::new(
            "metrics",
            format!(
                "\"{USERS_METRIC}\" must be one of them: Gatehouse counts members and invitations against it"
            ),
        ));
    }
    Ok(metrics)
}

/// Reads a tier's limits: exactly one for each metric, no other keys.
fn parse_limits(entry: &str, metrics: &[Metric], raw: &RawLimits) -> Result<PlanLimits, CatalogError> {
    if let Some(unknown) = raw.keys().find(|k| !metrics.iter().any(|m| &m.key == *k)) {
        return Err(CatalogError::new(
            format!("{entry}.limits.{unknown}"),
            "is not a metric of this catalogue (declare it under [[metrics]])",
        ));
    }
    let mut limits = PlanLimits::default();
    for metric in metrics {
        let value = raw
            .get(&metric.key)
            .ok_or_else(|| CatalogError::new(format!("{entry}.limits.{}", metric.key), "is missing"))?;
        limits
            .0
            .insert(metric.key.clone(), parse_limit(entry, &metric.key, value)?);
    }
    Ok(limits)
}

impl Catalog {
    /// Checks every rule of a catalogue file and builds the catalogue, or
    /// names the first entry that breaks one.
    pub fn validate(raw: RawCatalog) -> Result<Catalog, CatalogError> {
        if raw.version == 0 {
            return Err(CatalogError::new("version", "must be 1 or more"));
        }
        let currency = Currency::parse(&raw.currency).map_err(|e| CatalogError::new("currency", e))?;
        if raw.tiers.is_empty() {
            return Err(CatalogError::new("tiers", "at least one tier is needed"));
        }

        let metrics = validate_metrics(&raw.metrics)?;

        let mut tier_keys = HashSet::new();
        let mut tiers: Vec<Tier> = Vec::with_capacity(raw.tiers.len());
        for (index, tier) in raw.tiers.iter().enumerate() {
            let entry = format!("tiers[{index}] \"{}\"", tier.key);
            check_key(&entry, &tier.key)?;
            check_unique(&mut tier_keys, &entry, &tier.key)?;
            check_name(&entry, "name", &tier.name)?;
            let monthly_price = parse_price(&entry, "monthly_price", &tier.monthly_price, currency)?;
            let annual_price = parse_price(&entry, "annual_price", &tier.annual_price, currency)?;
            if annual_price.amount_minor > monthly_price.amount_minor * 12 {
                return Err(CatalogError::new(
                    format!("{entry}.annual_price"),
                    format!(
                        "{} costs more than twelve monthly payments ({})",
                        annual_price.display(),
                        Money::new(monthly_price.amount_minor * 12, currency).display()
                    ),
                ));
            }
            let limits = parse_limits(&entry, &metrics, &tier.limits)?;
            if let Some(previous) = tiers.last() {
                if monthly_price.amount_minor < previous.monthly_price.amount_minor {
                    return Err(CatalogError::new(
                        format!("{entry}.monthly_price"),
                        format!(
                            "tiers go cheapest first, but this costs less than \"{}\"",
                            previous.key
                        ),
                    ));
                }
                for metric in &metrics {
                    let field = &metric.key;
                    if !limits.get(field).covers(previous.limits.get(field)) {
                        return Err(CatalogError::new(
                            format!("{entry}.limits.{field}"),
                            format!("is lower than in the cheaper tier \"{}\"", previous.key),
                        ));
                    }
                }
            }
            tiers.push(Tier {
                key: tier.key.clone(),
                name: tier.name.trim().to_owned(),
                tagline: tier.tagline.trim().to_owned(),
                recommended: tier.recommended,
                monthly_price,
                annual_price,
                limits,
            });
        }
        if tiers.iter().filter(|t| t.recommended).count() > 1 {
            return Err(CatalogError::new("tiers", "at most one tier can be recommended"));
        }

        let mut add_on_keys = HashSet::new();
        let mut add_ons = Vec::with_capacity(raw.add_ons.len());
        for (index, add_on) in raw.add_ons.iter().enumerate() {
            let entry = format!("add_ons[{index}] \"{}\"", add_on.key);
            check_key(&entry, &add_on.key)?;
            check_unique(&mut add_on_keys, &entry, &add_on.key)?;
            check_name(&entry, "name", &add_on.name)?;
            check_name(&entry, "unit", &add_on.unit)?;
            let monthly_unit_price =
                parse_price(&entry, "monthly_unit_price", &add_on.monthly_unit_price, currency)?;
            if monthly_unit_price.amount_minor == 0 {
                return Err(CatalogError::new(
                    format!("{entry}.monthly_unit_price"),
                    "an add-on must cost something",
                ));
            }
            let max_quantity = match add_on.max_quantity {
                None => None,
                Some(n) if (1..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
                Some(_) => {
                    return Err(CatalogError::new(
                        format!("{entry}.max_quantity"),
                        "must be a whole number of at least 1",
                    ));
                }
            };
            if let Some(raised) = &add_on.raises
                && !metrics.iter().any(|m| &m.key == raised)
            {
                return Err(CatalogError::new(
                    format!("{entry}.raises"),
                    format!("\"{raised}\" is not a metric of this catalogue"),
                ));
            }
            let per_unit = match add_on.per_unit {
                None => 1,
                Some(n) if n >= 1 && add_on.raises.is_some() => n as u64,
                Some(n) if n >= 1 => {
                    return Err(CatalogError::new(
                        format!("{entry}.per_unit"),
                        "only an add-on that raises a metric has a per-unit amount",
                    ));
                }
                Some(_) => {
                    return Err(CatalogError::new(
                        format!("{entry}.per_unit"),
                        "must be a whole number of at least 1",
                    ));
                }
            };
            add_ons.push(AddOn {
                key: add_on.key.clone(),
                name: add_on.name.trim().to_owned(),
                unit: add_on.unit.trim().to_owned(),
                monthly_unit_price,
                max_quantity,
                raises: add_on.raises.clone(),
                per_unit,
            });
        }

        if raw.feature_groups.is_empty() {
            return Err(CatalogError::new(
                "feature_groups",
                "at least one feature group is needed",
            ));
        }
        let mut group_keys = HashSet::new();
        let mut feature_keys = HashSet::new();
        let mut feature_groups = Vec::with_capacity(raw.feature_groups.len());
        for (group_index, group) in raw.feature_groups.iter().enumerate() {
            let group_entry = format!("feature_groups[{group_index}] \"{}\"", group.key);
            check_key(&group_entry, &group.key)?;
            check_unique(&mut group_keys, &group_entry, &group.key)?;
            check_name(&group_entry, "name", &group.name)?;
            if group.features.is_empty() {
                return Err(CatalogError::new(
                    format!("{group_entry}.features"),
                    "a group needs at least one feature",
                ));
            }
            let mut features = Vec::with_capacity(group.features.len());
            for (index, feature) in group.features.iter().enumerate() {
                let entry = format!("{group_entry}.features[{index}] \"{}\"", feature.key);
                check_key(&entry, &feature.key)?;
                check_unique(&mut feature_keys, &entry, &feature.key)?;
                check_name(&entry, "name", &feature.name)?;
                if !tier_keys.contains(feature.included_from.as_str()) {
                    return Err(CatalogError::new(
                        format!("{entry}.included_from"),
                        format!("\"{}\" is not a tier of this catalogue", feature.included_from),
                    ));
                }
                features.push(Feature {
                    key: feature.key.clone(),
                    name: feature.name.trim().to_owned(),
                    included_from: feature.included_from.clone(),
                });
            }
            feature_groups.push(FeatureGroup {
                key: group.key.clone(),
                name: group.name.trim().to_owned(),
                features,
            });
        }

        if !(1..=MAX_TRIAL_DAYS).contains(&raw.trial.days) {
            return Err(CatalogError::new(
                "trial.days",
                format!("must be between 1 and {MAX_TRIAL_DAYS}"),
            ));
        }
        if !tier_keys.contains(raw.trial.default_tier.as_str()) {
            return Err(CatalogError::new(
                "trial.default_tier",
                format!("\"{}\" is not a tier of this catalogue", raw.trial.default_tier),
            ));
        }

        let reminder_days = match &raw.trial.reminder_days {
            None => DEFAULT_REMINDER_DAYS
                .iter()
                .copied()
                .filter(|d| i64::from(*d) < raw.trial.days)
                .collect(),
            Some(days) => {
                let mut sorted = days.clone();
                sorted.sort_unstable_by(|a, b| b.cmp(a));
                sorted.dedup();
                if sorted.len() != days.len() || sorted.len() > 5 {
                    return Err(CatalogError::new(
                        "trial.reminder_days",
                        "must be at most 5 different numbers of days",
                    ));
                }
                if let Some(bad) = sorted.iter().find(|d| !(1..raw.trial.days).contains(d)) {
                    return Err(CatalogError::new(
                        "trial.reminder_days",
                        format!("{bad} must be at least 1 and shorter than the trial"),
                    ));
                }
                sorted.into_iter().map(|d| d as u32).collect()
            }
        };
        let collection = match &raw.collection {
            None => CollectionTerms::default(),
            Some(collection) if (1..=MAX_GRACE_DAYS).contains(&collection.grace_days) => CollectionTerms {
                grace_days: collection.grace_days as u32,
            },
            Some(_) => {
                return Err(CatalogError::new(
                    "collection.grace_days",
                    format!("must be between 1 and {MAX_GRACE_DAYS}"),
                ));
            }
        };

        Ok(Catalog {
            version: raw.version,
            currency,
            metrics,
            tiers,
            add_ons,
            feature_groups,
            trial: TrialTerms {
                days: raw.trial.days as u32,
                default_tier: raw.trial.default_tier,
                reminder_days,
            },
            collection,
        })
    }
}

#[cfg(test)]
mod tests;
