//! The portal's licence server functions: the page's data and freeing a
//! machine's seat. Files and the offline exchange are downloads, served by
//! the server crate's routes beside these (`/app/licenses/…`).

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::view::LicensesOverview;
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {crate::accounts::session::require_member, crate::context::app_context};

/// The organisation's licences; keys only for owners and admins.
#[server(prefix = "/api", endpoint = "licenses", input = server_fn::codec::GetUrl)]
pub async fn get_licenses() -> Result<LicensesOverview, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let license_keys = crate::licensing::keys::license_keys()?;
    let manages = scope.role().manages_billing();
    let mut conn = context.pool.acquire().await?;
    let keys = license_keys.as_deref().filter(|_| manages);
    let licenses =
        super::manage::licenses_of(&mut conn, scope.organization_id(), keys, context.clock.now()).await?;
    Ok(LicensesOverview {
        licenses,
        manages,
        licensing_on: license_keys.is_some(),
    })
}

/// Frees the seat a machine holds (owners and admins), so another machine
/// can activate.
#[server(prefix = "/api", endpoint = "license_free_seat")]
pub async fn free_license_seat(activation_id: String, confirm: Option<String>) -> Result<(), AppError> {
    let (_, scope) = require_member().await?;
    if !scope.role().manages_billing() {
        return Err(AppError::Forbidden);
    }
    crate::ui::danger::confirmed(confirm.as_deref())?;
    let activation_id = AppError::parse_id("activation_id", &activation_id)?;
    let context = app_context()?;
    let organization_id = scope.organization_id();
    if !super::manage::free_seat(&context.pool, organization_id, activation_id, context.clock.now()).await? {
        return Err(AppError::NotFound);
    }
    crate::security::redirect::redirect("/app/licenses?done=freed");
    Ok(())
}
