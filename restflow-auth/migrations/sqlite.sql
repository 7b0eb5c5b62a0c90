-- restflow-auth tables for SQLite. Every statement is idempotent:
-- `Database::migrate` runs them in one transaction.
CREATE TABLE IF NOT EXISTS restflow_user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username VARCHAR(150) NOT NULL UNIQUE,
    password VARCHAR(128) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    is_staff BOOLEAN NOT NULL DEFAULT 0,
    is_superuser BOOLEAN NOT NULL DEFAULT 0
);
-- API tokens: DRF's authtoken_token layout; `key` holds the SHA-256 of the key.
CREATE TABLE IF NOT EXISTS restflow_token (
    key VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
