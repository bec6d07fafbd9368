-- The deal: offers (versioned), relay threads and messages, reveals with consent receipts,
-- ratings, and the buyer's own event log.

CREATE TABLE offers (
    id              text PRIMARY KEY,
    intent_id       text NOT NULL REFERENCES intents (id) ON DELETE CASCADE,
    vendor_id       text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'live'
                    CHECK (status IN ('live', 'withdrawn', 'expired', 'accepted', 'declined')),
    version         integer NOT NULL DEFAULT 1,
    price_amount    numeric NOT NULL,
    price_currency  char(3) NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    title           text NOT NULL,
    details         text,
    valid_until     timestamptz,
    delivery_days   integer,
    terms           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz
);
CREATE UNIQUE INDEX offers_one_live_idx ON offers (intent_id, vendor_id) WHERE status = 'live';
CREATE INDEX offers_intent_idx ON offers (intent_id, created_at);
CREATE INDEX offers_vendor_idx ON offers (vendor_id, created_at DESC, id);
CREATE INDEX offers_live_expiry_idx ON offers (valid_until) WHERE status = 'live';

CREATE TABLE offer_versions (
    offer_id    text NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    snapshot    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (offer_id, version)
);

CREATE TABLE threads (
    id          text PRIMARY KEY,
    intent_id   text NOT NULL REFERENCES intents (id) ON DELETE CASCADE,
    vendor_id   text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    buyer_id    text NOT NULL REFERENCES buyers (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (intent_id, vendor_id)
);
CREATE INDEX threads_buyer_idx ON threads (buyer_id, updated_at DESC, id);
CREATE INDEX threads_vendor_idx ON threads (vendor_id, updated_at DESC, id);

CREATE TABLE messages (
    id           text PRIMARY KEY,
    thread_id    text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    sender       text NOT NULL CHECK (sender IN ('buyer', 'vendor')),
    body         text NOT NULL,      -- as written (the buyer sees their own words)
    public_body  text NOT NULL,      -- what the other side sees (scrubbed before reveal)
    redactions   jsonb NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT now(),
    flagged_at   timestamptz,
    flagged_by   text,
    flag_reason  text
);
CREATE INDEX messages_thread_idx ON messages (thread_id, created_at, id);
CREATE INDEX messages_flagged_idx ON messages (flagged_at) WHERE flagged_at IS NOT NULL;

CREATE TABLE reveals (
    id                 text PRIMARY KEY,
    intent_id          text NOT NULL REFERENCES intents (id) ON DELETE CASCADE,
    buyer_id           text NOT NULL REFERENCES buyers (id) ON DELETE CASCADE,
    vendor_id          text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    fields             text[] NOT NULL,
    purpose            text NOT NULL,
    terms              jsonb NOT NULL,
    status             text NOT NULL DEFAULT 'granted' CHECK (status IN ('granted', 'revoked')),
    terms_accepted_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz
);
CREATE INDEX reveals_buyer_idx ON reveals (buyer_id, created_at DESC);
CREATE INDEX reveals_vendor_idx ON reveals (vendor_id, intent_id);

CREATE TABLE receipts (
    id          text PRIMARY KEY,
    buyer_id    text NOT NULL REFERENCES buyers (id) ON DELETE CASCADE,
    reveal_id   text NOT NULL REFERENCES reveals (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('reveal', 'terms_accepted', 'revoke')),
    receipt     jsonb NOT NULL,
    signature   text NOT NULL,
    issued_at   timestamptz NOT NULL
);
CREATE INDEX receipts_buyer_idx ON receipts (buyer_id, issued_at DESC, id);

CREATE TABLE ratings (
    offer_id    text PRIMARY KEY REFERENCES offers (id) ON DELETE CASCADE,
    vendor_id   text NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    buyer_id    text NOT NULL REFERENCES buyers (id) ON DELETE CASCADE,
    stars       smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ratings_vendor_idx ON ratings (vendor_id);

CREATE TABLE buyer_sequences (
    buyer_id  text PRIMARY KEY REFERENCES buyers (id) ON DELETE CASCADE,
    last_seq  bigint NOT NULL DEFAULT 0
);
CREATE TABLE buyer_events (
    buyer_id    text NOT NULL REFERENCES buyers (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    id          text NOT NULL UNIQUE,
    type        text NOT NULL,
    data        jsonb NOT NULL,
    dedupe_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (buyer_id, seq),
    UNIQUE (buyer_id, dedupe_key)
);
