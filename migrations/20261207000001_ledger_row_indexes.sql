-- subscription_event's (subscription_id, occurred_at) index served no read:
-- every reader of the ledger's rows takes the live ones, through
-- subscription_event_live_idx. Each index costs every row written, and an
-- import writes millions.
drop index subscription_event_subscription_idx;
