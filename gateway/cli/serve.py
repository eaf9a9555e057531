"""`wsg serve`: run the gateway until interrupted."""

from __future__ import annotations

import pathlib
import signal
import threading

import click
import structlog

from gateway.api.server import Gateway
from gateway.cli.common import friendly_errors
from gateway.console import attach_console
from gateway.logs import configure_logging
from gateway.settings import (
    DEFAULT_LISTEN,
    DEFAULT_ORIGIN,
    describe_settings,
    load_settings,
)
from gateway.stores import url_forms
from gateway.stores.reference.postgres import PgReferenceStore
from gateway.stores.reference.sqlite import ReferenceStore
from gateway.tracing import provider_from_env

log = structlog.get_logger("wsg.serve")
PATH = click.Path(path_type=pathlib.Path, file_okay=False)


def _hint_if_empty(gateway: Gateway, data: pathlib.Path) -> None:
    """A reference store with no account can release nothing: say how to fill it."""
    store = gateway.store
    if isinstance(store, ReferenceStore | PgReferenceStore) and not store.counts().get("account"):
        where = f"--data {data}" if gateway.config.database is None else "--database URL"
        log.warning(
            "the reference store is empty: nothing can be released until it holds data",
            hint=f"wsg store seed {where} (a generated data set) or "
            f"wsg store import FILE.jsonl {where}",
        )


@click.command(
    epilog="\b\nEvery setting (config-file key [environment variable]):\n" + describe_settings()
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=pathlib.Path, dir_okay=False),
    help="TOML settings file (env WSG_CONFIG). Keys are the setting names below.",
)
@click.option(
    "--data",
    type=PATH,
    help="State directory (keys, pki, roles.json; on SQLite also "
    "warrants, store, audit.log). Default wsg-data. [WSG_DATA]",
)
@click.option(
    "--database",
    metavar="URL",
    help="postgresql://user@host:port/db: keep warrants, "
    "audit log, checkpoints, policy rules and the reference store there, shared by "
    "replicas. Default: embedded SQLite in --data. [WSG_DATABASE]",
)
@click.option(
    "--store",
    metavar="URL",
    help="Where records come from; default the reference store. Or a store connector's "
    f"URL (gateway.stores), read-only: {' or '.join(url_forms())}. [WSG_STORE]",
)
@click.option(
    "--listen", metavar="HOST:PORT", help=f"API address. Default {DEFAULT_LISTEN}. [WSG_LISTEN]"
)
@click.option(
    "--health-listen",
    metavar="HOST:PORT",
    help="Also serve grpc.health.v1 alone, "
    "in plaintext, here (for probes that cannot do mutual TLS). [WSG_HEALTH_LISTEN]",
)
@click.option(
    "--console",
    metavar="HOST:PORT",
    help="Also serve the web console here: HTTPS, people sign in with their client "
    "certificate (DIR/pki/clients/NAME.p12); with --insecure plain HTTP on loopback and a "
    "sign-in page listing roles.json. [WSG_CONSOLE]",
    show_default=False,
)
@click.option(
    "--metrics-listen",
    metavar="HOST:PORT",
    help="Also serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP; a port of "
    "its own, since the health port speaks gRPC). [WSG_METRICS_LISTEN]",
)
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Development mode without TLS; loopback addresses only. [WSG_INSECURE]",
)
@click.option(
    "--policy-dir",
    type=PATH,
    help="Casbin models, and rule files (on PostgreSQL: "
    "seeded into the policy table once). Default: the policies the package ships. [WSG_POLICY_DIR]",
)
@click.option(
    "--origin",
    help=f"Checkpoint origin and signing key name (fixed at the first start)."
    f" Default {DEFAULT_ORIGIN}. [WSG_ORIGIN]",
)
@click.option(
    "--witness",
    metavar="DIR|-",
    help="Also export signed checkpoints here (a directory, or - for stdout).",
)
@click.option(
    "--export-every",
    type=int,
    metavar="N",
    help="Export a checkpoint after this many new audit entries (default 1000)...",
)
@click.option(
    "--export-seconds",
    type=float,
    metavar="T",
    help="...or after this many seconds (default 60), whichever comes first.",
)
@click.option(
    "--auditor",
    "auditors",
    multiple=True,
    metavar="NAME",
    help="A principal who may read every audit entry (repeatable). [WSG_AUDITORS=a,b]",
)
@click.option(
    "--drain-seconds",
    type=float,
    metavar="T",
    help="On SIGTERM or Ctrl-C: NOT_SERVING at once, no new calls, and releases in flight "
    "get T seconds (default 20) to finish before they stop between batches. [WSG_DRAIN_SECONDS]",
)
@friendly_errors
def serve(
    config_file: pathlib.Path | None,
    auditors: tuple[str, ...],
    export_every: int | None,
    export_seconds: float | None,
    **flags: object,
) -> None:
    """Run the gateway (gRPC: WarrantService, ReleaseService, AuditService, health, reflection),
    and with --console its web console in the same process.

    Settings come from flags, then WSG_* environment variables, then the --config file, then
    defaults; every one is checked before anything starts. On SQLite the audit log is
    DIR/audit.log and its latest checkpoint DIR/checkpoint; on PostgreSQL both are tables every
    replica shares. Auditors verify checkpoints with DIR/audit.vkey (also `wsg audit key`).
    """
    configure_logging()
    # A SettingsError is a ValueError: friendly_errors prints its one line and exits 2.
    settings = load_settings(
        config_file,
        auditors=frozenset(auditors) or None,
        export_every_entries=export_every,
        export_every_seconds=export_seconds,
        **flags,
    )
    provider = provider_from_env()  # OTEL_TRACES_EXPORTER=otlp|console turns tracing on
    gateway = Gateway(settings, tracer_provider=provider)
    try:
        attach_console(gateway)
    except BaseException:
        gateway.stop(None)
        raise
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    gateway.start()
    _hint_if_empty(gateway, settings.data)
    try:
        while not stop.wait(1.0):  # a timeout, so that the signal handlers run promptly
            pass
        gateway.drain(settings.drain_seconds)
    finally:
        gateway.stop()
        if provider is not None:
            provider.shutdown()  # flush the spans still batched
