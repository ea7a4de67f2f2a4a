-- The ledger's MRR series (billing::domain::series), kept with every
-- revision so analytics never has to read the whole ledger.
--
-- Each organisation's end-of-day MRR series, reduced to additive figures
-- (billing::domain::series::Rollup as JSON): per day its movements and the
-- change in whether it is active, per month its customer churn, trials and
-- MRR split, per cohort month what it adds to its cohort. Rewritten in the
-- transaction of every revision of its subscriptions.
create table mrr_series_customer
(
    organization_id uuid primary key references organization,
    rollup          jsonb       not null,
    refreshed_at    timestamptz not null
);

-- The platform's totals: the sum of every organisation's rollup, moved by
-- (new − old) each time one is rewritten. Each total is spread over 16
-- shards (by organisation) so that writers for different organisations
-- rarely wait on one row; readers sum the shards.
create table mrr_series_day
(
    day          date     not null,
    shard        smallint not null check (shard between 0 and 15),
    new_business bigint   not null,
    reactivation bigint   not null,
    expansion    bigint   not null,
    contraction  bigint   not null,
    churn        bigint   not null,
    -- The change in the number of customers with MRR > 0.
    active       bigint   not null,
    primary key (day, shard)
);

create table mrr_series_month
(
    month              date     not null check (extract(day from month) = 1),
    shard              smallint not null check (shard between 0 and 15),
    churned_customers  bigint   not null,
    trials_ended       bigint   not null,
    trials_converted   bigint   not null,
    seconds_to_convert bigint   not null,
    primary key (month, shard)
);

-- The change in MRR by plan or billing interval over each month.
create table mrr_series_split
(
    month     date     not null check (extract(day from month) = 1),
    dimension text     not null check (dimension in ('plan', 'interval')),
    label     text     not null,
    shard     smallint not null check (shard between 0 and 15),
    cents     bigint   not null,
    primary key (month, dimension, label, shard)
);

create table mrr_series_cohort
(
    cohort   date     not null check (extract(day from cohort) = 1),
    month    date     not null check (extract(day from month) = 1 and month >= cohort),
    shard    smallint not null check (shard between 0 and 15),
    members  bigint   not null,
    retained bigint   not null,
    mrr      bigint   not null,
    primary key (cohort, month, shard)
);

-- The times of the earliest and latest revision (the analytics window's
-- default), widened with every revision; readers take the extremes over
-- the shards. Revisions are never removed, so a bound only ever widens.
create table mrr_series_span
(
    shard    smallint primary key check (shard between 0 and 15),
    first_at timestamptz not null,
    last_at  timestamptz not null
);
