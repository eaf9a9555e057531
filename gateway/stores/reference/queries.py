"""The reference store's queries, written once and rendered for SQLite and for PostgreSQL.

Every release query starts from the targets (accounts, their memberships) and reaches other rows
only through indexes; tests EXPLAIN each rendered query on both databases. The two dialects
differ in five places only, and those are all a `Dialect` holds: how a parameter is written, how
the targets set is tested (a JSON array in SQLite, a text[] in PostgreSQL), the join that fixes
SQLite's join order, the scalar least/greatest, and how the other members of a room are
aggregated. Parameters: targets, start, end (µs since the epoch), body (bool: whether message
content was asked for).
"""

from __future__ import annotations

import dataclasses

TABLES = {
    "account": "accounts",
    "login": "logins",
    "room": "rooms",
    "membership": "memberships",
    "message": "messages",
    "contact": "contacts",
}


@dataclasses.dataclass(frozen=True)
class Dialect:
    param: str  # a named parameter, e.g. ":{}" or "%({})s"
    positional: str  # a positional parameter: "?" or "%s"
    in_targets: str  # "{} <test for membership of the targets parameter>"
    not_in_targets: str
    join: str  # the inner join keyword
    least: str
    greatest: str
    members: str  # the other members of room t overlapping the window, as one value

    def p(self, name: str) -> str:
        return self.param.format(name)


SQLITE = Dialect(
    param=":{}",
    positional="?",
    in_targets="{} IN (SELECT value FROM json_each(:targets))",
    not_in_targets="{} NOT IN (SELECT value FROM json_each(:targets))",
    join="CROSS JOIN",  # SQLite keeps the written order: start from the targets' rows
    least="MIN",
    greatest="MAX",
    members="(SELECT json_group_array(account) FROM (SELECT DISTINCT o.account FROM memberships o"
    " WHERE {where} ORDER BY o.account))",
)
POSTGRES = Dialect(
    param="%({})s",
    positional="%s",
    in_targets="{} = ANY(%(targets)s)",
    not_in_targets="{} <> ALL(%(targets)s)",
    join="JOIN",
    least="LEAST",
    greatest="GREATEST",
    members="(SELECT COALESCE(array_agg(DISTINCT o.account), '{{}}') FROM memberships o"
    " WHERE {where})",
)


def render(d: Dialect) -> dict[str, str]:
    """Every query a release (and target resolution, and the demo) runs, by name."""
    start, end, body, q = d.p("start"), d.p("end"), d.p("body"), d.positional

    subscriber_from = f"FROM accounts a WHERE {d.in_targets.format('a.id')}"
    logins_from = (
        f"FROM logins l WHERE {d.in_targets.format('l.account')}"
        f" AND l.at >= {start} AND l.at < {end}"
    )
    # A target's memberships overlapping the window; `members` = the other accounts whose
    # membership overlaps the target's, both clipped to the window (no one from outside it).
    memberships_from = (
        f"FROM memberships t {d.join} rooms r ON r.id = t.room"
        f" WHERE {d.in_targets.format('t.account')} AND t.joined_at < {end}"
        f" AND (t.left_at IS NULL OR t.left_at > {start})"
    )
    members = d.members.format(
        where=(
            "o.room = t.room AND o.account <> t.account"
            f" AND o.joined_at < {d.least}(COALESCE(t.left_at, {end}), {end})"
            f" AND (o.left_at IS NULL OR o.left_at > {d.greatest}(t.joined_at, {start}))"
        )
    )
    # The sender of the message a reply quotes (by primary key; NULL for most messages, which
    # then skip the look-up: it would cost more than reading the row).
    quoted = (
        "CASE WHEN m.reply_to IS NOT NULL THEN"
        " (SELECT q.sender FROM messages q WHERE q.id = m.reply_to) END"
    )
    # Whether a message's room is direct, and a direct room's other member, are not columns:
    # a release reads them once per room (`room_direct`, `room_members`), not once per row.
    message_columns = (
        f"m.id, m.room, m.sender, m.sent_at, CASE WHEN {body} THEN m.body END,"
        f" CASE WHEN {body} THEN m.quote END, CASE WHEN {body} THEN m.attachment END,"
        f" m.forwarded_from, {quoted}"
    )
    # Messages a target sent (relation self). No join: every message's room exists (the
    # import checks it).
    messages_self_from = (
        f"FROM messages m WHERE {d.in_targets.format('m.sender')}"
        f" AND m.sent_at >= {start} AND m.sent_at < {end}"
    )
    # Messages others sent in a room while a target was a member, inside the window. A message
    # in several targets' memberships is produced once: by the membership with the lowest id.
    # Split by the room's kind: a direct room's are direct_peer records, a group's group_peer,
    # so that the release policy decides each part whole (a part it withholds is only counted:
    # from the index messages_room_sender alone).
    messages_peer_from = (
        f"FROM memberships t {d.join} rooms r ON r.id = t.room"
        f" {d.join} messages m ON m.room = t.room"
        f" WHERE {d.in_targets.format('t.account')} AND t.joined_at < {end}"
        f" AND (t.left_at IS NULL OR t.left_at > {start})"
        " AND {direct}"
        f" AND m.sent_at >= {d.greatest}(t.joined_at, {start})"
        f" AND m.sent_at < {d.least}(COALESCE(t.left_at, {end}), {end})"
        f" AND {d.not_in_targets.format('m.sender')}"
        " AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.room = t.room AND o.id < t.id"
        f"   AND {d.in_targets.format('o.account')} AND o.joined_at <= m.sent_at"
        "   AND (o.left_at IS NULL OR o.left_at > m.sent_at))"
    )
    peer_direct_from = messages_peer_from.replace("{direct}", "r.direct")
    peer_group_from = messages_peer_from.replace("{direct}", "NOT r.direct")
    # Everyone a release could mention: who shared a room with a target (ever: text may name a
    # former member), a target's contacts, the authors of what a target quoted or forwarded in
    # the window, and the targets themselves (their identifiers stay in clear).
    directory = (
        "SELECT a.id, a.display_name, a.phone, a.email FROM accounts a WHERE a.id IN ("
        f"SELECT x.id FROM accounts x WHERE {d.in_targets.format('x.id')}"
        " UNION SELECT o.account FROM memberships t"
        f" {d.join} memberships o ON o.room = t.room WHERE {d.in_targets.format('t.account')}"
        f" UNION SELECT c.contact FROM contacts c WHERE {d.in_targets.format('c.owner')}"
        " UNION SELECT COALESCE(m.forwarded_from, q.sender) FROM messages m"
        " LEFT JOIN messages q ON q.id = m.reply_to"
        f" WHERE {d.in_targets.format('m.sender')}"
        f" AND m.sent_at >= {start} AND m.sent_at < {end}"
        " AND (m.reply_to IS NOT NULL OR m.forwarded_from IS NOT NULL)) ORDER BY a.id"
    )
    directory_labels = (
        "SELECT c.contact, c.label FROM contacts c"
        f" WHERE {d.in_targets.format('c.owner')} AND c.label IS NOT NULL"
    )
    contacts_from = (
        f"FROM contacts c WHERE {d.in_targets.format('c.owner')}"
        f" AND c.added_at >= {start} AND c.added_at < {end}"
    )
    queries = {
        "subscriber": "SELECT a.id, a.display_name, a.phone, a.email, a.created_at"
        f" {subscriber_from} ORDER BY a.id",
        "logins": f"SELECT l.id, l.account, l.at, l.ip, l.device {logins_from}",
        "memberships": "SELECT t.id, t.room, t.account, t.joined_at, t.left_at, r.name, r.direct,"
        f" {members} AS members, r.topic {memberships_from}",
        "messages_self": f"SELECT {message_columns} {messages_self_from}",
        "messages_peer_direct": f"SELECT {message_columns} {peer_direct_from}",
        "messages_peer_group": f"SELECT {message_columns} {peer_group_from}",
        "room_direct": f"SELECT direct FROM rooms WHERE id = {q}",
        "room_members": "SELECT DISTINCT account FROM memberships"
        f" WHERE room = {q} ORDER BY account",
        "contacts": f"SELECT c.id, c.owner, c.contact, c.added_at, c.label {contacts_from}",
        "directory": directory,
        "directory_labels": directory_labels,
        "resolve_phone": f"SELECT id FROM accounts WHERE phone = {q} ORDER BY id",
        "resolve_email": f"SELECT id FROM accounts WHERE email_key = {q} ORDER BY id",
        "resolve_account": f"SELECT id FROM accounts WHERE id = {q}",
    }
    queries.update(
        {
            f"count_{name}": f"SELECT COUNT(*) {frm}"
            for name, frm in [
                ("subscriber", subscriber_from),
                ("logins", logins_from),
                ("memberships", memberships_from),
                ("messages_self", messages_self_from),
                ("messages_peer_direct", peer_direct_from),
                ("messages_peer_group", peer_group_from),
                ("contacts", contacts_from),
            ]
        }
    )
    return queries


# Not release queries: the whole store's size, and the demo's telling target and time span.
COUNTS = " UNION ALL ".join(
    f"SELECT '{kind}', COUNT(*) FROM {table}" for kind, table in TABLES.items()
)
SUGGEST_TARGET = (
    "SELECT a.id FROM accounts a"
    " ORDER BY"
    "  (EXISTS (SELECT 1 FROM memberships g JOIN rooms r ON r.id = g.room"
    "           WHERE g.account = a.id AND NOT r.direct)"
    "   AND EXISTS (SELECT 1 FROM memberships d JOIN rooms r ON r.id = d.room"
    "           WHERE d.account = a.id AND r.direct)) DESC,"
    "  (SELECT COUNT(*) FROM messages m WHERE m.sender = a.id) DESC, a.id"
    " LIMIT 1"
)
TIME_SPAN = "SELECT MIN(sent_at), MAX(sent_at) FROM messages"
# The whole store's people (the guarantee-1 scan reads them; no release does).
EVERYONE = "SELECT id, display_name, phone, email FROM accounts"
EVERYONE_LABELS = "SELECT contact, label FROM contacts WHERE label IS NOT NULL"
SQLITE_QUERIES = render(SQLITE)
POSTGRES_QUERIES = render(POSTGRES)


def known(d: Dialect) -> dict[str, str]:
    """What an import asks the store about rows it refers to (interchange.Known), by name."""
    q = d.positional
    return {
        "account": f"SELECT 1 FROM accounts WHERE id = {q}",
        "room_direct": f"SELECT direct FROM rooms WHERE id = {q}",
        "message": f"SELECT 1 FROM messages WHERE id = {q}",
        "memberships": f"SELECT account, joined_at, left_at FROM memberships WHERE room = {q}",
    }


SQLITE_KNOWN = known(SQLITE)
POSTGRES_KNOWN = known(POSTGRES)
