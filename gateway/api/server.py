"""Wiring: open the backend, the store, the policies and the audit log, and serve them over gRPC.

Fail closed at start: a policy that cannot load, a store or audit log that cannot be opened, or a
secret with loose permissions stops `wsg serve` with one clear line instead of serving. Which
backend keeps the state is chosen once (gateway.backends.open_backend); nothing here branches on
it.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import pathlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from typing import Protocol

import grpc
import structlog
from google.protobuf.json_format import MessageToDict
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.trace import TracerProvider

from gateway.api.auth import (
    Authenticator,
    InsecureMetadataAuthenticator,
    MtlsAuthenticator,
    require_loopback,
)
from gateway.api.convert import warrant_to_pb
from gateway.api.decode import DecodeGuard
from gateway.api.metrics import GatewayState, MetricsServer, read_certificates
from gateway.api.observe import CallObserver
from gateway.api.reflection import enable_reflection
from gateway.api.rpcs import RPCS, SERVICES
from gateway.api.servicers.audit import AuditServicer
from gateway.api.servicers.notices import NoticeServicer
from gateway.api.servicers.policy import PolicyServicer
from gateway.api.servicers.release import ReleaseItems, ReleaseServicer
from gateway.api.servicers.store import StoreServicer
from gateway.api.servicers.warrants import WarrantServicer
from gateway.api.stalls import CallWatch, Stalls
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.api.wire import add_release_servicer
from gateway.audit.checkpoints import Checkpointer, Witness
from gateway.audit.events import (
    PolicyLoaded,
    PolicyRefused,
    RolesLoaded,
    RolesRefused,
    StartRefused,
)
from gateway.audit.evidence import warrant_sha256
from gateway.audit.log import AuditLog
from gateway.audit.notes import NoteError, NoteSigner
from gateway.audit.reader import AuditReader
from gateway.audit.verify import first_fault
from gateway.backends import open_backend
from gateway.datadir import DataDir, load_or_create_secret, write_private
from gateway.errors import FailedPrecondition, GatewayError, InvalidArgument, ResourceExhausted
from gateway.identity.pki import PkiPaths
from gateway.identity.roles import Role, RoleBook, RolesChange, roles_file
from gateway.model import Scope, Tier, Warrant, WarrantSpec, WarrantState
from gateway.model.review import Review
from gateway.policy import instruments
from gateway.policy.api import API_MODEL_FILE, ApiGuard
from gateway.policy.changes import PolicyChanges
from gateway.policy.live import Policies
from gateway.policy.release import MODEL_FILE, ReleasePolicy
from gateway.policy.rules import POLICY_NAMES, Watch
from gateway.release.dryrun import dry_run
from gateway.release.items import Batch, Resume, Started, Summary
from gateway.release.pipeline import ReleaseRun
from gateway.release.unmask import account_behind
from gateway.settings import Settings
from gateway.stores import open_store
from gateway.stores.base import Store
from gateway.warrants.book import WarrantBook

log = structlog.get_logger("wsg.server")
MAX_SEND_BYTES = 64 << 20  # a release batch of MAX_BATCH large records fits
# How often the gateway looks for preservation holds to purge.
HOLD_SWEEP_SECONDS = 60.0
EXPORT_TICK = 0.5  # seconds between checks whether a checkpoint export is due
DRAIN_MARGIN = 5.0  # seconds past the drain grace before calls still running are cancelled
DRAIN_WHY = "the gateway is shutting down (drained)"
DRAIN_TICK = 0.05  # seconds between looks whether the releases in flight have ended
RESERVED_WORKERS = 4  # handler threads releases never take: warrant and audit calls get them
DRAIN_UNARY = 2.0  # seconds unary calls in flight get once the releases are done

# The configuration is gateway.settings.Settings; the name ServerConfig stays for callers.
ServerConfig = Settings
ReleaseTap = Callable[[Warrant, Started | Batch | Summary], None]


def _server_credentials(pki: PkiPaths) -> grpc.ServerCredentials:
    """Mutual TLS: our certificate, and only clients with a certificate from our CA."""
    missing = [p for p in (pki.server_key, pki.server_cert, pki.ca_cert) if not p.exists()]
    if missing:
        raise FailedPrecondition(
            f"mutual TLS needs {', '.join(map(str, missing))}: run `wsg init --data {pki.root}` "
            "(or start with --insecure on loopback for development)"
        )
    return grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca_cert.read_bytes(),
        require_client_auth=True,
    )


def _require_kept(path: pathlib.Path, what: str, ran_before: str, why: str) -> None:
    """A key made on the first start must still be there: recreating it would hide lost state."""
    if not path.exists():
        raise FailedPrecondition(
            f"{what} {path} is missing, but this gateway has run before ({ran_before}); "
            f"restore it from backup: {why}"
        )


def _bind(add_port: Callable[[], int]) -> int:
    """The port bound, or 0 when the address is in use or not one (grpcio returns 0 or raises
    RuntimeError, by version): the caller refuses in one line, never a traceback."""
    try:
        return add_port()
    except RuntimeError:
        return 0


def _require_verified(audit: AuditLog) -> None:
    """Refuse to append to a log whose entries do not verify (two writers forked it, a line
    was edited or cut): one line naming the first fault. The checkpoints are checked when the
    checkpointer opens."""
    fault = first_fault([line for _, line in audit.lines()])
    if fault is not None:
        raise FailedPrecondition(
            f"the audit log {audit.location} does not verify: {fault.kind} at entry "
            f"{fault.index}{': ' + fault.detail if fault.detail else ''}; the gateway will not "
            "append to it: run `wsg audit verify` and investigate"
        )


# How long a submission's dry run waits for a release slot before the submission is refused.
DRY_RUN_SLOT_WAIT = 30.0


def _holding_slot(run: ReleaseRun, slots: threading.BoundedSemaphore) -> ReleaseItems:
    """The release, in one of the replica's release slots (taken when it starts, given back when
    it ends or is abandoned); none free is RESOURCE_EXHAUSTED, never a wait for a connection."""
    if not slots.acquire(blocking=False):
        raise ResourceExhausted("too many releases in progress on this replica; retry shortly")
    try:
        yield from run
    finally:
        slots.release()


class Companion(Protocol):
    """Another edge served from the same process over the same components (the web console):
    started after the gRPC server, stopped before it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _tapped(warrant: Warrant, items: ReleaseItems, taps: list[ReleaseTap]) -> ReleaseItems:
    for item in items:
        for tap in taps:
            tap(warrant, item)
        yield item


def _interceptors(
    auth: Authenticator, provider: TracerProvider | None, refusing: Callable[[], str | None]
) -> list[grpc.ServerInterceptor]:
    """OpenTelemetry's first (its span, from an incoming traceparent, covers the whole call),
    then ours (request id, metrics, access log, refusal while draining)."""
    observer = CallObserver(auth, provider, refusing)
    if provider is None:
        return [observer]
    from opentelemetry.instrumentation.grpc import filters, server_interceptor

    traced = server_interceptor(
        tracer_provider=provider, filter_=filters.negate(filters.health_check())
    )
    return [traced, observer]


class Gateway:
    """A running gateway: its components and the gRPC server serving them."""

    def __init__(
        self,
        config: Settings,
        authenticator: Authenticator | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """`tracer_provider` turns tracing on (gateway.tracing.provider_from_env; tests pass
        one with an in-memory exporter); None: no spans, no tracing interceptor."""
        if config.insecure:
            require_loopback(config.listen)
            if config.console is not None:  # checked before anything starts, like the API's
                try:
                    require_loopback(config.console)
                except InvalidArgument as exc:
                    raise InvalidArgument(f"console: {exc.message}") from None
        self.config = config
        # What every release hands out is also shown to these, in order (gateway.testing
        # scans it for third parties, guarantee 1); none in production.
        self.release_taps: list[ReleaseTap] = []
        data = DataDir(config.data).create()
        self.data = data
        self.pki = PkiPaths(data.root)
        self.backend = open_backend(config, data)
        self.audit = self.backend.audit
        try:
            _require_verified(self.audit)
        except GatewayError:
            self.backend.close()
            raise
        slots = self.backend.release_slots
        self._release_slots = None if slots is None else threading.BoundedSemaphore(slots)
        try:
            self._open_components(config, data)
        except GatewayError as exc:
            # Fail closed, and say so where auditors look: the log is writable at this point.
            with contextlib.suppress(GatewayError):
                self.audit.append(StartRefused(why=exc.message))
            self.backend.close()
            raise

        def auditors() -> frozenset[str]:
            held = self.roles.items()
            return config.auditors | {n for n, roles in held if Role.AUDITOR in roles}

        self.health = health.HealthServicer()
        # Slow readers: a release call not read for release_unread_seconds is cut; at most
        # max_releases stream at once (max_releases_per_principal each), always leaving
        # RESERVED_WORKERS threads for warrant, audit and policy calls (a revocation gets through).
        self.stalls = Stalls(config.release_unread_seconds)
        self._release_cap = max(1, min(config.max_releases, config.max_workers - RESERVED_WORKERS))
        self._releases_by: collections.Counter[str] = collections.Counter()
        self._serving = False
        self._runs: set[ReleaseRun] = set()
        self._runs_lock = threading.Lock()
        self._drain_deadline: float | None = None
        self._refusing: str | None = None  # why new calls are refused (draining)
        self._stopping = threading.Event()
        self._stopped = False
        self._exporter = threading.Thread(
            target=self._export_checkpoints, name="wsg-checkpoints", daemon=True
        )
        # Background sweeps, at start then every so often: preservation copies whose hold has
        # ended are purged (a release from one also checks, so a late sweep releases nothing);
        # user notices that have become due are queued (listing them queues them first too).
        self._sweeper = threading.Thread(
            target=self._sweeping,
            args=(self.book.holds.sweep, HOLD_SWEEP_SECONDS, "preservation sweep failed"),
            name="wsg-holds",
            daemon=True,
        )
        self._notifier = threading.Thread(
            target=self._sweeping,
            args=(self.book.notices.sweep, config.notice_sweep_seconds, "notice sweep failed"),
            name="wsg-notices",
            daemon=True,
        )
        self.audit.on_broken(self._audit_broken)

        auth = authenticator or (
            InsecureMetadataAuthenticator() if config.insecure else MtlsAuthenticator()
        )
        guard = self.guard = ApiGuard(
            lambda: self.policies.current().api,
            lambda: self.roles,
            self.audit,
            str(self.role_book.path),
        )
        # Who may read which audit entry, shared by AuditService and the web console.
        self.reader = AuditReader(self.audit, self.checkpoints, self.book.submitter, auditors)
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.max_workers),
            interceptors=_interceptors(auth, tracer_provider, lambda: self._refusing),
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,  # beyond: RESOURCE_EXHAUSTED
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", MAX_SEND_BYTES),
                # Keepalive enforcement: clients may not ping more often than every 10 s, nor
                # without calls in flight; two strikes and the connection is closed.
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 0),
                ("grpc.http2.max_ping_strikes", 2),
                # No SO_REUSEPORT: a second gateway on a port this one holds is refused, not
                # given half of the connections.
                ("grpc.so_reuseport", 0),
            ],
        )
        pb_grpc.add_WarrantServiceServicer_to_server(
            WarrantServicer(self.book, auth, guard), self.server
        )
        add_release_servicer(  # batches go out as the bytes gateway.api.wire wrote
            ReleaseServicer(self.book, auth, guard, self.release_run, self.stalls), self.server
        )
        pb_grpc.add_AuditServiceServicer_to_server(
            AuditServicer(self.reader, auth, guard), self.server
        )
        pb_grpc.add_PolicyServiceServicer_to_server(
            PolicyServicer(
                self.policies,
                PolicyChanges(self.policies, self.audit, config.clock),
                auth,
                guard,
                self._policy_changed,
            ),
            self.server,
        )
        pb_grpc.add_NoticeServiceServicer_to_server(
            NoticeServicer(self.book, auth, guard), self.server
        )
        pb_grpc.add_StoreServiceServicer_to_server(
            StoreServicer(self.store, self.audit, auth, guard), self.server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        enable_reflection((*SERVICES, health.SERVICE_NAME), self.server)
        self.port = _bind(
            lambda: (
                self.server.add_insecure_port(config.listen)
                if self.credentials is None
                else self.server.add_secure_port(config.listen, self.credentials)
            )
        )
        if self.port == 0:
            self._close_components()  # (the data directory's lock with them)
            raise InvalidArgument(f"cannot listen on {config.listen} (in use or not an address)")
        self.backend.serving_at(self.address)
        self.health_server: grpc.Server | None = None
        self.health_port: int | None = None
        health_listen = config.health_listen
        if health_listen:
            # Plaintext and health only: probes (Kubernetes, load balancers) cannot do mutual TLS.
            self.health_server = health_server = grpc.server(
                futures.ThreadPoolExecutor(max_workers=2),
                interceptors=[DecodeGuard()],
                options=[("grpc.so_reuseport", 0)],
            )
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            self.health_port = _bind(lambda: health_server.add_insecure_port(health_listen))
            if self.health_port == 0:
                self._close_components()
                raise InvalidArgument(f"cannot listen on {config.health_listen} (health port)")
        self._watch: Watch | None = None
        self._companions: list[Companion] = []
        self.metrics: MetricsServer | None = None
        if config.metrics_listen:
            try:
                self.metrics = MetricsServer(config.metrics_listen, self._metrics_state())
            except GatewayError:
                self._close_components()
                raise

    def _close_components(self) -> None:
        """What __init__ opened, for a start refused after the components were open."""
        self.book.close()
        self.store.close()
        self.backend.close()

    def attach(self, companion: Companion) -> None:
        """Serve `companion` with this gateway: started by start(), stopped by stop()."""
        self._companions.append(companion)

    def _metrics_state(self) -> GatewayState:
        """What /metrics reads from this gateway when scraped."""
        certificates = (
            {}
            if self.config.insecure
            else read_certificates({"server": self.pki.server_cert, "ca": self.pki.ca_cert})
        )
        return GatewayState(
            tree_size=lambda: self.audit.size,
            policy_version=lambda: self.policy.version,
            policy_table_version=lambda: self.policies.current().table_version,
            serving=lambda: self.serving,
            certificates=certificates,
        )

    @property
    def serving(self) -> bool:
        """Whether health says SERVING (not before start, not once draining or broken)."""
        return self._serving

    def _open_components(self, config: Settings, data: DataDir) -> None:
        """Everything the gateway needs beside its log; any problem is FailedPrecondition."""
        # Keys may be created only on the first start: once the gateway has run, a missing key
        # is lost state.
        ran_before = self.backend.ran_before
        self.credentials = None if config.insecure else _server_credentials(self.pki)
        self.role_book = RoleBook(roles_file(data.root), self._roles_loaded, self._roles_refused)
        log.info(
            "roles read",
            roles_file=str(self.role_book.path),
            sha256=self.role_book.sha256,
            principals=len(self.role_book.current()),
        )
        self.policies = Policies(
            self.backend.rule_source(config.policy_dir), config.policy_dir, RPCS
        )
        if ran_before:
            _require_kept(
                data.pseudonym_secret,
                "pseudonym secret",
                ran_before,
                "a new secret would give every third party new pseudonyms",
            )
            _require_kept(
                data.audit_signing_key,
                "audit signing key",
                ran_before,
                "checkpoints signed with a new key would not verify against the key auditors hold",
            )
        try:
            self.secret = load_or_create_secret(data.pseudonym_secret)
        except (OSError, ValueError) as exc:
            raise FailedPrecondition(f"pseudonym secret unusable: {exc}") from None
        self.checkpoints = self._open_checkpoints(config, data)
        self.backend.require_same_keys(
            {"pseudonym": self.secret, "audit-signing": data.audit_signing_key.read_bytes()}
        )
        self.store = open_store(config.store, self.backend.reference_store)
        self.book = WarrantBook(
            self.backend.warrant_table(),
            self.store,
            self.audit,
            config.clock,
            config.max_targets,
            dt.timedelta(days=config.max_window_days),
            instruments.load(config.policy_dir),
            lambda tier: self.policies.current().release.reach(tier),
            self._dry_run,
            self._account_behind,
        )

    def _account_behind(self, original: Warrant, pseudonym: str) -> str | None:
        """Unmasking: the account `pseudonym` stands for under `original`, recomputed over
        the people its release could name (from its preservation's copy where it released
        from one and that copy is still kept)."""
        store: Store = self.store
        with contextlib.suppress(GatewayError):
            store = self.book.holds.source(original, self.store)[0]
        return account_behind(self.secret, original, store, pseudonym)

    def _dry_run(
        self, spec: WarrantSpec, accounts: tuple[str, ...], tier: Tier, warrant_id: str
    ) -> Review:
        """The overbreadth review's dry run of a request being submitted (releases nothing)."""
        scope = Scope(
            targets=frozenset(accounts),
            categories=frozenset(spec.categories),
            window=spec.window,
            include_received_direct=spec.include_received_direct,
            tier=tier,
        )
        policy = self.policies.current().release
        slots = self._release_slots
        if slots is None:
            return dry_run(self.store, scope, policy, warrant_id)
        # A dry run reads the store as a release does (the records and, while they stream, the
        # directory: two pooled connections), so it takes a release slot too; unlike a release
        # it waits for one a while, a submission being worth a short queue.
        if not slots.acquire(timeout=DRY_RUN_SLOT_WAIT):
            raise ResourceExhausted(
                "every release slot of this replica stayed busy for "
                f"{DRY_RUN_SLOT_WAIT:.0f} s: the overbreadth dry run could not start; retry shortly"
            )
        try:
            return dry_run(self.store, scope, policy, warrant_id)
        finally:
            slots.release()

    @property
    def roles(self) -> Mapping[str, tuple[str, ...]]:
        """The role bindings in force (DIR/roles.json, re-read when it changes)."""
        return self.role_book.current()

    def _roles_loaded(self, change: RolesChange) -> None:
        """Write-ahead: new bindings go in force only once this entry is durable."""
        self.audit.append(
            RolesLoaded(
                sha256=change.sha256,
                principals=change.principals,
                added=change.added,
                removed=change.removed,
            )
        )
        log.info("roles loaded", sha256=change.sha256[:12], principals=change.principals)

    def _roles_refused(self, why: str, sha256: str | None) -> None:
        log.error("roles file refused; the last good bindings stay in force", why=why)
        with contextlib.suppress(GatewayError):
            self.audit.append(RolesRefused(why=why, sha256=sha256))

    @property
    def policy(self) -> ReleasePolicy:
        """The release policy in force now."""
        return self.policies.current().release

    def _policy_changed(self) -> None:
        """The rules moved: load, validate, swap, and say so in the log."""
        if self.policies.reload():
            current = self.policies.current()
            with contextlib.suppress(GatewayError):
                self.audit.append(
                    PolicyLoaded(
                        policy=current.release.version, table_version=current.table_version
                    )
                )

    def _policy_refused(self, why: str) -> None:
        with contextlib.suppress(GatewayError):
            self.audit.append(PolicyRefused(why=why))

    def release_run(
        self,
        warrant: Warrant,
        principal: str,
        batch_size: int,
        resume: Resume | None = None,
        watch: CallWatch | None = None,
    ) -> ReleaseItems:
        """A release of one warrant whose live state is re-read from the book after every batch."""

        def live_state() -> WarrantState:
            return self.book.live_state(warrant.id)

        store, frozen_copy = self.book.holds.source(warrant, self.store)  # or a frozen copy
        # Read once, at the start: a release started while participation is pending withholds
        # content to its end (gateway.warrants.participation); unreadable: nothing starts.
        participation = self.book.participation.status(warrant)
        run = ReleaseRun(
            warrant,
            principal,
            store,
            lambda: self.policies.current().release,
            self.audit,
            self.checkpoints,
            self.secret,
            live_state,
            batch_size,
            self.config.max_call_seconds,
            resume=resume,
            tier=self.book.tier(warrant),
            phone_regions=self.config.phone_regions,
            warrant_sha256=warrant_sha256(
                MessageToDict(
                    warrant_to_pb(warrant, self.book.now()), preserving_proto_field_name=True
                )
            ),
            frozen_copy=frozen_copy,
            held=self.book.participation.held(participation),
            participation=participation.label,
        )
        if watch is not None:
            watch.on_cut = run.cut
        slots = self._release_slots
        items = self._tracked(
            run, principal, iter(run) if slots is None else _holding_slot(run, slots)
        )
        return _tapped(warrant, items, self.release_taps) if self.release_taps else items

    def _tracked(self, run: ReleaseRun, principal: str, items: ReleaseItems) -> ReleaseItems:
        """The release, known to drain() while it runs, within the caps on releases at once
        (overall and per principal; beyond: RESOURCE_EXHAUSTED, before anything is audited)."""
        with self._runs_lock:
            if len(self._runs) >= self._release_cap:
                raise ResourceExhausted(
                    f"{len(self._runs)} releases are streaming, the most this gateway runs at "
                    "once (max_releases); retry when one has finished"
                )
            if self._releases_by[principal] >= self.config.max_releases_per_principal:
                raise ResourceExhausted(
                    f"{principal} already has {self._releases_by[principal]} releases "
                    "streaming, the most one principal may (max_releases_per_principal); "
                    "finish or cancel one first"
                )
            self._releases_by[principal] += 1
            self._runs.add(run)
            if self._drain_deadline is not None:
                run.stop_at(self._drain_deadline, DRAIN_WHY)
        try:
            yield from items
        finally:
            with self._runs_lock:
                self._runs.discard(run)
                self._releases_by[principal] -= 1

    @property
    def releases_in_flight(self) -> int:
        with self._runs_lock:
            return len(self._runs)

    def drain(self, grace: float) -> None:
        """Shut down gracefully (SIGTERM): health NOT_SERVING and new calls UNAVAILABLE at
        once; releases in flight may finish within `grace` seconds, after that each stops
        before its next batch with a release.stopped entry; then the server stops (a release
        still running DRAIN_MARGIN seconds later, a client that stopped reading, is cut, and
        audited as release.stopped too)."""
        self._serving = False
        self._refusing = DRAIN_WHY
        for name in ("", *SERVICES):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        deadline = time.monotonic() + grace
        with self._runs_lock:
            self._drain_deadline = deadline
            running = list(self._runs)
        for run in running:
            run.stop_at(deadline, DRAIN_WHY)
        log.info("draining", grace_seconds=grace, releases_in_flight=len(running))
        self._wait_for_releases(deadline + DRAIN_MARGIN)
        with self._runs_lock:
            left = len(self._runs)
        self.server.stop(DRAIN_UNARY).wait()  # short calls in flight finish; the rest is cut
        # A cut release writes its release.stopped entry as its call ends: before the log closes.
        self._wait_for_releases(time.monotonic() + DRAIN_UNARY)
        log.info("drained", releases_cut=left)

    def _wait_for_releases(self, until: float) -> None:
        while time.monotonic() < until:
            with self._runs_lock:
                if not self._runs:
                    return
            time.sleep(DRAIN_TICK)

    def _open_checkpoints(self, config: Settings, data: DataDir) -> Checkpointer:
        """The signer (created on first start, 0600) and the checkpoints this log must match."""
        try:
            signer = NoteSigner.load_or_create(data.audit_signing_key, config.origin)
        except (OSError, NoteError) as exc:
            raise FailedPrecondition(f"audit signing key unusable: {exc}") from None
        write_private(data.verifier_key, (signer.verifier_key + "\n").encode())
        witness = Witness(config.witness) if config.witness else None
        return Checkpointer(
            self.audit,
            signer,
            self.backend.checkpoint_store(),
            witness,
            config.export_every_entries,
            config.export_every_seconds,
        )

    def _audit_broken(self, why: str) -> None:
        log.error("audit log broken; refusing to act until restarted", why=why)
        self._serving = False
        for name in ("", *SERVICES):
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

    def _sweeping(self, sweep: Callable[[], object], every: float, failed: str) -> None:
        """Run `sweep` now, then every `every` seconds until the gateway stops; a failure is
        logged and the next round tries again."""
        while True:
            try:
                sweep()
            except GatewayError as exc:
                log.error(failed, why=exc.message)
            if self._stopping.wait(every):
                return

    def start(self) -> Gateway:
        self.server.start()
        self.stalls.start()
        if self.health_server is not None:
            self.health_server.start()
        self._watch = self.policies.source.watch(self._policy_changed, self._policy_refused)
        self._exporter.start()
        self._sweeper.start()
        if self.config.notice_sweep_seconds > 0:
            self._notifier.start()
        for companion in self._companions:
            companion.start()
        for name in ("", *SERVICES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._serving = self.audit.broken is None
        policy_dir = self.config.policy_dir
        log.info(
            "wsg serving",
            address=self.address,
            tls=not self.config.insecure,
            insecure_dev_mode=self.config.insecure,
            policy_files=[str(policy_dir / name) for name in (MODEL_FILE, API_MODEL_FILE)]
            + (
                [str(policy_dir / f) for f in POLICY_NAMES.values()]
                if self.policies.current().table_version is None
                else []
            ),
            policy_rules=self.policies.source.description,
            data=str(self.data.root),
            audit_log=self.audit.location,
            database=self.backend.description,
            health_address=(
                None
                if self.health_server is None
                else f"{self.config.health_listen.rpartition(':')[0]}:{self.health_port}"
                if self.config.health_listen
                else None
            ),
            metrics_address=(
                None
                if self.metrics is None or not self.config.metrics_listen
                else f"{self.config.metrics_listen.rpartition(':')[0]}:{self.metrics.port}"
            ),
            policy_dir=str(policy_dir),
            policy_version=self.policy.version,
        )
        return self

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving and close everything; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        for companion in reversed(self._companions):
            companion.stop()
        self._serving = False
        self.server.stop(grace).wait()
        self.stalls.stop()
        if self.health_server is not None:
            self.health_server.stop(None)
        if self.metrics is not None:
            self.metrics.stop()
        if self._watch is not None:
            self._watch.close()
        self._stopping.set()
        for thread in (self._exporter, self._sweeper, self._notifier):
            if thread.is_alive():
                thread.join()
        try:
            # Signed as the gateway stops: an edit of the log while it is down, the last entry
            # included, is caught when it next starts (Checkpointer._load).
            self.checkpoints.latest()
            self.checkpoints.maybe_export(force=True)
        except GatewayError as exc:
            log.error("final checkpoint export failed", why=exc.message)
        self.book.close()
        self.store.close()
        self.backend.close()

    def wait(self) -> None:
        self.server.wait_for_termination()
