//! The bulk path of an import: the histories of subscriptions new to
//! Gatehouse, streamed into the ledger with `COPY`, with its row-by-row
//! reference checks lifted where the role may.

use super::causes;
use crate::analytics::import::ImportRow;
use crate::billing::domain::{ChangeKind, LedgerState, classify_change};
use crate::billing::ledger_store::exact_columns;
use crate::billing::series_store::NewHistories;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The ledger's foreign keys, checked row by row while a new history is
/// copied in: an index lookup and a row lock per ledger row, more than half
/// the import's time (2.3 million revisions: 41 s with the checks, 22 s
/// without). A new history's references hold by construction: its
/// subscription was created by this transaction, whose own check on the
/// subscription's organisation holds that row against deletion until the
/// end. So where the database role may (a superuser, or a role granted `set`
/// on `session_replication_role`) the copy runs without them; elsewhere the
/// checks run and the import is only slower.
#[must_use = "the checks stay lifted until restored"]
pub(super) enum ReferenceChecks {
    /// Lifted for this transaction; the setting to go back to.
    Lifted(&'static str),
    /// Running as usual: not permitted, or lifted by the session already.
    Running,
}

impl ReferenceChecks {
    pub(super) async fn lift(conn: &mut PgConnection) -> Result<Self, sqlx::Error> {
        // language=PostgreSQL
        let role: String =
            sqlx::query_scalar!(r#"select current_setting('session_replication_role') as "role!""#)
                .fetch_one(&mut *conn)
                .await?;
        let back = match role.as_str() {
            "replica" => return Ok(Self::Running),
            "local" => "local",
            _ => "origin",
        };
        sqlx::query("savepoint lift_reference_checks")
            .execute(&mut *conn)
            .await?;
        match sqlx::query("set local session_replication_role = replica")
            .execute(&mut *conn)
            .await
        {
            Ok(_) => {
                sqlx::query("release savepoint lift_reference_checks")
                    .execute(&mut *conn)
                    .await?;
                Ok(Self::Lifted(back))
            }
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(INSUFFICIENT_PRIVILEGE) => {
                sqlx::query("rollback to savepoint lift_reference_checks")
                    .execute(&mut *conn)
                    .await?;
                tracing::info!("the import checks each ledger row's references: this role may not lift them");
                Ok(Self::Running)
            }
            Err(error) => Err(error),
        }
    }

    pub(super) async fn restore(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if let Self::Lifted(back) = self {
            sqlx::query(&format!("set local session_replication_role = {back}"))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// Postgres's SQLSTATE for a permission refused.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Rows in `COPY … (format binary)`: each value as Postgres stores it, so
/// the server parses no numbers, times or UUIDs (with CSV that parsing was
/// most of what `perf` found in the copy).
struct CopyBuffer {
    bytes: Vec<u8>,
    // Where the open row's field count goes, and how many it has so far.
    row_start: usize,
    fields: i16,
}

/// Microseconds from the Unix epoch to Postgres's (2000-01-01 UTC).
const POSTGRES_EPOCH_US: i64 = 946_684_800_000_000;

impl CopyBuffer {
    /// Flushed to Postgres once it holds about this much.
    const FLUSH_AT: usize = 1 << 20;

    /// A buffer that starts with the binary format's header.
    fn with_header() -> Self {
        let mut bytes = Vec::with_capacity(Self::FLUSH_AT + 4096);
        bytes.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        bytes.extend_from_slice(&0_i32.to_be_bytes()); // flags
        bytes.extend_from_slice(&0_i32.to_be_bytes()); // header extension length
        CopyBuffer {
            bytes,
            row_start: 0,
            fields: 0,
        }
    }

    fn start_row(&mut self) {
        self.row_start = self.bytes.len();
        self.fields = 0;
        self.bytes.extend_from_slice(&0_i16.to_be_bytes());
    }

    fn field(&mut self, value: &[u8]) -> &mut Self {
        // A value is a line's text (capped well below 2 GB by the reader).
        self.bytes
            .extend_from_slice(&i32::try_from(value.len()).unwrap_or(i32::MAX).to_be_bytes());
        self.bytes.extend_from_slice(value);
        self.fields += 1;
        self
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.field(text.as_bytes())
    }

    fn optional(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.text(text),
            None => {
                self.bytes.extend_from_slice(&(-1_i32).to_be_bytes());
                self.fields += 1;
                self
            }
        }
    }

    fn number(&mut self, number: i64) -> &mut Self {
        self.field(&number.to_be_bytes())
    }

    fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.field(id.as_bytes())
    }

    /// A `timestamptz`: microseconds since Postgres's epoch, finer parts
    /// dropped as Postgres drops them.
    fn time(&mut self, at: DateTime<Utc>) -> &mut Self {
        self.field(&(at.timestamp_micros() - POSTGRES_EPOCH_US).to_be_bytes())
    }

    /// A `jsonb`: its format version, then the JSON text.
    fn jsonb(&mut self, json: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&i32::try_from(json.len() + 1).unwrap_or(i32::MAX).to_be_bytes());
        self.bytes.push(1);
        self.bytes.extend_from_slice(json);
        self.fields += 1;
        self
    }

    fn end_row(&mut self) {
        let count = self.fields.to_be_bytes();
        self.bytes[self.row_start..self.row_start + 2].copy_from_slice(&count);
    }

    /// The format's trailer, after the last row.
    fn end(&mut self) {
        self.bytes.extend_from_slice(&(-1_i16).to_be_bytes());
    }
}

/// Streams `rows` (one call per row into the buffer) into `statement`, a
/// `COPY … FROM STDIN (format binary)`: Postgres stores each megabyte while
/// the next is made.
async fn copy_in<T>(
    conn: &mut PgConnection,
    statement: &str,
    rows: impl Iterator<Item = T>,
    mut write: impl FnMut(&mut CopyBuffer, T),
) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut buffer = CopyBuffer::with_header();
    let mut count = 0;
    for row in rows {
        buffer.start_row();
        write(&mut buffer, row);
        buffer.end_row();
        count += 1;
        if buffer.bytes.len() >= CopyBuffer::FLUSH_AT {
            let full = std::mem::replace(&mut buffer.bytes, Vec::with_capacity(CopyBuffer::FLUSH_AT + 4096));
            if let Err(error) = copy.send(full).await {
                let _ = copy.abort("the import failed").await;
                return Err(error);
            }
        }
    }
    buffer.end();
    if let Err(error) = copy.send(buffer.bytes).await {
        let _ = copy.abort("the import failed").await;
        return Err(error);
    }
    copy.finish().await?;
    Ok(count)
}

/// One state of a new subscription, with what the ledger makes of it.
struct NewState<'a> {
    subscription_id: Uuid,
    organization_id: Uuid,
    row: &'a ImportRow,
    cause: String,
    state: LedgerState,
    before: Option<&'a ImportRow>,
    change: Option<ChangeKind>,
}

/// Every state of the subscriptions with no stored history, in order.
fn new_states<'a>(
    groups: &'a [&'a [ImportRow]],
    created: &'a HashMap<String, Uuid>,
    organizations: &'a HashMap<String, Uuid>,
) -> impl Iterator<Item = NewState<'a>> + 'a {
    groups.iter().flat_map(move |group| {
        let subscription_id = created[&group[0].subscription_id];
        let organization_id = organizations[&group[0].org_id];
        let mut previous: Option<(&ImportRow, LedgerState)> = None;
        group
            .iter()
            .zip(causes(group))
            .map(move |(row, cause)| {
                let state = row.ledger_state();
                let change = classify_change(previous.as_ref().map(|p| &p.1), &state);
                let before = previous.as_ref().map(|p| p.0);
                previous = Some((row, state.clone()));
                NewState {
                    subscription_id,
                    organization_id,
                    row,
                    cause,
                    state,
                    before,
                    change,
                }
            })
            .collect::<Vec<_>>()
    })
}

/// The revisions of subscriptions with no stored history. The states of
/// `whole` organisations (ones with no ledger but this) are also gathered
/// into `series` as they go by, in the ledger's order.
pub(super) async fn write_new_revisions(
    conn: &mut PgConnection,
    groups: &[&[ImportRow]],
    created: &HashMap<String, Uuid>,
    organizations: &HashMap<String, Uuid>,
    now: DateTime<Utc>,
    whole: &HashSet<Uuid>,
    series: &mut NewHistories,
) -> Result<u64, sqlx::Error> {
    let mut state_json = Vec::new();
    copy_in(
        conn,
        "copy subscription_revision (subscription_id, occurred_at, cause, state, plan, mrr, currency,
                                     mrr_numerator, mrr_denominator, billing_interval, recorded_at)
         from stdin (format binary)",
        new_states(groups, created, organizations),
        |out, new| {
            let mrr = new.row.mrr();
            if whole.contains(&new.organization_id) {
                series.push(
                    new.organization_id,
                    new.subscription_id,
                    new.row.at,
                    new.state.status,
                    &new.row.plan,
                    new.row.interval.as_str(),
                    mrr,
                );
            }
            let (numerator, denominator) = exact_columns(mrr);
            state_json.clear();
            // A state is plain data: serialising it cannot fail.
            let _ = serde_json::to_writer(&mut state_json, &new.state);
            out.uuid(new.subscription_id)
                .time(new.row.at)
                .text(&new.cause)
                .jsonb(&state_json)
                .text(&new.row.plan)
                .number(mrr.rounded())
                .text(&new.row.currency)
                .number(numerator)
                .number(denominator)
                .text(new.row.interval.as_str())
                .time(now);
        },
    )
    .await
}

/// The ledger rows of subscriptions with no stored history.
pub(super) async fn write_new_events(
    conn: &mut PgConnection,
    groups: &[&[ImportRow]],
    created: &HashMap<String, Uuid>,
    organizations: &HashMap<String, Uuid>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    copy_in(
        conn,
        "copy subscription_event (organization_id, subscription_id, occurred_at, kind, status_before, status_after,
                                  plan_before, plan_after, mrr_before, mrr_after, currency, cause, recorded_at)
         from stdin (format binary)",
        new_states(groups, created, organizations).filter(|new| new.change.is_some()),
        |out, new| {
            let kind = new.change.map_or("", |kind| kind.as_str());
            out.uuid(new.organization_id)
                .uuid(new.subscription_id)
                .time(new.row.at)
                .text(kind)
                .optional(new.before.map(|b| b.status.as_str()))
                .text(new.row.status.as_str())
                .optional(new.before.map(|b| b.plan.as_str()))
                .text(&new.row.plan)
                .number(new.before.map_or(0, |b| b.mrr().rounded()))
                .number(new.row.mrr().rounded())
                .text(&new.row.currency)
                .text(&new.cause)
                .time(now);
        },
    )
    .await
}
