//! This process's copy of what the billing page reads of each organisation
//! (its newest subscription, its invoices and the sandbox's card on file),
//! kept like the standings: triggers announce every change to those rows on
//! the entitlements channel (migrations `20261205000001` and
//! `20261206000002`), the change listener drops the organisation, and the
//! process that makes a change drops it at once (`server/src/own_writes.rs`).
//! An entry also ends with the catalogue it was read under (plan names).

use super::db::{self, BillingRow, InvoiceRow};
use super::sandbox::Sandbox;
use crate::accounts::session::TenantScope;
use crate::error::AppError;
use crate::notice_cache::NoticeCache;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// Organisations kept before the cache starts again empty.
const MAX_ORGANIZATIONS: usize = 20_000;

/// What the billing page reads of one organisation.
#[derive(Debug)]
pub struct BillingReads {
    /// Its newest subscription, if it has one.
    pub row: Option<BillingRow>,
    /// Its invoices, newest first.
    pub invoices: Vec<InvoiceRow>,
    /// The sandbox's card on file (last four digits, whether charges fail).
    pub card: Option<(String, bool)>,
    catalog_generation: u64,
}

/// Shared handle to this process's billing reads; clones share it.
#[derive(Debug, Clone)]
pub struct BillingPageCache {
    reads: NoticeCache<Uuid, Arc<BillingReads>>,
}

impl Default for BillingPageCache {
    fn default() -> Self {
        BillingPageCache {
            reads: NoticeCache::new(MAX_ORGANIZATIONS),
        }
    }
}

impl BillingPageCache {
    /// The billing reads of the scope's organisation, from the cache or
    /// read (and kept). `catalog_generation` is the catalogue cache's
    /// generation read before the catalogue was.
    pub async fn reads(
        &self,
        pool: &PgPool,
        sandbox: Option<&Sandbox>,
        scope: &TenantScope,
        catalog_generation: u64,
    ) -> Result<Arc<BillingReads>, AppError> {
        let organization_id = scope.organization_id();
        if let Some(hit) = self
            .reads
            .get(&organization_id)
            .filter(|reads| reads.catalog_generation == catalog_generation)
        {
            return Ok(hit);
        }
        let read = self.reads.read_started();
        let row = db::billing_row(pool, scope).await?;
        let invoices = db::invoices(pool, scope, None).await?;
        let card = match sandbox {
            Some(sandbox) => sandbox
                .card_on_file(organization_id)
                .await
                .map_err(super::api::provider_error)?,
            None => None,
        };
        let reads = Arc::new(BillingReads {
            row,
            invoices,
            card,
            catalog_generation,
        });
        self.reads.keep(read, organization_id, reads.clone());
        Ok(reads)
    }

    /// Drops one organisation's reads (a notice arrived, or this process
    /// just changed them).
    pub fn invalidate(&self, organization_id: Uuid) {
        self.reads.forget(&organization_id);
    }

    /// Applies one notice from the entitlements channel.
    pub fn apply_notice(&self, payload: &str) {
        self.reads.apply_notice(payload);
    }

    /// Drops every entry (a change this process made, whose reach it does
    /// not know, such as a console action).
    pub fn forget_all(&self) {
        self.reads.forget_all();
    }

    /// One heartbeat of the change listener: entries age by one (see
    /// [`crate::notice_cache::MAX_AGE_TICKS`]).
    pub fn tick(&self) {
        self.reads.tick();
    }

    /// Whether notices are being received; the cache answers only then.
    pub fn set_live(&self, live: bool) {
        self.reads.set_live(live);
    }

    /// How many organisations are cached.
    pub fn len(&self) -> usize {
        self.reads.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }
}
