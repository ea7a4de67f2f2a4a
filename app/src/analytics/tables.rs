//! The report as tables of text: what the analytics page shows and what its
//! CSV downloads hold, from one place so the two cannot disagree.

use super::domain::{AnalyticsReport, PeriodFigures, Rate};
use crate::catalog::money::Money;

/// A table: its column heads and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column heads.
    pub head: Vec<String>,
    /// Rows, each as long as the head.
    pub rows: Vec<Vec<String>>,
}

/// Money for display: `$1,234.56`; an undefined figure is “—”.
pub fn money(cents: Option<i64>) -> String {
    cents.map_or_else(|| "—".to_owned(), |c| Money::display_minor(c, "USD"))
}

/// A rate as a percentage with two decimals, or “—”.
pub fn percent(rate: &Rate) -> String {
    rate.percent(2)
}

fn head(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// One row per month: MRR, movements, customers, rates, trials, LTV.
pub fn months(report: &AnalyticsReport) -> Table {
    Table {
        head: head(&[
            "Month",
            "MRR at start",
            "MRR",
            "ARR",
            "Active customers",
            "ARPA",
            "New business",
            "Reactivation",
            "Expansion",
            "Contraction",
            "Churn",
            "Customer churn",
            "Gross MRR churn",
            "Net MRR churn",
            "Trials ended",
            "Trials converted",
            "Trial conversion",
            "Average days to convert",
            "LTV",
        ]),
        rows: report
            .months
            .iter()
            .map(|m| {
                let v = m.movements_cents;
                vec![
                    m.month.clone(),
                    money(Some(m.mrr_start_cents)),
                    money(Some(m.mrr_cents)),
                    money(Some(m.arr_cents)),
                    m.active_customers.to_string(),
                    money(m.arpa_cents),
                    money(Some(v.new_business)),
                    money(Some(v.reactivation)),
                    money(Some(v.expansion)),
                    money(Some(v.contraction)),
                    money(Some(v.churn)),
                    percent(&m.customer_churn_rate),
                    percent(&m.gross_mrr_churn_rate),
                    percent(&m.net_mrr_churn_rate),
                    m.trials.ended.to_string(),
                    m.trials.converted.to_string(),
                    percent(&m.trials.conversion_rate),
                    m.trials
                        .avg_days_to_convert
                        .clone()
                        .unwrap_or_else(|| "—".to_owned()),
                    money(m.ltv.ltv_cents),
                ]
            })
            .collect(),
    }
}

/// MRR at the window's end by plan, then by interval.
pub fn splits(report: &AnalyticsReport) -> Table {
    let mut rows = Vec::new();
    if let Some(last) = report.months.last() {
        for (plan, cents) in &last.mrr_by_plan_cents {
            rows.push(vec!["plan".to_owned(), plan.clone(), money(Some(*cents))]);
        }
        for (interval, cents) in &last.mrr_by_interval_cents {
            rows.push(vec!["interval".to_owned(), interval.clone(), money(Some(*cents))]);
        }
    }
    Table {
        head: head(&["Split", "Key", "MRR"]),
        rows,
    }
}

/// Cohorts: customer retention and net MRR retention at each month k.
pub fn cohorts(report: &AnalyticsReport) -> Table {
    let width = report.cohorts.iter().map(|c| c.cells.len()).max().unwrap_or(0);
    let mut names = vec!["Cohort".to_owned(), "Customers".to_owned()];
    for k in 0..width {
        names.push(format!("Month {k} customers"));
        names.push(format!("Month {k} net MRR"));
    }
    Table {
        head: names,
        rows: report
            .cohorts
            .iter()
            .map(|cohort| {
                let base = cohort.cells.first().map_or(0, |c| c.mrr_cents);
                let mut row = vec![cohort.cohort.clone(), cohort.customers.to_string()];
                for k in 0..width {
                    match cohort.cells.get(k) {
                        Some(cell) => {
                            row.push(percent(&Rate::new(cell.customers_retained, cohort.customers)));
                            row.push(percent(&Rate::new(cell.mrr_cents, base)));
                        }
                        None => row.extend([String::new(), String::new()]),
                    }
                }
                row
            })
            .collect(),
    }
}

/// The forecast's months with their 80 % band.
pub fn forecast(report: &AnalyticsReport) -> Table {
    Table {
        head: head(&["Month", "MRR", "80 % low", "80 % high"]),
        rows: report
            .forecast
            .months
            .iter()
            .map(|m| {
                vec![
                    m.month.to_string(),
                    money(m.mrr_cents),
                    money(m.lower_cents),
                    money(m.upper_cents),
                ]
            })
            .collect(),
    }
}

/// A custom range's figures as label–value pairs.
pub fn range(figures: &PeriodFigures) -> Table {
    use super::domain::MovementKind::*;
    let rows = [
        ("MRR at start", money(Some(figures.mrr_start))),
        ("MRR at end", money(Some(figures.mrr_end))),
        ("New business", money(Some(figures.movement(NewBusiness)))),
        ("Reactivation", money(Some(figures.movement(Reactivation)))),
        ("Expansion", money(Some(figures.movement(Expansion)))),
        ("Contraction", money(Some(figures.movement(Contraction)))),
        ("Churn", money(Some(figures.movement(Churn)))),
        ("Customer churn", percent(&figures.customer_churn_rate())),
        ("Gross MRR churn", percent(&figures.gross_mrr_churn_rate())),
        ("Net MRR churn", percent(&figures.net_mrr_churn_rate())),
        ("Trial conversion", percent(&figures.trial_conversion_rate())),
        (
            "Average days to convert",
            figures
                .average_days_to_convert()
                .unwrap_or_else(|| "—".to_owned()),
        ),
    ];
    Table {
        head: head(&["Figure", "Value"]),
        rows: rows.into_iter().map(|(k, v)| vec![k.to_owned(), v]).collect(),
    }
}

/// A table as CSV (RFC 4180, by the `csv` crate).
pub fn to_csv(table: &Table) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&table.head)?;
    for row in &table.rows {
        writer.write_record(row)?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let table = Table {
            head: vec!["Month".into(), "MRR".into()],
            rows: vec![
                vec!["2026-10".into(), "$1,234.50".into()],
                vec!["a \"b\"".into(), "—".into()],
            ],
        };
        assert_eq!(
            to_csv(&table).unwrap(),
            "Month,MRR\n2026-10,\"$1,234.50\"\n\"a \"\"b\"\"\",—\n"
        );
    }
}
