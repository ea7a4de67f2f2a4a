//! Tests of `validate`.

use super::*;
use crate::catalog::domain::fixtures::{raw, valid};
use claims::{assert_err, assert_ok};
#[test]
fn a_valid_catalogue_keeps_prices_in_cents() {
    let catalog = valid();
    let starter = catalog.tier("starter").unwrap();
    assert_eq!(starter.monthly_price.amount_minor, 4900);
    assert_eq!(starter.annual_price.amount_minor, 52900);
    assert_eq!(
        catalog.tier("enterprise").unwrap().limits.users(),
        Limit::Unlimited
    );
    assert_eq!(catalog.add_ons[1].monthly_unit_price.amount_minor, 50);
    assert_eq!(catalog.trial.days, 14);
}

/// Each case edits the valid catalogue one way and names the message the
/// operator must see.
#[test]
fn invalid_catalogues_name_the_entry_and_the_problem() {
    type Edit = fn(&mut RawCatalog);
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("version zero", |c| c.version = 0, "version: must be 1 or more"),
        (
            "bad currency",
            |c| c.currency = "dollars".into(),
            "currency: \"dollars\" is not a three-letter",
        ),
        (
            "no tiers",
            |c| c.tiers.clear(),
            "tiers: at least one tier is needed",
        ),
        (
            "bad key",
            |c| c.tiers[0].key = "Starter Plan".into(),
            "tiers[0] \"Starter Plan\".key: \"Starter Plan\" must be 1–40",
        ),
        (
            "duplicate key",
            |c| c.tiers[1].key = "starter".into(),
            "tiers[1] \"starter\".key: \"starter\" is used twice",
        ),
        (
            "empty name",
            |c| c.tiers[0].name = "  ".into(),
            "tiers[0] \"starter\".name: must be between 1 and 80",
        ),
        (
            "bad price",
            |c| c.tiers[0].monthly_price = "forty-nine".into(),
            "tiers[0] \"starter\".monthly_price: \"forty-nine\" is not an amount",
        ),
        (
            "sub-cent price",
            |c| c.tiers[0].monthly_price = "49.999".into(),
            "more than 2 decimal places",
        ),
        (
            "annual dearer",
            |c| c.tiers[0].annual_price = "600".into(),
            "tiers[0] \"starter\".annual_price: $600 costs more than twelve monthly payments ($588)",
        ),
        (
            "not ascending",
            |c| {
                c.tiers[1].monthly_price = "9".into();
                c.tiers[1].annual_price = "99".into();
            },
            "tiers[1] \"pro\".monthly_price: tiers go cheapest first",
        ),
        (
            "zero limit",
            |c| {
                c.tiers[0].limits.insert("users".into(), RawLimit::Number(0));
            },
            "tiers[0] \"starter\".limits.users: must be a whole number of at least 1 or \"unlimited\"",
        ),
        (
            "word limit",
            |c| {
                c.tiers[0]
                    .limits
                    .insert("storage_gb".into(), RawLimit::Word("lots".into()));
            },
            "limits.storage_gb: must be a whole number",
        ),
        (
            "shrinking limit",
            |c| {
                c.tiers[1].limits.insert("users".into(), RawLimit::Number(2));
            },
            "tiers[1] \"pro\".limits.users: is lower than in the cheaper tier \"starter\"",
        ),
        (
            "missing limit",
            |c| {
                c.tiers[2].limits.remove("workspaces");
            },
            "tiers[2] \"enterprise\".limits.workspaces: is missing",
        ),
        (
            "undeclared metric",
            |c| {
                c.tiers[0].limits.insert("seats".into(), RawLimit::Number(1));
            },
            "tiers[0] \"starter\".limits.seats: is not a metric of this catalogue",
        ),
        (
            "no users metric",
            |c| c.metrics.retain(|m| m.key != "users"),
            "metrics: \"users\" must be one of them",
        ),
        (
            "duplicate metric",
            |c| c.metrics[1].key = "users".into(),
            "metrics[1] \"users\".key: \"users\" is used twice",
        ),
        (
            "metric without units",
            |c| c.metrics[1].units = " ".into(),
            "metrics[1] \"workspaces\".units: must be between 1 and 80",
        ),
        (
            "add-on raising nothing known",
            |c| c.add_ons[0].raises = Some("seats".into()),
            "add_ons[0] \"extra_user\".raises: \"seats\" is not a metric of this catalogue",
        ),
        (
            "zero per unit",
            |c| c.add_ons[1].per_unit = Some(0),
            "add_ons[1] \"storage\".per_unit: must be a whole number of at least 1",
        ),
        (
            "per unit without a metric",
            |c| {
                c.add_ons[1].raises = None;
                c.add_ons[1].per_unit = Some(5);
            },
            "add_ons[1] \"storage\".per_unit: only an add-on that raises a metric",
        ),
        (
            "two recommended",
            |c| c.tiers[0].recommended = true,
            "tiers: at most one tier can be recommended",
        ),
        (
            "free add-on",
            |c| c.add_ons[0].monthly_unit_price = "0".into(),
            "add_ons[0] \"extra_user\".monthly_unit_price: an add-on must cost something",
        ),
        (
            "zero cap",
            |c| c.add_ons[0].max_quantity = Some(0),
            "add_ons[0] \"extra_user\".max_quantity: must be a whole number of at least 1",
        ),
        (
            "duplicate add-on",
            |c| c.add_ons[1].key = "extra_user".into(),
            "add_ons[1] \"extra_user\".key: \"extra_user\" is used twice",
        ),
        (
            "no groups",
            |c| c.feature_groups.clear(),
            "feature_groups: at least one feature group is needed",
        ),
        (
            "empty group",
            |c| c.feature_groups[0].features.clear(),
            "feature_groups[0] \"core\".features: a group needs at least one feature",
        ),
        (
            "unknown tier",
            |c| c.feature_groups[0].features[0].included_from = "gold".into(),
            "feature_groups[0] \"core\".features[0] \"sso\".included_from: \"gold\" is not a tier",
        ),
        (
            "duplicate feature",
            |c| c.feature_groups[0].features[1].key = "sso".into(),
            "features[1] \"sso\".key: \"sso\" is used twice",
        ),
        (
            "long trial",
            |c| c.trial.days = 365,
            "trial.days: must be between 1 and 90",
        ),
        (
            "no trial",
            |c| c.trial.days = 0,
            "trial.days: must be between 1 and 90",
        ),
        (
            "trial tier",
            |c| c.trial.default_tier = "gold".into(),
            "trial.default_tier: \"gold\" is not a tier",
        ),
    ];
    for (case, edit, message) in cases {
        let mut catalog = raw("");
        edit(&mut catalog);
        let error = assert_err!(Catalog::validate(catalog), "case {case} should fail");
        assert!(
            error.to_string().contains(message),
            "case {case}: expected {message:?} in {:?}",
            error.to_string()
        );
    }
}

#[test]
fn a_catalogue_can_grow_a_fourth_tier() {
    let extra = r#", {"key": "ultimate", "name": "Ultimate", "monthly_price": "1999", "annual_price": "19999",
        "limits": {"users": "unlimited", "workspaces": "unlimited", "storage_gb": "unlimited"}}"#;
    let catalog = assert_ok!(Catalog::validate(raw(extra)));
    assert_eq!(catalog.tiers.len(), 4);
}

#[test]
fn a_catalogue_can_grow_a_metric_by_declaring_it_and_giving_each_tier_a_limit() {
    let mut file = raw("");
    file.metrics.push(RawMetric {
        key: "api_calls".into(),
        name: "API calls".into(),
        unit: "API call".into(),
        units: "API calls".into(),
    });
    for (tier, limit) in file.tiers.iter_mut().zip([1000, 10000, 100000]) {
        tier.limits.insert("api_calls".into(), RawLimit::Number(limit));
    }
    file.add_ons[1].raises = Some("api_calls".into());
    file.add_ons[1].per_unit = Some(500);
    let catalog = assert_ok!(Catalog::validate(file));
    assert_eq!(catalog.metrics.len(), 4);
    assert_eq!(
        catalog.tier("pro").unwrap().limits.get("api_calls"),
        Limit::Limited(10000)
    );
    assert_eq!(catalog.add_ons[1].per_unit, 500);
    let metric = catalog.metric("api_calls").unwrap();
    assert_eq!(Limit::Limited(1).label(metric), "1 API call");
    assert_eq!(Limit::Limited(10000).label(metric), "10000 API calls");
    assert_eq!(Limit::Unlimited.label(metric), "Unlimited api calls");
}
