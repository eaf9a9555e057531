-- The embedded gateway's warrants (DIR/state.db); the same columns as PostgreSQL's
-- 0001_gateway_state. The audit log and checkpoints are files (DIR/audit.log, DIR/checkpoint).
-- IF NOT EXISTS: a data directory made before migrations existed already has the table.

CREATE TABLE IF NOT EXISTS warrants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    target_accounts TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    decided_by TEXT, decided_at TEXT,
    revoked_by TEXT, revoked_at TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS warrants_state ON warrants(state);
