"""`wsg init`: a development PKI for mutual TLS and the principals' role bindings."""

from __future__ import annotations

import pathlib

import click

from gateway.cli.common import console, friendly_errors, json_option, print_json
from gateway.pki import ROLES, PkiPaths, init as init_pki, parse_principal, read_roles


@click.command()
@click.option("--data", type=click.Path(path_type=pathlib.Path, file_okay=False),
              default="wsg-data", show_default=True, help="State directory; the PKI goes in DIR/pki.")
@click.option("--principal", "principals", multiple=True, metavar="NAME:ROLE",
              help=f"A client certificate for NAME with ROLE ({', '.join(ROLES)}); repeatable.")
@click.option("--host", "hosts", multiple=True, metavar="NAME",
              help="Another host name or IP for the server certificate (loopback is always in).")
@json_option
@friendly_errors
def init(data: pathlib.Path, principals: tuple[str, ...], hosts: tuple[str, ...], as_json: bool) -> None:
    """Create the CA, the server certificate and client certificates for mutual TLS.

    \b
    Example:
      wsg init --principal alice:officer --principal bob:reviewer \\
               --principal audit1:auditor --principal casemgr:service
      wsg serve &                                   # mutual TLS on 127.0.0.1:50051
      wsg warrant list --identity alice             # presents DIR/pki/clients/alice.crt

    Keys are written mode 0600 and never replaced: run it again to add principals; the CA and
    existing certificates stay. Roles are recorded in DIR/roles.json.
    """
    parsed = [parse_principal(p) for p in principals]
    written = init_pki(PkiPaths(data), parsed, hosts)
    if as_json:
        print_json({"written": [str(p) for p in written],
                    "principals": {n: list(r) for n, r in read_roles(PkiPaths(data)).items()}})
        return
    for path in written:
        console.print(f"wrote {path}")
    console.print(f"mutual TLS ready in {data / 'pki'}; start the gateway with `wsg serve --data {data}`")
