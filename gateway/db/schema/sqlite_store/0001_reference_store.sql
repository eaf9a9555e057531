-- The reference messenger store on SQLite (DIR/store.db), read by gateway/stores/reference.
-- Times are INTEGER microseconds since the epoch (UTC), so every window is an indexed range.
-- No foreign keys: the import validates every reference before it writes.
-- IF NOT EXISTS: a store made before migrations existed already has these tables.
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, display_name TEXT, phone TEXT, email TEXT,
    email_key TEXT, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS accounts_phone ON accounts(phone);
CREATE INDEX IF NOT EXISTS accounts_email ON accounts(email_key);
CREATE TABLE IF NOT EXISTS logins (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, at INTEGER NOT NULL,
    ip TEXT NOT NULL, device TEXT);
CREATE INDEX IF NOT EXISTS logins_account_at ON logins(account, at);
CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT, direct INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (
    id INTEGER PRIMARY KEY, room TEXT NOT NULL, account TEXT NOT NULL,
    joined_at INTEGER NOT NULL, left_at INTEGER);
CREATE INDEX IF NOT EXISTS memberships_account ON memberships(account, joined_at);
CREATE INDEX IF NOT EXISTS memberships_room ON memberships(room, account);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, room TEXT NOT NULL, sender TEXT NOT NULL,
    sent_at INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_sender ON messages(sender, sent_at);
CREATE INDEX IF NOT EXISTS messages_room ON messages(room, sent_at);
CREATE INDEX IF NOT EXISTS messages_sent_at ON messages(sent_at);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, contact TEXT NOT NULL, added_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS contacts_owner ON contacts(owner, added_at);
