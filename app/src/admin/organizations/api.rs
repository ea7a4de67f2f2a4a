//! The console's reads of organisations: the dashboard, the list, one
//! organisation in full, and the audit log. Each asks for a fully
//! signed-in admin first.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::views::{AuditList, DashboardView, OrganizationDetail, OrganizationList};
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {super::queries, crate::admin::sign_in::session, crate::context::app_context, uuid::Uuid};

/// The dashboard.
#[server(prefix = "/api", endpoint = "admin_dashboard", input = server_fn::codec::GetUrl)]
pub async fn get_dashboard() -> Result<DashboardView, AppError> {
    let admin = session::require_admin().await?;
    let context = app_context()?;
    Ok(super::dashboard::dashboard(&context.pool, admin.email, context.clock.now()).await?)
}

#[cfg(feature = "ssr")]
fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A page of organisations.
#[server(prefix = "/api", endpoint = "admin_organizations", input = server_fn::codec::GetUrl)]
pub async fn list_organizations(
    q: Option<String>,
    tier: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    after: Option<String>,
) -> Result<OrganizationList, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let after = optional(after)
        .map(|a| AppError::parse_id("after", &a))
        .transpose()?;
    let status = optional(status);
    if let Some(status) = &status
        && crate::billing::domain::SubscriptionStatus::parse(status).is_none()
    {
        return Err(AppError::field("status", "that is not a subscription status"));
    }
    let filter = queries::OrganizationFilter {
        search: optional(q).map(|q| q.chars().take(200).collect()),
        tier: optional(tier),
        status,
    };
    let order = queries::OrganizationOrder::parse(sort.as_deref());
    Ok(queries::organizations(&context.pool, &filter, order, after).await?)
}

/// One organisation in full.
#[server(prefix = "/api", endpoint = "admin_organization", input = server_fn::codec::GetUrl)]
pub async fn get_organization(id: String) -> Result<OrganizationDetail, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
    queries::organization_detail(&context.pool, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// The audit log, filtered.
#[server(prefix = "/api", endpoint = "admin_audit", input = server_fn::codec::GetUrl)]
pub async fn list_audit(
    admin: Option<String>,
    organization: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
) -> Result<AuditList, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let day = |field: &str, raw: Option<String>| -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
        optional(raw)
            .map(|raw| {
                crate::input::parse_day(&raw)
                    .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
                    .ok_or_else(|| AppError::field(field, "give a date as YYYY-MM-DD, from 1970 to 9999"))
            })
            .transpose()
    };
    let filter = queries::AuditFilter {
        admin_email: optional(admin),
        organization_id: optional(organization)
            .map(|o| AppError::parse_id("organization", &o))
            .transpose()?,
        action: optional(action),
        from: day("from", from)?,
        // The `to` day is included: entries before the next midnight.
        to: day("to", to)?.map(|t| t + chrono::TimeDelta::days(1)),
        before: optional(before)
            .map(|b| {
                b.parse::<i64>()
                    .map_err(|_| AppError::field("before", "not a page of the audit log"))
            })
            .transpose()?,
        limit: 50,
    };
    Ok(queries::audit_entries(&context.pool, &filter).await?)
}
