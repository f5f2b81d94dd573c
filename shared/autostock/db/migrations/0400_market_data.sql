-- Market data: symbols, ticks, 1-minute and daily bars. Not tenant tables (no user_id): every
-- user reads the same market, so autostock_app gets SELECT only and the collector/importer
-- write through autostock_service.
--
-- Time-series tables become TimescaleDB hypertables (compression + retention) when the
-- extension can be created; otherwise they are natively range-partitioned (ticks by day,
-- bars_1m by month, bars_1d by year) with BRIN indexes on the time column, and
-- market_ensure_partitions() creates partitions ahead (called by the market-clock task and by
-- writers before they write). Columns, keys and therefore queries are the same on both.
--
-- Idempotent keys: a tick is (code, ts, cum_volume): KIS stamps trades to the second, and
-- the day's cumulative volume grows with every trade, so it tells apart two trades in one
-- second and recognises a trade seen twice. A bar is (code, ts) / (code, day).
-- Index prices (KOSPI) are stored in hundredths of a point: symbols.price_scale = 100.

CREATE TABLE symbols (
    code          text PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{1,12}$'),
    isin          text,
    name_ko       text NOT NULL,
    name_en       text,
    market        text NOT NULL,   -- KOSPI, KOSDAQ, KOSDAQ GLOBAL, KONEX, INDEX
    sector        text,
    dept          text,
    listed_shares bigint,
    listing_date  date,
    status        text NOT NULL DEFAULT 'listed' CHECK (status IN ('listed', 'delisted', 'suspended')),
    price_scale   integer NOT NULL DEFAULT 1 CHECK (price_scale IN (1, 100)),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX symbols_name_ko_idx ON symbols (lower(name_ko) text_pattern_ops);
CREATE INDEX symbols_name_en_idx ON symbols (lower(name_en) text_pattern_ops);

CREATE OR REPLACE FUNCTION market_has_timescale() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') $$;

DO $$
DECLARE
    ts_ok boolean := false;
    part  text := '';
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        ts_ok := true;
    EXCEPTION WHEN OTHERS THEN
        ts_ok := false;  -- not installed, or not preloaded: native partitions below
    END;
    IF NOT ts_ok THEN
        part := ' PARTITION BY RANGE ';
    END IF;

    EXECUTE 'CREATE TABLE ticks ('
        ' code text NOT NULL, ts timestamptz NOT NULL, price bigint NOT NULL CHECK (price > 0),'
        ' volume bigint NOT NULL CHECK (volume >= 0), cum_volume bigint NOT NULL,'
        ' PRIMARY KEY (code, ts, cum_volume))' || CASE WHEN ts_ok THEN '' ELSE part || '(ts)' END;
    EXECUTE 'CREATE TABLE bars_1m ('
        ' code text NOT NULL, ts timestamptz NOT NULL, open bigint NOT NULL, high bigint NOT NULL,'
        ' low bigint NOT NULL, close bigint NOT NULL, volume bigint NOT NULL, trades integer NOT NULL DEFAULT 0,'
        ' CHECK (low <= open AND low <= close AND high >= open AND high >= close),'
        ' PRIMARY KEY (code, ts))' || CASE WHEN ts_ok THEN '' ELSE part || '(ts)' END;
    EXECUTE 'CREATE TABLE bars_1d ('
        ' code text NOT NULL, day date NOT NULL, open bigint NOT NULL, high bigint NOT NULL,'
        ' low bigint NOT NULL, close bigint NOT NULL, volume bigint NOT NULL,'
        ' CHECK (low <= open AND low <= close AND high >= open AND high >= close),'
        ' PRIMARY KEY (code, day))' || CASE WHEN ts_ok THEN '' ELSE part || '(day)' END;

    IF ts_ok THEN
        PERFORM create_hypertable('ticks', 'ts', chunk_time_interval => interval '1 day');
        PERFORM create_hypertable('bars_1m', 'ts', chunk_time_interval => interval '7 days');
        PERFORM create_hypertable('bars_1d', 'day', chunk_time_interval => interval '1 year');
        EXECUTE 'ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = ''code'')';
        EXECUTE 'ALTER TABLE bars_1m SET (timescaledb.compress, timescaledb.compress_segmentby = ''code'')';
        PERFORM add_compression_policy('ticks', interval '2 days');
        PERFORM add_compression_policy('bars_1m', interval '30 days');
        PERFORM add_retention_policy('ticks', interval '90 days');
    ELSE
        EXECUTE 'CREATE INDEX ticks_ts_brin ON ticks USING brin (ts)';
        EXECUTE 'CREATE INDEX bars_1m_ts_brin ON bars_1m USING brin (ts)';
        EXECUTE 'CREATE INDEX bars_1d_day_brin ON bars_1d USING brin (day)';
    END IF;
END $$;

-- Partition grain per table on the native path.
CREATE OR REPLACE FUNCTION market_partition_grain(tbl text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE tbl WHEN 'ticks' THEN 'day' WHEN 'bars_1m' THEN 'month' WHEN 'bars_1d' THEN 'year' END $$;

-- Create the partitions of `tbl` covering [from_ts, to_ts]; returns how many were created.
-- SECURITY DEFINER: only the owner may attach partitions, and the service role calls this.
CREATE OR REPLACE FUNCTION market_ensure_partitions(tbl text, from_ts timestamptz, to_ts timestamptz)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    grain   text := market_partition_grain(tbl);
    step    interval;
    lo      timestamptz;
    hi      timestamptz;
    name    text;
    created integer := 0;
BEGIN
    IF grain IS NULL THEN
        RAISE EXCEPTION 'not a market data table: %', tbl;
    END IF;
    IF market_has_timescale() THEN
        RETURN 0;  -- hypertables make their own chunks
    END IF;
    step := ('1 ' || grain)::interval;
    -- Partition bounds are Seoul calendar days/months/years (the market's own calendar).
    lo := date_trunc(grain, from_ts AT TIME ZONE 'Asia/Seoul') AT TIME ZONE 'Asia/Seoul';
    WHILE lo <= to_ts LOOP
        hi := ((lo AT TIME ZONE 'Asia/Seoul') + step) AT TIME ZONE 'Asia/Seoul';
        name := tbl || '_p' || to_char(lo AT TIME ZONE 'Asia/Seoul',
                    CASE grain WHEN 'day' THEN 'YYYYMMDD' WHEN 'month' THEN 'YYYYMM' ELSE 'YYYY' END);
        IF to_regclass(name) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext(name));
            IF to_regclass(name) IS NULL THEN
                IF tbl = 'bars_1d' THEN
                    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', name, tbl,
                                   (lo AT TIME ZONE 'Asia/Seoul')::date, (hi AT TIME ZONE 'Asia/Seoul')::date);
                ELSE
                    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', name, tbl, lo, hi);
                END IF;
                created := created + 1;
            END IF;
        END IF;
        lo := hi;
    END LOOP;
    RETURN created;
END $$;

-- Drop whole partitions of `tbl` that end before `older_than` (retention on the native path).
CREATE OR REPLACE FUNCTION market_drop_partitions(tbl text, older_than timestamptz) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    r       record;
    dropped integer := 0;
    upper_b text;
BEGIN
    IF market_has_timescale() OR market_partition_grain(tbl) IS NULL THEN
        RETURN 0;
    END IF;
    FOR r IN SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = tbl::regclass LOOP
        upper_b := substring(r.bound from 'TO \(''([^'']+)''\)');
        IF upper_b IS NOT NULL AND upper_b::timestamptz <= older_than THEN
            EXECUTE format('DROP TABLE %I', r.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;

REVOKE ALL ON FUNCTION market_ensure_partitions(text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION market_drop_partitions(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION market_ensure_partitions(text, timestamptz, timestamptz) TO autostock_service;
GRANT EXECUTE ON FUNCTION market_drop_partitions(text, timestamptz) TO autostock_service;

GRANT SELECT ON symbols, ticks, bars_1m, bars_1d TO autostock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON symbols, ticks, bars_1m, bars_1d TO autostock_service;
