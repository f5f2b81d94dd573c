-- Backtest runs, optimisations and walk-forwards: one row per request, owned by its user.
-- A run answered synchronously is stored already 'done'; a large one is 'queued' for an rq
-- worker, which moves it to 'running' (with progress 0..100) and then 'done'/'failed'. Cancel
-- sets 'cancelled'; the worker checks the status between steps and stops. Money in `summary`
-- and `result` is integer KRW inside JSON (never floats for cash, prices or fees).

CREATE TABLE backtest_results (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('run', 'optimize', 'walk_forward')),
    status      text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress    smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    strategy    text NOT NULL,
    symbols     text[] NOT NULL,
    request     jsonb NOT NULL,
    summary     jsonb,
    result      jsonb,
    error       jsonb,
    job_ids     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX backtest_results_user_created_idx ON backtest_results (user_id, created_at DESC);

ALTER TABLE backtest_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE backtest_results FORCE ROW LEVEL SECURITY;
CREATE POLICY backtest_results_owner ON backtest_results TO autostock_app
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());
CREATE POLICY backtest_results_service ON backtest_results TO autostock_service USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON backtest_results TO autostock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON backtest_results TO autostock_service;
