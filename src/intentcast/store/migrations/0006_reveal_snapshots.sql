-- A reveal discloses the values as they were when the buyer granted it (M4): the revealed
-- persona values, sealed for this reveal, travel with the row. Rows granted before this
-- migration have none and are served from the buyer's current persona.
ALTER TABLE reveals ADD COLUMN sealed_values bytea;
