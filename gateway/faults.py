"""Named fail points, so tests can crash or fail the gateway at each durable-write step.

Off unless armed: `hit()` is one dict lookup. Tests arm points in-process with `arm()`, or in a
server subprocess through the environment, e.g. WSG_FAILPOINTS="audit.fsync=kill@3" (the fourth
fsync of the audit log kills the process). Actions:

    raise   raise OSError(EIO), as a failing disk would
    kill    SIGKILL this process (no cleanup, no flush), as a power cut or OOM kill would
    torn    for writes: write the first half of the data, then SIGKILL (a torn last line)

The points are named where they are hit: audit.write, audit.fsync, checkpoint.write,
checkpoint.fsync, witness.write.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
from collections.abc import Callable

ENV = "WSG_FAILPOINTS"
ACTIONS = ("raise", "kill", "torn")

_lock = threading.Lock()
_armed: dict[str, tuple[str, int]] = {}  # name -> (action, hits left before it fires)


def arm(name: str, action: str = "raise", after: int = 0) -> None:
    """Make the (after+1)-th hit of `name` perform `action`."""
    if action not in ACTIONS:
        raise ValueError(f"fail point action must be one of {ACTIONS}, not {action!r}")
    with _lock:
        _armed[name] = (action, after)


def disarm_all() -> None:
    with _lock:
        _armed.clear()


def load_env(value: str | None = None) -> None:
    """Arm points from WSG_FAILPOINTS: comma-separated name=action[@after]."""
    spec = os.environ.get(ENV, "") if value is None else value
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, rest = item.partition("=")
        action, _, after = rest.partition("@")
        arm(name, action or "raise", int(after or 0))


def hit(name: str, torn: Callable[[], object] | None = None) -> None:
    """Called at each fail point; does nothing unless `name` is armed and due."""
    if not _armed:
        return
    with _lock:
        state = _armed.get(name)
        if state is None:
            return
        action, left = state
        if left > 0:
            _armed[name] = (action, left - 1)
            return
        del _armed[name]
    if action == "raise":
        raise OSError(errno.EIO, f"injected failure at {name}")
    if action == "torn" and torn is not None:
        torn()
    os.kill(os.getpid(), signal.SIGKILL)


load_env()
