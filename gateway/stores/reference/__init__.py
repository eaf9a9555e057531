"""The reference messenger store (accounts, logins, rooms, memberships, messages, contacts), on
SQLite or PostgreSQL.

interchange  the JSONL import format, parsed and validated row by row
seed         a realistic generated data set (heavy-tailed groups and activity)
queries      the release queries, written once, rendered per dialect
records      rows of those queries -> StoreRecord, shared by both backends
reads        what both backends answer alike (counts, resolution, the stream, the directory)
sqlite       the embedded store (DIR/store.db)
postgres     the same store in PostgreSQL
"""
