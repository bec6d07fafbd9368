-- k-anonymous casting (domain/kanon.py): what vendors see of an intent's category and
-- location when fewer than k buyers share the requested pair. Decided once, at publish;
-- NULL disclosed_category: shown as requested.
ALTER TABLE intents ADD COLUMN disclosed_category text;
ALTER TABLE intents ADD COLUMN disclosed_cell text;
ALTER TABLE intents ADD COLUMN disclosed_country char(2);
