"""`wsg serve`: run the gateway until interrupted."""

from __future__ import annotations

import pathlib
import signal

import click

from gateway.cli.common import friendly_errors
from gateway.logs import configure_logging
from gateway.server import DEFAULT_LISTEN, DEFAULT_POLICY_DIR, Gateway, ServerConfig


@click.command()
@click.option("--data", type=click.Path(path_type=pathlib.Path, file_okay=False),
              default="wsg-data", show_default=True, help="State directory (warrants, store, audit.log, keys).")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT")
@click.option("--insecure", is_flag=True, help="Development mode without TLS; loopback addresses only.")
@click.option("--policy-dir", type=click.Path(path_type=pathlib.Path, file_okay=False),
              default=str(DEFAULT_POLICY_DIR), show_default=True, help="Casbin model.conf and policy.csv.")
@friendly_errors
def serve(data: pathlib.Path, listen: str, insecure: bool, policy_dir: pathlib.Path) -> None:
    """Run the gateway (gRPC: WarrantService, ReleaseService, health, reflection)."""
    configure_logging()
    gateway = Gateway(ServerConfig(data=data, listen=listen, insecure=insecure, policy_dir=policy_dir))
    gateway.start()
    signal.signal(signal.SIGTERM, lambda *_: gateway.server.stop(5))
    try:
        gateway.wait()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
