-- Every process may keep the users behind its sessions in memory
-- (app/src/accounts/users.rs): email, verification, auth version and
-- memberships. Whatever changes one of those drops that user in every
-- process through this notice, sent when its transaction commits; a change
-- to many users at once clears every cache instead of flooding it.
create function notify_users(users uuid[]) returns void
    language plpgsql as
$$
begin
    if users is null or cardinality(users) = 0 then
        return;
    elsif cardinality(users) > 1000 then
        perform pg_notify('gatehouse_users', '*');
    else
        perform pg_notify('gatehouse_users', u::text) from unnest(users) as u;
    end if;
end
$$;

create function users_changed_new() returns trigger
    language plpgsql as
$$
begin
    perform notify_users((select array_agg(distinct user_id) from new_rows));
    return null;
end
$$;

create function users_changed_old() returns trigger
    language plpgsql as
$$
begin
    perform notify_users((select array_agg(distinct user_id) from old_rows));
    return null;
end
$$;

-- A renamed organisation changes its members' organisation lists.
create function users_changed_organization_renamed() returns trigger
    language plpgsql as
$$
begin
    perform notify_users((select array_agg(distinct m.user_id)
                          from new_rows n
                                   join old_rows o using (organization_id)
                                   join membership m using (organization_id)
                          where n.name is distinct from o.name));
    return null;
end
$$;

-- A password change raises auth_version; a deleted user's sessions end.
create trigger app_user_users_update after update on app_user
    referencing old table as old_rows
    for each statement execute function users_changed_old();
create trigger app_user_users_delete after delete on app_user
    referencing old table as old_rows
    for each statement execute function users_changed_old();

-- Joining, a changed role, leaving or removal (also by an organisation's deletion).
create trigger membership_users_insert after insert on membership
    referencing new table as new_rows
    for each statement execute function users_changed_new();
create trigger membership_users_update after update on membership
    referencing old table as old_rows
    for each statement execute function users_changed_old();
create trigger membership_users_delete after delete on membership
    referencing old table as old_rows
    for each statement execute function users_changed_old();

create trigger organization_users_update after update on organization
    referencing new table as new_rows old table as old_rows
    for each statement execute function users_changed_organization_renamed();
