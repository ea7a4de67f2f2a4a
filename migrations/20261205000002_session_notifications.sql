-- Every process may keep sessions it has read in memory (server's
-- session_cache.rs); a session saved or deleted anywhere is dropped
-- everywhere through this notice, sent when its transaction commits.
create function session_changed() returns trigger
    language plpgsql as
$$
begin
    perform pg_notify('gatehouse_sessions', old.id);
    return null;
end
$$;

create trigger session_changed after update or delete on tower_sessions.session
    for each row execute function session_changed();
