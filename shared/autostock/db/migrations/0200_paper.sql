-- The paper broker's own books: per broker account (paper), its cash, holdings, orders and fills.
--
-- `account_id` is the broker account's id (identity's broker_accounts, created in 01xx); no
-- foreign key yet so this migration does not depend on the order in which branches land.
-- The app role reaches these rows only through tenant() (RLS on user_id); the paper matcher
-- runs as autostock_service across tenants.

CREATE TABLE paper_accounts (
    account_id     uuid PRIMARY KEY,
    user_id        uuid NOT NULL,
    starting_cash  bigint NOT NULL CHECK (starting_cash >= 0),
    cash           bigint NOT NULL CHECK (cash >= 0),
    commission_ppb bigint NOT NULL CHECK (commission_ppb >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paper_accounts_user ON paper_accounts (user_id);

CREATE TABLE paper_holdings (
    account_id  uuid NOT NULL REFERENCES paper_accounts (account_id),
    user_id     uuid NOT NULL,
    symbol      text NOT NULL,
    quantity    bigint NOT NULL CHECK (quantity >= 0),
    -- Sum of price × quantity of the shares held (fees excluded, as brokers show 매입단가).
    book_value  bigint NOT NULL CHECK (book_value >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, symbol)
);

CREATE TABLE paper_orders (
    id                 bigserial PRIMARY KEY,
    account_id         uuid NOT NULL REFERENCES paper_accounts (account_id),
    user_id            uuid NOT NULL,
    client_order_id    text NOT NULL DEFAULT '',
    symbol             text NOT NULL,
    market             text NOT NULL,
    product            text NOT NULL DEFAULT 'stock',
    side               text NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type         text NOT NULL CHECK (order_type IN ('limit', 'market')),
    quantity           bigint NOT NULL CHECK (quantity > 0),
    price              bigint NOT NULL CHECK (price >= 0),
    filled_quantity    bigint NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0),
    filled_value       bigint NOT NULL DEFAULT 0 CHECK (filled_value >= 0),
    cancelled_quantity bigint NOT NULL DEFAULT 0 CHECK (cancelled_quantity >= 0),
    state              text NOT NULL,
    reason             text NOT NULL DEFAULT '',
    trade_date         date NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (filled_quantity + cancelled_quantity <= quantity)
);
CREATE UNIQUE INDEX paper_orders_client ON paper_orders (account_id, client_order_id)
    WHERE client_order_id <> '';
CREATE INDEX paper_orders_account_day ON paper_orders (account_id, trade_date);
-- The matcher's lookup: open limit orders of one symbol.
CREATE INDEX paper_orders_resting ON paper_orders (symbol, side, price)
    WHERE state IN ('accepted', 'partially_filled') AND order_type = 'limit';

CREATE TABLE paper_fills (
    -- Unique per fill: applying the same fill twice is a no-op (ON CONFLICT DO NOTHING).
    fill_id     text PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES paper_orders (id),
    account_id  uuid NOT NULL,
    user_id     uuid NOT NULL,
    symbol      text NOT NULL,
    side        text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity    bigint NOT NULL CHECK (quantity > 0),
    price       bigint NOT NULL CHECK (price > 0),
    commission  bigint NOT NULL CHECK (commission >= 0),
    tax         bigint NOT NULL CHECK (tax >= 0),
    filled_at   timestamptz NOT NULL
);
CREATE INDEX paper_fills_order ON paper_fills (order_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['paper_accounts', 'paper_holdings', 'paper_orders', 'paper_fills'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO autostock_app'
                       ' USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id())',
                       t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO autostock_service USING (true) WITH CHECK (true)',
                       t || '_service', t);
    END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON paper_accounts, paper_holdings, paper_orders TO autostock_app;
GRANT SELECT, INSERT ON paper_fills TO autostock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON paper_accounts, paper_holdings, paper_orders, paper_fills
    TO autostock_service;
GRANT USAGE, SELECT ON SEQUENCE paper_orders_id_seq TO autostock_app, autostock_service;
