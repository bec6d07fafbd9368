-- The category taxonomy, intents, and the transactional outbox of domain events.

CREATE TABLE categories (
    path        text PRIMARY KEY,
    name        text NOT NULL,
    parent      text REFERENCES categories (path) ON DELETE RESTRICT,
    gpc_id      integer UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX categories_parent_idx ON categories (parent);

CREATE TABLE intents (
    id                  text PRIMARY KEY,
    buyer_id            text NOT NULL REFERENCES buyers (id) ON DELETE CASCADE,
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'paused', 'withdrawn', 'fulfilled',
                                          'expired', 'removed')),
    category            text NOT NULL REFERENCES categories (path) ON UPDATE CASCADE,
    -- the buyer's own words, shown to the buyer only
    title               text NOT NULL,
    description         text,
    attributes          jsonb NOT NULL DEFAULT '{}',
    -- the scrubbed copy vendors see, and what was removed
    public_title        text NOT NULL,
    public_description  text,
    public_attributes   jsonb NOT NULL DEFAULT '{}',
    redactions          jsonb NOT NULL DEFAULT '[]',
    quantity            integer NOT NULL CHECK (quantity > 0),
    budget_currency     char(3),
    budget_min          numeric,
    budget_max          numeric,
    budget_visible      boolean NOT NULL DEFAULT true,
    -- coarse location only: the exact point is never stored
    h3_cell             text,
    country             char(2),
    fulfilment          text[] NOT NULL DEFAULT '{}',
    needed_by           date,
    expires_at          timestamptz NOT NULL,
    terms               jsonb NOT NULL,
    published_at        timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    version             integer NOT NULL DEFAULT 1,
    CHECK (budget_min IS NULL OR budget_max IS NULL OR budget_min <= budget_max)
);
CREATE INDEX intents_buyer_idx ON intents (buyer_id, published_at DESC, id DESC);
CREATE INDEX intents_live_expiry_idx ON intents (expires_at) WHERE status IN ('open', 'paused');
CREATE INDEX intents_open_category_idx ON intents (category) WHERE status = 'open';

-- Domain events written in the same transaction as the change they describe; the outbox
-- relay publishes them to Redis after commit and marks them published.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_type    text NOT NULL,
    aggregate_id  text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_aggregate_idx ON outbox (aggregate_id, id);
