-- Provider events and emails that need an operator (unmatched, failed,
-- dead) are counted every 30 s for /metrics; these partial indexes keep the
-- counts off the whole, ever-growing tables. Pending and queued rows are
-- counted through the existing due indexes.
create index webhook_event_attention_idx on webhook_event (status) where status in ('unmatched', 'failed');
create index email_outbox_dead_idx on email_outbox (status) where status = 'dead';
