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
-- Invalidation feed (`restflow_auth::invalidation`): every write to a
-- watched table, by whoever makes it, tells each listening process which
-- key changed, as `<kind>:<key>`. Arguments: the kind, the key column, and
-- `plain` or `sha256` (the key is told as the hex SHA-256 of the column:
-- DRF's API keys). The old and the new key of an update are both told.
CREATE OR REPLACE FUNCTION restflow_invalidate() RETURNS trigger AS $$
DECLARE
    old_key text;
    new_key text;
BEGIN
    -- TRUNCATE (Django's flush) names no row: everything of the kind goes.
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('restflow_invalidation', TG_ARGV[0]);
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_key := to_jsonb(OLD) ->> TG_ARGV[1];
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_key := to_jsonb(NEW) ->> TG_ARGV[1];
    END IF;
    IF TG_ARGV[2] = 'sha256' THEN
        old_key := encode(sha256(convert_to(old_key, 'UTF8')), 'hex');
        new_key := encode(sha256(convert_to(new_key, 'UTF8')), 'hex');
    END IF;
    -- A key too long for a notification (8000 bytes) is told as the kind
    -- alone: every process then drops everything it holds.
    IF old_key IS NOT NULL THEN
        PERFORM pg_notify('restflow_invalidation',
            CASE WHEN length(old_key) > 7000 THEN TG_ARGV[0] ELSE TG_ARGV[0] || ':' || old_key END);
    END IF;
    IF new_key IS NOT NULL AND new_key IS DISTINCT FROM old_key THEN
        PERFORM pg_notify('restflow_invalidation',
            CASE WHEN length(new_key) > 7000 THEN TG_ARGV[0] ELSE TG_ARGV[0] || ':' || new_key END);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- Puts the trigger on a table if it exists and lacks it (no lock is taken
-- on a table whose trigger is already right). The trigger fires always,
-- replication sessions included. A table of another owner, or one whose
-- lock is not granted within two seconds (a long transaction of Django's
-- on it), is left without: its rows are then not cached.
CREATE OR REPLACE FUNCTION restflow_watch(tbl text, kind text, col text, mode text, ops text) RETURNS void AS $$
BEGIN
    IF to_regclass(tbl) IS NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(tbl) AND tgname = 'restflow_invalidate'
               AND tgenabled = 'A'
               AND encode(tgargs, 'escape') = kind || '\000' || col || '\000' || mode || '\000')
       AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(tbl)
               AND tgname = 'restflow_invalidate_truncate' AND tgenabled = 'A'
               AND encode(tgargs, 'escape') = kind || '\000' || col || '\000' || mode || '\000') THEN
        RETURN;
    END IF;
    PERFORM set_config('lock_timeout', '2s', true);
    EXECUTE format('DROP TRIGGER IF EXISTS restflow_invalidate ON %s', to_regclass(tbl));
    EXECUTE format('CREATE TRIGGER restflow_invalidate AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION restflow_invalidate(%L, %L, %L)',
                   ops, to_regclass(tbl), kind, col, mode);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER restflow_invalidate', to_regclass(tbl));
    EXECUTE format('DROP TRIGGER IF EXISTS restflow_invalidate_truncate ON %s', to_regclass(tbl));
    EXECUTE format('CREATE TRIGGER restflow_invalidate_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION restflow_invalidate(%L, %L, %L)',
                   to_regclass(tbl), kind, col, mode);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER restflow_invalidate_truncate', to_regclass(tbl));
EXCEPTION WHEN insufficient_privilege OR lock_not_available THEN
    RAISE WARNING 'restflow-auth: no invalidation trigger on % (%): its rows are read on every request', tbl, SQLERRM;
END
$$ LANGUAGE plpgsql;
-- The first feed's trigger, replaced by restflow_invalidate.
DROP TRIGGER IF EXISTS restflow_blacklisted_token_notify ON restflow_blacklisted_token;
DROP FUNCTION IF EXISTS restflow_notify_blacklist();
-- Blacklist rows are told when written (a deletion is the cleanup of
-- expired entries, which no cache needs to hear).
SELECT restflow_watch('restflow_blacklisted_token', 'b', 'jti', 'plain', 'INSERT OR UPDATE');
SELECT restflow_watch('restflow_token', 't', 'key', 'plain', 'UPDATE OR DELETE');
SELECT restflow_watch('restflow_session', 's', 'session_key', 'plain', 'UPDATE OR DELETE');
SELECT restflow_watch('restflow_user', 'u', 'id', 'plain', 'UPDATE OR DELETE');
SELECT restflow_watch('restflow_user_revocation', 'r', 'user_key', 'plain', 'INSERT OR UPDATE OR DELETE');
-- Django's tables, where they exist already (run migrate after Django's
-- own migrations): an admin deactivating a user, Django's logout, a token
-- deleted in the admin are heard by every process.
SELECT restflow_watch('auth_user', 'u', 'id', 'plain', 'UPDATE OR DELETE');
SELECT restflow_watch('django_session', 's', 'session_key', 'plain', 'UPDATE OR DELETE');
SELECT restflow_watch('authtoken_token', 't', 'key', 'sha256', 'UPDATE OR DELETE');
