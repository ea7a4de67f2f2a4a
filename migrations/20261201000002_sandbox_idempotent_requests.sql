-- The sandbox, like Stripe, refuses an idempotency key reused for a different
-- request: each key remembers what it was first used for.
alter table sandbox_idempotency add column request text;
