//! The job runner's queue: one `job` table for all background work, claimed
//! with `FOR UPDATE SKIP LOCKED` under a lease, finished only by the lease's
//! holder inside the job's own transaction, retried with a backoff counted
//! from the failure, dead (kept, shown, retryable) after its last attempt;
//! every attempt recorded in `job_run`; named schedules that make one job a
//! period across any number of processes (`schedule_tick`). No released
//! job-queue crate for sqlx 0.8 gets all of that right (see issue #25), so
//! this is the small piece written here. The server's `runner` runs it.

pub mod db;
pub mod domain;
pub mod schedules;
