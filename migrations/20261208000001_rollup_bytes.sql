-- An organisation's rollup is written and read only by Gatehouse, whole, and
-- never queried inside: storing it as jsonb made Postgres parse and rebuild
-- every one written (an import writes 100,000 at once). It is kept as the same
-- JSON, as bytes (`convert_from(rollup, 'UTF8')::jsonb` still reads it).
alter table mrr_series_customer
    alter column rollup type bytea using convert_to(rollup::text, 'UTF8');

do
$$
    begin
        alter table mrr_series_customer alter column rollup set compression lz4;
    exception
        when feature_not_supported then null;
    end
$$;
