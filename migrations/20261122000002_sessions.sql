-- Sessions, shared by every server process (tower-sessions' Postgres store
-- layout, created here so that schema changes go through migrations).
create schema if not exists tower_sessions;
create table if not exists tower_sessions.session
(
    id          text primary key not null,
    data        bytea            not null,
    expiry_date timestamptz      not null
);
create index if not exists session_expiry_idx on tower_sessions.session (expiry_date);
