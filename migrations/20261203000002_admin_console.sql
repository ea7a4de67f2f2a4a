-- The admin console: a second factor for platform admins, and the audit log.

-- TOTP (RFC 6238, SHA-1, 6 digits, 30 s): the secret is set when enrolment
-- starts and counts once confirmed by a code. The last accepted time step
-- is kept so a code is accepted once (RFC 6238 §5.2).
alter table platform_admin
    add column totp_secret       bytea check (length(totp_secret) = 20),
    add column totp_confirmed_at timestamptz,
    add column totp_last_step    bigint,
    add constraint platform_admin_totp_confirmed check (totp_confirmed_at is null or totp_secret is not null);

-- One-time recovery codes, stored as SHA-256 hashes.
create table admin_recovery_code
(
    platform_admin_id uuid        not null references platform_admin on delete cascade,
    code_hash         bytea       not null,
    used_at           timestamptz,
    created_at        timestamptz not null,
    primary key (platform_admin_id, code_hash)
);

-- Who did what, when, why, and what it changed. Append-only: no update,
-- delete or truncate succeeds, whoever asks (triggers, tested).
create table admin_audit
(
    admin_audit_id    bigint generated always as identity primary key,
    occurred_at       timestamptz not null,
    platform_admin_id uuid        not null,
    admin_email       text        not null,
    action            text        not null check (action ~ '^[a-z_]+(\.[a-z_]+)*$'),
    -- The organisation acted on, if any. Not a foreign key: the entry
    -- outlives the organisation.
    organization_id   uuid,
    reason            text check (length(reason) between 1 and 500),
    before            jsonb,
    after             jsonb,
    client_ip         text
);
create index admin_audit_time_idx on admin_audit (occurred_at desc, admin_audit_id desc);
create index admin_audit_organization_idx on admin_audit (organization_id, occurred_at desc);
create trigger admin_audit_append_only before update or delete on admin_audit
    for each row execute function forbid_change();
create trigger admin_audit_no_truncate before truncate on admin_audit
    for each statement execute function forbid_change();

-- Organisation search: by name (case-insensitive prefix or word) and the
-- keyset pagination's order.
create index organization_created_idx on organization (created_at desc, organization_id desc);
create index organization_name_idx on organization (lower(name), organization_id);
