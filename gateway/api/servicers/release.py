"""ReleaseService: stream a release of an APPROVED warrant (thin: authorize, run, convert)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import structlog

from gateway.api.auth import Authenticator
from gateway.api.calls import streaming, warrant_id
from gateway.api.convert import release_item_to_pb
from gateway.api.stalls import CallWatch, Stalls
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.wire import batch_bytes
from gateway.metrics import RELEASES_IN_FLIGHT
from gateway.model import Warrant
from gateway.policy.api import ApiGuard
from gateway.release.items import Batch, Resume, Started, Summary
from gateway.release.resume import check_resume
from gateway.warrants.book import WarrantBook

log = structlog.get_logger("wsg.server")
ReleaseItems = Iterator[Started | Batch | Summary]


class ReleaseServicer:
    """wsg.v1.ReleaseService, registered by gateway.api.wire.add_release_servicer (not the
    generated base class: it yields batches as wire bytes)."""

    def __init__(
        self,
        book: WarrantBook,
        auth: Authenticator,
        guard: ApiGuard,
        make_run: Callable[[Warrant, str, int, Resume | None, CallWatch | None], ReleaseItems],
        stalls: Stalls | None = None,
    ) -> None:
        self._book = book
        self._auth = auth
        self._guard = guard
        self._make_run = make_run
        self._stalls = stalls

    @streaming
    def Release(
        self, request: pb.ReleaseRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ReleaseResponse | bytes]:
        """Started, then each batch as wire bytes (gateway.api.wire), then the summary."""
        principal = self._auth.authenticate(context)
        warrant = self._book.get(warrant_id(request.warrant_id))
        self._guard.require(principal, "Release", warrant.id, warrant.submitted_by)
        resume = None
        if request.HasField("resume"):
            held = request.resume
            resume = check_resume(
                Resume(held.batches, held.records_sha256, held.last_batch_audit_index)
            )
        watch = None if self._stalls is None else self._stalls.watch(context)
        run = self._make_run(warrant, principal, request.batch_size, resume, watch)
        try:
            with RELEASES_IN_FLIGHT.track_inprogress():
                for item in run:
                    if not context.is_active():
                        log.info("release abandoned by client", warrant=warrant.id)
                        return
                    if watch is not None:
                        watch.sending()  # gRPC blocks here while the client does not read
                    yield (
                        batch_bytes(item)
                        if isinstance(item, Batch)
                        else release_item_to_pb(warrant.id, item)
                    )
                    if watch is not None:
                        watch.sent()
        finally:
            if watch is not None and self._stalls is not None:
                self._stalls.forget(watch)
