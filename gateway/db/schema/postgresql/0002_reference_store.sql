-- depends: 0001_gateway_state
-- The reference messenger store on PostgreSQL: the tables and indexes of the SQLite store
-- (gateway/stores/reference.py SCHEMA), read by gateway/stores/reference_pg.py.
-- Times are BIGINT microseconds since the epoch (UTC), as in SQLite, so both stores run the same
-- range predicates. Ids compare and sort bytewise (COLLATE "C"), as SQLite's BINARY does, so
-- "the lowest id" and ORDER BY mean the same in both whatever the database's locale.
-- No foreign keys, as in SQLite: the import validates every reference before it writes.

CREATE TABLE accounts (
    id TEXT COLLATE "C" PRIMARY KEY,
    display_name TEXT,
    phone TEXT COLLATE "C",
    email TEXT,
    email_key TEXT COLLATE "C",
    created_at BIGINT NOT NULL
);
CREATE INDEX accounts_phone ON accounts (phone);
CREATE INDEX accounts_email ON accounts (email_key);

CREATE TABLE logins (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    ip TEXT NOT NULL,
    device TEXT
);
CREATE INDEX logins_account_at ON logins (account, at);

CREATE TABLE rooms (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT,
    direct BOOLEAN NOT NULL
);

CREATE TABLE memberships (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room TEXT COLLATE "C" NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    joined_at BIGINT NOT NULL,
    left_at BIGINT
);
CREATE INDEX memberships_account ON memberships (account, joined_at);
CREATE INDEX memberships_room ON memberships (room, account);

CREATE TABLE messages (
    id TEXT COLLATE "C" PRIMARY KEY,
    room TEXT COLLATE "C" NOT NULL,
    sender TEXT COLLATE "C" NOT NULL,
    sent_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX messages_sender ON messages (sender, sent_at);
CREATE INDEX messages_room ON messages (room, sent_at);
CREATE INDEX messages_sent_at ON messages (sent_at);

CREATE TABLE contacts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner TEXT COLLATE "C" NOT NULL,
    contact TEXT COLLATE "C" NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE INDEX contacts_owner ON contacts (owner, added_at);
