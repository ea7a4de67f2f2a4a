//! Subscription histories from a CSV file (`server import-history`, the
//! admin upload): one row per change of one subscription, each giving its
//! full state from that instant on. Every row is checked before anything is
//! stored; a file with any bad row is rejected whole, naming each line.

use crate::billing::domain::{
    Discount, DiscountDuration, ExactMrr, IntervalUnit, LedgerState, PriceKey, RecurringItem,
    SubscriptionStatus, subscription_mrr,
};
use crate::catalog::domain::BillingCycle;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::io::Read;

/// The columns, exactly and in this order.
pub const COLUMNS: [&str; 12] = [
    "org_id",
    "subscription_id",
    "at",
    "status",
    "plan",
    "interval",
    "unit_amount_cents",
    "quantity",
    "addon_unit_amount_cents",
    "addon_quantity",
    "discount_percent_forever",
    "currency",
];

/// The most errors a rejection lists before it only counts the rest.
const ERRORS_LISTED: usize = 50;

/// A billing interval a file may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportInterval {
    /// Every week.
    Week,
    /// Every month.
    Month,
    /// Every three months.
    Quarter,
    /// Every year.
    Year,
}

impl ImportInterval {
    fn parse(raw: &str) -> Option<ImportInterval> {
        match raw {
            "week" => Some(ImportInterval::Week),
            "month" => Some(ImportInterval::Month),
            "quarter" => Some(ImportInterval::Quarter),
            "year" => Some(ImportInterval::Year),
            _ => None,
        }
    }

    /// The word the file and the analytics use.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportInterval::Week => "week",
            ImportInterval::Month => "month",
            ImportInterval::Quarter => "quarter",
            ImportInterval::Year => "year",
        }
    }

    fn unit_and_count(self) -> (IntervalUnit, u32) {
        match self {
            ImportInterval::Week => (IntervalUnit::Week, 1),
            ImportInterval::Month => (IntervalUnit::Month, 1),
            ImportInterval::Quarter => (IntervalUnit::Month, 3),
            ImportInterval::Year => (IntervalUnit::Year, 1),
        }
    }

    /// The catalogue's cycle, where there is one.
    pub fn cycle(self) -> Option<BillingCycle> {
        match self {
            ImportInterval::Month => Some(BillingCycle::Monthly),
            ImportInterval::Year => Some(BillingCycle::Annual),
            ImportInterval::Week | ImportInterval::Quarter => None,
        }
    }
}

/// One valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// The organisation's external id.
    pub org_id: String,
    /// The subscription's id in the file.
    pub subscription_id: String,
    /// When this state began.
    pub at: DateTime<Utc>,
    /// Its status.
    pub status: SubscriptionStatus,
    /// The tier key.
    pub plan: String,
    /// The billing interval.
    pub interval: ImportInterval,
    /// The plan's price per interval, in cents.
    pub unit_amount_cents: i64,
    /// Plan units.
    pub quantity: u32,
    /// The add-on's price per interval, in cents.
    pub addon_unit_amount_cents: i64,
    /// Add-on units.
    pub addon_quantity: u32,
    /// A whole percentage off every item, forever.
    pub discount_percent_forever: u32,
    /// ISO 4217, upper case.
    pub currency: String,
}

impl ImportRow {
    /// The state's exact MRR, as the billing rules compute it for a live subscription.
    pub fn mrr(&self) -> ExactMrr {
        let (interval, interval_count) = self.interval.unit_and_count();
        let item = |unit_amount, quantity| RecurringItem {
            unit_amount,
            quantity,
            interval,
            interval_count,
        };
        let mut items = vec![item(self.unit_amount_cents, self.quantity)];
        if self.addon_quantity > 0 {
            items.push(item(self.addon_unit_amount_cents, self.addon_quantity));
        }
        subscription_mrr(self.status, &items, &self.discounts())
    }

    fn discounts(&self) -> Vec<Discount> {
        if self.discount_percent_forever == 0 {
            return vec![];
        }
        vec![Discount::PercentOff {
            basis_points: self.discount_percent_forever * 100,
            duration: DiscountDuration::Forever,
        }]
    }

    /// The state as the ledger keeps it. The tier is the catalogue's price key
    /// where the interval is one of the catalogue's cycles; the prices ride
    /// along as an item of their own, so a price change is a ledger row too.
    pub fn ledger_state(&self) -> LedgerState {
        let tier = match self.interval.cycle() {
            Some(cycle) => PriceKey::tier(&self.plan, cycle).lookup_key(),
            None => format!("import.tier.{}.{}", self.plan, self.interval.as_str()),
        };
        let mut items = vec![
            (tier, self.quantity),
            (
                format!(
                    "import.prices.{}.{}",
                    self.unit_amount_cents, self.addon_unit_amount_cents
                ),
                1,
            ),
        ];
        if self.addon_quantity > 0 {
            items.push((
                format!("import.add_on.{}", self.interval.as_str()),
                self.addon_quantity,
            ));
        }
        items.sort();
        LedgerState {
            status: self.status,
            items,
            discounts: self.discounts(),
        }
    }
}

/// Why a file was rejected: each bad line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.errors, *.more))]
pub struct ImportRejected {
    /// `(line, problem)`, in file order; line 0 is the file as a whole.
    pub errors: Vec<(u64, String)>,
    /// Problems found beyond those listed.
    pub more: usize,
}

fn describe(errors: &[(u64, String)], more: usize) -> String {
    let mut text = String::from("nothing was imported:");
    for (line, problem) in errors {
        if *line == 0 {
            text.push_str(&format!("\n  {problem}"));
        } else {
            text.push_str(&format!("\n  line {line}: {problem}"));
        }
    }
    if more > 0 {
        text.push_str(&format!("\n  … and {more} more"));
    }
    text
}

impl ImportRejected {
    fn whole_file(problem: String) -> ImportRejected {
        ImportRejected {
            errors: vec![(0, problem)],
            more: 0,
        }
    }
}

/// Collects problems, listing the first [`ERRORS_LISTED`].
#[derive(Default)]
struct Problems {
    errors: Vec<(u64, String)>,
    more: usize,
}

impl Problems {
    fn add(&mut self, line: u64, problem: String) {
        if self.errors.len() < ERRORS_LISTED {
            self.errors.push((line, problem));
        } else {
            self.more += 1;
        }
    }
}

/// Reads and checks a whole file; `progress` hears the rows read so far
/// every 100,000 rows. Returns the rows grouped by subscription, each
/// subscription's rows in time order (rows with the same time in file order).
pub fn read_history(
    input: impl Read,
    mut progress: impl FnMut(u64),
) -> Result<Vec<ImportRow>, ImportRejected> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| ImportRejected::whole_file(format!("the header cannot be read: {e}")))?
        .clone();
    let found: Vec<&str> = headers.iter().map(str::trim).collect();
    if found != COLUMNS {
        return Err(ImportRejected::whole_file(format!(
            "the header must be exactly `{}`, not `{}`",
            COLUMNS.join(","),
            found.join(",")
        )));
    }
    let mut rows = Vec::new();
    let mut problems = Problems::default();
    let mut owners: HashMap<String, (String, String, u64)> = HashMap::new();
    let mut record = csv::StringRecord::new();
    let mut count = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                problems.add(line, format!("cannot be read: {error}"));
                if matches!(error.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        count += 1;
        if count.is_multiple_of(100_000) {
            progress(count);
        }
        let line = record.position().map_or(count + 1, |p| p.line());
        match parse_row(line, &record) {
            Ok(row) => {
                match owners.get(&row.subscription_id) {
                    Some((org, _, first)) if *org != row.org_id => problems.add(
                        line,
                        format!(
                            "subscription {:?} belongs to organisation {:?} (line {first}), not {:?}",
                            row.subscription_id, org, row.org_id
                        ),
                    ),
                    Some((_, currency, first)) if *currency != row.currency => problems.add(
                        line,
                        format!(
                            "subscription {:?} bills in {currency} (line {first}), not {}",
                            row.subscription_id, row.currency
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        owners.insert(
                            row.subscription_id.clone(),
                            (row.org_id.clone(), row.currency.clone(), line),
                        );
                    }
                }
                rows.push(row);
            }
            Err(problem) => problems.add(line, problem),
        }
    }
    if !problems.errors.is_empty() {
        return Err(ImportRejected {
            errors: problems.errors,
            more: problems.more,
        });
    }
    if rows.is_empty() {
        return Err(ImportRejected::whole_file("the file has no rows".to_owned()));
    }
    // Stable: rows of one subscription with the same time keep file order.
    rows.sort_by(|a, b| (&a.subscription_id, a.at).cmp(&(&b.subscription_id, b.at)));
    Ok(rows)
}

fn parse_row(line: u64, record: &csv::StringRecord) -> Result<ImportRow, String> {
    if record.len() != COLUMNS.len() {
        return Err(format!("has {} fields, expected {}", record.len(), COLUMNS.len()));
    }
    let field = |i: usize| record.get(i).unwrap_or("").trim();
    let text = |i: usize, max: usize| -> Result<String, String> {
        let value = field(i);
        if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
            return Err(format!("{} must be 1–{max} printable characters", COLUMNS[i]));
        }
        Ok(value.to_owned())
    };
    let whole = |i: usize, max: i64| -> Result<i64, String> {
        let value = field(i);
        match value.parse::<i64>() {
            Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) && (0..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "{} must be a whole number from 0 to {max}, not {value:?}",
                COLUMNS[i]
            )),
        }
    };
    let at = DateTime::parse_from_rfc3339(field(2))
        .map_err(|_| {
            format!(
                "at must be ISO-8601 with an offset, such as 2026-10-01T12:00:00Z, not {:?}",
                field(2)
            )
        })?
        .with_timezone(&Utc);
    let status = SubscriptionStatus::parse(field(3)).ok_or_else(|| {
        format!(
            "status must be one of Stripe's ({}), not {:?}",
            SubscriptionStatus::ALL.map(|s| s.as_str()).join(", "),
            field(3)
        )
    })?;
    let plan = text(4, 64)?;
    if !plan
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(format!("plan must be a tier key, not {plan:?}"));
    }
    let interval = ImportInterval::parse(field(5)).ok_or_else(|| {
        format!(
            "interval must be month, year, quarter or week, not {:?}",
            field(5)
        )
    })?;
    // Bounds keep every exact MRR within the ledger's 64-bit columns.
    const MAX_CENTS: i64 = 100_000_000_000;
    const MAX_QUANTITY: i64 = 1_000_000;
    let currency = field(11).to_ascii_uppercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "currency must be a three-letter ISO 4217 code, not {:?}",
            field(11)
        ));
    }
    let row = ImportRow {
        line,
        org_id: text(0, 200)?,
        subscription_id: text(1, 255)?,
        at,
        status,
        plan,
        interval,
        unit_amount_cents: whole(6, MAX_CENTS)?,
        quantity: whole(7, MAX_QUANTITY)? as u32,
        addon_unit_amount_cents: whole(8, MAX_CENTS)?,
        addon_quantity: whole(9, MAX_QUANTITY)? as u32,
        discount_percent_forever: whole(10, 100)? as u32,
        currency,
    };
    // One subscription's charge per period is bounded too, so that its MRR
    // (a weekly price is 4.35 a month), twelve times that, and the sum over
    // a million subscriptions all stay inside 64 bits.
    let per_period = i128::from(row.unit_amount_cents) * i128::from(row.quantity)
        + i128::from(row.addon_unit_amount_cents) * i128::from(row.addon_quantity);
    if per_period > i128::from(MAX_PERIOD_CENTS) {
        return Err(format!(
            "charges {per_period} cents a period (unit amounts times quantities); at most {MAX_PERIOD_CENTS} are accepted"
        ));
    }
    Ok(row)
}

/// The most one imported subscription may charge per billing period, in
/// minor units: one billion in major units.
pub const MAX_PERIOD_CENTS: i64 = 100_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "org_id,subscription_id,at,status,plan,interval,unit_amount_cents,quantity,addon_unit_amount_cents,addon_quantity,discount_percent_forever,currency";

    fn read(body: &str) -> Result<Vec<ImportRow>, ImportRejected> {
        read_history(format!("{HEADER}\n{body}").as_bytes(), |_| {})
    }

    #[test]
    fn rows_group_by_subscription_in_time_order_keeping_file_order_on_ties() {
        let rows = read(
            "acme,sub_2,2026-02-01T00:00:00Z,active,starter,month,4900,1,0,0,0,usd\n\
             acme,sub_1,2026-03-01T00:00:00+02:00,canceled,starter,month,4900,1,0,0,0,usd\n\
             acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,0,usd\n\
             acme,sub_1,2026-01-01T00:00:00Z,active,growth,year,99000,2,1000,3,20,usd\n",
        )
        .expect("a good file");
        let order: Vec<(String, u64)> = rows.iter().map(|r| (r.subscription_id.clone(), r.line)).collect();
        assert_eq!(
            order,
            [
                ("sub_1".into(), 4),
                ("sub_1".into(), 5),
                ("sub_1".into(), 3),
                ("sub_2".into(), 2)
            ]
        );
        assert_eq!(
            rows[2].at.to_rfc3339(),
            "2026-02-28T22:00:00+00:00",
            "offsets are honoured"
        );
        assert_eq!(rows[0].currency, "USD");
        // (99,000 × 2 + 1,000 × 3) ÷ 12 × 80 % = 13,400.
        assert_eq!(rows[1].mrr().rounded(), 13_400);
        assert_eq!(rows[2].mrr(), ExactMrr::ZERO, "canceled carries nothing");
    }

    #[test]
    fn every_kind_of_bad_field_is_named_with_its_line_and_nothing_is_returned() {
        let good = "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD";
        let cases = [
            (
                "acme,sub_1,2026-01-01,active,starter,month,4900,1,0,0,0,USD",
                "at must be",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00,active,starter,month,4900,1,0,0,0,USD",
                "with an offset",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,cancelled,starter,month,4900,1,0,0,0,USD",
                "status must be",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,Starter Plan,month,4900,1,0,0,0,USD",
                "plan must be",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,monthly,4900,1,0,0,0,USD",
                "interval must be",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,-1,1,0,0,0,USD",
                "unit_amount_cents",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,49.00,1,0,0,0,USD",
                "unit_amount_cents",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,+49,1,0,0,0,USD",
                "unit_amount_cents",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,99999999999999999999,1,0,0,0,USD",
                "unit_amount_cents",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,x,0,0,0,USD",
                "quantity",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,101,USD",
                "discount_percent_forever",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,0,US",
                "currency",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,0,€UR",
                "currency",
            ),
            (
                ",sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD",
                "org_id",
            ),
            (
                "acme,,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD",
                "subscription_id",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,USD",
                "fields",
            ),
            (
                "other,sub_1,2026-02-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD",
                "belongs to organisation",
            ),
            (
                "acme,sub_1,2026-02-01T00:00:00Z,active,starter,month,4900,1,0,0,0,EUR",
                "bills in USD",
            ),
            // Each within its bounds, but their products past any real charge.
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,100000000000,1000000,0,0,0,USD",
                "cents a period",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,week,100000000000,1,1,1,0,USD",
                "cents a period",
            ),
            (
                "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,1,1,100000000000,1000000,0,USD",
                "cents a period",
            ),
            (
                "acme\u{0}x,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD",
                "org_id",
            ),
        ];
        for (bad, expected) in cases {
            let rejected = read(&format!("{good}\n{bad}\n{good}\n")).expect_err(bad);
            assert_eq!(rejected.errors.len(), 1, "{bad}: {rejected}");
            assert_eq!(rejected.errors[0].0, 3, "{bad}");
            assert!(
                rejected.errors[0].1.contains(expected),
                "{bad}: {}",
                rejected.errors[0].1
            );
        }
    }

    #[test]
    fn a_file_is_rejected_whole_for_its_header_or_for_having_no_rows() {
        let wrong = read_history("org,sub,at\nx,y,z\n".as_bytes(), |_| {}).expect_err("wrong header");
        assert!(wrong.to_string().contains("the header must be exactly"));
        let reordered = HEADER.replace("org_id,subscription_id", "subscription_id,org_id");
        assert!(read_history(format!("{reordered}\n").as_bytes(), |_| {}).is_err());
        assert!(read("").expect_err("empty").to_string().contains("no rows"));
        assert!(read_history(&b"\xff\xfe"[..], |_| {}).is_err(), "not UTF-8");
    }

    #[test]
    fn many_bad_rows_are_listed_up_to_a_limit_and_counted_beyond() {
        let bad = "acme,sub_1,yesterday,active,starter,month,4900,1,0,0,0,USD\n".repeat(80);
        let rejected = read(&bad).expect_err("bad rows");
        assert_eq!(rejected.errors.len(), ERRORS_LISTED);
        assert_eq!(rejected.more, 30);
        assert_eq!(rejected.errors[0].0, 2);
        assert!(rejected.to_string().contains("… and 30 more"));
    }

    #[test]
    fn prices_are_part_of_the_ledger_state_so_a_price_change_is_a_change() {
        let rows = read(
            "acme,sub_1,2026-01-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD\n\
             acme,sub_1,2026-02-01T00:00:00Z,active,starter,month,5900,1,0,0,0,USD\n",
        )
        .unwrap();
        assert_ne!(rows[0].ledger_state(), rows[1].ledger_state());
        assert!(
            rows[0]
                .ledger_state()
                .items
                .iter()
                .any(|(key, _)| key == "gatehouse.tier.starter.monthly"),
            "the catalogue's key where the cycle is the catalogue's"
        );
    }
}
