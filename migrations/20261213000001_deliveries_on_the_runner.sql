-- Email, outbound webhook delivery and provider events become runner jobs,
-- one per item (payload {"item": id}). Items already waiting get theirs.

-- "Has this item an open job?" is asked on every enqueue.
create index job_open_item_idx on job (kind, (payload ->> 'item'))
    where state in ('queued', 'running');

insert into job (kind, payload, run_at, max_attempts, created_at)
select 'email.deliver', jsonb_build_object('item', email_outbox_id::text), next_attempt_at, 10, created_at
from email_outbox where status = 'queued';

insert into job (kind, payload, run_at, max_attempts, created_at)
select 'webhook.deliver', jsonb_build_object('item', d.delivery_id::text), d.next_attempt_at, 100, d.next_attempt_at
from outbound_delivery d join webhook_endpoint w using (endpoint_id)
where d.state = 'pending' and w.disabled_at is null;

insert into job (kind, payload, run_at, max_attempts, created_at)
select 'provider_event.apply', jsonb_build_object('item', webhook_event_id::text), next_attempt_at, 12, received_at
from webhook_event where status = 'pending';
