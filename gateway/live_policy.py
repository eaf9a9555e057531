"""The policies in force, swapped whole when the rules change on any replica.

`Policies` holds one compiled (release, API) pair; readers take `current()` once and use that
object for a whole decision batch, so a release batch never mixes two policy versions (the
batch's audit entry names the version it used). On PostgreSQL, `PgPolicyWatcher` (a Casbin
Watcher) listens on channel wsg_policy, and also polls the version counter every few seconds in
case a notification was missed while its connection was down; on a change it loads the new rules,
validates and compiles them, and only then swaps. Rules that do not validate are refused: the
replica keeps deciding with the last good policy and logs and audits why.
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading
from typing import Any

import psycopg
import structlog
from casbin.persist.watcher import Watcher

from gateway import policy_table
from gateway.api_policy import ApiPolicy
from gateway.db import Database, one_line
from gateway.errors import FailedPrecondition, GatewayError, InvalidArgument, Unavailable
from gateway.policy import ReleasePolicy

log = structlog.get_logger("wsg.policy")


@dataclasses.dataclass(frozen=True)
class PolicySet:
    release: ReleasePolicy
    api: ApiPolicy
    table_version: int | None = None  # policy_version counter it was read at (PostgreSQL)


class Policies:
    """The current PolicySet; replaced atomically (one reference assignment)."""

    def __init__(self, initial: PolicySet, database: Database | None = None,
                 policy_dir: pathlib.Path | None = None) -> None:
        self._current = initial
        self._database = database
        self._policy_dir = policy_dir
        self._reload_lock = threading.Lock()

    @classmethod
    def from_files(cls, policy_dir: pathlib.Path) -> Policies:
        return cls(PolicySet(ReleasePolicy.load(policy_dir), ApiPolicy.load(policy_dir)))

    @classmethod
    def from_database(cls, database: Database, policy_dir: pathlib.Path) -> Policies:
        """Rules from the table (seeded from policy_dir's files on a new database), models from
        policy_dir; FailedPrecondition if they do not load (fail closed at start)."""
        policy_table.seed_from_files(database, policy_dir)
        return cls(_load(database, policy_dir), database, policy_dir)

    def current(self) -> PolicySet:
        return self._current

    def reload(self) -> bool:
        """Re-read the table if its version moved; True if a new policy is now in force."""
        if self._database is None or self._policy_dir is None:
            return False
        with self._reload_lock:
            if policy_table.version(self._database) == self._current.table_version:
                return False
            new = _load(self._database, self._policy_dir)
            old = self._current
            self._current = new
        log.info("policy reloaded", release_version=new.release.version[:12],
                 previous=old.release.version[:12], table_version=new.table_version)
        return True


def _load(database: Database, policy_dir: pathlib.Path) -> PolicySet:
    snap = policy_table.snapshot(database)
    release = ReleasePolicy.load(policy_dir, snap.texts["release"], "policy table (release)")
    api = ApiPolicy.load(policy_dir, snap.texts["api"])
    return PolicySet(release, api, snap.version)


def check_rules(name: str, text: str, policy_dir: pathlib.Path, source: str) -> str:
    """The canonical text of `text` if it would load as policy `name`; else InvalidArgument."""
    policy_table.require_name(name)
    canonical = policy_table.rules_text(policy_table.parse_rules(text, source))
    try:
        if name == "release":
            ReleasePolicy.load(policy_dir, canonical, source)
        else:
            ApiPolicy.load(policy_dir, canonical)
    except FailedPrecondition as exc:
        raise InvalidArgument(f"rules: {exc.message}") from None
    return canonical


class PgPolicyWatcher(Watcher):
    """LISTEN wsg_policy on a dedicated connection, poll as a fallback, call back on change."""

    def __init__(self, url: str, poll_seconds: float, on_refused: Any = None) -> None:
        self._url = url
        self._poll = poll_seconds
        self._callback: Any = None
        self._on_refused = on_refused  # called with the reason when new rules do not load
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="wsg-policy-watch", daemon=True)

    def set_update_callback(self, func: Any) -> None:
        self._callback = func

    def update(self) -> None:
        """Changes notify through the table's trigger; nothing to send from here."""

    def start(self) -> PgPolicyWatcher:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing to interrupt the listener
                pass
        self._thread.join(timeout=5)

    def _changed(self) -> None:
        if self._callback is None:
            return
        try:
            self._callback()
        except Unavailable:
            raise  # the database, not the rules: _run retries
        except GatewayError as exc:
            log.error("new policy refused; deciding with the last good one", why=exc.message)
            if self._on_refused is not None:
                self._on_refused(exc.message)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {policy_table.CHANNEL}")
                    self._changed()  # anything missed while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=self._poll, stop_after=1):
                            pass
                        self._changed()  # a notification, or the poll interval passed
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.warning("policy watcher lost its connection; retrying", why=one_line(exc))
            except GatewayError as exc:
                log.warning("policy watcher cannot read the policy; retrying", why=exc.message)
            finally:
                self._conn = None
            self._stop.wait(min(self._poll, 2.0))
