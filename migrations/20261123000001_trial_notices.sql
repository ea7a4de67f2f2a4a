-- Trial reminders and expiry are time-driven jobs that any server instance
-- may run; rows are claimed with FOR UPDATE SKIP LOCKED.

-- The trial end the "trial ends soon" reminder was sent for: an extended or
-- new trial (a different end) gets its own reminder, a repeat never does.
alter table subscription add column trial_reminder_sent_for timestamptz;

-- Finds trials coming due for a reminder or for expiry.
create index subscription_trialing_idx on subscription (trial_end) where status = 'trialing';

-- The sandbox plays Stripe's `trial_will_end`: the trial end (Unix seconds)
-- it last announced, so each trial end is announced once.
alter table sandbox_subscription add column trial_will_end_sent_for bigint;
