-- Live strategy deployments and their evaluation log (backtest area, 0500-0599).
-- A deployment runs a backtest strategy with fixed params on one of the owner's accounts.
-- market-clock evaluates each active deployment once per session bar: the row in
-- strategy_evaluations (unique per deployment and bar) is claimed first, so a doubled or
-- retried cron call never evaluates (or orders) twice; the order idempotency key is derived
-- from the deployment and the bar date as a second guard.

CREATE TABLE strategy_deployments (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id   uuid NOT NULL,
    strategy     text NOT NULL,
    params       jsonb NOT NULL,
    symbol       text NOT NULL,
    capital_cap  bigint NOT NULL CHECK (capital_cap > 0),
    schedule     text NOT NULL DEFAULT 'open' CHECK (schedule IN ('open')),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX strategy_deployments_user_idx ON strategy_deployments (user_id, created_at DESC);
CREATE INDEX strategy_deployments_active_idx ON strategy_deployments (status) WHERE status = 'active';

ALTER TABLE strategy_deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE strategy_deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY strategy_deployments_owner ON strategy_deployments TO autostock_app
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());
CREATE POLICY strategy_deployments_service ON strategy_deployments TO autostock_service USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON strategy_deployments TO autostock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON strategy_deployments TO autostock_service;

CREATE TABLE strategy_evaluations (
    id            bigserial PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    deployment_id uuid NOT NULL REFERENCES strategy_deployments (id) ON DELETE CASCADE,
    bar_date      date NOT NULL,
    evaluated_at  timestamptz NOT NULL DEFAULT now(),
    target        bigint,             -- ppb of the deployment's capital
    orders        jsonb NOT NULL DEFAULT '[]',
    error         jsonb,
    UNIQUE (deployment_id, bar_date)
);
CREATE INDEX strategy_evaluations_user_idx ON strategy_evaluations (user_id, deployment_id, bar_date DESC);

ALTER TABLE strategy_evaluations ENABLE ROW LEVEL SECURITY;
ALTER TABLE strategy_evaluations FORCE ROW LEVEL SECURITY;
CREATE POLICY strategy_evaluations_owner ON strategy_evaluations TO autostock_app
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());
CREATE POLICY strategy_evaluations_service ON strategy_evaluations TO autostock_service USING (true) WITH CHECK (true);
GRANT SELECT ON strategy_evaluations TO autostock_app;
GRANT SELECT, INSERT, UPDATE ON strategy_evaluations TO autostock_service;
GRANT USAGE, SELECT ON SEQUENCE strategy_evaluations_id_seq TO autostock_service;
