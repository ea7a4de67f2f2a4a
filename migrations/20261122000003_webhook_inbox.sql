-- The inbox of provider events: each event is stored here, under its
-- provider's id, before the provider gets its 2xx; a worker processes it
-- afterwards. A redelivered event hits the unique key and is stored once.
create table webhook_event
(
    webhook_event_id  uuid primary key     default gen_random_uuid(),
    provider          text        not null check (provider in ('stripe', 'sandbox')),
    provider_event_id text        not null check (length(provider_event_id) between 1 and 255),
    event_type        text        not null,
    livemode          boolean     not null,
    -- When the provider created the event (orders out-of-order deliveries).
    provider_created_at timestamptz not null,
    payload           jsonb       not null,
    status            text        not null default 'pending'
                                  check (status in ('pending', 'processed', 'unmatched', 'failed')),
    attempts          integer     not null default 0,
    next_attempt_at   timestamptz not null default now(),
    last_error        text,
    received_at       timestamptz not null default now(),
    processed_at      timestamptz,
    unique (provider, provider_event_id)
);
create index webhook_event_due_idx on webhook_event (next_attempt_at) where status = 'pending';
