//! Choosing a plan: what a choice of tier, cycle and add-ons is, the seat
//! rule (the users a choice allows), whether and when a change from one
//! choice to another happens, and the proration of an immediate change.

use super::price_key::PriceKey;
use super::snapshot::{PlanOfItems, plan_of_items};
use crate::catalog::domain::{BillingCycle, Catalog, Limit, USERS_METRIC};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A wanted item: a price and a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredItem {
    /// The price's lookup key.
    pub lookup_key: String,
    /// Units (≥ 1).
    pub quantity: u32,
}

/// A whole plan choice: tier, cycle and add-on quantities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChoice {
    /// Tier key.
    pub tier: String,
    /// How often it bills.
    pub cycle: BillingCycle,
    /// Add-on keys and quantities (zero means none).
    pub add_ons: BTreeMap<String, u32>,
}

/// One field of a submitted plan choice that cannot be read, and why: the
/// field is `tier`, `cycle`, `add_ons` or `add_ons[<catalogue key>]` (a
/// submitted key is never repeated back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceProblem {
    /// The form field.
    pub field: String,
    /// What is wrong, for the customer.
    pub message: String,
}

impl PlanChoice {
    /// Reads a submitted tier, cycle and add-on quantities (blank is none)
    /// against the catalogue: the one check of a plan-choice form, for
    /// checkout, previews and changes alike.
    pub fn parse<'a>(
        catalog: &Catalog,
        tier: &str,
        cycle: &str,
        add_ons: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<PlanChoice, Vec<ChoiceProblem>> {
        let mut problems = Vec::new();
        let mut fail = |field: &str, message: String| {
            problems.push(ChoiceProblem {
                field: field.to_owned(),
                message,
            })
        };
        if catalog.tier(tier).is_none() {
            fail("tier", "choose one of the plans".into());
        }
        let parsed_cycle = BillingCycle::parse(cycle);
        if parsed_cycle.is_none() {
            fail("cycle", "choose monthly or annual billing".into());
        }
        let mut quantities = BTreeMap::new();
        for (key, raw) in add_ons {
            let Some(add_on) = catalog.add_ons.iter().find(|a| a.key == key) else {
                fail(
                    "add_ons",
                    "one of the add-ons is not offered; reload the page".into(),
                );
                continue;
            };
            let field = format!("add_ons[{}]", add_on.key);
            let raw = raw.trim();
            match if raw.is_empty() { Ok(0) } else { raw.parse::<u32>() } {
                Ok(quantity) if add_on.max_quantity.is_some_and(|max| quantity > max) => fail(
                    &field,
                    format!(
                        "at most {} {}",
                        add_on.max_quantity.unwrap_or_default(),
                        add_on.unit
                    ),
                ),
                Ok(0) => {}
                Ok(quantity) => {
                    quantities.insert(add_on.key.clone(), quantity);
                }
                Err(_) => fail(&field, "enter a whole number of 0 or more".into()),
            }
        }
        match parsed_cycle {
            Some(cycle) if problems.is_empty() => Ok(PlanChoice {
                tier: tier.to_owned(),
                cycle,
                add_ons: quantities,
            }),
            _ => Err(problems),
        }
    }

    /// The items a provider subscription needs for this choice (tier first).
    pub fn items(&self) -> Vec<DesiredItem> {
        let mut items = vec![DesiredItem {
            lookup_key: PriceKey::tier(&self.tier, self.cycle).lookup_key(),
            quantity: 1,
        }];
        items.extend(
            self.add_ons
                .iter()
                .filter(|(_, q)| **q > 0)
                .map(|(key, q)| DesiredItem {
                    lookup_key: PriceKey::add_on(key, self.cycle).lookup_key(),
                    quantity: *q,
                }),
        );
        items
    }

    /// The choice a stored subscription stands for: what its items say, or
    /// (before the provider has given it items, as in a signup trial) its
    /// tier at its cycle without add-ons.
    pub fn of_subscription(tier: &str, billing_cycle: &str, items: &[(String, u32)]) -> Self {
        plan_of_items(items.iter().map(|(key, quantity)| (key.as_str(), *quantity)))
            .map(|plan| PlanChoice::from_plan(&plan))
            .unwrap_or_else(|_| PlanChoice {
                tier: tier.to_owned(),
                cycle: BillingCycle::from_query(Some(billing_cycle)),
                add_ons: BTreeMap::new(),
            })
    }

    /// The choice a current plan stands for.
    pub fn from_plan(plan: &PlanOfItems) -> Self {
        PlanChoice {
            tier: plan.tier.clone(),
            cycle: plan.cycle,
            add_ons: plan.add_ons.clone(),
        }
    }

    /// The tier's name in the catalogue (its key if the catalogue lacks it).
    pub fn tier_name(&self, catalog: &Catalog) -> String {
        catalog
            .tier(&self.tier)
            .map_or_else(|| self.tier.clone(), |t| t.name.clone())
    }

    /// The add-ons as "2 × Extra user", in key order; empty without any.
    pub fn add_on_names(&self, catalog: &Catalog) -> Vec<String> {
        self.add_ons
            .iter()
            .map(|(key, quantity)| {
                let name = catalog
                    .add_ons
                    .iter()
                    .find(|a| &a.key == key)
                    .map_or(key.as_str(), |a| a.name.as_str());
                format!("{quantity} × {name}")
            })
            .collect()
    }

    /// The price of one period in minor units, from the catalogue.
    pub fn period_amount(&self, catalog: &Catalog) -> Option<i64> {
        self.items().iter().try_fold(0_i64, |sum, item| {
            let key = PriceKey::parse(&item.lookup_key)?;
            let amount = key
                .catalog_amount(catalog)?
                .checked_mul(i64::from(item.quantity))?;
            sum.checked_add(amount)
        })
    }
}

/// When a plan change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeTiming {
    /// Now, with the difference prorated and charged at once.
    Immediately,
    /// At the end of the current period, with nothing charged now.
    AtPeriodEnd,
}

/// Why a plan change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanChangeError {
    /// Nothing would change.
    #[error("that is already your plan")]
    Unchanged,
    /// Not in the catalogue.
    #[error("there is no plan called \"{0}\"")]
    UnknownTier(String),
    /// Usage above what the target plan allows.
    #[error(
        "your organisation has {used} users (members and open invitations), but {plan} with {extra} extra users allows {allowed}; remove users or add extra users first"
    )]
    TooManyUsers {
        /// Users counted now.
        used: u64,
        /// Allowed by the target.
        allowed: u64,
        /// The target tier's name.
        plan: String,
        /// Extra-user add-ons in the target.
        extra: u32,
    },
}

/// The users a plan choice allows: the tier's limit plus the add-ons that
/// raise it ([`Catalog::plan_limit`], the same rule every metric follows).
pub fn allowed_users(catalog: &Catalog, choice: &PlanChoice) -> Limit {
    catalog.plan_limit(&choice.tier, &choice.add_ons, USERS_METRIC)
}

/// The seat rule: `users_now` (members plus open invitations) must fit in
/// what `target` allows, whether it is bought at checkout or changed to.
pub fn check_seats(catalog: &Catalog, target: &PlanChoice, users_now: u64) -> Result<(), PlanChangeError> {
    match allowed_users(catalog, target) {
        Limit::Limited(allowed) if users_now > allowed => Err(PlanChangeError::TooManyUsers {
            used: users_now,
            allowed,
            plan: target.tier_name(catalog),
            extra: catalog.add_on_units_raising(&target.add_ons, USERS_METRIC),
        }),
        _ => Ok(()),
    }
}

/// Decides how a change from `current` to `target` happens, or refuses it:
/// anything that lowers the price per period waits for the period's end;
/// anything else (an upgrade, more add-ons, a switch of cycle) is immediate.
/// A change is refused when the users counted now exceed what the target
/// allows. `target` is a choice [`PlanChoice::parse`] read.
pub fn plan_change(
    catalog: &Catalog,
    current: &PlanChoice,
    target: &PlanChoice,
    users_now: u64,
) -> Result<ChangeTiming, PlanChangeError> {
    if catalog.tier(&target.tier).is_none() {
        return Err(PlanChangeError::UnknownTier(target.tier.clone()));
    }
    if current.items() == target.items() {
        return Err(PlanChangeError::Unchanged);
    }
    check_seats(catalog, target, users_now)?;
    // Same cycle: compare per period. A switch of cycle is immediate (the
    // provider starts a new period), as Stripe does.
    if current.cycle == target.cycle && target.period_amount(catalog) < current.period_amount(catalog) {
        Ok(ChangeTiming::AtPeriodEnd)
    } else {
        Ok(ChangeTiming::Immediately)
    }
}

/// The amount due now for moving, at `now`, from a period price of
/// `old_amount` to `new_amount` within [`period_start`, `period_end`):
/// the unused part of the old price is credited, the remaining part of the new
/// one charged, each rounded half-even to whole minor units (as Stripe does per
/// line). Times are Unix seconds. Never below zero: a net credit would go to
/// the customer's balance, which the sandbox does not keep.
pub fn prorated_amount_due(
    old_amount: i64,
    new_amount: i64,
    period_start: i64,
    period_end: i64,
    now: i64,
) -> ProrationLines {
    let length = (period_end - period_start).max(1);
    let remaining = (period_end - now).clamp(0, length);
    let part = |amount: i64| {
        crate::catalog::money::div_round_half_even(
            i64::try_from(i128::from(amount) * i128::from(remaining)).unwrap_or(i64::MAX),
            length,
        )
    };
    let credit = part(old_amount);
    let charge = part(new_amount);
    ProrationLines {
        credit,
        charge,
        amount_due: (charge - credit).max(0),
    }
}

/// The two proration lines and what is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProrationLines {
    /// Credit for the unused time on the old price.
    pub credit: i64,
    /// Charge for the remaining time on the new price.
    pub charge: i64,
    /// `charge − credit`, at least zero.
    pub amount_due: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use claims::assert_err;
    fn catalog() -> Catalog {
        crate::catalog::source::parse_catalog(include_str!("../../../../catalog/catalog.toml"))
            .expect("the shipped catalogue is valid")
            .catalog
    }

    fn choice(tier: &str, cycle: BillingCycle, add_ons: &[(&str, u32)]) -> PlanChoice {
        PlanChoice {
            tier: tier.into(),
            cycle,
            add_ons: add_ons.iter().map(|(k, q)| ((*k).to_owned(), *q)).collect(),
        }
    }

    #[test]
    fn choices_are_named_from_the_catalogue() {
        let catalog = catalog();
        let pro = choice(
            "professional",
            BillingCycle::Annual,
            &[("extra_user", 2), ("extra_storage", 10)],
        );
        assert_eq!(pro.tier_name(&catalog), "Professional");
        assert_eq!(
            pro.add_on_names(&catalog),
            ["10 × Extra storage", "2 × Extra user"]
        );
        let unknown = choice("gold", BillingCycle::Monthly, &[("gold_bars", 1)]);
        assert_eq!(unknown.tier_name(&catalog), "gold");
        assert_eq!(unknown.add_on_names(&catalog), ["1 × gold_bars"]);
    }

    #[test]
    fn upgrades_are_immediate_and_downgrades_wait_for_period_end() {
        let catalog = catalog();
        let starter = choice("starter", BillingCycle::Monthly, &[]);
        let pro = choice("professional", BillingCycle::Monthly, &[]);
        assert_eq!(
            plan_change(&catalog, &starter, &pro, 1),
            Ok(ChangeTiming::Immediately)
        );
        assert_eq!(
            plan_change(&catalog, &pro, &starter, 1),
            Ok(ChangeTiming::AtPeriodEnd)
        );
        // More add-ons: immediate; fewer: at period end.
        let pro_seats = choice("professional", BillingCycle::Monthly, &[("extra_user", 2)]);
        assert_eq!(
            plan_change(&catalog, &pro, &pro_seats, 1),
            Ok(ChangeTiming::Immediately)
        );
        assert_eq!(
            plan_change(&catalog, &pro_seats, &pro, 1),
            Ok(ChangeTiming::AtPeriodEnd)
        );
        // A switch of cycle is immediate either way.
        let pro_annual = choice("professional", BillingCycle::Annual, &[]);
        assert_eq!(
            plan_change(&catalog, &pro, &pro_annual, 1),
            Ok(ChangeTiming::Immediately)
        );
        assert_eq!(
            plan_change(&catalog, &pro_annual, &pro, 1),
            Ok(ChangeTiming::Immediately)
        );
        assert_eq!(
            plan_change(&catalog, &pro, &pro, 1),
            Err(PlanChangeError::Unchanged)
        );
        // A zero quantity is the same as none.
        let pro_zero = choice("professional", BillingCycle::Monthly, &[("extra_user", 0)]);
        assert_eq!(
            plan_change(&catalog, &pro, &pro_zero, 1),
            Err(PlanChangeError::Unchanged)
        );
    }

    #[test]
    fn a_downgrade_below_current_usage_is_refused_with_the_numbers() {
        let catalog = catalog();
        let pro = choice("professional", BillingCycle::Monthly, &[]);
        let starter = choice("starter", BillingCycle::Monthly, &[]);
        let error = plan_change(&catalog, &pro, &starter, 5).expect_err("5 users do not fit Starter's 3");
        assert_eq!(
            error,
            PlanChangeError::TooManyUsers {
                used: 5,
                allowed: 3,
                plan: "Starter".into(),
                extra: 0
            }
        );
        assert!(error.to_string().contains("has 5 users"), "{error}");
        // Two extra users make room.
        let starter_plus = choice("starter", BillingCycle::Monthly, &[("extra_user", 2)]);
        assert_eq!(
            plan_change(&catalog, &pro, &starter_plus, 5),
            Ok(ChangeTiming::AtPeriodEnd)
        );
        assert_err!(plan_change(
            &catalog,
            &pro,
            &choice("gold", BillingCycle::Monthly, &[]),
            1
        ));
        // Over an add-on's cap never becomes a choice to change to.
        assert_err!(PlanChoice::parse(
            &catalog,
            "starter",
            "monthly",
            [("extra_user", "501")]
        ));
        // Nor does an add-on the catalogue does not offer.
        assert_err!(PlanChoice::parse(
            &catalog,
            "starter",
            "monthly",
            [("gold_bars", "1")]
        ));
    }

    #[test]
    fn proration_credits_unused_time_and_charges_the_rest() {
        // Half-way through a 30-day period from $49 to $199: 99.50 − 24.50 = 75.00.
        let day = 86_400;
        let lines = prorated_amount_due(4900, 19900, 0, 30 * day, 15 * day);
        assert_eq!(
            lines,
            ProrationLines {
                credit: 2450,
                charge: 9950,
                amount_due: 7500
            }
        );
        // At the start: the full difference; at the end: nothing.
        assert_eq!(prorated_amount_due(4900, 19900, 0, 30 * day, 0).amount_due, 15000);
        assert_eq!(
            prorated_amount_due(4900, 19900, 0, 30 * day, 30 * day).amount_due,
            0
        );
        // A net credit is never a negative charge.
        assert_eq!(prorated_amount_due(19900, 4900, 0, 30 * day, 0).amount_due, 0);
        // Rounding: one third of $1.00 is 33 cents; half-even on exact halves.
        assert_eq!(prorated_amount_due(0, 100, 0, 3, 2).charge, 33);
        assert_eq!(prorated_amount_due(0, 1, 0, 2, 1).charge, 0);
        assert_eq!(prorated_amount_due(0, 3, 0, 2, 1).charge, 2);
    }

    /// (tier, cycle, add-ons) submitted, and the fields named in reply.
    type ChoiceCase = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
    );

    #[test]
    fn a_submitted_choice_is_read_or_each_bad_field_named() {
        let catalog = catalog();
        let parsed = PlanChoice::parse(
            &catalog,
            "professional",
            "annual",
            [("extra_user", " 3 "), ("extra_storage", ""), ("extra_user", "3")],
        );
        assert_eq!(
            parsed,
            Ok(choice("professional", BillingCycle::Annual, &[("extra_user", 3)]))
        );
        let fields = |tier: &str, cycle: &str, add_ons: &[(&str, &str)]| -> Vec<String> {
            PlanChoice::parse(&catalog, tier, cycle, add_ons.iter().copied())
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.field)
                .collect()
        };
        // (tier, cycle, add-ons) → the fields named, in order.
        let table: &[ChoiceCase] = &[
            ("gold", "monthly", &[], &["tier"]),
            ("", "monthly", &[], &["tier"]),
            ("starter", "yearly", &[], &["cycle"]),
            ("starter", "Monthly", &[], &["cycle"]),
            ("starter", "", &[], &["cycle"]),
            ("starter", "monthly", &[("parking", "1")], &["add_ons"]),
            ("starter", "monthly", &[("<script>", "1")], &["add_ons"]),
            (
                "starter",
                "monthly",
                &[("extra_user", "-1")],
                &["add_ons[extra_user]"],
            ),
            (
                "starter",
                "monthly",
                &[("extra_user", "1.5")],
                &["add_ons[extra_user]"],
            ),
            (
                "starter",
                "monthly",
                &[("extra_user", "99999999999")],
                &["add_ons[extra_user]"],
            ),
            (
                "starter",
                "monthly",
                &[("extra_user", "501")],
                &["add_ons[extra_user]"],
            ),
            ("gold", "weekly", &[("nope", "x")], &["tier", "cycle", "add_ons"]),
        ];
        for (tier, cycle, add_ons, expected) in table {
            assert_eq!(
                &fields(tier, cycle, add_ons),
                expected,
                "{tier} {cycle} {add_ons:?}"
            );
        }
        // A submitted key is never repeated back in a message.
        let problems = PlanChoice::parse(&catalog, "starter", "monthly", [("<b>x</b>", "1")]).unwrap_err();
        assert!(
            problems
                .iter()
                .all(|p| !p.message.contains("<b>") && !p.field.contains("<b>"))
        );
    }

    #[test]
    fn the_seat_rule_counts_the_tier_and_extra_users_alike_for_checkout_and_changes() {
        let catalog = catalog();
        for extra in 0..5u32 {
            let starter = choice("starter", BillingCycle::Monthly, &[("extra_user", extra)]);
            let allowed = 3 + u64::from(extra);
            assert_eq!(allowed_users(&catalog, &starter), Limit::Limited(allowed));
            for used in 0..10u64 {
                let check = check_seats(&catalog, &starter, used);
                assert_eq!(check.is_ok(), used <= allowed, "{used} users, {extra} extra");
                let pro = choice("professional", BillingCycle::Monthly, &[]);
                let change = plan_change(&catalog, &pro, &starter, used);
                assert_eq!(
                    matches!(change, Err(PlanChangeError::TooManyUsers { .. })),
                    used > allowed,
                    "a change refuses exactly what checkout refuses"
                );
            }
        }
        let enterprise = choice("enterprise", BillingCycle::Monthly, &[]);
        assert_eq!(allowed_users(&catalog, &enterprise), Limit::Unlimited);
        assert!(check_seats(&catalog, &enterprise, u64::MAX).is_ok());
    }
}

#[cfg(test)]
#[path = "plan_change_properties.rs"]
mod properties;
