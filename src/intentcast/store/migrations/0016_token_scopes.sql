-- Scoped, expiring buyer tokens (issue 13 item 3): a token the buyer hands to an agent of
-- its own may do only what its scopes name (domain/scopes.py, api/scopes.py), and stops
-- working at expires_at (refused like a revoked token, 401).
ALTER TABLE tokens
    ADD COLUMN scopes     text[],       -- NULL: a full token (everything its role may do)
    ADD COLUMN expires_at timestamptz;  -- NULL: until revoked
