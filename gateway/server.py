"""Wiring: open the state, the store, the policy and the audit log, and serve them over gRPC.

Fail closed at start: a policy that cannot load, a store or audit log that cannot be opened, or a
secret with loose permissions stops `wsg serve` with one clear line instead of serving.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import pathlib
import threading
from collections.abc import Callable
from concurrent import futures

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.api import wsg_pb2 as pb
from gateway.api import wsg_pb2_grpc as pb_grpc
from gateway.api_policy import ApiGuard, ApiPolicy
from gateway.audit import AuditLog
from gateway.audit_servicer import AuditServicer
from gateway.checkpoints import Checkpointer, Witness
from gateway.auth import (
    Authenticator,
    InsecureMetadataAuthenticator,
    MtlsAuthenticator,
    require_loopback,
)
from gateway.errors import FailedPrecondition, GatewayError, InvalidArgument
from gateway.model import WarrantState
from gateway.paths import DataDir, load_or_create_secret
from gateway.notes import NoteError, NoteSigner
from gateway.pki import PkiPaths, read_roles
from gateway.policy import MODEL_FILE, POLICY_FILE, ReleasePolicy
from gateway.release import ReleaseRun
from gateway.servicers import ReleaseServicer, WarrantServicer
from gateway.stores import open_store
from gateway.warrants import Warrant, WarrantBook

log = structlog.get_logger("wsg.server")
MAX_SEND_BYTES = 64 << 20  # a release batch of MAX_BATCH large records fits
DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_POLICY_DIR = pathlib.Path(__file__).resolve().parent.parent / "policies"
SERVICE_NAMES = (
    pb.DESCRIPTOR.services_by_name["WarrantService"].full_name,
    pb.DESCRIPTOR.services_by_name["ReleaseService"].full_name,
    pb.DESCRIPTOR.services_by_name["AuditService"].full_name,
)
DEFAULT_ORIGIN = "wsg.local/audit"
EXPORT_TICK = 0.5  # seconds between checks whether a checkpoint export is due


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class ServerConfig:
    data: pathlib.Path = pathlib.Path("wsg-data")
    listen: str = DEFAULT_LISTEN
    insecure: bool = False
    policy_dir: pathlib.Path = DEFAULT_POLICY_DIR
    clock: Callable[[], dt.datetime] = utcnow
    max_workers: int = 16
    # Transport limits: requests are small (a warrant is a few kB); a caller cannot tie up more.
    max_message_bytes: int = 1 << 20
    max_concurrent_rpcs: int = 64
    max_call_seconds: float = 3600.0  # a release longer than this is stopped (DEADLINE_EXCEEDED)
    # The checkpoint origin line and signing key name; fixed at the first start of a data dir.
    origin: str = DEFAULT_ORIGIN
    # Where checkpoints are exported every N entries or T seconds: a directory, "-" (stdout), None.
    witness: str | None = None
    export_every_entries: int = 1000
    export_every_seconds: float = 60.0
    # Principals who may read every audit entry, besides those with the auditor role.
    auditors: frozenset[str] = frozenset()
    # Where records come from: None = the reference store in DATA/store.db; else a store URL
    # (gateway.stores.open_store), e.g. synapse:sqlite:///var/lib/synapse/homeserver.db.
    store: str | None = None


def _server_credentials(pki: PkiPaths) -> grpc.ServerCredentials:
    """Mutual TLS: our certificate, and only clients with a certificate from our CA."""
    missing = [p for p in (pki.server_key, pki.server_cert, pki.ca_cert) if not p.exists()]
    if missing:
        raise FailedPrecondition(
            f"mutual TLS needs {', '.join(map(str, missing))}: run `wsg init --data {pki.root}` "
            "(or start with --insecure on loopback for development)")
    return grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca_cert.read_bytes(), require_client_auth=True)


def _require_kept(path: pathlib.Path, what: str, data: DataDir, why: str) -> None:
    """A key made on the first start must still be there: recreating it would hide lost state."""
    if not path.exists():
        raise FailedPrecondition(
            f"{what} {path} is missing, but this gateway has run before ({data.state_db} "
            f"exists); restore it from backup: {why}")


class Gateway:
    """A running gateway: its components and the gRPC server serving them."""

    def __init__(self, config: ServerConfig, authenticator: Authenticator | None = None) -> None:
        if config.insecure:
            require_loopback(config.listen)
        self.config = config
        data = DataDir(config.data).create()
        self.data = data
        self.pki = PkiPaths(data.root)
        try:
            self.audit = AuditLog(data.audit_log, config.clock)
        except OSError as exc:
            raise FailedPrecondition(f"audit log {data.audit_log} cannot be opened: {exc}") from None
        try:
            self._open_components(config, data)
        except GatewayError as exc:
            # Fail closed, and say so where auditors look: the log is writable at this point.
            with contextlib.suppress(GatewayError):
                self.audit.append("gateway.start_refused", why=exc.message)
            self.audit.close()
            raise
        auditors = config.auditors | {n for n, roles in self.roles.items() if "auditor" in roles}
        self.health = health.HealthServicer()
        self._stopping = threading.Event()
        self._exporter = threading.Thread(target=self._export_checkpoints, name="wsg-checkpoints",
                                          daemon=True)
        self.audit.on_broken(self._audit_broken)

        auth = authenticator or (InsecureMetadataAuthenticator() if config.insecure
                                 else MtlsAuthenticator())
        guard = ApiGuard(self.api_policy, self.roles, self.audit)
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.max_workers),
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,  # beyond: RESOURCE_EXHAUSTED
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", MAX_SEND_BYTES),
                # Keepalive enforcement: clients may not ping more often than every 10 s, nor
                # without calls in flight; two strikes and the connection is closed.
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 0),
                ("grpc.http2.max_ping_strikes", 2),
            ],
        )
        pb_grpc.add_WarrantServiceServicer_to_server(WarrantServicer(self.book, auth, guard), self.server)
        pb_grpc.add_ReleaseServiceServicer_to_server(
            ReleaseServicer(self.book, auth, guard, self.release_run), self.server
        )
        pb_grpc.add_AuditServiceServicer_to_server(
            AuditServicer(self.audit, self.checkpoints, self.book, auth, guard, auditors), self.server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        if self.credentials is None:
            self.port = self.server.add_insecure_port(config.listen)
        else:
            self.port = self.server.add_secure_port(config.listen, self.credentials)
        if self.port == 0:
            raise InvalidArgument(f"cannot listen on {config.listen} (in use or not an address)")

    def _open_components(self, config: ServerConfig, data: DataDir) -> None:
        """Everything the gateway needs beside its log; any problem is FailedPrecondition."""
        # Keys may be created only on the first start: once the gateway has run (its warrant
        # book exists), a missing key is lost state, not a new installation.
        fresh = not data.state_db.exists()
        self.credentials = None if config.insecure else _server_credentials(self.pki)
        self.roles = read_roles(self.pki)
        self.policy = ReleasePolicy.load(config.policy_dir)
        self.api_policy = ApiPolicy.load(config.policy_dir)
        if not fresh:
            _require_kept(data.pseudonym_secret, "pseudonym secret", data,
                          "a new secret would give every third party new pseudonyms")
            _require_kept(data.audit_signing_key, "audit signing key", data,
                          "checkpoints signed with a new key would not verify against the key "
                          "auditors hold")
        try:
            self.secret = load_or_create_secret(data.pseudonym_secret)
        except (OSError, ValueError) as exc:
            raise FailedPrecondition(f"pseudonym secret unusable: {exc}") from None
        self.checkpoints = self._open_checkpoints(config, data)
        self.store = open_store(config.store, data.root)
        self.book = WarrantBook(data.state_db, self.store, self.audit, config.clock)

    def release_run(self, warrant: Warrant, principal: str, batch_size: int) -> ReleaseRun:
        """A release of one warrant whose live state is re-read from the book after every batch."""
        def live_state() -> WarrantState:
            return self.book.live_state(warrant.id)

        return ReleaseRun(warrant, principal, self.store, self.policy, self.audit, self.checkpoints,
                          self.secret, live_state, batch_size, self.config.max_call_seconds)

    def _open_checkpoints(self, config: ServerConfig, data: DataDir) -> Checkpointer:
        """The signer (created on first start, 0600) and the checkpoints this log must match."""
        try:
            signer = NoteSigner.load_or_create(data.audit_signing_key, config.origin)
        except (OSError, NoteError) as exc:
            raise FailedPrecondition(f"audit signing key unusable: {exc}") from None
        data.verifier_key.write_text(signer.verifier_key + "\n")
        witness = Witness(config.witness) if config.witness else None
        return Checkpointer(self.audit, signer, data.checkpoint, witness,
                            config.export_every_entries, config.export_every_seconds)

    def _audit_broken(self, why: str) -> None:
        log.error("audit log broken; refusing to act until restarted", why=why)
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    @property
    def address(self) -> str:
        host = self.config.listen.rpartition(":")[0]
        return f"{host}:{self.port}"

    def _export_checkpoints(self) -> None:
        """Background: hand the latest checkpoint to the witness every N entries or T seconds."""
        while not self._stopping.wait(EXPORT_TICK):
            try:
                self.checkpoints.maybe_export()
            except GatewayError as exc:
                log.error("checkpoint export failed", why=exc.message)

    def start(self) -> Gateway:
        self.server.start()
        self._exporter.start()
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "wsg serving", address=self.address, tls=not self.config.insecure,
            insecure_dev_mode=self.config.insecure,
            policy_files=[str(self.config.policy_dir / name) for name in (MODEL_FILE, POLICY_FILE)],
            data=str(self.data.root), audit_log=str(self.data.audit_log),
            policy_dir=str(self.config.policy_dir), policy_version=self.policy.version,
        )
        return self

    def stop(self, grace: float | None = 1.0) -> None:
        self.server.stop(grace).wait()
        self._stopping.set()
        if self._exporter.is_alive():
            self._exporter.join()
        try:
            self.checkpoints.maybe_export(force=True)
        except GatewayError as exc:
            log.error("final checkpoint export failed", why=exc.message)
        self.book.close()
        self.store.close()
        self.audit.close()

    def wait(self) -> None:
        self.server.wait_for_termination()
