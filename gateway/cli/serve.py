"""`wsg serve`: run the gateway until interrupted."""

from __future__ import annotations

import pathlib
import signal

import click

from gateway.cli.common import friendly_errors
from gateway.logs import configure_logging
from gateway.server import Gateway
from gateway.settings import (
    DEFAULT_LISTEN,
    DEFAULT_ORIGIN,
    describe_settings,
    load_settings,
)

PATH = click.Path(path_type=pathlib.Path, file_okay=False)


@click.command(epilog="\b\nEvery setting (config-file key [environment variable]):\n"
                      + describe_settings())
@click.option("--config", "config_file", type=click.Path(path_type=pathlib.Path, dir_okay=False),
              help="TOML settings file (env WSG_CONFIG). Keys are the setting names below.")
@click.option("--data", type=PATH, help="State directory (keys, pki, roles.json; on SQLite also "
              "warrants, store, audit.log). Default wsg-data. [WSG_DATA]")
@click.option("--database", metavar="URL", help="postgresql://user@host:port/db: keep warrants, "
              "audit log, checkpoints, policy rules and the reference store there, shared by "
              "replicas. Default: embedded SQLite in --data. [WSG_DATABASE]")
@click.option("--store", metavar="URL", help="Where records come from; default the reference "
              "store. synapse:sqlite:///PATH/homeserver.db or synapse:postgresql://USER@HOST/DB "
              "fronts a Matrix Synapse homeserver's database, read-only. [WSG_STORE]")
@click.option("--listen", metavar="HOST:PORT", help=f"API address. Default {DEFAULT_LISTEN}. "
              "[WSG_LISTEN]")
@click.option("--health-listen", metavar="HOST:PORT", help="Also serve grpc.health.v1 alone, "
              "in plaintext, here (for probes that cannot do mutual TLS). [WSG_HEALTH_LISTEN]")
@click.option("--insecure", is_flag=True, default=None,
              help="Development mode without TLS; loopback addresses only. [WSG_INSECURE]")
@click.option("--policy-dir", type=PATH, help="Casbin models, and rule files (on PostgreSQL: "
              "seeded into the policy table once). Default ./policies. [WSG_POLICY_DIR]")
@click.option("--origin", help=f"Checkpoint origin and signing key name (fixed at the first start)."
              f" Default {DEFAULT_ORIGIN}. [WSG_ORIGIN]")
@click.option("--witness", metavar="DIR|-",
              help="Also export signed checkpoints here (a directory, or - for stdout).")
@click.option("--export-every", type=int, metavar="N",
              help="Export a checkpoint after this many new audit entries (default 1000)...")
@click.option("--export-seconds", type=float, metavar="T",
              help="...or after this many seconds (default 60), whichever comes first.")
@click.option("--auditor", "auditors", multiple=True, metavar="NAME",
              help="A principal who may read every audit entry (repeatable). [WSG_AUDITORS=a,b]")
@friendly_errors
def serve(config_file: pathlib.Path | None, auditors: tuple[str, ...], export_every: int | None,
          export_seconds: float | None, **flags: object) -> None:
    """Run the gateway (gRPC: WarrantService, ReleaseService, AuditService, health, reflection).

    Settings come from flags, then WSG_* environment variables, then the --config file, then
    defaults; every one is checked before anything starts. On SQLite the audit log is
    DIR/audit.log and its latest checkpoint DIR/checkpoint; on PostgreSQL both are tables every
    replica shares. Auditors verify checkpoints with DIR/audit.vkey (also `wsg audit key`).
    """
    configure_logging()
    # A SettingsError is a ValueError: friendly_errors prints its one line and exits 2.
    settings = load_settings(config_file, auditors=frozenset(auditors) or None,
                             export_every_entries=export_every,
                             export_every_seconds=export_seconds, **flags)
    gateway = Gateway(settings)
    gateway.start()
    signal.signal(signal.SIGTERM, lambda *_: gateway.server.stop(5))
    try:
        gateway.wait()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
