-- depends: 0004_clock_transitions
-- Preservation (issue 15): the copy an approved preservation request froze, until it is purged
-- (gateway.warrants.preservation). The same tables as PostgreSQL's 0011.
CREATE TABLE preservations (
    warrant TEXT PRIMARY KEY,
    frozen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    records INTEGER NOT NULL,
    content_sha256 TEXT NOT NULL,
    directory TEXT,  -- NULL once purged
    extended_by TEXT,
    extended_at TEXT,
    purged_at TEXT
);
CREATE TABLE preserved_records (
    warrant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (warrant, seq)
);
