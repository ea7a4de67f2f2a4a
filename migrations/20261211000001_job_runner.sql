-- The job runner: one queue for all background work, in Postgres.
-- A job is claimed with FOR UPDATE SKIP LOCKED under a lease (a token and
-- an end); it is finished only by the holder of its current lease, in the
-- transaction of its own work, so a worker whose lease ran out can never
-- complete it or apply it twice. Every attempt is a `job_run` row.
create table job
(
    job_id       bigint generated always as identity primary key,
    kind         text        not null check (kind ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    -- Unique per kind: enqueueing the same key twice makes one job.
    dedup_key    text check (length(dedup_key) between 1 and 200),
    payload      jsonb       not null default '{}',
    run_at       timestamptz not null,
    state        text        not null default 'queued'
        check (state in ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
    attempt      integer     not null default 0 check (attempt >= 0),
    max_attempts integer     not null default 8 check (max_attempts between 1 and 100),
    lease_token  uuid,
    lease_until  timestamptz,
    last_error   text,
    created_at   timestamptz not null,
    finished_at  timestamptz,
    check ((state = 'running') = (lease_token is not null and lease_until is not null))
);
create unique index job_dedup_idx on job (kind, dedup_key) where dedup_key is not null;
create index job_queued_idx on job (run_at) where state = 'queued';
create index job_leased_idx on job (lease_until) where state = 'running';
create index job_dead_idx on job (finished_at) where state = 'dead';

create table job_run
(
    job_run_id  bigint generated always as identity primary key,
    job_id      bigint      not null references job on delete cascade,
    attempt     integer     not null check (attempt >= 1),
    worker      text        not null,
    lease_token uuid        not null,
    started_at  timestamptz not null,
    finished_at timestamptz,
    outcome     text check (outcome in ('succeeded', 'failed', 'lease_lost', 'dead')),
    error       text,
    unique (job_id, attempt)
);
create index job_run_started_idx on job_run (started_at desc);

-- One row per period of each named schedule: the primary key makes each
-- period's job exist once across any number of processes and restarts.
-- A period recorded without a job was skipped (its schedule's catch-up).
create table schedule_tick
(
    schedule     text        not null,
    period_start timestamptz not null,
    job_id       bigint references job on delete set null,
    ticked_at    timestamptz not null,
    primary key (schedule, period_start)
);
