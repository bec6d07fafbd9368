-- Operators moderating: resolving flagged relay messages (a removed message keeps a
-- tombstone), retiring categories, and the indexes the operators' lists page by.

ALTER TABLE messages
    ADD COLUMN resolved_at        timestamptz,
    ADD COLUMN resolved_by        text,            -- the operator ('opr_…')
    ADD COLUMN resolution         text
               CHECK (resolution IN ('dismiss', 'remove_message', 'suspend_vendor')),
    ADD COLUMN resolution_reason  text,
    ADD COLUMN removed_at         timestamptz;     -- blanked by an operator (a tombstone)
CREATE INDEX messages_open_flags_idx ON messages (flagged_at DESC, id DESC)
    WHERE flagged_at IS NOT NULL AND resolved_at IS NULL;
CREATE INDEX messages_resolved_flags_idx ON messages (flagged_at DESC, id DESC)
    WHERE resolved_at IS NOT NULL;

-- a retired category takes no new intents or subscriptions; what uses it keeps working
ALTER TABLE categories ADD COLUMN retired_at timestamptz;

-- the operators' intent list: newest first, optionally of one status
CREATE INDEX intents_published_idx ON intents (published_at DESC, id DESC);
CREATE INDEX intents_status_published_idx ON intents (status, published_at DESC, id DESC);
