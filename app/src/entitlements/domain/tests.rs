use super::*;
use crate::catalog::domain::Catalog;
use crate::catalog::domain::fixtures::raw;
use chrono::{Duration, TimeZone};
use proptest::prelude::*;

fn catalog() -> Catalog {
    Catalog::validate(raw("")).expect("valid")
}

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn subscription(tier: &str, status: SubscriptionStatus) -> SubscriptionFacts {
    SubscriptionFacts {
        tier: tier.into(),
        add_ons: BTreeMap::new(),
        status,
        cancel_at_period_end: false,
        current_period_end: Some(noon() + Duration::days(20)),
        trial_end: (status == SubscriptionStatus::Trialing).then(|| noon() + Duration::days(5)),
    }
}

fn facts(subscription: Option<SubscriptionFacts>) -> OrganizationFacts {
    OrganizationFacts {
        subscription,
        overrides: Vec::new(),
        suspended: None,
        payment_restricted: false,
    }
}

fn limit_override(metric: &str, limit: Limit, expires_at: Option<DateTime<Utc>>) -> Override {
    Override {
        grant: OverrideGrant::Limit {
            metric: metric.into(),
            limit,
        },
        expires_at,
        reason: "test".into(),
    }
}

#[test]
fn a_tier_gives_its_features_and_limits() {
    let catalog = catalog();
    let starter = resolve(
        &catalog,
        &facts(Some(subscription("starter", SubscriptionStatus::Active))),
        noon(),
    );
    assert_eq!(starter.tier.as_deref(), Some("starter"));
    assert_eq!(starter.access, Access::Full);
    assert!(starter.features["reports"]);
    assert!(!starter.features["sso"]);
    assert_eq!(starter.limits["users"], Limit::Limited(3));
    assert_eq!(starter.limits["workspaces"], Limit::Limited(1));
    let enterprise = resolve(
        &catalog,
        &facts(Some(subscription("enterprise", SubscriptionStatus::Active))),
        noon(),
    );
    assert!(enterprise.features.values().all(|on| *on));
    assert!(enterprise.limits.values().all(|l| *l == Limit::Unlimited));
}

#[test]
fn add_ons_raise_the_limit_they_name_and_unlimited_stays_unlimited() {
    let catalog = catalog();
    type Case<'a> = (&'a str, &'a [(&'a str, u32)], &'a str, Limit);
    let cases: &[Case] = &[
        ("starter", &[("extra_user", 2)], "users", Limit::Limited(5)),
        ("starter", &[("extra_user", 2)], "storage_gb", Limit::Limited(10)),
        ("starter", &[("storage", 15)], "storage_gb", Limit::Limited(25)),
        ("starter", &[("extra_user", 0)], "users", Limit::Limited(3)),
        (
            "pro",
            &[("extra_user", 100), ("storage", 1)],
            "users",
            Limit::Limited(125),
        ),
        ("enterprise", &[("extra_user", 7)], "users", Limit::Unlimited),
        ("starter", &[("no_such_add_on", 9)], "users", Limit::Limited(3)),
    ];
    for (tier, add_ons, metric, expected) in cases {
        let mut sub = subscription(tier, SubscriptionStatus::Active);
        sub.add_ons = add_ons.iter().map(|(k, q)| ((*k).to_owned(), *q)).collect();
        let resolved = resolve(&catalog, &facts(Some(sub)), noon());
        assert_eq!(resolved.limits[*metric], *expected, "{tier} {add_ons:?} {metric}");
    }
}

#[test]
fn the_state_rules_decide_access() {
    use SubscriptionStatus::*;
    let catalog = catalog();
    let cases = [
        (Trialing, Access::Full),
        (Active, Access::Full),
        (PastDue, Access::PastDue),
        (Incomplete, Access::PastDue),
        (Paused, Access::ReadOnly(ReadOnlyReason::TrialEnded)),
        (Unpaid, Access::ReadOnly(ReadOnlyReason::Unpaid)),
        (Canceled, Access::ReadOnly(ReadOnlyReason::Canceled)),
        (IncompleteExpired, Access::ReadOnly(ReadOnlyReason::Canceled)),
    ];
    assert_eq!(cases.len(), SubscriptionStatus::ALL.len());
    for (status, expected) in cases {
        let resolved = resolve(&catalog, &facts(Some(subscription("pro", status))), noon());
        assert_eq!(resolved.access, expected, "{status:?}");
        assert_eq!(
            check_write(&resolved).is_err(),
            resolved.read_only(),
            "{status:?}"
        );
        // Read-only keeps the plan's features visible: reads still work.
        assert!(resolved.features["reports"], "{status:?}");
    }
    let no_plan = resolve(&catalog, &facts(None), noon());
    assert_eq!(no_plan.access, Access::ReadOnly(ReadOnlyReason::NoSubscription));
    assert!(no_plan.limits.values().all(|l| *l == Limit::Limited(0)));
}

#[test]
fn a_payment_restriction_makes_a_billing_subscription_read_only_until_it_ends() {
    use SubscriptionStatus::*;
    let catalog = catalog();
    for status in SubscriptionStatus::ALL {
        let mut org = facts(Some(subscription("pro", status)));
        let unrestricted = resolve(&catalog, &org, noon()).access;
        org.payment_restricted = true;
        let restricted = resolve(&catalog, &org, noon()).access;
        let expected = match status {
            Active | PastDue => Access::ReadOnly(ReadOnlyReason::PaymentOverdue),
            // An ended or never-billed subscription's own state says why.
            _ => unrestricted,
        };
        assert_eq!(restricted, expected, "{status:?}");
    }
    let mut suspended = facts(Some(subscription("pro", PastDue)));
    suspended.payment_restricted = true;
    suspended.suspended = Some("chargeback".into());
    assert_eq!(
        resolve(&catalog, &suspended, noon()).access,
        Access::ReadOnly(ReadOnlyReason::Suspended),
        "a suspension says more"
    );
}

#[test]
fn a_suspension_makes_any_state_read_only() {
    let catalog = catalog();
    for status in SubscriptionStatus::ALL {
        let mut org = facts(Some(subscription("pro", status)));
        org.suspended = Some("chargeback".into());
        let resolved = resolve(&catalog, &org, noon());
        assert_eq!(
            resolved.access,
            Access::ReadOnly(ReadOnlyReason::Suspended),
            "{status:?}"
        );
    }
}

#[test]
fn a_trial_past_its_end_is_read_only_even_before_the_sweep_pauses_it() {
    let catalog = catalog();
    let sub = subscription("pro", SubscriptionStatus::Trialing);
    let end = sub.trial_end.unwrap();
    let org = facts(Some(sub));
    assert_eq!(
        resolve(&catalog, &org, end - Duration::seconds(1)).access,
        Access::Full
    );
    assert_eq!(
        resolve(&catalog, &org, end).access,
        Access::ReadOnly(ReadOnlyReason::TrialEnded)
    );
}

#[test]
fn a_cancellation_at_period_end_keeps_the_plan_until_the_end() {
    let catalog = catalog();
    let mut sub = subscription("pro", SubscriptionStatus::Active);
    sub.cancel_at_period_end = true;
    let end = sub.current_period_end.unwrap();
    let org = facts(Some(sub));
    for before in [Duration::days(19), Duration::seconds(1)] {
        let resolved = resolve(&catalog, &org, end - before);
        assert_eq!(resolved.access, Access::Full);
        assert_eq!(resolved.limits["users"], Limit::Limited(25));
    }
    assert_eq!(
        resolve(&catalog, &org, end).access,
        Access::ReadOnly(ReadOnlyReason::Canceled)
    );
}

#[test]
fn overrides_count_until_they_expire() {
    let catalog = catalog();
    let expiry = noon() + Duration::hours(1);
    let mut org = facts(Some(subscription("starter", SubscriptionStatus::Active)));
    org.overrides = vec![
        limit_override("workspaces", Limit::Limited(4), Some(expiry)),
        Override {
            grant: OverrideGrant::Feature {
                feature: "sso".into(),
                enabled: true,
            },
            expires_at: None,
            reason: "pilot".into(),
        },
        Override {
            grant: OverrideGrant::Feature {
                feature: "reports".into(),
                enabled: false,
            },
            expires_at: Some(expiry),
            reason: "abuse".into(),
        },
    ];
    let before = resolve(&catalog, &org, expiry - Duration::seconds(1));
    assert_eq!(before.limits["workspaces"], Limit::Limited(4));
    assert!(before.features["sso"]);
    assert!(!before.features["reports"]);
    let after = resolve(&catalog, &org, expiry);
    assert_eq!(after.limits["workspaces"], Limit::Limited(1));
    assert!(after.features["sso"]);
    assert!(after.features["reports"]);
}

#[test]
fn a_tier_override_replaces_the_tier_and_the_later_override_of_a_key_wins() {
    let catalog = catalog();
    let mut org = facts(Some(subscription("starter", SubscriptionStatus::Active)));
    org.overrides = vec![
        Override {
            grant: OverrideGrant::Tier {
                tier: "enterprise".into(),
            },
            expires_at: None,
            reason: "partner".into(),
        },
        limit_override("users", Limit::Limited(50), None),
        limit_override("users", Limit::Limited(40), None),
        Override {
            grant: OverrideGrant::Tier { tier: "gold".into() },
            expires_at: None,
            reason: "a tier the catalogue lost".into(),
        },
    ];
    let resolved = resolve(&catalog, &org, noon());
    assert_eq!(resolved.tier.as_deref(), Some("enterprise"));
    assert!(resolved.features["sso"]);
    assert_eq!(resolved.limits["users"], Limit::Limited(40));
    assert_eq!(resolved.limits["workspaces"], Limit::Unlimited);
}

#[test]
fn refusals_name_the_feature_or_limit_and_the_tier_that_allows_it() {
    let catalog = catalog();
    let starter = resolve(
        &catalog,
        &facts(Some(subscription("starter", SubscriptionStatus::Active))),
        noon(),
    );
    assert_eq!(
        check_feature(&catalog, &starter, "sso"),
        Some(Err(Refusal::FeatureNotInPlan {
            feature: "sso".into(),
            upgrade_to: Some("enterprise".into())
        }))
    );
    assert_eq!(check_feature(&catalog, &starter, "reports"), Some(Ok(())));
    assert_eq!(check_feature(&catalog, &starter, "teleport"), None);
    assert_eq!(
        check_increment(&catalog, &starter, "workspaces", 0, 1),
        Some(Ok(()))
    );
    let refusal = check_increment(&catalog, &starter, "workspaces", 1, 3)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        refusal,
        Refusal::LimitReached {
            metric: "workspaces".into(),
            limit: 1,
            used: 1,
            upgrade_to: Some("pro".into())
        }
    );
    assert_eq!(refusal.code(), "limit_reached");
    // Past Pro's 5 workspaces, only Enterprise would do.
    let far = check_increment(&catalog, &starter, "workspaces", 1, 9)
        .unwrap()
        .unwrap_err();
    assert!(matches!(far, Refusal::LimitReached { upgrade_to: Some(ref t), .. } if t == "enterprise"));
    assert_eq!(check_increment(&catalog, &starter, "furniture", 0, 1), None);

    let unpaid = resolve(
        &catalog,
        &facts(Some(subscription("starter", SubscriptionStatus::Unpaid))),
        noon(),
    );
    let refusal = check_increment(&catalog, &unpaid, "workspaces", 0, 1)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        refusal,
        Refusal::ReadOnly {
            why: ReadOnlyReason::Unpaid
        }
    );
    assert_eq!(refusal.code(), "read_only");
    assert_eq!(
        check_feature(&catalog, &unpaid, "reports")
            .unwrap()
            .unwrap_err()
            .code(),
        "read_only"
    );
}

#[test]
fn a_feature_switched_off_by_an_admin_names_no_upgrade() {
    let catalog = catalog();
    let mut org = facts(Some(subscription("pro", SubscriptionStatus::Active)));
    org.overrides.push(Override {
        grant: OverrideGrant::Feature {
            feature: "reports".into(),
            enabled: false,
        },
        expires_at: None,
        reason: "abuse".into(),
    });
    let resolved = resolve(&catalog, &org, noon());
    assert_eq!(
        check_feature(&catalog, &resolved, "reports"),
        Some(Err(Refusal::FeatureNotInPlan {
            feature: "reports".into(),
            upgrade_to: None
        }))
    );
}

#[test]
fn allowances_colour_from_eighty_percent_and_fill_at_the_limit() {
    let cases = [
        (Limit::Limited(10), 0, Some(0), UsageLevel::Calm, Some(10)),
        (Limit::Limited(10), 7, Some(70), UsageLevel::Calm, Some(3)),
        (Limit::Limited(10), 8, Some(80), UsageLevel::Warning, Some(2)),
        (Limit::Limited(10), 9, Some(90), UsageLevel::Warning, Some(1)),
        (Limit::Limited(10), 10, Some(100), UsageLevel::AtLimit, Some(0)),
        (Limit::Limited(10), 13, Some(100), UsageLevel::AtLimit, Some(0)),
        (Limit::Limited(0), 0, Some(100), UsageLevel::AtLimit, Some(0)),
        (Limit::Unlimited, 1_000_000, None, UsageLevel::Calm, None),
        (
            Limit::Limited(u64::MAX),
            u64::MAX - 1,
            Some(99),
            UsageLevel::Warning,
            Some(1),
        ),
        (
            Limit::Limited(u64::MAX),
            u64::MAX / 2,
            Some(49),
            UsageLevel::Calm,
            Some(u64::MAX - u64::MAX / 2),
        ),
    ];
    for (limit, used, percent, level, remaining) in cases {
        let allowance = Allowance::of(limit, used);
        assert_eq!(allowance.percent(), percent, "{limit:?} {used}");
        assert_eq!(allowance.level(), level, "{limit:?} {used}");
        assert_eq!(allowance.remaining, remaining, "{limit:?} {used}");
    }
}

fn any_status() -> impl Strategy<Value = SubscriptionStatus> {
    proptest::sample::select(SubscriptionStatus::ALL.to_vec())
}

fn any_limit() -> impl Strategy<Value = Limit> {
    prop_oneof![(0u64..200).prop_map(Limit::Limited), Just(Limit::Unlimited)]
}

fn any_override() -> impl Strategy<Value = Override> {
    let grant = prop_oneof![
        (
            proptest::sample::select(vec!["users", "workspaces", "storage_gb", "unknown"]),
            any_limit()
        )
            .prop_map(|(metric, limit)| OverrideGrant::Limit {
                metric: metric.into(),
                limit
            }),
        (
            proptest::sample::select(vec!["sso", "reports", "unknown"]),
            any::<bool>()
        )
            .prop_map(|(feature, enabled)| OverrideGrant::Feature {
                feature: feature.into(),
                enabled
            }),
        proptest::sample::select(vec!["starter", "pro", "enterprise", "gold"])
            .prop_map(|tier| OverrideGrant::Tier { tier: tier.into() }),
    ];
    (grant, proptest::option::of(-48i64..48)).prop_map(|(grant, hours)| Override {
        grant,
        expires_at: hours.map(|h| noon() + Duration::hours(h)),
        reason: "generated".into(),
    })
}

fn any_facts() -> impl Strategy<Value = OrganizationFacts> {
    let sub = (
        proptest::sample::select(vec!["starter", "pro", "enterprise", "retired"]),
        0u32..50,
        0u32..50,
        any_status(),
        any::<bool>(),
        -30i64..30,
    )
        .prop_map(
            |(tier, users, storage, status, cancel, period_days)| SubscriptionFacts {
                tier: tier.into(),
                add_ons: [("extra_user".to_owned(), users), ("storage".to_owned(), storage)].into(),
                status,
                cancel_at_period_end: cancel,
                current_period_end: Some(noon() + Duration::days(period_days)),
                trial_end: Some(noon() + Duration::days(period_days)),
            },
        );
    (
        proptest::option::of(sub),
        proptest::collection::vec(any_override(), 0..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(subscription, overrides, suspended, payment_restricted)| OrganizationFacts {
                subscription,
                overrides,
                suspended: suspended.then(|| "generated".into()),
                payment_restricted,
            },
        )
}

proptest! {
    #[test]
    fn every_catalogue_feature_and_metric_is_answered(org in any_facts()) {
        let catalog = catalog();
        let resolved = resolve(&catalog, &org, noon());
        let features: Vec<&String> = resolved.features.keys().collect();
        let expected: Vec<String> = { let mut k: Vec<String> = catalog.features().map(|f| f.key.clone()).collect(); k.sort(); k };
        prop_assert_eq!(features, expected.iter().collect::<Vec<_>>());
        let metrics: Vec<&String> = resolved.limits.keys().collect();
        let mut expected: Vec<String> = catalog.metrics.iter().map(|m| m.key.clone()).collect();
        expected.sort();
        prop_assert_eq!(metrics, expected.iter().collect::<Vec<_>>());
    }

    #[test]
    fn nothing_resolves_differently_before_the_next_change(
        org in any_facts(),
        from_minutes in -50_000i64..50_000,
        fraction in 0.0f64..1.0,
    ) {
        let catalog = catalog();
        let now = noon() + Duration::minutes(from_minutes);
        let at_now = resolve(&catalog, &org, now);
        match org.next_change_after(now) {
            Some(next) => {
                prop_assert!(next > now);
                let span_ms = (next - now).num_milliseconds();
                let later = now + Duration::milliseconds((span_ms as f64 * fraction) as i64);
                prop_assert!(later < next);
                prop_assert_eq!(resolve(&catalog, &org, later), at_now);
            }
            None => {
                for later in [now + Duration::days(400), now + Duration::days(4_000)] {
                    prop_assert_eq!(resolve(&catalog, &org, later), at_now.clone());
                }
            }
        }
    }

    #[test]
    fn expired_overrides_change_nothing(org in any_facts()) {
        let catalog = catalog();
        let mut only_live = org.clone();
        only_live.overrides.retain(|o| o.is_live(noon()));
        prop_assert_eq!(resolve(&catalog, &org, noon()), resolve(&catalog, &only_live, noon()));
    }

    #[test]
    fn more_add_ons_never_lower_a_limit(org in any_facts(), extra in 1u32..100) {
        let catalog = catalog();
        let before = resolve(&catalog, &org, noon());
        let mut more = org.clone();
        if let Some(sub) = more.subscription.as_mut() {
            for quantity in sub.add_ons.values_mut() {
                *quantity += extra;
            }
        }
        let after = resolve(&catalog, &more, noon());
        for (metric, limit) in &after.limits {
            prop_assert!(limit.covers(before.limits[metric]), "{} fell", metric);
        }
    }

    #[test]
    fn an_increment_is_allowed_exactly_when_it_fits_and_writes_are_open(
        org in any_facts(), used in 0u64..300, increment in 0u64..300,
        metric in proptest::sample::select(vec!["users", "workspaces", "storage_gb"]),
    ) {
        let catalog = catalog();
        let resolved = resolve(&catalog, &org, noon());
        let allowed = check_increment(&catalog, &resolved, metric, used, increment).unwrap().is_ok();
        let fits = resolved.limits[metric].allows(used + increment);
        prop_assert_eq!(allowed, fits && !resolved.read_only());
        if let Some(Err(Refusal::LimitReached { upgrade_to: Some(tier), .. })) =
            check_increment(&catalog, &resolved, metric, used, increment)
        {
            // The tier named really would allow it, and is above the current one.
            prop_assert!(catalog.plan_limit(&tier, &resolved.add_ons, metric).allows(used + increment));
            prop_assert!(catalog.tier_rank(&tier) > resolved.tier.as_deref().and_then(|t| catalog.tier_rank(t)));
        }
    }

    #[test]
    fn a_live_limit_override_is_the_limit(org in any_facts(), limit in any_limit()) {
        let catalog = catalog();
        let mut overridden = org.clone();
        overridden.overrides.push(limit_override("workspaces", limit, None));
        prop_assert_eq!(resolve(&catalog, &overridden, noon()).limits["workspaces"], limit);
    }
}

#[test]
fn a_read_only_reason_is_spelt_the_same_by_its_code_and_on_the_wire() {
    use ReadOnlyReason::*;
    for reason in [
        TrialEnded,
        Unpaid,
        PaymentOverdue,
        Canceled,
        Suspended,
        NoSubscription,
    ] {
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::json!(reason.code())
        );
    }
}
