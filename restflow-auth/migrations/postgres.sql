-- restflow-auth tables for PostgreSQL. Every statement is idempotent:
-- `Database::migrate` runs them in one transaction, one instance at a
-- time (the advisory lock: concurrent CREATE OR REPLACE FUNCTION fails).
SELECT pg_advisory_xact_lock(7245031868);
CREATE TABLE IF NOT EXISTS restflow_user (
    id BIGSERIAL PRIMARY KEY,
    username VARCHAR(150) NOT NULL UNIQUE,
    password VARCHAR(128) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE
);
-- API tokens: DRF's authtoken_token layout; `key` holds the SHA-256 of the key.
CREATE TABLE IF NOT EXISTS restflow_token (
    key VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    created TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS restflow_session (
    session_key VARCHAR(40) NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    auth_hash VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL,
    -- When the session began (logout everywhere); added to older tables by migrate().
    issued_at BIGINT
);
CREATE INDEX IF NOT EXISTS restflow_session_expires ON restflow_session (expires_at);
CREATE TABLE IF NOT EXISTS restflow_blacklisted_token (
    id BIGSERIAL PRIMARY KEY,
    jti VARCHAR(128) NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS restflow_blacklisted_token_expires ON restflow_blacklisted_token (expires_at);
-- Logout everywhere: per user (its id as JSON), the time before which its
-- credentials are void, kept until no such credential can live.
CREATE TABLE IF NOT EXISTS restflow_user_revocation (
    user_key TEXT NOT NULL PRIMARY KEY,
    valid_after BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS restflow_user_revocation_expires ON restflow_user_revocation (expires_at);
-- Invalidation feed (`restflow_auth::invalidation`): every write to the
-- blacklist, by whoever makes it, tells each listening process which jti
-- changed (a jti fits a notification: at most 128 characters).
CREATE OR REPLACE FUNCTION restflow_notify_blacklist() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('restflow_invalidation', 'b:' || NEW.jti);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS restflow_blacklisted_token_notify ON restflow_blacklisted_token;
CREATE TRIGGER restflow_blacklisted_token_notify AFTER INSERT OR UPDATE ON restflow_blacklisted_token FOR EACH ROW EXECUTE FUNCTION restflow_notify_blacklist();
