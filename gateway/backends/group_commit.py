"""Group commit for warrant actions: concurrent state changes share one audit write and one commit.

Every action must be in the audit log, durably, before its caller hears it succeeded; done one by
one, that is two fsyncs (audit entry, database commit) per action under one writer lock, and
concurrent callers queue behind each other's disk waits. Here the first caller to arrive leads:
it runs every waiting action in one transaction (each in its own savepoint, so one refused or
failed action does not undo the others), writes all their audit entries with one fsync, commits,
and wakes them. Write-ahead holds for each action: entry durable, then state committed, then
the reply. If the audit write or the commit fails, every action of that group fails with it.

The leader/follower mechanism is one; how a group commits depends on the backend: SQLite (entries
fsynced to the log file, then the state committed; gateway.backends.embedded.warrants) or
PostgreSQL (state and entries in one transaction under the shared log's lock;
gateway.backends.postgres.warrants).
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from gateway.audit.events import Event

# What an action does inside the shared transaction: its SQL on the connection it is given
# (sqlite3 or psycopg), and the audit entry to write. A refusal that must be audited returns its
# entry and the error its caller gets; any other error raised rolls back just that action,
# unaudited.
ConnectionAction = Callable[[Any], tuple[Event, BaseException | None]]


@dataclasses.dataclass(eq=False)
class Pending:
    action: ConnectionAction
    done: bool = False
    error: BaseException | None = None
    # The caller's context (its request id): the leader runs the action, and builds its audit
    # entry, as if the caller did.
    context: contextvars.Context = dataclasses.field(default_factory=contextvars.copy_context)

    def run(self, connection: Any) -> tuple[Event, BaseException | None]:
        return self.context.run(self.action, connection)


class GroupCommit:
    """Leader/follower: the first caller to arrive commits everyone waiting (see _commit)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: list[Pending] = []
        self._leading = False

    def run(self, action: ConnectionAction) -> None:
        """Run `action` in the next group; return once it is durable, or raise its error."""
        mine = Pending(action)
        with self._cond:
            self._waiting.append(mine)
            while not mine.done:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                group, self._waiting = self._waiting, []
                self._cond.release()
                try:
                    self._commit(group)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error

    def _commit(self, group: list[Pending]) -> None:
        raise NotImplementedError

    @staticmethod
    def fail(group: list[Pending], failure: BaseException) -> None:
        """The group's commit failed: a refusal stands whether or not it was logged; anything
        else did not happen."""
        for pending in group:
            if pending.error is None:
                pending.error = failure
