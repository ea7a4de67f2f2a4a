-- Webhook deliveries run concurrently, so a receiver may hear two
-- `entitlements.updated` events of one organisation in either order. Each
-- publication carries the organisation's revision, one more than the last
-- (the row lock of the upsert orders them), so a receiver keeps the highest.
alter table entitlements_published add column revision bigint not null default 1;
