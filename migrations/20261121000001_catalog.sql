-- The plan catalogue, synced from catalog/catalog.toml at start-up.
-- Rows are never deleted: an entry removed from the file is marked retired,
-- because subscriptions and invoices keep pointing at it.

create or replace function set_updated_at() returns trigger
language plpgsql as
$$
begin
    new.updated_at = now();
    return new;
end;
$$;

create table plan
(
    plan_id        uuid primary key     default gen_random_uuid(),
    plan_key       text        not null unique check (plan_key ~ '^[a-z][a-z0-9_-]{0,39}$'),
    name           text        not null,
    tagline        text        not null,
    rank           integer     not null check (rank >= 0),
    recommended    boolean     not null,
    currency       char(3)     not null,
    monthly_amount bigint      not null check (monthly_amount >= 0),
    annual_amount  bigint      not null check (annual_amount >= 0),
    max_users      bigint check (max_users > 0),
    max_workspaces bigint check (max_workspaces > 0),
    max_storage_gb bigint check (max_storage_gb > 0),
    retired        boolean     not null default false,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create trigger plan_updated_at before update on plan for each row execute function set_updated_at();

create table add_on
(
    add_on_id     uuid primary key     default gen_random_uuid(),
    add_on_key    text        not null unique check (add_on_key ~ '^[a-z][a-z0-9_-]{0,39}$'),
    name          text        not null,
    unit          text        not null,
    rank          integer     not null check (rank >= 0),
    currency      char(3)     not null,
    monthly_unit_amount bigint not null check (monthly_unit_amount > 0),
    max_quantity  integer check (max_quantity > 0),
    retired       boolean     not null default false,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create trigger add_on_updated_at before update on add_on for each row execute function set_updated_at();

create table feature_group
(
    feature_group_id  uuid primary key     default gen_random_uuid(),
    feature_group_key text        not null unique,
    name              text        not null,
    rank              integer     not null,
    retired           boolean     not null default false,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create trigger feature_group_updated_at before update on feature_group for each row execute function set_updated_at();

create table feature
(
    feature_id       uuid primary key     default gen_random_uuid(),
    feature_key      text        not null unique,
    feature_group_id uuid        not null references feature_group,
    name             text        not null,
    rank             integer     not null,
    included_from_plan_id uuid   not null references plan,
    retired          boolean     not null default false,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
create trigger feature_updated_at before update on feature for each row execute function set_updated_at();

-- Catalogue-wide settings: exactly one row.
create table catalog_settings
(
    singleton          boolean primary key default true check (singleton),
    version            integer     not null,
    currency           char(3)     not null,
    trial_days         integer     not null check (trial_days between 1 and 90),
    trial_default_plan_id uuid     not null references plan,
    content_sha256     text        not null,
    synced_at          timestamptz not null default now()
);
