-- subscription_event's (subscription_id, occurred_at) index served no read:
-- every reader of the ledger's rows takes the live ones, through
-- subscription_event_live_idx. Each index costs every row written, and an
-- import writes millions.
drop index subscription_event_subscription_idx;

-- An organisation's rollup (about 2.5 KB of JSON) is compressed when stored;
-- with pglz that took a third of an import's MRR-series stage. lz4 is several
-- times faster at a like ratio. A server built without lz4 keeps pglz.
do
$$
    begin
        alter table mrr_series_customer alter column rollup set compression lz4;
    exception
        when feature_not_supported then null;
    end
$$;
