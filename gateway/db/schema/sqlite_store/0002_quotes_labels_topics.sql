-- depends: 0001_reference_store
-- Quotes and forwards, attachments, contact labels and room topics (interchange format v2):
-- free text and references the release's text minimizer must see. All optional (NULL).
ALTER TABLE messages ADD COLUMN reply_to TEXT;
ALTER TABLE messages ADD COLUMN quote TEXT;
ALTER TABLE messages ADD COLUMN forwarded_from TEXT;
ALTER TABLE messages ADD COLUMN attachment TEXT;
ALTER TABLE contacts ADD COLUMN label TEXT;
ALTER TABLE rooms ADD COLUMN topic TEXT;
