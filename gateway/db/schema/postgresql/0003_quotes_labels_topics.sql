-- depends: 0002_reference_store
-- Quotes and forwards, attachments, contact labels and room topics (interchange format v2):
-- free text and references the release's text minimizer must see. All optional (NULL).
-- And the release policy's ninth column, `text` (how a released record's free text leaves):
-- rules written before it get `pseudonymize` on release rows and `-` on withhold rows, what
-- the gateway did with their text from then on.
ALTER TABLE messages ADD COLUMN reply_to TEXT COLLATE "C";
ALTER TABLE messages ADD COLUMN quote TEXT;
ALTER TABLE messages ADD COLUMN forwarded_from TEXT COLLATE "C";
ALTER TABLE messages ADD COLUMN attachment TEXT;
ALTER TABLE contacts ADD COLUMN label TEXT;
ALTER TABLE rooms ADD COLUMN topic TEXT;
ALTER TABLE casbin_rule ADD COLUMN v8 TEXT;
UPDATE casbin_rule SET v8 = CASE WHEN v6 = 'withhold' THEN '-' ELSE 'pseudonymize' END
    WHERE policy = 'release' AND ptype = 'p' AND v8 IS NULL;
