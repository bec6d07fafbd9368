-- Vendor names (L7): unique (case-insensitively) among verified vendors, so a buyer can
-- trust the name beside an offer; every rename is kept for the operators' audit.
CREATE TABLE vendor_name_changes (
    id          bigserial PRIMARY KEY,
    vendor_id   text NOT NULL REFERENCES vendors (id),
    old_name    text NOT NULL,
    new_name    text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vendor_name_changes_vendor_idx ON vendor_name_changes (vendor_id, changed_at);

-- verified vendors that already share a name keep it apart with a suffix (recorded above)
WITH ranked AS (
    SELECT id, name,
           row_number() OVER (PARTITION BY lower(btrim(name))
                              ORDER BY verified_at NULLS LAST, created_at, id) AS n
      FROM vendors WHERE status = 'verified'
), renamed AS (
    UPDATE vendors v SET name = v.name || ' (' || r.n || ')', updated_at = now()
      FROM ranked r
     WHERE v.id = r.id AND r.n > 1
 RETURNING v.id, r.name AS old_name, v.name AS new_name
)
INSERT INTO vendor_name_changes (vendor_id, old_name, new_name)
SELECT id, old_name, new_name FROM renamed;

CREATE UNIQUE INDEX vendors_verified_name_key ON vendors (lower(btrim(name)))
    WHERE status = 'verified';
