-- Billing: the link between organisations and the payment provider, the
-- provider's subscription items and invoices mirrored locally, and the
-- sandbox provider's own records (it plays Stripe's side on zero-config runs).

-- Which provider customer pays for an organisation. Created before the first
-- checkout, so every later event can be matched to its organisation.
create table billing_customer
(
    organization_id      uuid primary key references organization on delete cascade,
    provider             text        not null check (provider in ('stripe', 'sandbox')),
    provider_customer_id text        not null check (length(provider_customer_id) between 1 and 255),
    email                text,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    unique (provider, provider_customer_id)
);
create trigger billing_customer_updated_at before update on billing_customer for each row execute function set_updated_at();

-- A subscription becomes the provider's once checkout completes; until then
-- (the free trial from signup) it has no provider id.
alter table subscription
    add column provider                 text check (provider in ('stripe', 'sandbox')),
    add column provider_subscription_id text,
    -- The subscription's forever/once/repeating discount, as billing::domain::Discount.
    add column discount                 jsonb,
    -- A change the provider will make at period end (a downgrade), for display.
    add column scheduled_change         jsonb,
    -- The newest provider event applied, for diagnostics.
    add column last_event_at            timestamptz,
    add constraint subscription_provider_pair check ((provider is null) = (provider_subscription_id is null)),
    add constraint subscription_provider_id_unique unique (provider, provider_subscription_id);

-- The recurring items a subscription bills: its tier and add-ons, priced as
-- the provider prices them (these, not the catalogue, give its MRR).
create table subscription_item
(
    subscription_id uuid    not null references subscription on delete cascade,
    -- The provider price's lookup key, e.g. `gatehouse.tier.starter.monthly`.
    lookup_key      text    not null,
    quantity        integer not null check (quantity > 0),
    unit_amount     bigint  not null check (unit_amount >= 0),
    currency        char(3) not null,
    interval        text    not null check (interval in ('day', 'week', 'month', 'year')),
    interval_count  integer not null check (interval_count > 0),
    primary key (subscription_id, lookup_key)
);

-- One provider event yields at most one ledger row per subscription.
create unique index subscription_event_once_per_provider_event on subscription_event (subscription_id, cause)
    where cause like 'stripe:%' or cause like 'sandbox:%';

-- Invoices as the provider reports them.
create table invoice
(
    invoice_id          uuid primary key     default gen_random_uuid(),
    organization_id     uuid        not null references organization on delete cascade,
    provider            text        not null check (provider in ('stripe', 'sandbox')),
    provider_invoice_id text        not null,
    provider_subscription_id text,
    number              text,
    status              text        not null check (status in ('draft', 'open', 'paid', 'uncollectible', 'void')),
    currency            char(3)     not null,
    subtotal            bigint      not null,
    total               bigint      not null,
    amount_due          bigint      not null check (amount_due >= 0),
    amount_paid         bigint      not null check (amount_paid >= 0),
    period_start        timestamptz,
    period_end          timestamptz,
    -- The lines as billing::domain::InvoiceLine.
    lines               jsonb       not null default '[]',
    hosted_invoice_url  text,
    invoice_pdf_url     text,
    issued_at           timestamptz not null,
    -- The newest provider event applied: an older one never overwrites it.
    last_event_at       timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    unique (provider, provider_invoice_id)
);
create index invoice_organization_idx on invoice (organization_id, issued_at desc);
create trigger invoice_updated_at before update on invoice for each row execute function set_updated_at();

-- Provider records of the sandbox: what Stripe would hold. Objects are kept as
-- the same snapshots the Stripe provider builds from Stripe's answers.
create table sandbox_customer
(
    customer_id     text primary key,
    organization_id uuid        not null references organization on delete cascade,
    email           text,
    -- The test card on file, if any (last four digits, and whether charges fail).
    card_last4      text,
    card_fails      boolean     not null default false,
    created_at      timestamptz not null default now()
);

create table sandbox_checkout_session
(
    session_id      text primary key,
    customer_id     text        not null references sandbox_customer,
    items           jsonb       not null,
    trial_end       timestamptz,
    status          text        not null default 'open' check (status in ('open', 'complete', 'expired')),
    subscription_id text,
    success_url     text        not null,
    cancel_url      text        not null,
    idempotency_key text unique,
    created_at      timestamptz not null default now()
);

create table sandbox_subscription
(
    subscription_id text primary key,
    customer_id     text        not null references sandbox_customer,
    snapshot        jsonb       not null,
    updated_at      timestamptz not null default now()
);

create table sandbox_invoice
(
    invoice_id      text primary key,
    customer_id     text        not null references sandbox_customer,
    subscription_id text        not null references sandbox_subscription,
    snapshot        jsonb       not null,
    created_at      timestamptz not null default now()
);

-- Gap-free invoice numbers: a counter row updated under lock.
create table sandbox_invoice_counter
(
    singleton boolean primary key default true check (singleton),
    last      bigint  not null
);
insert into sandbox_invoice_counter (last) values (0);

-- Idempotency keys of sandbox calls that change something, with their answer.
create table sandbox_idempotency
(
    idempotency_key text primary key,
    response        jsonb       not null,
    created_at      timestamptz not null default now()
);

-- The provider's price for each catalogue lookup key, as the catalogue sync
-- created or found it (Stripe's checkout and subscription calls take ids).
create table provider_price
(
    provider            text        not null check (provider in ('stripe', 'sandbox')),
    lookup_key          text        not null,
    provider_price_id   text        not null,
    provider_product_id text        not null,
    unit_amount         bigint      not null check (unit_amount >= 0),
    currency            char(3)     not null,
    synced_at           timestamptz not null default now(),
    primary key (provider, lookup_key)
);

-- A trial the customer ends early (or that a provider ends within the second
-- it started) may end at its start.
alter table subscription
    drop constraint subscription_check,
    add constraint subscription_trial_check
        check ((trial_start is null) = (trial_end is null) and (trial_end is null or trial_end >= trial_start));
