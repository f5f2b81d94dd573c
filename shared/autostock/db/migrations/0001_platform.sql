-- Platform roles, the tenant-id function and the users table every other table refers to.
--
-- Conventions for every later migration (checked by tests/integration/test_schema.py):
--   * a tenant table has `user_id uuid NOT NULL`, ENABLE + FORCE ROW LEVEL SECURITY, a policy
--     for autostock_app keyed on app_user_id() and one for autostock_service that sees all;
--   * privileges are granted table by table (no default grants): the app role gets only
--     what its use cases need (an append-only table gets SELECT, INSERT);
--   * money and prices are bigint KRW; times are timestamptz.

DO $$
BEGIN
    CREATE ROLE autostock_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

DO $$
BEGIN
    CREATE ROLE autostock_service NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

DO $$
BEGIN
    EXECUTE format('GRANT autostock_app, autostock_service TO %I', current_user);
EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation THEN NULL;
END $$;

GRANT USAGE ON SCHEMA public TO autostock_app, autostock_service;
ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO autostock_app, autostock_service;

-- The tenant of the current transaction; NULL (matching nothing) when none was set.
CREATE OR REPLACE FUNCTION app_user_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;

CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email             text NOT NULL,
    username          text NOT NULL,
    password_hash     text NOT NULL,
    is_active         boolean NOT NULL DEFAULT true,
    is_verified       boolean NOT NULL DEFAULT false,
    is_admin          boolean NOT NULL DEFAULT false,
    can_paper_trade   boolean NOT NULL DEFAULT true,
    can_real_trade    boolean NOT NULL DEFAULT false,
    daily_trade_limit integer NOT NULL DEFAULT 10 CHECK (daily_trade_limit >= 0),
    api_calls_limit   integer NOT NULL DEFAULT 1000 CHECK (api_calls_limit >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_self ON users TO autostock_app
    USING (id = app_user_id()) WITH CHECK (id = app_user_id());
CREATE POLICY users_service ON users TO autostock_service USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE ON users TO autostock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO autostock_service;
