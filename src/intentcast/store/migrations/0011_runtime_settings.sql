-- Operator-controlled runtime settings: the values an operator set (over each process's
-- INTENTCAST_* environment), and one version counter every process polls to know when to
-- re-read them. A reset deletes the row; the audit log keeps the history.

CREATE TABLE runtime_settings (
    name        text PRIMARY KEY,
    value       jsonb NOT NULL,
    changed_by  text NOT NULL,          -- 'opr_…' or 'cli:<os user>'
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- One row. Every change bumps it in the change's transaction; its row lock serialises
-- concurrent changes, so a check across settings (default <= max intent days) holds.
CREATE TABLE runtime_settings_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL
);
INSERT INTO runtime_settings_version (singleton, version) VALUES (true, 0);
