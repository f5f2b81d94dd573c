-- Alerts, notifications (outbox + in-app inbox), delivery channels and inbound order hooks.

CREATE TABLE alerts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    symbol          text NOT NULL CHECK (symbol ~ '^[0-9A-Z]{6}$'),
    kind            text NOT NULL CHECK (kind IN ('price_above', 'price_below', 'pct_change',
                                                  'volume_spike', 'indicator')),
    params          jsonb NOT NULL DEFAULT '{}',
    repeat          boolean NOT NULL DEFAULT false,
    cooldown_seconds integer NOT NULL DEFAULT 900 CHECK (cooldown_seconds BETWEEN 0 AND 604800),
    active_from     time,            -- Asia/Seoul wall-clock window; NULL = all day
    active_to       time,
    channels        text[] NOT NULL DEFAULT '{in_app}',
    note            text NOT NULL DEFAULT '',
    is_active       boolean NOT NULL DEFAULT true,
    -- Evaluation state: which side of the condition the last bar was on, and the last firing.
    last_state      boolean,
    last_fired_at   timestamptz,
    last_bar_at     timestamptz,     -- newest bar evaluated; older (late) bars are ignored
    fired_count     integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_symbol_active ON alerts (symbol) WHERE is_active;
CREATE INDEX alerts_user ON alerts (user_id, created_at DESC);

-- One row per firing; (alert, bar) unique so a redelivered bar never fires twice.
CREATE TABLE alert_firings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    uuid NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    bar_time    timestamptz NOT NULL,
    price       bigint NOT NULL,
    observed    jsonb NOT NULL DEFAULT '{}',
    fired_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (alert_id, bar_time)
);

-- Where a user's notifications go besides the in-app inbox.
CREATE TABLE notification_settings (
    user_id             uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    language            text NOT NULL DEFAULT 'ko' CHECK (language IN ('ko', 'en')),
    telegram_chat_id    bigint,
    telegram_linked_at  timestamptz,
    telegram_link_code_hash text,
    telegram_link_expires_at timestamptz,
    notify_fills        boolean NOT NULL DEFAULT true,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbound_webhooks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    url             text NOT NULL CHECK (url ~ '^https?://'),
    secret_enc      text NOT NULL,
    is_active       boolean NOT NULL DEFAULT true,
    consecutive_failures integer NOT NULL DEFAULT 0,
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The outbox and the in-app inbox in one: written in the same transaction as its cause.
CREATE TABLE notifications (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind        text NOT NULL,                  -- alert, fill, rejected, system
    dedup_key   text NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, dedup_key)
);
CREATE INDEX notifications_user_created ON notifications (user_id, created_at DESC);

-- One row per (notification, channel, target): the dedup key of an external send.
CREATE TABLE deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id uuid NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('telegram', 'webhook')),
    target          text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (notification_id, channel, target)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');

CREATE TABLE delivery_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status_code   integer,
    error         text,
    attempted_at  timestamptz NOT NULL DEFAULT now()
);

-- Inbound order hooks (TradingView-style signals).
CREATE TABLE order_hooks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account_id      uuid,
    name            text NOT NULL DEFAULT '',
    secret_enc      text NOT NULL,
    max_quantity    integer NOT NULL DEFAULT 100 CHECK (max_quantity > 0),
    max_notional    bigint NOT NULL DEFAULT 10000000 CHECK (max_notional > 0),
    allowed_symbols text[],
    is_active       boolean NOT NULL DEFAULT true,
    last_used_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_hook_calls (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hook_id     uuid NOT NULL REFERENCES order_hooks(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    payload_id  text NOT NULL,
    outcome     text NOT NULL,
    order_id    uuid,
    detail      text NOT NULL DEFAULT '',
    called_at   timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['alerts', 'alert_firings', 'notification_settings', 'outbound_webhooks',
                             'notifications', 'deliveries', 'delivery_attempts', 'order_hooks',
                             'order_hook_calls']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO autostock_app USING (user_id = app_user_id())'
                       ' WITH CHECK (user_id = app_user_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO autostock_service USING (true) WITH CHECK (true)',
                       t || '_service', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO autostock_service', t);
    END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON alerts, notification_settings, outbound_webhooks, order_hooks
    TO autostock_app;
GRANT SELECT, INSERT, UPDATE ON notifications TO autostock_app;  -- outbox written with its cause; mark read
GRANT INSERT ON deliveries TO autostock_app;
GRANT SELECT ON alert_firings, deliveries, delivery_attempts, order_hook_calls TO autostock_app;
