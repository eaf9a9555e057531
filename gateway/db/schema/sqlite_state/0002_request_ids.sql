-- depends: 0001_warrants
-- Idempotent Submit (AIP-155); the same columns as PostgreSQL's 0004_request_ids.
ALTER TABLE warrants ADD COLUMN request_id TEXT;
ALTER TABLE warrants ADD COLUMN request_sha256 TEXT;
CREATE UNIQUE INDEX warrants_request ON warrants (submitted_by, request_id)
    WHERE request_id IS NOT NULL;
