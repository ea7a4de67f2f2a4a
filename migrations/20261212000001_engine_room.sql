-- The engine room: trial reminders at several offsets, the collection
-- ladder for failed payments, and emails that are sent once per cause.

-- The catalogue's `[trial] reminder_days` and `[collection] grace_days`.
alter table catalog_settings
    add column trial_reminder_days   integer[] not null default '{7,3,1}'
        check (cardinality(trial_reminder_days) between 0 and 5
            and 1 <= all (trial_reminder_days) and 90 >= all (trial_reminder_days)),
    add column collection_grace_days integer   not null default 14
        check (collection_grace_days between 1 and 90);

-- One row per (subscription, trial end, offset): the reminder was sent, or
-- skipped because a later one was already due (downtime catch-up). The
-- primary key makes each reminder happen once, however many jobs, processes
-- or provider notices race for it. An extended trial has a new end, so it
-- gets new rows.
create table trial_reminder
(
    subscription_id uuid        not null references subscription on delete cascade,
    trial_end       timestamptz not null,
    days_before     integer     not null check (days_before between 1 and 90),
    outcome         text        not null check (outcome in ('sent', 'skipped')),
    -- `sweep` (the runner's schedule) or the provider event that said so.
    cause           text        not null check (length(cause) between 1 and 200),
    recorded_at     timestamptz not null,
    primary key (subscription_id, trial_end, days_before)
);

-- An email queued for a cause (a job's period, a provider event, a step of
-- a collection case) is queued once per recipient, whoever queues it again.
alter table email_outbox
    add column cause text check (length(cause) between 1 and 300);
create unique index email_outbox_cause_idx on email_outbox (cause, to_address) where cause is not null;

-- Set while the collection ladder restricts the organisation (read-only
-- through the entitlements resolver); organization's own change trigger
-- tells every process's entitlements cache.
alter table organization
    add column payment_restricted_at timestamptz;

-- A collection case: one unpaid invoice, from its first failed payment
-- until it is paid (recovered) or its subscription ends unpaid (lapsed).
create table collection_case
(
    collection_case_id  uuid primary key     default gen_random_uuid(),
    organization_id     uuid        not null references organization on delete cascade,
    subscription_id     uuid references subscription on delete set null,
    provider            text        not null check (provider in ('stripe', 'sandbox')),
    provider_invoice_id text        not null check (length(provider_invoice_id) between 1 and 255),
    state               text        not null
        check (state in ('failing', 'action_required', 'restricted', 'recovered', 'lapsed')),
    -- Attempts the provider has made to charge the invoice so far.
    attempt             integer     not null check (attempt between 1 and 1000),
    amount_due          bigint      not null check (amount_due >= 0),
    currency            text        not null check (currency ~ '^[a-z]{3}$'),
    next_retry_at       timestamptz,
    hosted_invoice_url  text,
    -- When the first payment failed, at the provider: the grace period
    -- before restriction counts from here.
    past_due_since      timestamptz not null,
    restricted_at       timestamptz,
    closed_at           timestamptz,
    opened_at           timestamptz not null,
    updated_at          timestamptz not null,
    unique (provider, provider_invoice_id),
    check ((state in ('recovered', 'lapsed')) = (closed_at is not null))
);
create index collection_case_open_idx on collection_case (past_due_since)
    where state in ('failing', 'action_required');
create index collection_case_organization_idx on collection_case (organization_id, opened_at desc);

-- Every step a case took, with its cause; a step is taken once (one
-- email per case and step: attempt numbers make each failure its own).
create table collection_step
(
    collection_step_id bigint generated always as identity primary key,
    collection_case_id uuid        not null references collection_case on delete cascade,
    step               text        not null
        check (step in ('failing', 'action_required', 'restricted', 'recovered', 'lapsed')),
    attempt            integer     not null check (attempt between 0 and 1000),
    -- The provider event or the runner's job that took it.
    cause              text        not null check (length(cause) between 1 and 200),
    -- When it happened at the provider (or the grace period's end).
    occurred_at        timestamptz not null,
    recorded_at        timestamptz not null,
    unique (collection_case_id, step, attempt)
);
-- History is never rewritten (an organisation's deletion still cascades).
create trigger collection_step_append_only before update on collection_step
    for each row execute function forbid_change();

-- The single 3-day reminder's marker becomes its row in trial_reminder.
insert into trial_reminder (subscription_id, trial_end, days_before, outcome, cause, recorded_at)
select subscription_id, trial_end, 3, 'sent', 'migrated', now()
from subscription
where trial_reminder_sent_for is not null and trial_reminder_sent_for = trial_end;
alter table subscription drop column trial_reminder_sent_for;
