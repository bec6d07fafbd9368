-- Webhook endpoint management: secret rotation with a grace period, the failure streak that
-- auto-disables an endpoint, and test deliveries (a synthetic event that is no part of the
-- vendor's feed).

-- The secret replaced by the last rotation, sealed like secret_sealed (same context), and
-- when it stops signing. The scheduler clears both once expires_at has passed, so an old
-- secret never outlives its grace period in the database.
ALTER TABLE webhook_endpoints
    ADD COLUMN previous_secret_sealed     bytea,
    ADD COLUMN previous_secret_expires_at timestamptz,
    ADD CONSTRAINT webhook_endpoints_previous_secret_pair
        CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL));
CREATE INDEX webhook_endpoints_previous_secret_idx ON webhook_endpoints (previous_secret_expires_at)
    WHERE previous_secret_sealed IS NOT NULL;

-- The current failure streak: the first failed attempt since the last success, and the
-- latest failed attempt. A success clears both; an endpoint whose streak spans
-- webhook_disable_after_days is disabled by the scheduler.
ALTER TABLE webhook_endpoints
    ADD COLUMN failing_since   timestamptz,
    ADD COLUMN last_failure_at timestamptz;
CREATE INDEX webhook_endpoints_failing_idx ON webhook_endpoints (failing_since)
    WHERE failing_since IS NOT NULL AND status = 'active' AND deleted_at IS NULL;

-- A test delivery carries its own synthetic event (webhook.test, seq 0) instead of one of
-- the vendor's feed.
ALTER TABLE webhook_deliveries ADD COLUMN test_event jsonb;
