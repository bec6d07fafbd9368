-- Accounts, bearer tokens (hashes only) and idempotency records.

CREATE TABLE buyers (
    id            text PRIMARY KEY,
    display_name  text NOT NULL,
    -- persona fields: AES-GCM ciphertext (nonce || ciphertext+tag), never plain text
    name_sealed    bytea,
    email_sealed   bytea,
    phone_sealed   bytea,
    address_sealed bytea,
    country       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vendors (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    website       text,
    description   text,
    contact_email text,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'verified', 'suspended')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    verified_at   timestamptz
);
CREATE INDEX vendors_status_idx ON vendors (status, created_at);

CREATE TABLE operators (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tokens (
    id           text PRIMARY KEY,
    role         text NOT NULL CHECK (role IN ('buyer', 'vendor', 'operator')),
    subject_id   text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    label        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX tokens_subject_idx ON tokens (subject_id, created_at);

CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    fingerprint  bytea NOT NULL,
    status_code  integer,
    -- the stored response is sealed: it may hold a token shown once
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
