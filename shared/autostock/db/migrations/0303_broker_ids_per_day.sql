-- Korean brokers number orders per trading day: KIS's ODNO, LS's OrdNo and Kiwoom's ord_no
-- start again each morning, and the adapters name a fill by its order's number and the
-- quantity filled so far ("0000117057:10"). Unique forever per account, the second day's
-- order 1 could not take its number (the accept failed while the broker worked it), and a
-- fill named like an earlier day's was skipped as "applied before": a lost fill.
-- An order number is unique within its account and trading day (orders are day orders; a
-- modify's new number is the same day's), and a fill within its order.
DROP INDEX orders_broker_order;
CREATE UNIQUE INDEX orders_broker_order ON orders (account_id, trading_day, broker_order_id)
    WHERE broker_order_id IS NOT NULL;
ALTER TABLE fills DROP CONSTRAINT fills_account_id_broker_fill_id_key;
ALTER TABLE fills ADD CONSTRAINT fills_order_fill UNIQUE (order_id, broker_fill_id);
