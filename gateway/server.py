"""Wiring: open the state, the store, the policy and the audit log, and serve them over gRPC.

Fail closed at start: a policy that cannot load, a store or audit log that cannot be opened, or a
secret with loose permissions stops `wsg serve` with one clear line instead of serving.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway import shared_keys
from gateway.api import wsg_pb2 as pb
from gateway.api import wsg_pb2_grpc as pb_grpc
from gateway.api_policy import API_MODEL_FILE, API_POLICY_FILE, ApiGuard
from gateway.audit import AuditLog
from gateway.audit_servicer import AuditServicer
from gateway.checkpoints import Checkpointer, FileCheckpoints, PgCheckpoints, Witness
from gateway.db import Database, redact, upgrade
from gateway.auth import (
    Authenticator,
    InsecureMetadataAuthenticator,
    MtlsAuthenticator,
    require_loopback,
)
from gateway.errors import FailedPrecondition, GatewayError, InvalidArgument, ResourceExhausted
from gateway.model import WarrantState
from gateway.paths import DataDir, load_or_create_secret
from gateway.notes import NoteError, NoteSigner
from gateway.pki import PkiPaths, read_roles
from gateway.live_policy import PgPolicyWatcher, Policies
from gateway.pg_audit import PgAuditLog
from gateway.policy_servicer import PolicyServicer
from gateway.policy import MODEL_FILE, POLICY_FILE, ReleasePolicy
from gateway.release import Batch, ReleaseRun, Started, Summary
from gateway.servicers import ReleaseServicer, WarrantServicer
from gateway.settings import Settings
from gateway.stores import open_store
from gateway.warrant_tables import PgWarrantTable, SqliteWarrantTable
from gateway.warrants import Warrant, WarrantBook

log = structlog.get_logger("wsg.server")
MAX_SEND_BYTES = 64 << 20  # a release batch of MAX_BATCH large records fits
SERVICE_NAMES = (
    pb.DESCRIPTOR.services_by_name["WarrantService"].full_name,
    pb.DESCRIPTOR.services_by_name["ReleaseService"].full_name,
    pb.DESCRIPTOR.services_by_name["AuditService"].full_name,
    pb.DESCRIPTOR.services_by_name["PolicyService"].full_name,
)
EXPORT_TICK = 0.5  # seconds between checks whether a checkpoint export is due


# The configuration is gateway.settings.Settings; the name ServerConfig stays for callers.
ServerConfig = Settings


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


def _require_kept(path: pathlib.Path, what: str, ran_before: str, why: str) -> None:
    """A key made on the first start must still be there: recreating it would hide lost state."""
    if not path.exists():
        raise FailedPrecondition(
            f"{what} {path} is missing, but this gateway has run before ({ran_before}); "
            f"restore it from backup: {why}")


def _holding_slot(run: ReleaseRun,
                  slots: threading.BoundedSemaphore) -> Iterator[Started | Batch | Summary]:
    """The release, in one of the replica's release slots (taken when it starts, given back when
    it ends or is abandoned); none free is RESOURCE_EXHAUSTED, never a wait for a connection."""
    if not slots.acquire(blocking=False):
        raise ResourceExhausted("too many releases in progress on this replica; retry shortly")
    try:
        yield from run
    finally:
        slots.release()


class Gateway:
    """A running gateway: its components and the gRPC server serving them."""

    def __init__(self, config: ServerConfig, authenticator: Authenticator | None = None) -> None:
        if config.insecure:
            require_loopback(config.listen)
        self.config = config
        data = DataDir(config.data).create()
        self.data = data
        self.pki = PkiPaths(data.root)
        self.database: Database | None = None
        # On PostgreSQL a release holds one pooled connection for its stream and needs another,
        # briefly, for each audit entry: at most half the pool streams at once.
        self._release_slots = (None if config.database is None
                               else threading.BoundedSemaphore(max(1, config.pool_size // 2)))
        self.audit = self._open_audit(config, data)
        try:
            self._open_components(config, data)
        except GatewayError as exc:
            # Fail closed, and say so where auditors look: the log is writable at this point.
            with contextlib.suppress(GatewayError):
                self.audit.append("gateway.start_refused", why=exc.message)
            self.audit.close()
            if self.database is not None:
                self.database.close()
            raise
        auditors = config.auditors | {n for n, roles in self.roles.items() if "auditor" in roles}
        self.health = health.HealthServicer()
        self._stopping = threading.Event()
        self._exporter = threading.Thread(target=self._export_checkpoints, name="wsg-checkpoints",
                                          daemon=True)
        self.audit.on_broken(self._audit_broken)

        auth = authenticator or (InsecureMetadataAuthenticator() if config.insecure
                                 else MtlsAuthenticator())
        guard = ApiGuard(lambda: self.policies.current().api, self.roles, self.audit)
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
        pb_grpc.add_PolicyServiceServicer_to_server(
            PolicyServicer(self.policies, config.policy_dir, self.database, self.audit, auth, guard,
                           self._policy_changed), self.server)
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
        self.health_server = self.health_port = None
        if config.health_listen:
            # Plaintext and health only: probes (Kubernetes, load balancers) cannot do mutual TLS.
            self.health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            self.health_port = self.health_server.add_insecure_port(config.health_listen)
            if self.health_port == 0:
                raise InvalidArgument(f"cannot listen on {config.health_listen} (health port)")
        self.watcher: PgPolicyWatcher | None = None
        if self.database is not None:
            self.watcher = PgPolicyWatcher(config.database, config.policy_poll_seconds,
                                           self._policy_refused)
            self.watcher.set_update_callback(self._policy_changed)

    def _open_audit(self, config: ServerConfig, data: DataDir) -> AuditLog | PgAuditLog:
        """The audit log: DIR/audit.log, or the audit_log table (after applying migrations)."""
        if config.database is None:
            try:
                return AuditLog(data.audit_log, config.clock)
            except OSError as exc:
                raise FailedPrecondition(
                    f"audit log {data.audit_log} cannot be opened: {exc}") from None
        upgrade(config.database)
        self.database = Database(config.database, config.pool_size)
        try:
            return PgAuditLog(self.database, config.clock)
        except GatewayError:
            self.database.close()
            raise

    def _open_components(self, config: ServerConfig, data: DataDir) -> None:
        """Everything the gateway needs beside its log; any problem is FailedPrecondition."""
        # Keys may be created only on the first start: once the gateway has run (its warrant
        # book exists, or the shared audit log has entries), a missing key is lost state.
        if self.database is None:
            ran_before = f"{data.state_db} exists" if data.state_db.exists() else None
        else:
            ran_before = (f"the database's audit log has {self.audit.size} entries"
                          if self.audit.size else None)
        self.credentials = None if config.insecure else _server_credentials(self.pki)
        self.roles = read_roles(self.pki)
        if self.database is None:
            self.policies = Policies.from_files(config.policy_dir)
        else:
            self.policies = Policies.from_database(self.database, config.policy_dir)
        if ran_before:
            _require_kept(data.pseudonym_secret, "pseudonym secret", ran_before,
                          "a new secret would give every third party new pseudonyms")
            _require_kept(data.audit_signing_key, "audit signing key", ran_before,
                          "checkpoints signed with a new key would not verify against the key "
                          "auditors hold")
        try:
            self.secret = load_or_create_secret(data.pseudonym_secret)
        except (OSError, ValueError) as exc:
            raise FailedPrecondition(f"pseudonym secret unusable: {exc}") from None
        self.checkpoints = self._open_checkpoints(config, data)
        if self.database is not None:
            shared_keys.require_same(self.database, {
                "pseudonym": self.secret,
                "audit-signing": data.audit_signing_key.read_bytes()})
        self.store = open_store(config.store, data.root, self.database)
        table = (SqliteWarrantTable(data.state_db, self.audit) if self.database is None
                 else PgWarrantTable(self.database, self.audit))
        self.book = WarrantBook(table, self.store, self.audit, config.clock, config.max_targets,
                                dt.timedelta(days=config.max_window_days))

    @property
    def policy(self) -> ReleasePolicy:
        """The release policy in force now."""
        return self.policies.current().release

    def _policy_changed(self) -> None:
        """The watcher saw the rule table move: load, validate, swap, and say so in the log."""
        if self.policies.reload():
            current = self.policies.current()
            with contextlib.suppress(GatewayError):
                self.audit.append("policy.loaded", policy=current.release.version,
                                  table_version=current.table_version)

    def _policy_refused(self, why: str) -> None:
        with contextlib.suppress(GatewayError):
            self.audit.append("policy.refused", why=why)

    def release_run(self, warrant: Warrant, principal: str,
                    batch_size: int) -> Iterator[Started | Batch | Summary]:
        """A release of one warrant whose live state is re-read from the book after every batch."""
        def live_state() -> WarrantState:
            return self.book.live_state(warrant.id)

        run = ReleaseRun(warrant, principal, self.store, lambda: self.policies.current().release,
                          self.audit, self.checkpoints,
                          self.secret, live_state, batch_size, self.config.max_call_seconds)
        return run if self._release_slots is None else _holding_slot(run, self._release_slots)

    def _open_checkpoints(self, config: ServerConfig, data: DataDir) -> Checkpointer:
        """The signer (created on first start, 0600) and the checkpoints this log must match."""
        try:
            signer = NoteSigner.load_or_create(data.audit_signing_key, config.origin)
        except (OSError, NoteError) as exc:
            raise FailedPrecondition(f"audit signing key unusable: {exc}") from None
        data.verifier_key.write_text(signer.verifier_key + "\n")
        witness = Witness(config.witness) if config.witness else None
        kept = FileCheckpoints(data.checkpoint) if self.database is None else PgCheckpoints(self.database)
        return Checkpointer(self.audit, signer, kept, witness,
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
        if self.health_server is not None:
            self.health_server.start()
        if self.watcher is not None:
            self.watcher.start()
        self._exporter.start()
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "wsg serving", address=self.address, tls=not self.config.insecure,
            insecure_dev_mode=self.config.insecure,
            policy_files=[str(self.config.policy_dir / name) for name in
                          (MODEL_FILE, API_MODEL_FILE) + (() if self.database else
                                                          (POLICY_FILE, API_POLICY_FILE))],
            policy_rules="postgresql table casbin_rule" if self.database else "files",
            data=str(self.data.root), audit_log=self.audit.location,
            database=redact(self.config.database) if self.config.database else "sqlite (embedded)",
            health_address=(None if self.health_server is None else
                            f"{self.config.health_listen.rpartition(':')[0]}:{self.health_port}"),
            policy_dir=str(self.config.policy_dir), policy_version=self.policy.version,
        )
        return self

    def stop(self, grace: float | None = 1.0) -> None:
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(None)
        if self.watcher is not None:
            self.watcher.close()
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
        if self.database is not None:
            self.database.close()

    def wait(self) -> None:
        self.server.wait_for_termination()
