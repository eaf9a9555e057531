"""`wsg serve`: run the gateway until interrupted."""

from __future__ import annotations

import pathlib
import signal

import click

from gateway.cli.common import friendly_errors
from gateway.logs import configure_logging
from gateway.server import DEFAULT_LISTEN, DEFAULT_ORIGIN, DEFAULT_POLICY_DIR, Gateway, ServerConfig


@click.command()
@click.option("--data", type=click.Path(path_type=pathlib.Path, file_okay=False),
              default="wsg-data", show_default=True, help="State directory (warrants, store, audit.log, keys).")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT")
@click.option("--insecure", is_flag=True, help="Development mode without TLS; loopback addresses only.")
@click.option("--policy-dir", type=click.Path(path_type=pathlib.Path, file_okay=False),
              default=str(DEFAULT_POLICY_DIR), show_default=True, help="Casbin model.conf and policy.csv.")
@click.option("--origin", default=DEFAULT_ORIGIN, show_default=True,
              help="Checkpoint origin and signing key name (fixed at the first start of DIR).")
@click.option("--witness", metavar="DIR|-",
              help="Also export signed checkpoints here (a directory, or - for stdout).")
@click.option("--export-every", default=1000, show_default=True, metavar="N",
              help="Export a checkpoint after this many new audit entries...")
@click.option("--export-seconds", default=60.0, show_default=True, metavar="T",
              help="...or after this many seconds, whichever comes first.")
@click.option("--auditor", "auditors", multiple=True, metavar="NAME",
              help="A principal who may read every audit entry (repeatable).")
@click.option("--store", metavar="URL", envvar="WSG_STORE",
              help="Where records come from (default: the reference store in DIR/store.db): "
                   "synapse:sqlite:///PATH/homeserver.db or synapse:postgresql://USER@HOST/DB, "
                   "a Matrix Synapse homeserver's database, read-only.")
@friendly_errors
def serve(data: pathlib.Path, listen: str, insecure: bool, policy_dir: pathlib.Path, origin: str,
          witness: str | None, export_every: int, export_seconds: float,
          auditors: tuple[str, ...], store: str | None) -> None:
    """Run the gateway (gRPC: WarrantService, ReleaseService, AuditService, health, reflection).

    The audit log is DIR/audit.log; its latest signed checkpoint DIR/checkpoint; the key auditors
    verify it with DIR/audit.vkey (also `wsg audit key`).
    """
    configure_logging()
    gateway = Gateway(ServerConfig(data=data, listen=listen, insecure=insecure, policy_dir=policy_dir,
                                   origin=origin, witness=witness, export_every_entries=export_every,
                                   export_every_seconds=export_seconds, auditors=frozenset(auditors),
                                   store=store))
    gateway.start()
    signal.signal(signal.SIGTERM, lambda *_: gateway.server.stop(5))
    try:
        gateway.wait()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
