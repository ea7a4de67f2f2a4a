//! The signup server function.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {
    super::flow::{Prospect, SignedUp},
    crate::accounts::api::throttle_client,
    crate::accounts::domain::{CompanyName, EmailAddress, Password},
    crate::accounts::secrets::hash_password,
    crate::accounts::session,
    crate::billing::trials::Notices,
    crate::catalog::domain::BillingCycle,
    crate::context::app_context,
    crate::error::FormCheck,
    crate::security::throttle as rates,
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
    let now = context.clock.now();
    let (email, password, company) = checked(&email, &password, &company)?;
    throttle_client(&context, "signup", rates::SIGNUP_PER_IP).await?;
    let catalog = crate::catalog::cache::catalog_cache()?.get(&context.pool).await?;
    let plan_key = plan.filter(|key| catalog.tier(key).is_some());
    let prospect = Prospect {
        email: &email,
        password_hash: &hash_password(&password).await?,
        company: &company,
        plan_key: plan_key.as_deref().unwrap_or(&catalog.trial.default_tier),
        cycle: BillingCycle::from_query(cycle.as_deref()),
    };
    let session = session::current_session().await?;
    let mut tx = context.pool.begin().await?;
    let signed_up =
        super::flow::sign_up(&mut tx, &catalog, &Notices::of_request(&context)?, &prospect, now).await?;
    tx.commit().await?;
    match signed_up {
        SignedUp::New {
            user_id,
            organization_id: org,
        } => session::sign_in(&session, user_id, Some(org), 1, now).await?,
        SignedUp::EmailTaken => session::mark_anonymous_activity(&session).await?,
    }
    crate::security::redirect::redirect("/signup/check-email");
    Ok(())
}

/// The signup form's fields, each checked (every problem reported at once,
/// the form refilled but for the password).
#[cfg(feature = "ssr")]
fn checked(
    email: &str,
    password: &str,
    company: &str,
) -> Result<(EmailAddress, Password, CompanyName), AppError> {
    let mut form = FormCheck::new();
    form.keep("email", email).keep("company", company);
    let email = form.check("email", EmailAddress::parse(email));
    let password = form.check("password", Password::parse(password));
    let company = form.check("company", CompanyName::parse(company));
    match (email, password, company) {
        (Some(email), Some(password), Some(company)) => Ok((email, password, company)),
        _ => Err(form.into_error()),
    }
}
