-- Identity: user settings and 2FA columns, broker accounts (secrets encrypted by the app with
-- MultiFernet; the database only ever sees ciphertext), refresh-token families, recovery codes,
-- personal API keys and the append-only audit log.

-- The app role may change only the columns a user owns; permissions (is_admin, can_real_trade,
-- limits, is_active) change through the service role (admin paths) alone.
REVOKE UPDATE ON users FROM autostock_app;

ALTER TABLE users
    ADD COLUMN display_name      text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
    ADD COLUMN language          text NOT NULL DEFAULT 'ko' CHECK (language IN ('ko', 'en')),
    ADD COLUMN timezone          text NOT NULL DEFAULT 'Asia/Seoul',
    ADD COLUMN preferences       jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Trading calls are refused from other addresses when the list is not empty.
    ADD COLUMN ip_allowlist      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN totp_secret       text,            -- Fernet ciphertext
    ADD COLUMN totp_enabled      boolean NOT NULL DEFAULT false,
    -- The last accepted TOTP time step: a code is good once (RFC 6238 §5.2).
    ADD COLUMN totp_last_step    bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_login_at     timestamptz,
    ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT now();

GRANT UPDATE (email, username, password_hash, display_name, language, timezone, preferences,
              ip_allowlist, totp_secret, totp_enabled, totp_last_step, last_login_at,
              password_changed_at, updated_at) ON users TO autostock_app;

CREATE TABLE broker_accounts (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    broker             text NOT NULL CHECK (broker IN ('kis', 'ls', 'kiwoom', 'paper')),
    label              text NOT NULL DEFAULT '' CHECK (length(label) <= 100),
    account_number     text NOT NULL,            -- Fernet ciphertext
    account_number_masked text NOT NULL,
    app_key            text NOT NULL DEFAULT '', -- Fernet ciphertext ('' for paper)
    app_secret         text NOT NULL DEFAULT '', -- Fernet ciphertext
    account_password   text NOT NULL DEFAULT '', -- Fernet ciphertext
    is_paper           boolean NOT NULL,
    is_active          boolean NOT NULL DEFAULT true,
    is_default         boolean NOT NULL DEFAULT false,
    max_position_size  bigint CHECK (max_position_size IS NULL OR max_position_size > 0),
    max_daily_trades   integer CHECK (max_daily_trades IS NULL OR max_daily_trades >= 0),
    allowed_products   text[] NOT NULL DEFAULT '{stock}',
    starting_cash      bigint NOT NULL DEFAULT 0 CHECK (starting_cash >= 0),
    deleted_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (broker <> 'paper' OR is_paper)
);
CREATE INDEX broker_accounts_user ON broker_accounts (user_id) WHERE deleted_at IS NULL;
-- At most one default account per user; the paper account is the default until another is picked.
CREATE UNIQUE INDEX broker_accounts_one_default ON broker_accounts (user_id)
    WHERE is_default AND deleted_at IS NULL;

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  text NOT NULL UNIQUE,            -- sha256 of the opaque token
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,                      -- rotated: presenting it again is reuse
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE recovery_codes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   text NOT NULL,                   -- sha256 of a 50-bit random code
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

CREATE TABLE api_keys (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix         text NOT NULL UNIQUE,          -- public lookup part of the key
    key_hash       text NOT NULL,                 -- sha256 of the secret part
    scopes         text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'trade']::text[] AND cardinality(scopes) > 0),
    signing_secret text,                          -- Fernet ciphertext; set → trading calls must be signed
    last_used_at   timestamptz,
    expires_at     timestamptz,
    revoked_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Append-only: nobody updates or deletes history, not even the table's owner (trigger).
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     uuid,                             -- whose record it is (NULL: unknown login name)
    actor_id    uuid,                             -- who did it (an admin, or the user)
    event       text NOT NULL,
    ip          text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_user_at ON audit_log (user_id, at DESC);
CREATE INDEX audit_log_at ON audit_log (at DESC);

CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Row-level security on every tenant table (conventions in 0001_platform.sql).
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['broker_accounts', 'refresh_tokens', 'recovery_codes', 'api_keys', 'audit_log']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO autostock_app'
                       ' USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO autostock_service USING (true) WITH CHECK (true)',
                       t || '_service', t);
    END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON broker_accounts TO autostock_app;   -- delete is soft
GRANT SELECT, INSERT, UPDATE, DELETE ON broker_accounts TO autostock_service;
GRANT SELECT, INSERT, UPDATE ON refresh_tokens TO autostock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON refresh_tokens TO autostock_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON recovery_codes TO autostock_app, autostock_service;
GRANT SELECT, INSERT, UPDATE ON api_keys TO autostock_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO autostock_service;
GRANT SELECT, INSERT ON audit_log TO autostock_app, autostock_service;
