//! The signup server function.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {
    crate::accounts::api::client_ip,
    crate::accounts::db::{self as accounts_db, TokenPurpose},
    crate::accounts::domain::{CompanyName, EmailAddress, Password},
    crate::accounts::secrets::{hash_password, new_token, token_hash},
    crate::accounts::session,
    crate::billing::trials::start_signup_trial,
    crate::catalog::domain::BillingCycle,
    crate::context::app_context,
    crate::email::{outbox, templates},
    crate::error::FormCheck,
    crate::outbound::events::{EventType, publish_changes, record},
    crate::security::{db::throttle, throttle as rates},
};

/// Creates the user, their organisation, owner membership and a card-free
/// trial in one transaction, queues the welcome and verification emails, and
/// signs the user in. An email that already has an account gets the same
/// answer (and an email telling its owner), so signup does not reveal who
/// has an account.
#[server(prefix = "/api", endpoint = "signup")]
pub async fn sign_up(
    email: String,
    password: String,
    company: String,
    plan: Option<String>,
    cycle: Option<String>,
) -> Result<(), AppError> {
    let context = app_context()?;
    let catalog_cache = crate::catalog::cache::catalog_cache()?;
    let now = context.clock.now();
    let mut form = FormCheck::new();
    form.keep("email", &email).keep("company", &company);
    let email = form.check("email", EmailAddress::parse(&email));
    let password = form.check("password", Password::parse(&password));
    let company = form.check("company", CompanyName::parse(&company));
    let (Some(email), Some(password), Some(company)) = (email, password, company) else {
        return Err(form.into_error());
    };
    throttle(
        &context.pool,
        now,
        &format!("signup:ip:{}", client_ip()),
        rates::SIGNUP_PER_IP,
    )
    .await?;
    let catalog = catalog_cache.get(&context.pool).await?;
    let plan_key = plan
        .filter(|key| catalog.tier(key).is_some())
        .unwrap_or_else(|| catalog.trial.default_tier.clone());
    let cycle = BillingCycle::from_query(cycle.as_deref());
    let password_hash = hash_password(&password).await?;
    let session = session::current_session().await?;

    let mut tx = context.pool.begin().await?;
    match accounts_db::insert_user(&mut tx, &email, &password_hash, None).await? {
        Some(user_id) => {
            let organization_id =
                accounts_db::insert_organization(&mut tx, company.as_str(), user_id).await?;
            start_signup_trial(
                &mut tx,
                organization_id,
                &plan_key,
                cycle,
                catalog.trial.days,
                catalog.currency.code(),
                now,
            )
            .await?;
            // The host product hears of the organisation and its first entitlements.
            let organization = serde_json::json!({"organization": {"id": organization_id, "external_id": null, "name": company.as_str()}});
            record(
                &mut tx,
                now,
                EventType::OrganizationCreated,
                &organization_id.to_string(),
                Some(organization_id),
                organization,
            )
            .await?;
            publish_changes(
                &mut tx,
                &catalog,
                organization_id,
                &format!("signup:{organization_id}"),
                true,
                now,
            )
            .await?;
            let token = new_token();
            accounts_db::insert_token(
                &mut tx,
                user_id,
                TokenPurpose::VerifyEmail,
                &token_hash(&token),
                now,
            )
            .await?;
            let portal = format!("{}/app", context.public_url);
            let welcome = templates::welcome(
                &crate::email::templates::brand()?,
                company.as_str(),
                catalog.trial.days,
                &portal,
            );
            outbox::enqueue(&mut tx, now, email.as_str(), &welcome).await?;
            let link = format!("{}/verify?token={token}", context.public_url);
            outbox::enqueue(
                &mut tx,
                now,
                email.as_str(),
                &templates::verify_email(&crate::email::templates::brand()?, &link),
            )
            .await?;
            tx.commit().await?;
            session::sign_in(&session, user_id, Some(organization_id), 1, now).await?;
        }
        None => {
            let login = format!("{}/login", context.public_url);
            let notice = templates::signup_with_existing_account(&crate::email::templates::brand()?, &login);
            outbox::enqueue(&mut tx, now, email.as_str(), &notice).await?;
            tx.commit().await?;
            session::mark_anonymous_activity(&session).await?;
        }
    }
    crate::security::redirect::redirect("/signup/check-email");
    Ok(())
}
