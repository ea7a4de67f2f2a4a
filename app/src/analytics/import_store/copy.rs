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

/// CSV for `COPY … (format csv)`: every text quoted, `None` as NULL.
#[derive(Default)]
struct CopyBuffer {
    bytes: Vec<u8>,
    row_open: bool,
}

impl CopyBuffer {
    /// Flushed to Postgres once it holds about this much.
    const FLUSH_AT: usize = 1 << 20;

    fn separator(&mut self) {
        if self.row_open {
            self.bytes.push(b',');
        }
        self.row_open = true;
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.separator();
        self.bytes.push(b'"');
        for byte in text.bytes() {
            if byte == b'"' {
                self.bytes.push(b'"');
            }
            self.bytes.push(byte);
        }
        self.bytes.push(b'"');
        self
    }

    fn optional(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.text(text),
            None => {
                self.separator();
                self
            }
        }
    }

    fn number(&mut self, number: i64) -> &mut Self {
        use std::io::Write;
        self.separator();
        // Writing to a Vec cannot fail.
        let _ = write!(self.bytes, "{number}");
        self
    }

    fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.separator();
        self.bytes.extend_from_slice(
            id.hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        self
    }

    fn time(&mut self, at: DateTime<Utc>) -> &mut Self {
        self.text(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }

    fn end_row(&mut self) {
        self.bytes.push(b'\n');
        self.row_open = false;
    }
}

/// Streams `rows` (one call per row into the buffer) into `statement`, a
/// `COPY … FROM STDIN (format csv)`: Postgres stores each megabyte while the
/// next is made.
async fn copy_in<T>(
    conn: &mut PgConnection,
    statement: &str,
    rows: impl Iterator<Item = T>,
    mut write: impl FnMut(&mut CopyBuffer, T),
) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut buffer = CopyBuffer::default();
    let mut count = 0;
    for row in rows {
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
    if !buffer.bytes.is_empty()
        && let Err(error) = copy.send(buffer.bytes).await
    {
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
    // The same on every row: written out once.
    let recorded_at = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    copy_in(
        conn,
        "copy subscription_revision (subscription_id, occurred_at, cause, state, plan, mrr, currency,
                                     mrr_numerator, mrr_denominator, billing_interval, recorded_at)
         from stdin (format csv)",
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
                .text(std::str::from_utf8(&state_json).unwrap_or("{}"))
                .text(&new.row.plan)
                .number(mrr.rounded())
                .text(&new.row.currency)
                .number(numerator)
                .number(denominator)
                .text(new.row.interval.as_str())
                .text(&recorded_at);
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
    let recorded_at = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    copy_in(
        conn,
        "copy subscription_event (organization_id, subscription_id, occurred_at, kind, status_before, status_after,
                                  plan_before, plan_after, mrr_before, mrr_after, currency, cause, recorded_at)
         from stdin (format csv)",
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
                .text(&recorded_at);
        },
    )
    .await
}
