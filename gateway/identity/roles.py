"""Roles and their bindings to principals: the one list of roles, and DIR/roles.json.

A principal is a name: the common name of a client certificate (mutual TLS) or, in the
loopback-only development mode, the name a call states. What a role may do is the API policy's
business (policies/api_policy.csv, gateway.policy.api); this module only knows which roles exist
and who holds which.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import pathlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping

from gateway.datadir import private_dir, write_private
from gateway.errors import FailedPrecondition, InvalidArgument, Unauthenticated

ROLES_FILE = "roles.json"
_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class Role(enum.StrEnum):
    OFFICER = "officer"  # submits warrants, releases its own
    REVIEWER = "reviewer"  # approves and rejects others' warrants
    AUDITOR = "auditor"  # reads the whole audit log
    SERVICE = "service"  # an internal system acting like an officer
    POLICY_ADMIN = "policy_admin"  # reads and replaces the policy rules
    NOTIFIER = "notifier"  # a delivery service: reads the user-notice outbox, marks it sent


ROLES: tuple[str, ...] = tuple(r.value for r in Role)
RoleBindings = Mapping[str, tuple[str, ...]]


def roles_file(data: pathlib.Path) -> pathlib.Path:
    """Where a data directory keeps its role bindings."""
    return data / ROLES_FILE


def check_principal_name(name: str) -> str:
    """`name` if it may name a principal, else Unauthenticated saying the rule."""
    if not _PRINCIPAL.match(name):
        raise Unauthenticated(
            f"principal {name[:80]!r} is not a valid name (letters, digits, . _ @ -; at most 64)"
        )
    return name


def parse_principal(text: str) -> tuple[str, str]:
    """'NAME:ROLE' -> (name, role), or InvalidArgument naming what is wrong."""
    name, sep, role = text.partition(":")
    if not sep:
        raise InvalidArgument(f"--principal {text!r}: give NAME:ROLE, e.g. alice:officer")
    if role not in ROLES:
        raise InvalidArgument(f"--principal {text!r}: role must be one of {', '.join(ROLES)}")
    try:
        check_principal_name(name)
    except Unauthenticated as exc:
        raise InvalidArgument(f"--principal {text!r}: {exc.message}") from None
    return name, role


def parse_roles(data: bytes, path: pathlib.Path) -> dict[str, tuple[str, ...]]:
    """The bindings a roles file holds: a JSON object, principal name -> a role or a list of
    roles; FailedPrecondition naming the file and what is wrong (nothing is guessed)."""

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        seen: dict[str, object] = {}
        for key, value in pairs:
            if key in seen:
                raise FailedPrecondition(f"{path}: principal {key!r} is named twice")
            seen[key] = value
        return seen

    try:
        raw = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FailedPrecondition(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise FailedPrecondition(f"{path} must be a JSON object: principal name -> roles")
    roles: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        try:
            check_principal_name(name)
        except Unauthenticated as exc:
            raise FailedPrecondition(f"{path}: {exc.message}") from None
        held = [value] if isinstance(value, str) else value
        if (
            not isinstance(held, list)
            or not held
            or not all(isinstance(r, str) and r in ROLES for r in held)
        ):
            raise FailedPrecondition(
                f"{path}: {name!r} must hold a role or a list of roles among {', '.join(ROLES)}"
            )
        roles[name] = tuple(dict.fromkeys(held))
    return roles


def read_roles(path: pathlib.Path) -> dict[str, tuple[str, ...]]:
    """The role bindings in `path`: principal -> roles (empty if the file does not exist)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise FailedPrecondition(f"{path} cannot be read: {exc.strerror or exc}") from None
    return parse_roles(data, path)


def write_roles(path: pathlib.Path, roles: Mapping[str, tuple[str, ...]]) -> None:
    """Replace the file atomically (mode 0600): a reader sees the old bindings or the new."""
    private_dir(path.parent)
    text = json.dumps({n: list(r) for n, r in sorted(roles.items()) if r}, indent=2) + "\n"
    write_private(path, text.encode())


def require_new_bindings(path: pathlib.Path, principals: Iterable[tuple[str, str]]) -> None:
    """FailedPrecondition, saying what to run instead, if a binding would add a role to a
    principal the file already names (checked before anything is written)."""
    roles = read_roles(path)
    for name, role in principals:
        if name in roles and role not in roles[name]:
            raise FailedPrecondition(
                f"{name!r} already holds {', '.join(roles[name])} in {path}; init does not "
                f"change an existing principal's roles: run `wsg roles add {name} {role} "
                f"--data {path.parent}` to add one"
            )


def bind_roles(
    path: pathlib.Path, principals: Iterable[tuple[str, str]]
) -> dict[str, tuple[str, ...]]:
    """Record the roles of principals new to the file (one may be given several roles). An
    existing principal's roles are never changed here (require_new_bindings), so re-running
    `wsg init` cannot quietly widen anyone."""
    principals = list(principals)
    require_new_bindings(path, principals)
    roles = read_roles(path)
    new: dict[str, tuple[str, ...]] = {}
    for name, role in principals:
        if name not in roles:
            new[name] = tuple(dict.fromkeys([*new.get(name, ()), role]))
    if new or not path.exists():
        roles.update(new)
        write_roles(path, roles)
    return roles


def change_role(
    path: pathlib.Path, name: str, role: str, grant: bool
) -> tuple[bool, dict[str, tuple[str, ...]]]:
    """Add (`grant`) or remove one role of one principal: (whether the file changed, the
    bindings now). A running gateway picks the change up and audits it (RoleBook)."""
    check_principal_name(name)
    if role not in ROLES:
        raise InvalidArgument(f"role {role!r}: must be one of {', '.join(ROLES)}")
    roles = read_roles(path)
    held = roles.get(name, ())
    changed = (role not in held) if grant else (role in held)
    if changed:
        roles[name] = (*held, role) if grant else tuple(r for r in held if r != role)
        if not roles[name]:
            del roles[name]
        write_roles(path, roles)
    return changed, roles


def _pairs(roles: Mapping[str, tuple[str, ...]]) -> set[str]:
    return {f"{name}:{role}" for name, held in roles.items() for role in held}


@dataclasses.dataclass(frozen=True)
class RolesChange:
    """What a (re)load of the roles file changed."""

    sha256: str  # of the file's bytes
    principals: int
    added: list[str]  # "name:role", sorted
    removed: list[str]


class RoleBook:
    """The role bindings in force, re-read when the roles file changes (no restart).

    Every call of `current()` compares the file's identity (inode, size, modification time)
    with the one last read, a stat and no read; a changed file is read and checked whole. New
    bindings go in force only after `on_loaded` has recorded them (the gateway audits a
    `roles.loaded` entry); a file that does not check keeps the last good bindings and is
    reported to `on_refused` once per version of the file. At start a file that does not
    check is FailedPrecondition: fail closed (the bindings read at start are the file's, whose
    sha256 the start's log line gives; `sha256` says it at any time)."""

    def __init__(
        self,
        path: pathlib.Path,
        on_loaded: Callable[[RolesChange], None] = lambda change: None,
        on_refused: Callable[[str, str | None], None] = lambda why, sha256: None,
    ) -> None:
        self.path = path
        self._on_loaded = on_loaded
        self._on_refused = on_refused
        self._lock = threading.Lock()
        self._seen = self._stamp()
        data = self._read()
        self._bindings = {} if data is None else parse_roles(data, path)
        self.sha256 = hashlib.sha256(data or b"").hexdigest()

    def _stamp(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FailedPrecondition(f"{self.path} cannot be read: {exc.strerror or exc}") from None

    @staticmethod
    def _change(
        old: Mapping[str, tuple[str, ...]], new: Mapping[str, tuple[str, ...]], sha256: str
    ) -> RolesChange:
        return RolesChange(
            sha256=sha256,
            principals=len(new),
            added=sorted(_pairs(new) - _pairs(old)),
            removed=sorted(_pairs(old) - _pairs(new)),
        )

    def current(self) -> Mapping[str, tuple[str, ...]]:
        """The bindings in force, after reading the file if it changed."""
        stamp = self._stamp()
        if stamp == self._seen:
            return self._bindings
        with self._lock:
            if stamp != self._seen:
                self._reload(stamp)
        return self._bindings

    def _reload(self, stamp: tuple[int, int, int, int] | None) -> None:
        data: bytes | None = None
        try:
            data = self._read()
            if data is None:
                raise FailedPrecondition(
                    f"{self.path} is missing; to take every role away, write {{}} to it"
                )
            new = parse_roles(data, self.path)
        except FailedPrecondition as exc:
            self._seen = stamp  # reported once per version of the file
            self._on_refused(
                exc.message, None if data is None else hashlib.sha256(data).hexdigest()
            )
            return
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 != self.sha256:
            self._on_loaded(self._change(self._bindings, new, sha256))  # recorded, then in force
            self._bindings, self.sha256 = new, sha256
        self._seen = stamp
