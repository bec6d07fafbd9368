-- Passkeys (WebAuthn credentials) a buyer signs in with, instead of a pasted token. Only the
-- public half is kept: the private key never leaves the buyer's authenticator.
CREATE TABLE passkeys (
    id             text PRIMARY KEY,                 -- 'pk_…', what the account page names
    buyer_id       text NOT NULL REFERENCES buyers (id) ON DELETE CASCADE,
    credential_id  bytea NOT NULL UNIQUE,            -- the authenticator's id for the key
    public_key     bytea NOT NULL,                   -- COSE-encoded public key
    sign_count     bigint NOT NULL DEFAULT 0,        -- the authenticator's last counter
    transports     text[] NOT NULL DEFAULT '{}',     -- 'internal', 'hybrid', 'usb', …
    -- WebAuthn user.id: random bytes, the same on every passkey of one buyer (an
    -- authenticator keeps one passkey per site and user handle), never the buyer's id
    user_handle    bytea NOT NULL,
    label          text NOT NULL,                    -- chosen by the buyer ("phone")
    backed_up      boolean NOT NULL DEFAULT false,   -- synced by a passkey provider
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    CONSTRAINT passkeys_label_length CHECK (char_length(label) BETWEEN 1 AND 80)
);
CREATE INDEX passkeys_buyer_idx ON passkeys (buyer_id, created_at);
