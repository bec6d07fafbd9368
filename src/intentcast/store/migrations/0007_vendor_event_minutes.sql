-- Vendor-facing event times are rounded down to the minute, like an intent's published_at
-- (L2): an exact append time would tell a vendor the publish time to the millisecond and
-- link a buyer's back-to-back intents, edits and replies. The log is ordered by seq.
ALTER TABLE vendor_events ALTER COLUMN created_at SET DEFAULT date_trunc('minute', now());
UPDATE vendor_events SET created_at = date_trunc('minute', created_at);
