//! The platform totals of the MRR series: each shard's change added in key
//! order, read back summed over shards, and the span of revision times.

use crate::billing::domain::series::{CohortFlows, DayFlows, Flows, Month, MonthFlows, MovementKind, Rollup};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;

/// Adds each shard's change to the platform totals, every table's rows in
/// key order so concurrent writers lock them in one order.
pub(super) async fn add_to_totals(
    conn: &mut PgConnection,
    changes: &BTreeMap<i16, Rollup>,
) -> Result<(), sqlx::Error> {
    let mut days: Vec<(NaiveDate, i16, &DayFlows)> = Vec::new();
    let mut months: Vec<(NaiveDate, i16, &MonthFlows)> = Vec::new();
    let mut splits: Vec<(NaiveDate, &'static str, &str, i16, i64)> = Vec::new();
    let mut cohorts: Vec<(NaiveDate, NaiveDate, i16, &CohortFlows)> = Vec::new();
    for (shard, change) in changes {
        days.extend(change.days.iter().map(|(day, flows)| (*day, *shard, flows)));
        for (month, flows) in &change.months {
            months.push((month.first_day(), *shard, flows));
            for (dimension, split) in [("plan", &flows.by_plan), ("interval", &flows.by_interval)] {
                splits.extend(
                    split
                        .iter()
                        .map(|(label, cents)| (month.first_day(), dimension, label.as_str(), *shard, *cents)),
                );
            }
        }
        for (cohort, cells) in &change.cohorts {
            cohorts.extend(
                cells
                    .iter()
                    .map(|(month, flows)| (cohort.first_day(), month.first_day(), *shard, flows)),
            );
        }
    }
    days.sort_by_key(|(day, shard, _)| (*day, *shard));
    months.sort_by_key(|(month, shard, _)| (*month, *shard));
    splits.sort_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));
    cohorts.sort_by_key(|(cohort, month, shard, _)| (*cohort, *month, *shard));
    if !days.is_empty() {
        let movement = |kind: MovementKind| {
            days.iter()
                .map(|d| d.2.movements[kind as usize])
                .collect::<Vec<_>>()
        };
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into mrr_series_day (day, shard, new_business, reactivation, expansion, contraction, churn, active)
            select * from unnest($1::date[], $2::int2[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                                 $8::int8[])
            order by 1, 2
            on conflict (day, shard) do update set
                new_business = mrr_series_day.new_business + excluded.new_business,
                reactivation = mrr_series_day.reactivation + excluded.reactivation,
                expansion = mrr_series_day.expansion + excluded.expansion,
                contraction = mrr_series_day.contraction + excluded.contraction,
                churn = mrr_series_day.churn + excluded.churn,
                active = mrr_series_day.active + excluded.active
            "#,
            &days.iter().map(|d| d.0).collect::<Vec<_>>() as _,
            &days.iter().map(|d| d.1).collect::<Vec<_>>(),
            &movement(MovementKind::NewBusiness),
            &movement(MovementKind::Reactivation),
            &movement(MovementKind::Expansion),
            &movement(MovementKind::Contraction),
            &movement(MovementKind::Churn),
            &days.iter().map(|d| d.2.active).collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    }
    if !months.is_empty() {
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into mrr_series_month (month, shard, churned_customers, trials_ended, trials_converted,
                                          seconds_to_convert)
            select * from unnest($1::date[], $2::int2[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])
            order by 1, 2
            on conflict (month, shard) do update set
                churned_customers = mrr_series_month.churned_customers + excluded.churned_customers,
                trials_ended = mrr_series_month.trials_ended + excluded.trials_ended,
                trials_converted = mrr_series_month.trials_converted + excluded.trials_converted,
                seconds_to_convert = mrr_series_month.seconds_to_convert + excluded.seconds_to_convert
            "#,
            &months.iter().map(|m| m.0).collect::<Vec<_>>() as _,
            &months.iter().map(|m| m.1).collect::<Vec<_>>(),
            &months.iter().map(|m| m.2.churned_customers).collect::<Vec<_>>(),
            &months.iter().map(|m| m.2.trials_ended).collect::<Vec<_>>(),
            &months.iter().map(|m| m.2.trials_converted).collect::<Vec<_>>(),
            &months.iter().map(|m| m.2.seconds_to_convert).collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    }
    if !splits.is_empty() {
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into mrr_series_split (month, dimension, label, shard, cents)
            select * from unnest($1::date[], $2::text[], $3::text[], $4::int2[], $5::int8[])
            order by 1, 2, 3, 4
            on conflict (month, dimension, label, shard) do update set cents = mrr_series_split.cents + excluded.cents
            "#,
            &splits.iter().map(|s| s.0).collect::<Vec<_>>() as _,
            &splits.iter().map(|s| s.1.to_owned()).collect::<Vec<_>>(),
            &splits.iter().map(|s| s.2.to_owned()).collect::<Vec<_>>(),
            &splits.iter().map(|s| s.3).collect::<Vec<_>>(),
            &splits.iter().map(|s| s.4).collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    }
    if !cohorts.is_empty() {
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into mrr_series_cohort (cohort, month, shard, members, retained, mrr)
            select * from unnest($1::date[], $2::date[], $3::int2[], $4::int8[], $5::int8[], $6::int8[])
            order by 1, 2, 3
            on conflict (cohort, month, shard) do update set
                members = mrr_series_cohort.members + excluded.members,
                retained = mrr_series_cohort.retained + excluded.retained,
                mrr = mrr_series_cohort.mrr + excluded.mrr
            "#,
            &cohorts.iter().map(|c| c.0).collect::<Vec<_>>() as _,
            &cohorts.iter().map(|c| c.1).collect::<Vec<_>>() as _,
            &cohorts.iter().map(|c| c.2).collect::<Vec<_>>(),
            &cohorts.iter().map(|c| c.3.members).collect::<Vec<_>>(),
            &cohorts.iter().map(|c| c.3.retained).collect::<Vec<_>>(),
            &cohorts.iter().map(|c| c.3.mrr).collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The platform's rollup: the totals, their shards summed.
pub async fn load_totals(pool: &PgPool) -> Result<Rollup, sqlx::Error> {
    let mut rollup = Rollup::default();
    // language=PostgreSQL
    let days = sqlx::query!(
        r#"
        select day as "day: NaiveDate", sum(new_business)::int8 as "new_business!", sum(reactivation)::int8 as "reactivation!",
               sum(expansion)::int8 as "expansion!", sum(contraction)::int8 as "contraction!",
               sum(churn)::int8 as "churn!", sum(active)::int8 as "active!"
        from mrr_series_day group by day
        "#
    )
    .fetch_all(pool)
    .await?;
    for row in days {
        let flows = DayFlows {
            movements: [
                row.new_business,
                row.reactivation,
                row.expansion,
                row.contraction,
                row.churn,
            ],
            active: row.active,
        };
        rollup.days.add_signed(&BTreeMap::from([(row.day, flows)]), 1);
    }
    // language=PostgreSQL
    let months = sqlx::query!(
        r#"
        select month as "month: NaiveDate", sum(churned_customers)::int8 as "churned_customers!", sum(trials_ended)::int8 as "trials_ended!",
               sum(trials_converted)::int8 as "trials_converted!",
               sum(seconds_to_convert)::int8 as "seconds_to_convert!"
        from mrr_series_month group by month
        "#
    )
    .fetch_all(pool)
    .await?;
    for row in months {
        let flows = MonthFlows {
            churned_customers: row.churned_customers,
            trials_ended: row.trials_ended,
            trials_converted: row.trials_converted,
            seconds_to_convert: row.seconds_to_convert,
            ..MonthFlows::default()
        };
        rollup
            .months
            .add_signed(&BTreeMap::from([(Month::of_day(row.month), flows)]), 1);
    }
    // language=PostgreSQL
    let splits = sqlx::query!(
        r#"select month as "month: NaiveDate", dimension, label, sum(cents)::int8 as "cents!" from mrr_series_split
           group by month, dimension, label"#
    )
    .fetch_all(pool)
    .await?;
    for row in splits {
        let split = BTreeMap::from([(row.label, row.cents)]);
        let flows = match row.dimension.as_str() {
            "plan" => MonthFlows {
                by_plan: split,
                ..MonthFlows::default()
            },
            _ => MonthFlows {
                by_interval: split,
                ..MonthFlows::default()
            },
        };
        rollup
            .months
            .add_signed(&BTreeMap::from([(Month::of_day(row.month), flows)]), 1);
    }
    // language=PostgreSQL
    let cohorts = sqlx::query!(
        r#"select cohort as "cohort: NaiveDate", month as "month: NaiveDate", sum(members)::int8 as "members!", sum(retained)::int8 as "retained!",
                  sum(mrr)::int8 as "mrr!"
           from mrr_series_cohort group by cohort, month"#
    )
    .fetch_all(pool)
    .await?;
    for row in cohorts {
        let flows = CohortFlows {
            members: row.members,
            retained: row.retained,
            mrr: row.mrr,
        };
        let cell = BTreeMap::from([(
            Month::of_day(row.cohort),
            BTreeMap::from([(Month::of_day(row.month), flows)]),
        )]);
        rollup.cohorts.add_signed(&cell, 1);
    }
    Ok(rollup)
}

/// Widens the stored span of revision times to take in `span`.
pub(super) async fn widen_span(
    conn: &mut PgConnection,
    shard: i16,
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<(), sqlx::Error> {
    let Some((first, last)) = span else { return Ok(()) };
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into mrr_series_span (shard, first_at, last_at) values ($1, $2, $3)
        on conflict (shard) do update set first_at = least(mrr_series_span.first_at, excluded.first_at),
                                          last_at = greatest(mrr_series_span.last_at, excluded.last_at)
        "#,
        shard,
        first as _,
        last as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The times of the ledger's earliest and latest revisions.
pub async fn ledger_span(pool: &PgPool) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
    // language=PostgreSQL
    let span = sqlx::query!(
        r#"select min(first_at) as "first: DateTime<Utc>", max(last_at) as "last: DateTime<Utc>"
           from mrr_series_span"#
    )
    .fetch_one(pool)
    .await?;
    Ok(span.first.zip(span.last))
}
