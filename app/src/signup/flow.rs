//! The signup flow: in one transaction, the user, their organisation and
//! owner membership, the card-free trial, the host product's
//! `organization.created` and first entitlements, the email verification
//! token, and the welcome and verification emails. An email that already
//! has an account gets only an email telling its owner.

use crate::accounts::db as accounts_db;
use crate::accounts::domain::{CompanyName, EmailAddress};
use crate::accounts::tokens::send_verification;
use crate::billing::trials::{Notices, start_signup_trial};
use crate::catalog::domain::{BillingCycle, Catalog};
use crate::email::{outbox, templates};
use crate::outbound::events::{EventType, publish_changes, record};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A prospect's checked signup.
pub struct Prospect<'a> {
    /// Their email.
    pub email: &'a EmailAddress,
    /// Their password, hashed.
    pub password_hash: &'a str,
    /// Their organisation's name.
    pub company: &'a CompanyName,
    /// The tier of the trial (a tier of the catalogue).
    pub plan_key: &'a str,
    /// The cycle they chose on the pricing page.
    pub cycle: BillingCycle,
}

/// What the signup came to.
pub enum SignedUp {
    /// A new user with a new organisation on a trial.
    New {
        /// The user.
        user_id: Uuid,
        /// Their organisation.
        organization_id: Uuid,
    },
    /// The email already has an account; its owner was told.
    EmailTaken,
}

/// Signs `prospect` up inside the caller's transaction.
pub async fn sign_up(
    conn: &mut PgConnection,
    catalog: &Catalog,
    notices: &Notices,
    prospect: &Prospect<'_>,
    now: DateTime<Utc>,
) -> Result<SignedUp, sqlx::Error> {
    let email = prospect.email.as_str();
    let Some(user_id) = accounts_db::insert_user(conn, prospect.email, prospect.password_hash, None).await?
    else {
        let login = format!("{}/login", notices.public_url);
        let notice = templates::signup_with_existing_account(&notices.brand, &login);
        outbox::enqueue(conn, now, email, &notice).await?;
        return Ok(SignedUp::EmailTaken);
    };
    let company = prospect.company.as_str();
    let organization_id = accounts_db::insert_organization(conn, company, user_id).await?;
    let (days, currency) = (catalog.trial.days, catalog.currency.code());
    start_signup_trial(
        conn,
        organization_id,
        prospect.plan_key,
        prospect.cycle,
        days,
        currency,
        now,
    )
    .await?;
    // The host product hears of the organisation and its first entitlements.
    let organization =
        serde_json::json!({"organization": {"id": organization_id, "external_id": null, "name": company}});
    let cause = organization_id.to_string();
    record(
        conn,
        now,
        EventType::OrganizationCreated,
        &cause,
        Some(organization_id),
        organization,
    )
    .await?;
    publish_changes(
        conn,
        catalog,
        organization_id,
        &format!("signup:{organization_id}"),
        true,
        now,
    )
    .await?;
    let portal = format!("{}/app", notices.public_url);
    outbox::enqueue(
        conn,
        now,
        email,
        &templates::welcome(&notices.brand, company, days, &portal),
    )
    .await?;
    send_verification(conn, (&notices.brand, &notices.public_url), user_id, email, now).await?;
    Ok(SignedUp::New {
        user_id,
        organization_id,
    })
}
