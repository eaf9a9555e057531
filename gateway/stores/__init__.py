"""Stores the gateway can front. `base.Store` is the one interface the release pipeline sees.

`open_store` is the one place a store is chosen from the configuration; the release pipeline,
policy and audit never know which implementation runs. A store other than the reference one
is a connector: a package `gateway.stores.<kind>` whose `__init__` defines `URL_FORMS` (how
its setting is written, shown in help and errors) and `connect(url) -> Store`. The setting
`<kind>:<url>` finds it by its package name, so a new store is its package and nothing else
here (and a builder in tests/test_store_conformance.py, which fails without one).
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.errors import FailedPrecondition

if TYPE_CHECKING:
    from gateway.stores.base import Store

_NOT_CONNECTORS = frozenset({"reference"})  # the default store: no URL names it


def connectors() -> dict[str, types.ModuleType]:
    """Every connector package by its kind; TypeError if one lacks URL_FORMS or connect."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg or info.name in _NOT_CONNECTORS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not isinstance(getattr(module, "URL_FORMS", None), tuple) or not callable(
            getattr(module, "connect", None)
        ):
            raise TypeError(f"{module.__name__}: a store connector defines URL_FORMS and connect")
        found[info.name] = module
    return found


def url_forms() -> list[str]:
    """How each connector's setting is written (`synapse:sqlite:///PATH/homeserver.db`, ...)."""
    return [str(form) for module in connectors().values() for form in module.URL_FORMS]


def open_store(store: str | None, reference: Callable[[], Store]) -> Store:
    """The store named by the `store` setting: None = the reference store beside the gateway's
    state (`reference()`: DATA/store.db, or the PostgreSQL database); `<kind>:<url>` = the
    connector `gateway.stores.<kind>`, given `<url>` (checked at once: fail closed)."""
    if store is None:
        return reference()
    kind, sep, url = store.partition(":")
    found = connectors()
    if sep and kind in found:
        opened: Store = found[kind].connect(url)
        return opened
    raise FailedPrecondition(
        f"store {store[:80]!r}: unknown kind of store (known: the reference "
        f"store, which is the default; {', '.join(url_forms())})"
    )
