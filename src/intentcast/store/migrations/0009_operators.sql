-- Operators at work: why a vendor has its status, and an append-only audit log of every
-- operator action (who, when, what, target, reason).

ALTER TABLE vendors
    ADD COLUMN status_reason     text,
    ADD COLUMN status_changed_at timestamptz;

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,          -- 'opr_…' (an operator's token) or 'cli:<os user>'
    action   text NOT NULL,          -- e.g. 'vendor.verify', 'intent.remove'
    target   text NOT NULL,          -- the id acted on ('ven_…', 'int_…', 'settings')
    reason   text,
    details  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_target_idx ON audit_log (target, id);

-- append-only: no row is ever changed or removed, whoever asks
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
