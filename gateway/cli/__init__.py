"""The `wsg` command line."""

from __future__ import annotations

import click

from gateway import __version__
from gateway.cli.audit import audit
from gateway.cli.db import db_group
from gateway.cli.demo import demo
from gateway.cli.health import health
from gateway.cli.init import init
from gateway.cli.notices import notices
from gateway.cli.policy import policy
from gateway.cli.release import release
from gateway.cli.report import report
from gateway.cli.roles import roles
from gateway.cli.serve import serve
from gateway.cli.store import store
from gateway.cli.warrant import due, warrant
from gateway.logs import quiet_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wsg")
def main() -> None:
    """Warrant Scope Gateway: release exactly what a warrant names, nothing about anyone else.

    \b
    Typical session (one machine, mutual TLS):
      wsg store seed --accounts 200          # or: wsg store import data.jsonl
      wsg init --principal alice:officer --principal bob:reviewer
      wsg serve &                            # 127.0.0.1:50051, state in ./wsg-data
      wsg warrant submit warrant.yaml --identity alice
      wsg warrant approve w-... --identity bob
      wsg release w-... --out evidence/ --identity alice
      wsg audit tail
    """
    # Operational log lines go to stderr, warnings and errors only (`wsg serve` says more):
    # stdout is each command's own output, which scripts parse.
    quiet_logging()


for command in (
    init,
    serve,
    health,
    demo,
    store,
    warrant,
    due,
    notices,
    release,
    audit,
    report,
    db_group,
    policy,
    roles,
):
    main.add_command(command)
