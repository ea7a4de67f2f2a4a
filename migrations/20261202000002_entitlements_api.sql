-- Entitlements and the host-product API: the host product's own id for an
-- organisation, admin suspensions and overrides, usage (reports, counters,
-- snapshots), the operator's API keys and outbound webhooks.

alter table organization
    add column external_id text unique check (length(external_id) between 1 and 200),
    add column suspended_at timestamptz,
    add column suspension_reason text;

-- What an admin changed on top of the plan. Never deleted: removal sets
-- removed_at, so the history stays readable.
create table entitlement_override
(
    override_id     uuid primary key     default gen_random_uuid(),
    organization_id uuid        not null references organization on delete cascade,
    kind            text        not null check (kind in ('feature', 'limit', 'tier')),
    -- The feature key, metric key or tier key.
    key             text        not null,
    enabled         boolean,
    -- For a limit: null means unlimited.
    limit_value     bigint check (limit_value >= 0),
    expires_at      timestamptz,
    reason          text        not null check (length(reason) between 1 and 500),
    created_by      text        not null,
    created_at      timestamptz not null,
    removed_at      timestamptz,
    check ((kind = 'feature') = (enabled is not null))
);
create index entitlement_override_org_idx on entitlement_override (organization_id) where removed_at is null;

-- Current usage per metric the host product reports (users are counted).
create table usage_counter
(
    organization_id uuid        not null references organization on delete cascade,
    metric_key      text        not null,
    value           bigint      not null check (value >= 0),
    updated_at      timestamptz not null,
    primary key (organization_id, metric_key)
);

-- Every usage report, keyed by the host product's own id for it: a retry
-- with the same content counts once, the same id with other content is refused.
create table usage_report
(
    report_id       text primary key check (length(report_id) between 1 and 200),
    organization_id uuid        not null references organization on delete cascade,
    metric_key      text        not null,
    increment       bigint,
    set_value       bigint check (set_value >= 0),
    value_after     bigint      not null,
    received_at     timestamptz not null,
    check ((increment is null) <> (set_value is null))
);
create index usage_report_org_idx on usage_report (organization_id, received_at);

-- Usage of every organisation, every six hours (taken_at is the slot's start).
create table usage_snapshot
(
    organization_id uuid        not null references organization on delete cascade,
    metric_key      text        not null,
    taken_at        timestamptz not null,
    value           bigint      not null check (value >= 0),
    primary key (organization_id, metric_key, taken_at)
);
create index usage_snapshot_slot_idx on usage_snapshot (taken_at);

-- The operator's server-side keys. Only a SHA-256 of the key is stored; the
-- prefix is shown so a key can be recognised.
create table api_key
(
    api_key_id   uuid primary key     default gen_random_uuid(),
    name         text        not null check (length(name) between 1 and 100),
    scope        text        not null check (scope in ('read', 'write')),
    prefix       text        not null unique,
    key_hash     bytea       not null unique,
    created_at   timestamptz not null,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Endpoints of the host product that hear about changes.
create table webhook_endpoint
(
    endpoint_id   uuid primary key     default gen_random_uuid(),
    url           text        not null check (url ~ '^https?://'),
    description   text        not null default '',
    -- Standard Webhooks secret, `whsec_` + base64.
    secret        text        not null,
    created_at    timestamptz not null,
    disabled_at   timestamptz,
    -- Set when deliveries keep failing; cleared by the next success.
    failing_since timestamptz
);

-- One row per change: the id is stable, so every redelivery carries it.
create table outbound_event
(
    event_id        text primary key,
    event_type      text        not null,
    organization_id uuid references organization on delete set null,
    payload         jsonb       not null,
    created_at      timestamptz not null
);
create index outbound_event_created_idx on outbound_event (created_at desc);

-- One delivery of one event to one endpoint, retried until it succeeds.
create table outbound_delivery
(
    delivery_id     bigint generated always as identity primary key,
    event_id        text        not null references outbound_event on delete cascade,
    endpoint_id     uuid        not null references webhook_endpoint on delete cascade,
    state           text        not null default 'pending' check (state in ('pending', 'delivered')),
    attempts        integer     not null default 0,
    next_attempt_at timestamptz not null,
    delivered_at    timestamptz,
    last_error      text,
    unique (event_id, endpoint_id)
);
create index outbound_delivery_due_idx on outbound_delivery (next_attempt_at) where state = 'pending';

-- Every attempt, for the operator to see what the receiver answered.
create table outbound_attempt
(
    attempt_id  bigint generated always as identity primary key,
    delivery_id bigint      not null references outbound_delivery on delete cascade,
    attempted_at timestamptz not null,
    status_code integer,
    error       text,
    duration_ms integer     not null
);
create index outbound_attempt_delivery_idx on outbound_attempt (delivery_id);

-- What each organisation's entitlements were when last published, so an
-- `entitlements.updated` event is sent only when they really changed.
create table entitlements_published
(
    organization_id uuid primary key references organization on delete cascade,
    terms           jsonb       not null,
    published_at    timestamptz not null
);
