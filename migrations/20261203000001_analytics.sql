-- Revenue analytics read the ledger's revisions (every state of every
-- subscription at its effective time).

-- A revision's exact MRR, `mrr_numerator / mrr_denominator` minor units, so
-- a customer with several subscriptions rounds once (METRICS.md); `mrr` is
-- that rounded for the one subscription. And its billing interval (month,
-- year, quarter, week), for MRR by interval. Rows from before these columns
-- read as `mrr / 1` and the subscription's cycle.
alter table subscription_revision
    add column mrr_numerator    bigint,
    add column mrr_denominator  bigint check (mrr_denominator > 0),
    add column billing_interval text check (billing_interval in ('day', 'week', 'month', 'quarter', 'year')),
    add constraint subscription_revision_exact_mrr check ((mrr_numerator is null) = (mrr_denominator is null));

-- A subscription loaded by `server import-history`: its id in the file.
alter table subscription
    add column import_key text unique check (length(import_key) between 1 and 255),
    add constraint subscription_imported_not_provider check (import_key is null or provider is null);
