//! Every checked status column has one Rust type, and the two agree word for
//! word: a word the database allows but the type cannot read (or the other
//! way round) fails here, not in a page that meets it.

use app::billing::domain::collection::CaseState;
use app::billing::domain::{InvoiceStatus, ProviderEventStatus, SandboxCheckoutStatus, SubscriptionStatus};
use app::email::EmailStatus;
use app::entitlements::domain::OverrideKind;
use app::outbound::DeliveryState;
use app::runner::domain::{JobState, RunOutcome};
use sqlx::PgPool;
use std::collections::BTreeSet;

/// The words the column's `CHECK (column = ANY (ARRAY[…]))` allows.
async fn allowed(pool: &PgPool, table: &str, column: &str) -> BTreeSet<String> {
    let definitions: Vec<String> = sqlx::query_scalar(
        "select pg_get_constraintdef(oid) from pg_constraint
         where conrelid = $1::regclass and contype = 'c'",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap();
    let prefix = format!("CHECK (({column} = ANY (ARRAY[");
    let definition = definitions
        .iter()
        .find(|d| d.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{table}.{column} has no check listing its words: {definitions:?}"));
    definition[prefix.len()..]
        .split(',')
        .map(|part| part.split('\'').nth(1).expect("a quoted word").to_owned())
        .collect()
}

fn words<'a>(all: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    all.into_iter().map(str::to_owned).collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_status_type_holds_exactly_the_words_its_column_allows(pool: PgPool) {
    let columns: [(&str, &str, BTreeSet<String>); 10] = [
        (
            "subscription",
            "status",
            words(SubscriptionStatus::ALL.iter().map(|s| s.as_str())),
        ),
        (
            "invoice",
            "status",
            words(InvoiceStatus::ALL.iter().map(|s| s.as_str())),
        ),
        (
            "email_outbox",
            "status",
            words(EmailStatus::ALL.iter().map(|s| s.as_str())),
        ),
        (
            "webhook_event",
            "status",
            words(ProviderEventStatus::ALL.iter().map(|s| s.as_str())),
        ),
        (
            "sandbox_checkout_session",
            "status",
            words(SandboxCheckoutStatus::ALL.iter().map(|s| s.as_str())),
        ),
        (
            "outbound_delivery",
            "state",
            words(DeliveryState::ALL.iter().map(|s| s.as_str())),
        ),
        ("job", "state", words(JobState::ALL.iter().map(|s| s.as_str()))),
        (
            "job_run",
            "outcome",
            words(RunOutcome::ALL.iter().map(|s| s.as_str())),
        ),
        (
            "collection_case",
            "state",
            words(CaseState::ALL.iter().map(|s| s.as_str())),
        ),
        (
            "entitlement_override",
            "kind",
            words(OverrideKind::ALL.iter().map(|s| s.as_str())),
        ),
    ];
    for (table, column, typed) in columns {
        assert_eq!(allowed(&pool, table, column).await, typed, "{table}.{column}");
    }
}
