-- Found by trying to break it, round two.

-- Devices an admin completed the second factor on: a failure count from
-- unknown addresses never locks the owner out of a device already proven.
create table admin_known_device (
    token_hash bytea primary key,
    platform_admin_id uuid not null references platform_admin (platform_admin_id) on delete cascade,
    created_at timestamptz not null,
    last_seen_at timestamptz not null
);
create index admin_known_device_admin_idx on admin_known_device (platform_admin_id);

-- An outbound delivery is claimed with a lease (its next attempt moved past
-- the longest send) and recorded only by the holder of that lease, so each
-- endpoint's delivery is sent outside any transaction and a slow receiver
-- holds up nobody else.
alter table outbound_delivery add column lease_token uuid;

-- An imported history is for the ledger and analytics: its subscriptions are
-- not live (entitlements, the billing page, trials and the console's plan
-- read only live ones) unless an operator migrates them, audited, one
-- organisation at a time. Imported rows already stored stop being live.
alter table subscription add column live boolean not null default true;
update subscription set live = false where import_key is not null;
create index subscription_live_organization_idx on subscription (organization_id, created_at desc) where live;

-- The ledger and the audit log refuse TRUNCATE as they refuse update and
-- delete, and their guards fire always, even for a session that runs as a
-- replica: the one statement that runs with triggers off (the import's bulk
-- COPY of histories its own transaction created) only inserts.
create trigger subscription_event_no_truncate before truncate on subscription_event
    for each statement execute function forbid_change();
create trigger subscription_revision_no_truncate before truncate on subscription_revision
    for each statement execute function forbid_change();
alter table subscription_event enable always trigger subscription_event_append_only;
alter table subscription_event enable always trigger subscription_event_no_truncate;
alter table subscription_revision enable always trigger subscription_revision_append_only;
alter table subscription_revision enable always trigger subscription_revision_no_truncate;
alter table admin_audit enable always trigger admin_audit_append_only;
alter table admin_audit enable always trigger admin_audit_no_truncate;
