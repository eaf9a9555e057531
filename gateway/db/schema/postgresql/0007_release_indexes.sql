-- depends: 0006_policy_proposals
-- Indexes the release reads through (gateway/stores/reference/queries.py):
-- messages_room_sender covers the peer messages of a target's rooms, so a part of a release
-- the policy withholds whole (other members' messages) is counted from the index alone, and
-- replaces messages_room (its prefix). messages_quoting holds only the messages that quote or
-- forward someone, so the release's directory finds whom a target quoted without reading all
-- of the target's messages.
CREATE INDEX IF NOT EXISTS messages_room_sender ON messages (room, sent_at, sender);
DROP INDEX IF EXISTS messages_room;
CREATE INDEX IF NOT EXISTS messages_quoting ON messages (sender, sent_at)
    WHERE reply_to IS NOT NULL OR forwarded_from IS NOT NULL;
