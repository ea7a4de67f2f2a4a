-- Metrics become catalogue data: a tier's limits are a map from metric key to
-- a number (null = unlimited), and an add-on may say which limit it raises.
-- Adding a metric to catalog/catalog.toml is then enough to meter it.

create table metric
(
    metric_id  uuid primary key     default gen_random_uuid(),
    metric_key text        not null unique check (metric_key ~ '^[a-z][a-z0-9_-]{0,39}$'),
    name       text        not null,
    unit       text        not null,
    units      text        not null,
    rank       integer     not null check (rank >= 0),
    retired    boolean     not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create trigger metric_updated_at before update on metric for each row execute function set_updated_at();

alter table plan add column limits jsonb not null default '{}'::jsonb
    check (jsonb_typeof(limits) = 'object');
update plan set limits = jsonb_build_object('users', max_users, 'workspaces', max_workspaces,
                                            'storage_gb', max_storage_gb);
alter table plan drop column max_users, drop column max_workspaces, drop column max_storage_gb;

alter table add_on add column raises_metric text,
                   add column per_unit bigint not null default 1 check (per_unit >= 1);
