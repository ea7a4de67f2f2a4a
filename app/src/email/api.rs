//! The local mailbox's server function.

use crate::error::AppError;
use leptos::prelude::*;

/// Recent outbox email, only on local runs without a mail server.
#[server(prefix = "/api", endpoint = "dev_mailbox", input = server_fn::codec::GetUrl)]
pub async fn get_dev_mailbox() -> Result<Vec<crate::email::DevEmailView>, AppError> {
    let context = crate::context::app_context()?;
    if !context.local_mailbox {
        return Err(AppError::NotFound);
    }
    let mut conn = context.pool.acquire().await?;
    Ok(crate::email::outbox::recent(&mut conn, 50).await?)
}
