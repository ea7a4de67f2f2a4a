-- Accounts, organisations, memberships, the trial subscription and its ledger,
-- single-use tokens, invitations, platform admins, the email outbox and
-- rate-limit buckets.

create table app_user
(
    user_id           uuid primary key     default gen_random_uuid(),
    -- Stored lower-cased and trimmed; uniqueness is on this form.
    email             text        not null unique check (email = lower(email) and length(email) <= 254),
    password_hash     text        not null,
    email_verified_at timestamptz,
    -- Raised on password change: sessions signed in under an older value end.
    auth_version      integer     not null default 1,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create trigger app_user_updated_at before update on app_user for each row execute function set_updated_at();

create table organization
(
    organization_id uuid primary key     default gen_random_uuid(),
    name            text        not null check (length(name) between 1 and 100),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create trigger organization_updated_at before update on organization for each row execute function set_updated_at();

create table membership
(
    organization_id uuid        not null references organization on delete cascade,
    user_id         uuid        not null references app_user on delete cascade,
    role            text        not null check (role in ('owner', 'admin', 'member')),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (organization_id, user_id)
);
create index membership_user_idx on membership (user_id);
create trigger membership_updated_at before update on membership for each row execute function set_updated_at();

create table subscription
(
    subscription_id      uuid primary key     default gen_random_uuid(),
    organization_id      uuid        not null references organization on delete cascade,
    plan_id              uuid        not null references plan,
    billing_cycle        text        not null check (billing_cycle in ('monthly', 'annual')),
    status               text        not null check (status in ('trialing', 'active', 'past_due', 'unpaid', 'canceled',
                                                                'incomplete', 'incomplete_expired', 'paused')),
    trial_start          timestamptz,
    trial_end            timestamptz,
    current_period_start timestamptz,
    current_period_end   timestamptz,
    cancel_at_period_end boolean     not null default false,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    check ((trial_start is null) = (trial_end is null) and (trial_end is null or trial_end > trial_start))
);
create index subscription_organization_idx on subscription (organization_id);
create trigger subscription_updated_at before update on subscription for each row execute function set_updated_at();

-- The append-only ledger analytics read: one row per change of a
-- subscription's plan, quantity, status or discount, with MRR before/after.
create table subscription_event
(
    subscription_event_id bigint generated always as identity primary key,
    organization_id       uuid        not null references organization on delete cascade,
    subscription_id       uuid        not null references subscription on delete cascade,
    occurred_at           timestamptz not null,
    kind                  text        not null,
    status_before         text,
    status_after          text        not null,
    plan_before           text,
    plan_after            text        not null,
    mrr_before            bigint      not null check (mrr_before >= 0),
    mrr_after             bigint      not null check (mrr_after >= 0),
    currency              char(3)     not null,
    -- What caused it: 'signup', 'user:<uuid>', 'admin:<uuid>', 'stripe:<event id>'.
    cause                 text        not null,
    recorded_at           timestamptz not null default now()
);
create index subscription_event_subscription_idx on subscription_event (subscription_id, occurred_at);

create function forbid_change() returns trigger
language plpgsql as
$$
begin
    raise exception '% is append-only', tg_table_name;
end;
$$;
create trigger subscription_event_append_only before update or delete on subscription_event
    for each row execute function forbid_change();

create table email_token
(
    email_token_id uuid primary key     default gen_random_uuid(),
    user_id        uuid        not null references app_user on delete cascade,
    purpose        text        not null check (purpose in ('verify_email', 'reset_password')),
    -- SHA-256 of the token; the token itself exists only in the email.
    token_hash     bytea       not null unique,
    expires_at     timestamptz not null,
    used_at        timestamptz,
    created_at     timestamptz not null default now()
);
create index email_token_user_idx on email_token (user_id, purpose);

create table invitation
(
    invitation_id   uuid primary key     default gen_random_uuid(),
    organization_id uuid        not null references organization on delete cascade,
    email           text        not null check (email = lower(email)),
    role            text        not null check (role in ('admin', 'member')),
    token_hash      bytea       not null unique,
    invited_by      uuid        not null references app_user,
    expires_at      timestamptz not null,
    accepted_at     timestamptz,
    revoked_at      timestamptz,
    created_at      timestamptz not null default now()
);
create unique index invitation_open_email_idx on invitation (organization_id, email)
    where accepted_at is null and revoked_at is null;

create table platform_admin
(
    platform_admin_id uuid primary key     default gen_random_uuid(),
    email             text        not null unique check (email = lower(email)),
    password_hash     text        not null,
    auth_version      integer     not null default 1,
    created_at        timestamptz not null default now()
);

create table email_outbox
(
    email_outbox_id uuid primary key     default gen_random_uuid(),
    to_address      text        not null,
    template        text        not null,
    subject         text        not null,
    text_body       text        not null,
    html_body       text        not null,
    status          text        not null default 'queued' check (status in ('queued', 'sent', 'dead')),
    attempts        integer     not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz not null default now()
);
create index email_outbox_due_idx on email_outbox (next_attempt_at) where status = 'queued';

-- Generic cell rate algorithm state: one row per throttled key.
create table rate_limit
(
    bucket     text primary key,
    -- Theoretical arrival time of the next request.
    tat        timestamptz not null
);
