-- The request that caused a webhook delivery, so every attempt's log lines (retries found by
-- the delivery worker's poll too, not only the first attempt off the stream) carry its id.
ALTER TABLE webhook_deliveries ADD COLUMN request_id text;
