-- depends: 0005_email_key_ascii
-- Policy changes need two policy administrators: one proposes, another approves
-- (gateway.policy.changes). A proposal applies only on approval, only before it expires, and
-- only to the rules it was proposed against (base_sha256); its state moves once, from
-- 'pending' to 'approved'.
CREATE TABLE policy_proposals (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    policy TEXT NOT NULL CHECK (policy IN ('release', 'api')),
    rules TEXT NOT NULL,
    rules_sha256 TEXT NOT NULL,
    base_sha256 TEXT NOT NULL,
    reason TEXT,
    proposed_by TEXT NOT NULL,
    proposed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved')),
    approved_by TEXT,
    approved_at TEXT
);
CREATE INDEX policy_proposals_pending ON policy_proposals (state);
