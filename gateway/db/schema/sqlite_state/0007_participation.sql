-- depends: 0005_preservation
-- Participation (issue 16): the steps by which the person searched took part in selecting
-- electronic information (gateway.warrants.participation). The same table as PostgreSQL's 0013.
CREATE TABLE participation (
    warrant TEXT NOT NULL,
    seq INTEGER NOT NULL,  -- 0, 1, ... per warrant, in the order recorded
    step TEXT NOT NULL,  -- notice | attendance | objection | waiver
    document_sha256 TEXT NOT NULL,
    note TEXT,
    principal TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (warrant, seq),
    UNIQUE (warrant, step, document_sha256)
);
