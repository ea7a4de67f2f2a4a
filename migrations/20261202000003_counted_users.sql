-- The users an organisation's seat limit counts at an instant: its members
-- plus the invitations still open then. The one definition the seat rule,
-- the entitlements and the usage snapshots all read.
create function counted_users(org uuid, at timestamptz) returns bigint
    language sql stable as
$$
select (select count(*) from membership where organization_id = org)
     + (select count(*) from invitation where organization_id = org
          and accepted_at is null and revoked_at is null and expires_at > at)
$$;
