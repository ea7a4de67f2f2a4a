-- Provider events that arrive late, twice, out of order or in parallel.

-- The inbox keeps what it could not store as a normal event (a signed body
-- that cannot be read, a `created` out of range) as `rejected`, with the
-- reason and the raw body, so one bad event never jams the endpoint.
alter table webhook_event
    drop constraint webhook_event_status_check,
    add constraint webhook_event_status_check
        check (status in ('pending', 'processed', 'unmatched', 'failed', 'rejected')),
    alter column payload drop not null,
    add constraint webhook_event_payload_check check (payload is not null or status = 'rejected'),
    -- The body as received, kept when it had to be changed (or could not be
    -- read) to be stored.
    add column raw_body bytea,
    -- The event decoded once, at the endpoint, as billing::subscription::BillingEvent.
    add column decoded jsonb,
    -- Whose events must be applied one at a time and in order: the provider
    -- customer the object belongs to. Workers claim all of one subject's
    -- due events together, and different subjects in parallel.
    add column subject text;
create index webhook_event_due_subject_idx on webhook_event (provider_created_at, provider_event_id)
    where status = 'pending';
create index webhook_event_subject_idx on webhook_event (provider, subject) where status = 'pending';
create index webhook_event_rejected_idx on webhook_event (received_at) where status = 'rejected';

-- Invoice statuses in the order an invoice moves through them; an upsert
-- never moves one backwards, even when two first inserts race.
create function invoice_status_rank(status text) returns integer
    language sql immutable strict parallel safe as
$$
select case status when 'draft' then 0 when 'open' then 1 when 'uncollectible' then 2
                   when 'paid' then 3 when 'void' then 3 else 0 end
$$;

-- A customer's email is only replaced by a newer event's.
alter table billing_customer add column email_event_at timestamptz;

-- The subscription ledger is bitemporal: `occurred_at` is when the change
-- happened at the provider (its effective time), `recorded_at` when
-- Gatehouse learnt of it. Every state a subscription was in is kept as a
-- revision at its effective time, ordered by (occurred_at, cause); the
-- ledger has a row for each revision that differs from the one before it.
-- An event that arrives after a later one can change only the row of the
-- revision right after it: that row is marked superseded (the only change a
-- row ever takes) and, where it still says something, restated by a new row
-- pointing back at it. The live ledger is the rows not superseded, and it is
-- the same whatever order the events came in (billing::ledger).
create table subscription_revision
(
    subscription_id uuid        not null references subscription on delete cascade,
    occurred_at     timestamptz not null,
    -- The event (`stripe:evt_…`, `sandbox:evt_…`) or local cause (`signup`, `system:…`).
    cause           text        not null,
    -- billing::subscription::LedgerState: status, items, discounts.
    state           jsonb       not null,
    plan            text        not null,
    mrr             bigint      not null check (mrr >= 0),
    currency        char(3)     not null,
    recorded_at     timestamptz not null default now(),
    primary key (subscription_id, cause)
);
create index subscription_revision_order_idx on subscription_revision (subscription_id, occurred_at, cause);
create trigger subscription_revision_append_only before update or delete on subscription_revision
    for each row execute function forbid_change();

alter table subscription_event
    add column superseded_at timestamptz,
    add column restates      bigint references subscription_event;

-- Rows written before revisions existed become revisions of their own (their
-- items are not known beyond the plan: the plan at the subscription's cycle).
insert into subscription_revision (subscription_id, occurred_at, cause, state, plan, mrr, currency, recorded_at)
select e.subscription_id, e.occurred_at, e.cause,
       jsonb_build_object('status', e.status_after,
                          'items', jsonb_build_array(jsonb_build_array(
                              'gatehouse.tier.' || e.plan_after || '.' || s.billing_cycle, 1)),
                          'discounts', '[]'::jsonb),
       e.plan_after, e.mrr_after, e.currency, e.recorded_at
from subscription_event e join subscription s using (subscription_id)
on conflict do nothing;

drop index subscription_event_once_per_provider_event;
create unique index subscription_event_once_per_provider_event on subscription_event (subscription_id, cause)
    where (cause like 'stripe:%' or cause like 'sandbox:%') and superseded_at is null;
create index subscription_event_live_idx on subscription_event (subscription_id, occurred_at, cause)
    where superseded_at is null;

create or replace function subscription_event_append_only() returns trigger
    language plpgsql as
$$
begin
    if tg_op = 'UPDATE' and old.superseded_at is null and new.superseded_at is not null
        and (to_jsonb(new) - 'superseded_at') = (to_jsonb(old) - 'superseded_at') then
        return new;
    end if;
    raise exception 'subscription_event is append-only (a row may only be marked superseded, once)';
end;
$$;
drop trigger subscription_event_append_only on subscription_event;
create trigger subscription_event_append_only before update or delete on subscription_event
    for each row execute function subscription_event_append_only();
