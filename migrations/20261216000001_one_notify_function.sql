-- One way to announce a change. Every notice that drops a process cache is
-- sent by one statement-level trigger function, and one function creates
-- those triggers: a table joins a channel in one call below, and the map in
-- server/src/caches.rs names each call. It replaces the copied trigger
-- blocks of migrations 20261205000001, 20261205000002, 20261206000001 and
-- 20261206000002 (same tables, channels and payloads). A NOTIFY is sent
-- only when its transaction commits, and identical ones in a transaction
-- are sent once.

drop function entitlements_changed_new() cascade;
drop function entitlements_changed_old() cascade;
drop function entitlements_changed_items_new() cascade;
drop function entitlements_changed_items_old() cascade;
drop function notify_entitlements(uuid[]);
drop function api_key_changed() cascade;
drop function session_changed() cascade;
drop function users_changed_new() cascade;
drop function users_changed_old() cascade;
drop function users_changed_organization_renamed() cascade;
drop function notify_users(uuid[]);

-- Sends `channel` one notice per key; a change to more than a thousand
-- keys at once (an import, a retention sweep) sends `*`, which clears every
-- cache on the channel instead of flooding it.
create function notify_keys(channel text, keys text[]) returns void
    language plpgsql as
$$
begin
    if keys is null or cardinality(keys) = 0 then
        return;
    elsif cardinality(keys) > 1000 then
        perform pg_notify(channel, '*');
    else
        perform pg_notify(channel, k) from (select distinct unnest(keys) as k) as distinct_keys;
    end if;
end
$$;

-- The one trigger function: TG_ARGV[0] is the channel, TG_ARGV[1] a query
-- over the statement's transition tables (`new_rows`, `old_rows`) giving
-- the keys as text[].
create function notify_changed_keys() returns trigger
    language plpgsql as
$$
declare
    keys text[];
begin
    execute tg_argv[1] into keys;
    perform notify_keys(tg_argv[0], keys);
    return null;
end
$$;

-- Makes `tbl` announce on `channel` the keys each query finds after a
-- statement that inserts (`new_rows`), updates (`new_rows` and `old_rows`)
-- or deletes (`old_rows`); a null query leaves that operation silent.
create function notify_on_change(tbl regclass, channel text, on_insert text, on_update text, on_delete text)
    returns void
    language plpgsql as
$$
declare
    name text := replace(tbl::text, '.', '_') || '_' || replace(channel, 'gatehouse_', '');
begin
    if on_insert is not null then
        execute format('create trigger %I after insert on %s referencing new table as new_rows
                        for each statement execute function notify_changed_keys(%L, %L)',
                       name || '_insert', tbl, channel, on_insert);
    end if;
    if on_update is not null then
        execute format('create trigger %I after update on %s referencing new table as new_rows old table as old_rows
                        for each statement execute function notify_changed_keys(%L, %L)',
                       name || '_update', tbl, channel, on_update);
    end if;
    if on_delete is not null then
        execute format('create trigger %I after delete on %s referencing old table as old_rows
                        for each statement execute function notify_changed_keys(%L, %L)',
                       name || '_delete', tbl, channel, on_delete);
    end if;
end
$$;

-- gatehouse_entitlements (an organisation's id): every table an
-- organisation's standing, billing page or usage history is read from.
select notify_on_change(t, 'gatehouse_entitlements',
                        'select array_agg(organization_id::text) from new_rows',
                        'select array_agg(organization_id::text) from new_rows',
                        'select array_agg(organization_id::text) from old_rows')
from unnest(array ['organization', 'subscription', 'entitlement_override', 'usage_counter', 'membership',
                   'invitation', 'invoice', 'sandbox_customer', 'usage_snapshot']::regclass[]) as t;
select notify_on_change('subscription_item', 'gatehouse_entitlements',
                        'select array_agg(s.organization_id::text) from new_rows join subscription s using (subscription_id)',
                        'select array_agg(s.organization_id::text) from new_rows join subscription s using (subscription_id)',
                        'select array_agg(s.organization_id::text) from old_rows join subscription s using (subscription_id)');

-- gatehouse_users (a user's id): what a session's user carries (email,
-- verification, auth version, memberships and their organisations' names).
select notify_on_change('app_user', 'gatehouse_users', null,
                        'select array_agg(user_id::text) from old_rows',
                        'select array_agg(user_id::text) from old_rows');
select notify_on_change('membership', 'gatehouse_users',
                        'select array_agg(user_id::text) from new_rows',
                        'select array_agg(user_id::text) from old_rows',
                        'select array_agg(user_id::text) from old_rows');
select notify_on_change('organization', 'gatehouse_users', null,
                        'select array_agg(m.user_id::text) from new_rows n join old_rows o using (organization_id)
                         join membership m using (organization_id) where n.name is distinct from o.name',
                        null);

-- gatehouse_sessions (a session's id): a session saved or deleted anywhere.
select notify_on_change('tower_sessions.session', 'gatehouse_sessions', null,
                        'select array_agg(id) from old_rows',
                        'select array_agg(id) from old_rows');

-- gatehouse_api_keys: a key's scope, hash or revocation changing, or a key
-- deleted (its last use, written about once a minute, does not notify).
select notify_on_change('api_key', 'gatehouse_api_keys', null,
                        'select array_agg(o.api_key_id::text) from old_rows o join new_rows n using (api_key_id)
                         where o.revoked_at is distinct from n.revoked_at or o.scope is distinct from n.scope
                            or o.key_hash is distinct from n.key_hash',
                        'select array_agg(api_key_id::text) from old_rows');
