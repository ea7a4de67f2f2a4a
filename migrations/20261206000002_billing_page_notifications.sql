-- The billing page's reads are cached per process too
-- (app/src/billing/page_cache.rs): invoices, the sandbox's card on file and
-- the usage snapshots announce their organisation on the entitlements
-- channel, as its subscription and items already do.
do
$$
    declare
        t text;
    begin
        foreach t in array array ['invoice', 'sandbox_customer', 'usage_snapshot']
            loop
                execute format('create trigger %1$s_entitlements_insert after insert on %1$I
                                referencing new table as new_rows
                                for each statement execute function entitlements_changed_new()', t);
                execute format('create trigger %1$s_entitlements_update after update on %1$I
                                referencing new table as new_rows
                                for each statement execute function entitlements_changed_new()', t);
                execute format('create trigger %1$s_entitlements_delete after delete on %1$I
                                referencing old table as old_rows
                                for each statement execute function entitlements_changed_old()', t);
            end loop;
    end
$$;
