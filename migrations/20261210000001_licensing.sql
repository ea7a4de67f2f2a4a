-- Licences for self-hosted installs. A licence belongs to an organisation;
-- its key is stored hashed, like an API key. Where it stands is derived from
-- the organisation's subscription and suspension (see app::licensing), so
-- only the licence's own admin actions are stored here.
create table license
(
    license_id      uuid primary key default gen_random_uuid(),
    organization_id uuid        not null references organization on delete cascade,
    key_hash        bytea       not null unique,
    -- The year and last group, to tell keys apart on a page.
    key_hint        text        not null,
    max_activations integer     not null check (max_activations between 1 and 10000),
    node_locked     boolean     not null default true,
    grace_days      integer     not null default 14 check (grace_days between 0 and 365),
    after_grace     text        not null default 'read_only' check (after_grace in ('read_only', 'warn_only')),
    -- Floating seats not checked in for this long are freed.
    floating_lease_hours integer not null default 72 check (floating_lease_hours between 1 and 8760),
    issued_at       timestamptz not null,
    suspended_at    timestamptz,
    revoked_at      timestamptz
);
create index license_organization_idx on license (organization_id);

-- One machine's hold on a seat. The limit is checked under the licence
-- row's lock, so parallel activations cannot exceed it.
create table license_activation
(
    activation_id   uuid primary key default gen_random_uuid(),
    license_id      uuid        not null references license on delete cascade,
    fingerprint     text        not null check (length(fingerprint) between 1 and 200),
    hostname        text        not null check (length(hostname) between 1 and 255),
    -- An operator-supplied instance id (containers), kept only as an HMAC.
    instance_hmac   bytea,
    activated_at    timestamptz not null,
    last_check_in_at timestamptz not null,
    deactivated_at  timestamptz
);
create unique index license_activation_live_idx on license_activation (license_id, fingerprint)
    where deactivated_at is null;
