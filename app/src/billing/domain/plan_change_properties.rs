//! Property tests of plan choices and proration, over the shipped catalogue.

use super::*;
use crate::catalog::domain::Catalog;
use proptest::prelude::*;

fn catalog() -> Catalog {
    crate::catalog::source::parse_catalog(include_str!("../../../../catalog/catalog.toml"))
        .expect("the shipped catalogue is valid")
        .catalog
}

/// The shipped catalogue's tiers and add-ons, to choose among.
fn offered() -> (Vec<String>, Vec<(String, Option<u32>)>) {
    let catalog = catalog();
    (
        catalog.tiers.iter().map(|t| t.key.clone()).collect(),
        catalog
            .add_ons
            .iter()
            .map(|a| (a.key.clone(), a.max_quantity))
            .collect(),
    )
}

proptest! {
    #[test]
    fn every_offered_choice_reads_as_itself_and_names_its_prices(
        tier_index in any::<prop::sample::Index>(),
        annual in any::<bool>(),
        quantities in prop::collection::vec(0u32..150, 0..4),
    ) {
        let catalog = catalog();
        let (tiers, add_ons) = offered();
        let tier = tier_index.get(&tiers);
        let cycle = if annual { "annual" } else { "monthly" };
        let fields: Vec<(String, String)> = add_ons
            .iter()
            .zip(&quantities)
            .map(|((key, _), quantity)| (key.clone(), quantity.to_string()))
            .collect();
        let parsed = PlanChoice::parse(&catalog, tier, cycle, fields.iter().map(|(k, q)| (k.as_str(), q.as_str())));
        let too_many = add_ons.iter().zip(&quantities).any(|((_, max), q)| max.is_some_and(|max| *q > max));
        match parsed {
            Ok(choice) => {
                prop_assert!(!too_many);
                prop_assert_eq!(&choice.tier, tier);
                prop_assert_eq!(choice.cycle.as_str(), cycle);
                prop_assert!(choice.add_ons.values().all(|q| *q > 0), "zero means none");
                let items = choice.items();
                prop_assert_eq!(items.len(), 1 + choice.add_ons.len());
                for item in &items {
                    let price = PriceKey::parse(&item.lookup_key);
                    prop_assert!(price.is_some_and(|p| p.cycle == choice.cycle && p.catalog_amount(&catalog).is_some()));
                }
                prop_assert!(choice.period_amount(&catalog).is_some_and(|amount| amount > 0));
                // The provider's items read back as the same choice.
                let plan = plan_of_items(items.iter().map(|i| (i.lookup_key.as_str(), i.quantity)));
                prop_assert_eq!(PlanChoice::from_plan(&plan.unwrap()), choice);
            }
            Err(problems) => {
                prop_assert!(too_many, "{problems:?}");
                prop_assert!(problems.iter().all(|p| p.field.starts_with("add_ons[")));
            }
        }
    }

    #[test]
    fn any_submitted_text_is_refused_by_field_and_never_repeated_back(
        tier in ".{0,12}",
        cycle in ".{0,10}",
        add_ons in prop::collection::vec((".{0,12}", ".{0,8}"), 0..4),
    ) {
        let catalog = catalog();
        let submitted = add_ons.iter().map(|(k, q)| (k.as_str(), q.as_str()));
        if let Err(problems) = PlanChoice::parse(&catalog, &tier, &cycle, submitted) {
            prop_assert!(!problems.is_empty());
            for problem in problems {
                let known = ["tier", "cycle", "add_ons"].contains(&problem.field.as_str())
                    || catalog.add_ons.iter().any(|a| problem.field == format!("add_ons[{}]", a.key));
                prop_assert!(known, "{}", problem.field);
            }
        }
    }

    #[test]
    fn proration_credits_and_charges_the_remaining_part_exactly(
        old_amount in 0i64..1_000_000_000,
        new_amount in 0i64..1_000_000_000,
        period_start in 0i64..4_000_000_000,
        length in 1i64..40_000_000,
        at in -0.2f64..1.2,
    ) {
        let period_end = period_start + length;
        let now = period_start + (length as f64 * at) as i64;
        let lines = prorated_amount_due(old_amount, new_amount, period_start, period_end, now);
        let remaining = i128::from((period_end - now).clamp(0, length));
        let exact = |amount: i64| {
            crate::catalog::money::div_round_half_even_wide(i128::from(amount) * remaining, i128::from(length))
        };
        prop_assert_eq!(i128::from(lines.credit), exact(old_amount));
        prop_assert_eq!(i128::from(lines.charge), exact(new_amount));
        prop_assert!((0..=old_amount).contains(&lines.credit));
        prop_assert!((0..=new_amount).contains(&lines.charge));
        prop_assert_eq!(lines.amount_due, (lines.charge - lines.credit).max(0));
        if old_amount == new_amount {
            prop_assert_eq!(lines.amount_due, 0, "the same price costs nothing to move to");
        }
        // Later is never dearer on the old price's credit side.
        let later = prorated_amount_due(old_amount, new_amount, period_start, period_end, now + 1);
        prop_assert!(later.credit <= lines.credit && later.charge <= lines.charge);
    }
}
