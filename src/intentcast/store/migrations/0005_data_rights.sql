-- Data rights and retention: a buyer's erasure and the scheduled purge of closed intents.

-- When the retention purge (or the buyer's erasure) removed the intent's free text and
-- attributes; the row itself stays (offers, receipts and vendor logs refer to it).
ALTER TABLE intents ADD COLUMN purged_at timestamptz;
-- the purge's work list: closed intents that still hold text, oldest closure first
CREATE INDEX intents_purge_due_idx ON intents (closed_at)
    WHERE purged_at IS NULL AND closed_at IS NOT NULL;

ALTER TABLE messages ADD COLUMN purged_at timestamptz;

-- A buyer who erased their account: persona, texts and tokens are gone, the row stays as
-- the owner of the receipts (which remain verifiable).
ALTER TABLE buyers ADD COLUMN erased_at timestamptz;

-- Vendor and buyer logs keep copies of an intent's public text and of relay messages; the
-- purge finds them by intent.
CREATE INDEX vendor_events_intent_idx ON vendor_events ((data -> 'intent' ->> 'id'))
    WHERE type IN ('intent.matched', 'intent.updated', 'intent.closed');
CREATE INDEX vendor_events_message_intent_idx ON vendor_events ((data ->> 'intent_id'))
    WHERE type = 'message.created';
CREATE INDEX buyer_events_message_intent_idx ON buyer_events ((data ->> 'intent_id'))
    WHERE type = 'message.created';
