-- Vendor subscriptions, matches, the per-vendor event log, buyer blocks and webhooks.

CREATE SEQUENCE subscription_change_seq;

CREATE TABLE subscriptions (
    id              text PRIMARY KEY,
    vendor_id       text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    categories      text[] NOT NULL,
    area            jsonb,            -- as the vendor gave it
    cells           text[] NOT NULL DEFAULT '{}',  -- the area as H3 cells (compacted)
    countries       text[] NOT NULL DEFAULT '{}',
    budget_min      numeric,
    budget_currency char(3),
    attributes      jsonb NOT NULL DEFAULT '{}',
    keywords        text[] NOT NULL DEFAULT '{}',
    fulfilment      text[] NOT NULL DEFAULT '{}',
    max_per_hour    integer,
    active          boolean NOT NULL DEFAULT true,
    deleted_at      timestamptz,
    -- bumped on every change; matchers follow it to keep their index current
    change_version  bigint NOT NULL DEFAULT nextval('subscription_change_seq'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_vendor_idx ON subscriptions (vendor_id, created_at, id);
CREATE UNIQUE INDEX subscriptions_change_idx ON subscriptions (change_version);

CREATE TABLE matches (
    intent_id        text NOT NULL REFERENCES intents (id) ON DELETE CASCADE,
    subscription_id  text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    vendor_id        text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    matched_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (intent_id, subscription_id)
);
CREATE INDEX matches_vendor_idx ON matches (vendor_id, intent_id);
CREATE INDEX matches_subscription_time_idx ON matches (subscription_id, matched_at);

-- The per-vendor event log: every channel (feed, SSE, webhooks) reads it; seq is gap-free.
CREATE TABLE vendor_sequences (
    vendor_id  text PRIMARY KEY REFERENCES vendors (id) ON DELETE CASCADE,
    last_seq   bigint NOT NULL DEFAULT 0
);
CREATE TABLE vendor_events (
    vendor_id   text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    id          text NOT NULL UNIQUE,
    type        text NOT NULL,
    data        jsonb NOT NULL,
    dedupe_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vendor_id, seq),
    UNIQUE (vendor_id, dedupe_key)
);

CREATE TABLE buyer_blocks (
    buyer_id    text NOT NULL REFERENCES buyers (id) ON DELETE CASCADE,
    vendor_id   text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (buyer_id, vendor_id)
);

CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,
    vendor_id       text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    url             text NOT NULL,
    secret_sealed   bytea NOT NULL,
    events          text[],           -- NULL: every event type
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX webhook_endpoints_vendor_idx ON webhook_endpoints (vendor_id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    vendor_id        text NOT NULL,
    event_seq        bigint NOT NULL,
    event_id         text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id);

CREATE TABLE webhook_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    outcome       text NOT NULL,
    status_code   integer,
    error         text,
    duration_ms   double precision
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- The matcher acknowledges each outbox event once handled; the relay republishes events
-- that were published but never acknowledged (Redis lost them, or a worker died).
ALTER TABLE outbox ADD COLUMN processed_at timestamptz;
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unprocessed_idx ON outbox (id) WHERE processed_at IS NULL;
