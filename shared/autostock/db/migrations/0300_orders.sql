-- Orders, fills, positions, cash and the guards around them (orders area, 0300-0399).
--
-- Money, prices and quantities are bigint (KRW, shares). `account_id` names a broker account
-- (identity's broker_accounts); `account_books` holds one row per account we keep books for,
-- and it is the row place-order and fill application lock, so that a risk check and the
-- write it guards happen under one lock (concurrent orders cannot both pass).

-- One row per account: the cash balance (always the sum of its cash_ledger rows) and the
-- account's own risk settings that identity does not keep.
CREATE TABLE account_books (
    account_id     uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id),
    cash           bigint NOT NULL DEFAULT 0 CHECK (cash >= 0),
    max_daily_loss bigint CHECK (max_daily_loss IS NULL OR max_daily_loss >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_books_user ON account_books (user_id);

CREATE TABLE orders (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL REFERENCES users (id),
    account_id         uuid NOT NULL REFERENCES account_books (account_id),
    client_order_id    text NOT NULL CHECK (length(client_order_id) BETWEEN 1 AND 255),
    symbol             text NOT NULL,
    market             text NOT NULL DEFAULT 'KOSPI',
    side               text NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type         text NOT NULL CHECK (order_type IN ('limit', 'market')),
    time_in_force      text NOT NULL DEFAULT 'day' CHECK (time_in_force IN ('day')),
    quantity           bigint NOT NULL CHECK (quantity > 0),
    price              bigint NOT NULL DEFAULT 0 CHECK (price >= 0),
    reserve_price      bigint NOT NULL DEFAULT 0 CHECK (reserve_price >= 0),
    state              text NOT NULL DEFAULT 'pending_new' CHECK (state IN (
                           'pending_new', 'accepted', 'partially_filled', 'filled', 'pending_cancel',
                           'cancelled', 'rejected', 'expired', 'unknown')),
    filled_quantity    bigint NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0),
    cancelled_quantity bigint NOT NULL DEFAULT 0 CHECK (cancelled_quantity >= 0),
    filled_value       bigint NOT NULL DEFAULT 0 CHECK (filled_value >= 0),
    average_fill_price bigint NOT NULL DEFAULT 0 CHECK (average_fill_price >= 0),
    fees               bigint NOT NULL DEFAULT 0 CHECK (fees >= 0),
    reserved_cash      bigint NOT NULL DEFAULT 0 CHECK (reserved_cash >= 0),
    reserved_quantity  bigint NOT NULL DEFAULT 0 CHECK (reserved_quantity >= 0),
    broker             text NOT NULL DEFAULT 'paper',
    broker_order_id    text,
    reject_code        text,
    reject_reason      text,
    trading_day        date NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    accepted_at        timestamptz,
    closed_at          timestamptz,
    CHECK (filled_quantity + cancelled_quantity <= quantity),
    UNIQUE (account_id, client_order_id)
);
CREATE UNIQUE INDEX orders_broker_order ON orders (account_id, broker_order_id)
    WHERE broker_order_id IS NOT NULL;
CREATE INDEX orders_user_created ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_open ON orders (account_id, symbol)
    WHERE state IN ('pending_new', 'accepted', 'partially_filled', 'pending_cancel', 'unknown');
CREATE INDEX orders_day ON orders (account_id, trading_day);
CREATE INDEX orders_user_day ON orders (user_id, trading_day);

-- Append-only history of every state change (the app role may only read and add).
CREATE TABLE order_events (
    id         bigserial PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    order_id   uuid NOT NULL REFERENCES orders (id),
    event      text NOT NULL,
    from_state text,
    to_state   text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order ON order_events (order_id, id);

-- A fill is applied once: (account, broker fill id) is unique, and applying it writes the
-- position and the cash ledger in the same transaction.
CREATE TABLE fills (
    id             bigserial PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id),
    account_id     uuid NOT NULL REFERENCES account_books (account_id),
    order_id       uuid NOT NULL REFERENCES orders (id),
    broker_fill_id text NOT NULL,
    symbol         text NOT NULL,
    side           text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity       bigint NOT NULL CHECK (quantity > 0),
    price          bigint NOT NULL CHECK (price > 0),
    commission     bigint NOT NULL DEFAULT 0 CHECK (commission >= 0),
    tax            bigint NOT NULL DEFAULT 0 CHECK (tax >= 0),
    realized_pnl   bigint NOT NULL DEFAULT 0,
    filled_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, broker_fill_id)
);
CREATE INDEX fills_user_time ON fills (user_id, filled_at DESC, id DESC);
CREATE INDEX fills_account_time ON fills (account_id, filled_at);

-- cost_basis is what the shares held cost, buy commission included, so that realized P&L
-- is net of every fee; average_cost = cost_basis / quantity (truncated) for display.
CREATE TABLE positions (
    user_id      uuid NOT NULL REFERENCES users (id),
    account_id   uuid NOT NULL REFERENCES account_books (account_id),
    symbol       text NOT NULL,
    market       text NOT NULL DEFAULT 'KOSPI',
    quantity     bigint NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    cost_basis   bigint NOT NULL DEFAULT 0 CHECK (cost_basis >= 0),
    realized_pnl bigint NOT NULL DEFAULT 0,
    opened_at    timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, symbol)
);
CREATE INDEX positions_user ON positions (user_id);

-- Every cash movement; the sum per account equals account_books.cash.
CREATE TABLE cash_ledger (
    id            bigserial PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    account_id    uuid NOT NULL REFERENCES account_books (account_id),
    kind          text NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'buy', 'sell',
                                                'commission', 'tax', 'adjustment')),
    amount        bigint NOT NULL,
    balance_after bigint NOT NULL,
    order_id      uuid REFERENCES orders (id),
    fill_id       bigint REFERENCES fills (id),
    memo          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cash_ledger_account ON cash_ledger (account_id, id);

-- Stripe-style idempotency: the first response to (user, key) is kept and replayed.
-- response IS NULL while the first request is still in flight.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL REFERENCES users (id),
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash text NOT NULL,
    order_id     uuid REFERENCES orders (id),
    status       integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Kill switches: one global row (user_id NULL) and per-user rows. Platform table: users
-- read their own row and the global one; only the service role writes.
CREATE TABLE kill_switches (
    id         bigserial PRIMARY KEY,
    scope      text NOT NULL CHECK (scope IN ('global', 'user')),
    target_user_id uuid REFERENCES users (id),
    active     boolean NOT NULL DEFAULT true,
    reason     text NOT NULL DEFAULT '',
    set_by     uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    lifted_at  timestamptz,
    CHECK ((scope = 'global') = (target_user_id IS NULL))
);
CREATE UNIQUE INDEX kill_switches_one_active ON kill_switches (coalesce(target_user_id::text, 'global'))
    WHERE active;

-- Daily equity per account after the close (portfolio performance).
CREATE TABLE equity_snapshots (
    user_id        uuid NOT NULL REFERENCES users (id),
    account_id     uuid NOT NULL REFERENCES account_books (account_id),
    day            date NOT NULL,
    cash           bigint NOT NULL,
    holdings_value bigint NOT NULL,
    equity         bigint NOT NULL,
    realized_pnl   bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, day)
);
CREATE INDEX equity_snapshots_user_day ON equity_snapshots (user_id, day);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['account_books', 'orders', 'order_events', 'fills', 'positions',
                             'cash_ledger', 'idempotency_keys', 'equity_snapshots'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO autostock_app'
                       ' USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id())',
                       t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO autostock_service USING (true) WITH CHECK (true)',
                       t || '_service', t);
    END LOOP;
END $$;

-- kill_switches has no user_id column (a global row belongs to no tenant), so it is not a
-- tenant table; RLS still keeps a user to their own row and the global one.
ALTER TABLE kill_switches ENABLE ROW LEVEL SECURITY;
ALTER TABLE kill_switches FORCE ROW LEVEL SECURITY;
CREATE POLICY kill_switches_tenant ON kill_switches TO autostock_app
    USING (target_user_id IS NULL OR target_user_id = app_user_id());
CREATE POLICY kill_switches_service ON kill_switches TO autostock_service USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE ON account_books, orders, positions TO autostock_app;
GRANT SELECT, INSERT ON order_events, fills, cash_ledger TO autostock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO autostock_app;
GRANT SELECT ON kill_switches, equity_snapshots TO autostock_app;
GRANT SELECT, INSERT, UPDATE ON account_books, orders, positions, kill_switches,
    equity_snapshots TO autostock_service;
GRANT SELECT, INSERT ON order_events, fills, cash_ledger TO autostock_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO autostock_service;
GRANT USAGE, SELECT ON SEQUENCE order_events_id_seq, fills_id_seq, cash_ledger_id_seq,
    kill_switches_id_seq TO autostock_app, autostock_service;
