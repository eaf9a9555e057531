"""`wsg init`: a development PKI for mutual TLS and the principals' role bindings."""

from __future__ import annotations

import pathlib

import click

from gateway.audit.notes import NoteSigner
from gateway.cli.common import console, friendly_errors, json_option, print_json
from gateway.datadir import DataDir, load_or_create_secret
from gateway.identity.pki import PkiPaths
from gateway.identity.pki import init as init_pki
from gateway.identity.roles import ROLES, bind_roles, parse_principal, read_roles, roles_file
from gateway.settings import DEFAULT_ORIGIN


@click.command()
@click.option(
    "--data",
    type=click.Path(path_type=pathlib.Path, file_okay=False),
    default="wsg-data",
    show_default=True,
    help="State directory; the PKI goes in DIR/pki.",
)
@click.option(
    "--principal",
    "principals",
    multiple=True,
    metavar="NAME:ROLE",
    help=f"A client certificate for NAME with ROLE ({', '.join(ROLES)}); repeatable.",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="NAME",
    help="Another host name or IP for the server certificate (loopback is always in).",
)
@click.option(
    "--keys",
    is_flag=True,
    help="Also create DIR/keys/pseudonym.key and DIR/keys/audit-signing.key now, for "
    "several replicas that must share them (else the first `wsg serve` does).",
)
@click.option(
    "--origin",
    default=DEFAULT_ORIGIN,
    show_default=True,
    help="With --keys: the audit signing key's name, the `origin` setting the "
    "gateways will run with.",
)
@click.option(
    "--insecure",
    is_flag=True,
    envvar="WSG_INSECURE",
    help="Development mode (for `wsg serve --insecure`): record the principals' roles only, "
    "no certificates. [WSG_INSECURE]",
)
@json_option
@friendly_errors
def init(
    data: pathlib.Path,
    principals: tuple[str, ...],
    hosts: tuple[str, ...],
    insecure: bool,
    keys: bool,
    origin: str,
    as_json: bool,
) -> None:
    """Create the CA, the server certificate and client certificates for mutual TLS.

    \b
    Example:
      wsg init --principal alice:officer --principal bob:reviewer \\
               --principal audit1:auditor --principal casemgr:service
      wsg serve &                                   # mutual TLS on 127.0.0.1:50051
      wsg warrant list --identity alice             # presents DIR/pki/clients/alice.crt

    Keys are written mode 0600 and never replaced: run it again to add principals; the CA and
    existing certificates stay. An existing principal's roles are never changed here
    (`wsg roles add|remove` does that). For the web console, import
    DIR/pki/clients/NAME.p12 into the person's browser (its password is in NAME.p12.password)
    and DIR/pki/ca.crt as a trusted CA.
    Roles are recorded in DIR/roles.json. With --keys, the pseudonym secret and the audit
    signing key (for --origin) are made too, never replaced.
    """
    parsed = [parse_principal(p) for p in principals]
    if insecure:
        DataDir(data).create()
        bind_roles(roles_file(data), parsed)
        written = [roles_file(data)]
    else:
        written = init_pki(PkiPaths(data), parsed, hosts)
    if keys:
        written += make_keys(DataDir(data), origin)
    if as_json:
        print_json(
            {
                "written": [str(p) for p in written],
                "principals": {n: list(r) for n, r in read_roles(roles_file(data)).items()},
            }
        )
        return
    for path in written:
        console.print(f"wrote {path}")
    if insecure:
        console.print(
            f"roles recorded in {roles_file(data)} (development mode: no certificates); start "
            f"the gateway with `wsg serve --insecure --data {data}` (loopback only)"
        )
    else:
        console.print(
            f"mutual TLS ready in {data / 'pki'}; start the gateway with `wsg serve --data {data}`"
        )


def make_keys(data: DataDir, origin: str) -> list[pathlib.Path]:
    """The gateway's two secret keys, made ahead (mode 0600); existing keys are kept."""
    made = []
    data.create()  # keys/ is 0700 even if it existed before
    for path, create in (
        (data.pseudonym_secret, load_or_create_secret),
        (data.audit_signing_key, lambda p: NoteSigner.load_or_create(p, origin)),
    ):
        existed = path.exists()
        create(path)  # a NoteError is a ValueError: one line, exit 2
        if not existed:
            made.append(path)
    return made
