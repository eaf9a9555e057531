-- depends: 0010_clock_transitions
-- Preservation (issue 15): the copy an approved preservation request froze, until it is purged
-- (gateway.warrants.preservation). The same tables as SQLite's 0005.
CREATE TABLE IF NOT EXISTS preservations (
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
CREATE TABLE IF NOT EXISTS preserved_records (
    warrant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (warrant, seq)
);
