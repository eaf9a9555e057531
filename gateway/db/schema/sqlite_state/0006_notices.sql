-- depends: 0005_preservation
-- User notices (issue 16): the outbox a delivery service reads, one notice per warrant and
-- target account (the key: two replicas never queue twice), and the court orders that defer
-- a warrant's notices (gateway.warrants.notices). The same tables as PostgreSQL's 0012.
CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    warrant TEXT NOT NULL,
    account TEXT NOT NULL,
    due_at TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    body TEXT NOT NULL,  -- what the notice tells, canonical JSON
    sent_by TEXT,
    sent_at TEXT,
    UNIQUE (warrant, account)
);
CREATE TABLE notice_deferrals (
    warrant TEXT PRIMARY KEY,
    until_at TEXT NOT NULL,
    order_sha256 TEXT NOT NULL,
    deferred_by TEXT NOT NULL,
    deferred_at TEXT NOT NULL
);
