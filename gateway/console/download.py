"""A release as one zip file streamed to the browser: records.jsonl, then manifest.json.

The same pipeline as ReleaseService (the gateway's release_run: live-state checks between
batches, write-ahead audit, release slots) and the same package as `wsg release --out`
(gateway.api.package.PackageAssembler checks every record's digest, the records' digest against
the audited release.completed entry and the proofs against the checkpoint, then writes the
manifest). The zip is stored, not compressed, so that records.jsonl's bytes are those whose
digests the manifest and the audit log name, and so that the page can count records as they
arrive. If the release stops midway (revoked, expired, a store failure) the connection is cut:
the browser reports a failed download rather than saving half a package.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

from gateway.api.convert import release_item_to_pb, warrant_to_pb
from gateway.api.package import PackageAssembler, manifest_bytes
from gateway.audit.evidence import MANIFEST, RECORDS
from gateway.console.pages import ReleaseItems
from gateway.errors import GatewayError
from gateway.model import Warrant
from gateway.release.items import Started

log = structlog.get_logger("wsg.console")
CHUNK = 64 << 10


class ReleaseAborted(Exception):
    """Raised into the server mid-stream so that the connection is cut, not ended cleanly."""


class _Sink(io.RawIOBase):
    """An unseekable file zipfile writes into; the bytes are taken out as they come."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def first_step(run: ReleaseItems) -> int:
    """Start the release (so that a refusal is an error page, not a broken download); the
    number of candidate records."""
    item = next(run)
    if not isinstance(item, Started):  # the pipeline always starts with Started
        raise ReleaseAborted("the release did not start")
    return item.candidates


def zip_stream(warrant: Warrant, now: dt.datetime, run: ReleaseItems) -> Iterator[bytes]:
    """The zip's bytes as the release produces them (the warrant as it stood at `now` goes
    into the manifest, as the CLI's package has it)."""
    assembler = PackageAssembler(warrant_to_pb(warrant, now))
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED)
    try:
        with archive.open(RECORDS, "w", force_zip64=True) as records:
            pending = 0
            for item in run:
                for line in assembler.lines(release_item_to_pb(warrant.id, item)):
                    records.write(line)
                    pending += len(line)
                if pending >= CHUNK:
                    pending = 0
                    yield sink.take()
        manifest = assembler.finish()
        archive.writestr(MANIFEST, manifest_bytes(manifest))
        archive.close()
        yield sink.take()
    except GatewayError as exc:
        log.info("console release stopped", warrant=warrant.id, why=exc.message)
        raise ReleaseAborted(exc.message) from None
    except Exception as exc:  # noqa: BLE001 - evidence errors too: never end the stream cleanly
        log.error("console release failed", warrant=warrant.id, why=str(exc))
        raise ReleaseAborted(str(exc)) from None
