-- One rule for "the organisation's current subscription": its newest live
-- row (an imported history is not live; a replaced subscription stays as
-- history). Every query that reads an organisation's plan or status goes
-- through this function instead of repeating the rule. It is a plain SQL
-- function, so Postgres inlines it into the calling query and plans it as
-- the lateral subquery it replaces (subscription_live_organization_idx).
create function current_subscription(org uuid) returns setof subscription
    language sql stable
    as $$
        select * from subscription
        where organization_id = org and live
        order by created_at desc
        limit 1
    $$;
