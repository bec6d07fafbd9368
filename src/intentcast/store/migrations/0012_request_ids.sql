-- The request that caused an outbox event, so the workers' log lines about it carry the same
-- request id as the API's. Kept only as long as the row is: it identifies a request, never
-- the person behind it.
ALTER TABLE outbox ADD COLUMN request_id text;
