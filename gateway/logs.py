"""Operational logging (not the audit log): structlog JSON lines on stderr.

Everything the process logs goes through the same JSON renderer: the gateway's own loggers,
the access log, and the standard `logging` records of libraries (grpc's Python side, psycopg's
pool, prometheus_client), which are handed to structlog instead of printing their own text.
During a call every line carries the call's `request_id` (set by gateway.api.observe).
"""

from __future__ import annotations

import contextvars
import logging
import sys

import structlog

# The request id of the call this thread is serving (None outside a call); audit entries read
# it too (gateway.audit.events), so a call's log lines and entries can be joined.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "wsg_request_id", default=None
)
_handler: logging.Handler | None = None


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def configure_logging(level: int = logging.INFO) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Standard-library logging (grpc, psycopg_pool, ...) rendered as the same JSON lines.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)  # reconfigured (tests, the demo): one handler, the last
    _handler = handler
    root.addHandler(handler)
    root.setLevel(level)


def quiet_logging() -> None:
    """For the demo and tests: only warnings and errors from the server."""
    configure_logging(logging.WARNING)
