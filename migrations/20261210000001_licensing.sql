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
    -- 'subscription': issued when a self-hosted tier's subscription became
    -- active (one per organisation); 'console': issued by a platform admin.
    source          text        not null check (source in ('subscription', 'console')),
    issued_at       timestamptz not null,
    -- An admin's extension: valid at least until then, whatever the billing.
    extended_until  timestamptz,
    suspended_at    timestamptz,
    revoked_at      timestamptz
);
create index license_organization_idx on license (organization_id);
create unique index license_from_subscription_idx on license (organization_id) where source = 'subscription';

-- Expiry alerts sent, one row per licence, lead (30 or 7 days) and expiry:
-- the primary key makes each alert go out once across every process, and a
-- later expiry (an extension) alerts again.
create table license_expiry_alert
(
    license_id  uuid        not null references license on delete cascade,
    days_before integer     not null check (days_before in (30, 7)),
    expires_at  timestamptz not null,
    sent_at     timestamptz not null,
    primary key (license_id, days_before, expires_at)
);

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
