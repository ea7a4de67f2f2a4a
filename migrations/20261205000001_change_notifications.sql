-- Per-process caches of what the host API reads most (an organisation's
-- entitlements, the API keys) are dropped through NOTIFY. Triggers send the
-- notices, so no writer can forget one; a NOTIFY is delivered only when its
-- transaction commits, and identical ones in a transaction are sent once.

-- Announces that these organisations' entitlement inputs changed; a change
-- to many at once (an import) clears every cache instead of flooding them.
create function notify_entitlements(orgs uuid[]) returns void
    language plpgsql as
$$
begin
    if orgs is null or cardinality(orgs) = 0 then
        return;
    elsif cardinality(orgs) > 1000 then
        perform pg_notify('gatehouse_entitlements', '*');
    else
        perform pg_notify('gatehouse_entitlements', org::text) from unnest(orgs) as org;
    end if;
end
$$;

-- Statement-level: one notice per organisation per statement, even for a
-- statement that writes thousands of rows.
create function entitlements_changed_new() returns trigger
    language plpgsql as
$$
begin
    perform notify_entitlements((select array_agg(distinct organization_id) from new_rows));
    return null;
end
$$;

create function entitlements_changed_old() returns trigger
    language plpgsql as
$$
begin
    perform notify_entitlements((select array_agg(distinct organization_id) from old_rows));
    return null;
end
$$;

create function entitlements_changed_items_new() returns trigger
    language plpgsql as
$$
begin
    perform notify_entitlements((select array_agg(distinct s.organization_id)
                                 from new_rows i join subscription s using (subscription_id)));
    return null;
end
$$;

create function entitlements_changed_items_old() returns trigger
    language plpgsql as
$$
begin
    perform notify_entitlements((select array_agg(distinct s.organization_id)
                                 from old_rows i join subscription s using (subscription_id)));
    return null;
end
$$;

-- Every table the entitlement read (`organization_state`) draws on.
do
$$
    declare
        t text;
    begin
        foreach t in array array ['organization', 'subscription', 'entitlement_override', 'usage_counter',
                                  'membership', 'invitation']
            loop
                execute format('create trigger %1$s_entitlements_insert after insert on %1$I
                                referencing new table as new_rows
                                for each statement execute function entitlements_changed_new()', t);
                execute format('create trigger %1$s_entitlements_update after update on %1$I
                                referencing new table as new_rows
                                for each statement execute function entitlements_changed_new()', t);
                execute format('create trigger %1$s_entitlements_delete after delete on %1$I
                                referencing old table as old_rows
                                for each statement execute function entitlements_changed_old()', t);
            end loop;
    end
$$;

create trigger subscription_item_entitlements_insert after insert on subscription_item
    referencing new table as new_rows
    for each statement execute function entitlements_changed_items_new();
create trigger subscription_item_entitlements_update after update on subscription_item
    referencing new table as new_rows
    for each statement execute function entitlements_changed_items_new();
create trigger subscription_item_entitlements_delete after delete on subscription_item
    referencing old table as old_rows
    for each statement execute function entitlements_changed_items_old();

-- A key's scope or revocation changing drops every process's cached keys
-- (its last use, written once a minute, does not).
create function api_key_changed() returns trigger
    language plpgsql as
$$
begin
    perform pg_notify('gatehouse_api_keys', old.api_key_id::text);
    return null;
end
$$;

create trigger api_key_changed after update on api_key
    for each row
    when (old.revoked_at is distinct from new.revoked_at or old.scope is distinct from new.scope
          or old.key_hash is distinct from new.key_hash)
execute function api_key_changed();
create trigger api_key_deleted after delete on api_key
    for each row execute function api_key_changed();

-- The throttle's state to the microsecond, as whole numbers (so a key may
-- be allowed more than a thousand requests a second, and no rounding of a
-- float touches it), and how many requests the last count granted at once:
-- a process leases a few of its next requests in one round trip (see
-- app::security::lease).
alter table rate_limit add column tat_us bigint;
update rate_limit set tat_us = floor(extract(epoch from tat) * 1000000)::bigint;
alter table rate_limit
    drop column tat,
    alter column tat_us set not null,
    add column granted integer not null default 1;
comment on column rate_limit.tat_us is 'Theoretical arrival time of the next request, microseconds since the Unix epoch.';
