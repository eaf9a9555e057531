-- depends: 0003_quotes_labels_topics
-- Idempotent Submit (AIP-155): the request id a submitter sent with a warrant, and the sha256 of
-- the spec it came with. One warrant per (submitter, request id); a retry with the same id and
-- spec returns it, the same id with another spec is refused. Rows from before have neither.
ALTER TABLE warrants ADD COLUMN request_id TEXT;
ALTER TABLE warrants ADD COLUMN request_sha256 TEXT;
CREATE UNIQUE INDEX warrants_request ON warrants (submitted_by, request_id)
    WHERE request_id IS NOT NULL;
