-- The gateway's own state on PostgreSQL: warrants, the audit log, signed checkpoints, policy rules.

CREATE TABLE warrants (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
CREATE INDEX warrants_state ON warrants (state);

-- One row per audit entry: its leaf index and exact bytes (the Merkle leaf). Replicas append
-- under one advisory lock (gateway/pg_audit.py), so indexes are dense; the primary key makes a
-- duplicate index impossible even if that protocol were broken.
CREATE TABLE audit_log (
    idx BIGINT PRIMARY KEY CHECK (idx >= 0),
    line BYTEA NOT NULL
);

-- Append-only: the gateway never changes or deletes an entry, and neither may anyone else
-- through this schema (an owner can drop the trigger; `wsg audit verify` still catches that).
CREATE FUNCTION wsg_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION wsg_audit_append_only();

-- Every checkpoint any replica signed, by tree size (all with the deployment's one key).
CREATE TABLE checkpoints (
    size BIGINT PRIMARY KEY CHECK (size >= 0),
    note TEXT NOT NULL,
    signed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Casbin rules, one per row in Casbin's casbin_rule layout (ptype, v0..v7), per policy
-- ('release' or 'api'), ordered by position (the release policy's first match wins).
CREATE TABLE casbin_rule (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy TEXT NOT NULL CHECK (policy IN ('release', 'api')),
    position INTEGER NOT NULL,
    ptype TEXT NOT NULL,
    v0 TEXT, v1 TEXT, v2 TEXT, v3 TEXT, v4 TEXT, v5 TEXT, v6 TEXT, v7 TEXT,
    UNIQUE (policy, position)
);

-- Any change to the rules, by a replica or by hand, bumps the version and notifies every
-- replica listening on channel wsg_policy (delivered when the changing transaction commits).
CREATE TABLE policy_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO policy_version (id, version) VALUES (1, 0);

CREATE FUNCTION wsg_policy_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE policy_version SET version = version + 1 WHERE id = 1;
    PERFORM pg_notify('wsg_policy', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER casbin_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON casbin_rule
    FOR EACH STATEMENT EXECUTE FUNCTION wsg_policy_changed();

-- Fingerprints of the secrets every replica must share (the pseudonym key, the audit signing
-- key): a replica started with a different key is refused instead of giving third parties other
-- pseudonyms or signing checkpoints auditors cannot verify.
CREATE TABLE deployment_keys (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
