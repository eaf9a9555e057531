"""The release's trace: one `store.read` span per batch of records read from the store.

Records stream from the store one at a time, interleaved with the decision and pseudonymization
of each, so a span per record would drown the trace; a span per batch, from the first record
asked for to the batch being full, shows where a slow release waits. A store part the policy
withholds whole is never read: a `store.skip` span says how many records it counted instead.
The other spans of a release (`store.count`, `policy.decide` for each question Casbin is asked,
`audit.append` and `audit.fsync` per batch entry, `send` per batch) are opened where that work
is done.
"""

from __future__ import annotations

from opentelemetry import trace

from gateway import tracing


class BatchReads:
    """`open(examined)` when a batch starts reading, `pause(examined)` when it is full or the
    store has ended; the span says how many records were read in between."""

    def __init__(self) -> None:
        self._tracer = tracing.tracer()
        self._span: trace.Span | None = None
        self._from = 0

    def open(self, examined: int) -> None:
        if self._span is None:
            self._span = self._tracer.start_span("store.read")
            self._from = examined

    def pause(self, examined: int) -> None:
        """The batch is full (or the store ended): end its span, with how many were read."""
        if self._span is not None:
            self._span.set_attribute("wsg.records_read", examined - self._from)
            self._span.end()
            self._span = None

    def skipped(self, part: str, records: int) -> None:
        """A part withheld whole: counted, not read (`examined` grows, what was read not)."""
        self._from += records
        with self._tracer.start_as_current_span(
            "store.skip", attributes={"wsg.part": part, "wsg.records": records}
        ):
            pass
