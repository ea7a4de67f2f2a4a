//! The console's reads: one function per page, each returning its view.

use super::views::{
    AuditList, AuditRow, LedgerRow, MemberRow, OrganizationDetail, OrganizationList, OrganizationRow,
};
use crate::billing::console_reads;
use crate::billing::domain::SubscriptionStatus;
use crate::catalog::money::Money;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Organisations per page.
pub const PAGE_SIZE: i64 = 20;

/// How the organisation list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganizationOrder {
    /// Newest first.
    Newest,
    /// By name, A to Z.
    Name,
}

impl OrganizationOrder {
    /// Reads `newest` or `name`; anything else is the default, newest.
    pub fn parse(raw: Option<&str>) -> OrganizationOrder {
        match raw {
            Some("name") => OrganizationOrder::Name,
            _ => OrganizationOrder::Newest,
        }
    }
}

/// What the list is filtered by; every field optional.
#[derive(Debug, Clone, Default)]
pub struct OrganizationFilter {
    /// Part of the name, a member's exact email, or the exact external id.
    pub search: Option<String>,
    /// Tier key.
    pub tier: Option<String>,
    /// Subscription status.
    pub status: Option<String>,
}

/// `%` and `_` typed into a search are searched for, not wildcards.
fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of organisations after `after` (the last id of the page before),
/// in `order`. The cursor is a row, not an offset, so a page never repeats
/// or skips a row when organisations are added meanwhile.
pub async fn organizations(
    pool: &PgPool,
    filter: &OrganizationFilter,
    order: OrganizationOrder,
    after: Option<Uuid>,
) -> Result<OrganizationList, sqlx::Error> {
    let search = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let pattern = search.map(like_pattern);
    let email = search.map(str::to_lowercase);
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        with cursor_row as (select created_at, lower(name) as name, organization_id
                            from organization where organization_id = $5)
        select o.organization_id, o.name, o.external_id, o.created_at as "created_at: DateTime<Utc>",
               o.suspended_at is not null as "suspended!", p.plan_key as "tier?", s.status as "status?"
        from organization o
        left join lateral current_subscription(o.organization_id) s on true
        left join plan p on p.plan_id = s.plan_id
        where ($1::text is null
               or o.name ilike $1
               or o.external_id = $2
               or exists (select 1 from membership m join app_user u using (user_id)
                          where m.organization_id = o.organization_id and u.email = $6))
          and ($3::text is null or p.plan_key = $3)
          and ($4::text is null or s.status = $4)
          and ($5::uuid is null
               or ($7 and (o.created_at, o.organization_id)
                          < (select created_at, organization_id from cursor_row))
               or (not $7 and (lower(o.name), o.organization_id)
                              > (select name, organization_id from cursor_row)))
        order by case when $7 then o.created_at end desc,
                 case when not $7 then lower(o.name) end,
                 case when $7 then o.organization_id end desc,
                 case when not $7 then o.organization_id end
        limit $8
        "#,
        pattern,
        search,
        filter.tier,
        filter.status,
        after,
        email,
        order == OrganizationOrder::Newest,
        PAGE_SIZE + 1,
    )
    .fetch_all(pool)
    .await?;
    let has_more = rows.len() as i64 > PAGE_SIZE;
    let rows: Vec<OrganizationRow> = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|r| OrganizationRow {
            id: r.organization_id.to_string(),
            name: r.name,
            external_id: r.external_id,
            tier: r.tier,
            status: r.status,
            created: crate::format::day(r.created_at.date_naive()),
            suspended: r.suspended,
        })
        .collect();
    let tiers = crate::catalog::db::tier_keys(pool).await?;
    Ok(OrganizationList {
        next_after: has_more.then(|| rows.last().map(|r| r.id.clone())).flatten(),
        rows,
        tiers,
    })
}

fn money(cents: i64, currency: &str) -> String {
    Money::display_minor(cents, currency)
}

fn time(at: DateTime<Utc>) -> String {
    crate::format::minute(at)
}

/// Audit entries, newest first, before the entry `before`; filtered by
/// admin email, organisation, action and a `[from, to)` range of times.
pub struct AuditFilter {
    /// The admin's email.
    pub admin_email: Option<String>,
    /// The organisation.
    pub organization_id: Option<Uuid>,
    /// The action, exactly.
    pub action: Option<String>,
    /// From this instant.
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Entries older than this id.
    pub before: Option<i64>,
    /// How many.
    pub limit: i64,
}

/// The audit log, filtered.
pub async fn audit_entries(pool: &PgPool, filter: &AuditFilter) -> Result<AuditList, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select a.admin_audit_id, a.occurred_at as "occurred_at: DateTime<Utc>", a.admin_email, a.action,
               a.organization_id, o.name as "organization_name?", a.reason, a.before, a.after
        from admin_audit a left join organization o using (organization_id)
        where ($1::text is null or a.admin_email = lower($1))
          and ($2::uuid is null or a.organization_id = $2)
          and ($3::text is null or a.action = $3)
          and ($4::timestamptz is null or a.occurred_at >= $4)
          and ($5::timestamptz is null or a.occurred_at < $5)
          and ($6::bigint is null or a.admin_audit_id < $6)
        order by a.admin_audit_id desc
        limit $7
        "#,
        filter.admin_email,
        filter.organization_id,
        filter.action,
        filter.from as _,
        filter.to as _,
        filter.before,
        filter.limit + 1,
    )
    .fetch_all(pool)
    .await?;
    let has_more = rows.len() as i64 > filter.limit;
    let rows: Vec<(i64, AuditRow)> = rows
        .into_iter()
        .take(filter.limit as usize)
        .map(|r| {
            (
                r.admin_audit_id,
                AuditRow {
                    at: time(r.occurred_at),
                    admin_email: r.admin_email,
                    action: r.action,
                    organization_id: r.organization_id.map(|id| id.to_string()),
                    organization_name: r.organization_name,
                    reason: r.reason,
                    before: r.before.map(|v| v.to_string()),
                    after: r.after.map(|v| v.to_string()),
                },
            )
        })
        .collect();
    Ok(AuditList {
        next_before: has_more.then(|| rows.last().map(|(id, _)| *id)).flatten(),
        rows: rows.into_iter().map(|(_, row)| row).collect(),
    })
}

/// One organisation in full; `None` if there is no such organisation.
pub async fn organization_detail(
    pool: &PgPool,
    organization_id: Uuid,
) -> Result<Option<OrganizationDetail>, sqlx::Error> {
    let Some(org) = crate::accounts::organization_reads::organization(pool, organization_id).await? else {
        return Ok(None);
    };
    let members = crate::accounts::organization_reads::members(pool, organization_id).await?;
    let addresses: Vec<String> = members.iter().map(|(email, _)| email.clone()).collect();
    let members = members
        .into_iter()
        .map(|(email, role)| MemberRow { email, role })
        .collect();
    let subscription = console_reads::current_subscription(pool, organization_id).await?;
    let trial_extendable = subscription.as_ref().is_some_and(|s| {
        s.provider.is_none()
            && s.import_key.is_none()
            && s.trial_end.is_some()
            && matches!(
                SubscriptionStatus::parse(&s.status),
                Some(SubscriptionStatus::Trialing | SubscriptionStatus::Paused)
            )
    });
    let subscription = subscription.map(|s| {
        let mut facts = vec![
            ("Status".to_owned(), crate::admin::words::words(&s.status)),
            ("Tier".to_owned(), s.plan_key.clone()),
            ("Billing cycle".to_owned(), s.billing_cycle.clone()),
            (
                "Billed by".to_owned(),
                match (&s.provider, &s.import_key) {
                    (Some(provider), _) => provider.clone(),
                    (None, Some(key)) => format!("imported history ({key})"),
                    (None, None) => "no card yet (signup trial)".to_owned(),
                },
            ),
        ];
        if let Some(trial_end) = s.trial_end {
            facts.push(("Trial ends".to_owned(), time(trial_end)));
        }
        if let Some(period_end) = s.current_period_end {
            facts.push(("Current period ends".to_owned(), time(period_end)));
        }
        if s.cancel_at_period_end {
            facts.push(("Cancels".to_owned(), "at the end of the period".to_owned()));
        }
        facts
    });
    // The ledger as the console shows it: the subscription ledger's live
    // rows and every step of the organisation's collection cases, each at
    // its time at the provider and with its cause, newest first.
    let subscription_rows = console_reads::ledger(pool, organization_id, 50).await?;
    let subscription_rows = subscription_rows.into_iter().map(|r| {
        let row = LedgerRow {
            occurred_at: time(r.occurred_at),
            kind: r.kind,
            status: match r.status_before {
                Some(before) => format!("{before} → {}", r.status_after),
                None => r.status_after,
            },
            plan: r.plan_after,
            mrr: format!(
                "{} → {}",
                money(r.mrr_before, &r.currency),
                money(r.mrr_after, &r.currency)
            ),
            cause: r.cause,
        };
        (r.occurred_at, row)
    });
    let collection_rows = console_reads::collection_steps(pool, organization_id, 50).await?;
    let collection_rows = collection_rows.into_iter().map(|r| {
        let label = crate::billing::domain::collection::CaseState::parse(&r.step)
            .map_or(r.step.as_str(), |state| state.label());
        let row = LedgerRow {
            occurred_at: time(r.occurred_at),
            kind: format!("Collection: {label}"),
            status: if r.attempt > 0 {
                format!("attempt {}", r.attempt)
            } else {
                String::new()
            },
            plan: format!("invoice {}", r.provider_invoice_id),
            mrr: format!("{} due", money(r.amount_due, &r.currency.to_uppercase())),
            cause: r.cause,
        };
        (r.occurred_at, row)
    });
    let mut ledger: Vec<(DateTime<Utc>, LedgerRow)> = subscription_rows.chain(collection_rows).collect();
    ledger.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let ledger: Vec<LedgerRow> = ledger.into_iter().take(50).map(|(_, row)| row).collect();
    let invoices = console_reads::invoices(pool, organization_id, 24).await?;
    let invoices = invoices
        .into_iter()
        .map(|r| {
            (
                r.number.unwrap_or_else(|| "—".to_owned()),
                r.status,
                money(r.total, &r.currency),
                crate::format::day(r.issued_at.date_naive()),
            )
        })
        .collect();
    // language=PostgreSQL
    let overrides = sqlx::query!(
        r#"select override_id, kind, key, enabled, limit_value, expires_at as "expires_at: DateTime<Utc>", reason
           from entitlement_override where organization_id = $1 and removed_at is null
           order by created_at desc"#,
        organization_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        let what = match (r.kind.as_str(), r.enabled, r.limit_value) {
            ("feature", Some(true), _) => format!("feature {} on", r.key),
            ("feature", _, _) => format!("feature {} off", r.key),
            ("limit", _, Some(limit)) => format!("limit {} = {limit}", r.key),
            ("limit", _, None) => format!("limit {} unlimited", r.key),
            _ => format!("tier {}", r.key),
        };
        let until = r
            .expires_at
            .map(|at| format!(" until {}", time(at)))
            .unwrap_or_default();
        (r.override_id.to_string(), format!("{what}{until} — {}", r.reason))
    })
    .collect();
    let emails = crate::email::outbox_reads::to_addresses(pool, &addresses, 20).await?;
    let emails = emails
        .into_iter()
        .map(|r| crate::admin::operations::EmailRow {
            id: r.email_outbox_id.to_string(),
            to: r.to_address,
            template: r.template,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: time(r.created_at),
        })
        .collect();
    let audit = audit_entries(
        pool,
        &AuditFilter {
            admin_email: None,
            organization_id: Some(organization_id),
            action: None,
            from: None,
            to: None,
            before: None,
            limit: 50,
        },
    )
    .await?
    .rows;
    let grace_days = match crate::catalog::db::load_catalog(&mut *pool.acquire().await?).await {
        Ok(catalog) => catalog.collection.grace_days,
        Err(_) => crate::catalog::domain::CollectionTerms::default().grace_days,
    };
    let collection =
        crate::billing::collection::cases_of(&mut *pool.acquire().await?, organization_id, grace_days, 10)
            .await?;
    Ok(Some(OrganizationDetail {
        id: organization_id.to_string(),
        name: org.name,
        external_id: org.external_id,
        created: time(org.created_at),
        suspension: org.suspended_at.map(|at| {
            format!(
                "since {}: {}",
                time(at),
                org.suspension_reason.unwrap_or_default()
            )
        }),
        members,
        emails,
        subscription,
        trial_extendable,
        ledger,
        invoices,
        overrides,
        collection,
        audit,
    }))
}
