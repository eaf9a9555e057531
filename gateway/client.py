"""The gRPC client the CLI uses; transport errors become ClientError in this one place."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import grpc

from gateway.api import wsg_pb2 as pb
from gateway.api import wsg_pb2_grpc as pb_grpc
from gateway.auth import PRINCIPAL_HEADER, require_loopback
from gateway.pki import PkiPaths

DEFAULT_DATA = "wsg-data"
# Release batches may be larger than gRPC's default 4 MB; the server caps what it sends.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 << 20)]


class ClientError(Exception):
    """A call failed; `code` is the gRPC status, `message` the server's human message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def _wrap(exc: grpc.RpcError) -> ClientError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code is grpc.StatusCode.UNAVAILABLE and "connect" in (details or "").lower():
        details = f"cannot reach the gateway ({details})"
    return ClientError(code, details or code.name)


def _credentials(pki: PkiPaths, identity: str) -> grpc.ChannelCredentials:
    files = (pki.ca_cert, pki.client_key(identity), pki.client_cert(identity))
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise ClientError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"no certificate for {identity!r} ({', '.join(missing)} missing): run "
            f"`wsg init --data {pki.root} --principal {identity}:ROLE`, pass --data DIR, "
            "or use --insecure against a development server",
        )
    ca, key, cert = (p.read_bytes() for p in files)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


class Client:
    def __init__(self, server: str, identity: str, insecure: bool, timeout: float = 30.0,
                 data: pathlib.Path | str = DEFAULT_DATA) -> None:
        """With mutual TLS (the default) the client presents DATA/pki/clients/IDENTITY.crt and
        trusts only DATA/pki/ca.crt; --insecure is the loopback-only development mode."""
        if insecure:
            require_loopback(server)
            self._channel = grpc.insecure_channel(server, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(
                server, _credentials(PkiPaths(pathlib.Path(data)), identity), options=CHANNEL_OPTIONS)
        self._metadata = ((PRINCIPAL_HEADER, identity),)
        self._timeout = timeout
        self.warrants = pb_grpc.WarrantServiceStub(self._channel)
        self.releases = pb_grpc.ReleaseServiceStub(self._channel)
        self.audit = pb_grpc.AuditServiceStub(self._channel)
        self.policies = pb_grpc.PolicyServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _wrap(exc) from None

    def submit(self, spec: pb.WarrantSpec) -> pb.Warrant:
        return self._call(self.warrants.Submit, pb.SubmitWarrantRequest(spec=spec))

    def get(self, warrant_id: str) -> pb.Warrant:
        return self._call(self.warrants.Get, pb.GetWarrantRequest(id=warrant_id))

    def list(self, state: int = 0, limit: int = 0) -> list[pb.Warrant]:
        reply = self._call(self.warrants.List, pb.ListWarrantsRequest(state=state, limit=limit))  # type: ignore[arg-type]
        return list(reply.warrants)

    def approve(self, warrant_id: str, note: str = "") -> pb.Warrant:
        return self._call(self.warrants.Approve, pb.ApproveWarrantRequest(id=warrant_id, note=note))

    def reject(self, warrant_id: str, reason: str = "") -> pb.Warrant:
        return self._call(self.warrants.Reject, pb.RejectWarrantRequest(id=warrant_id, reason=reason))

    def revoke(self, warrant_id: str, reason: str = "") -> pb.Warrant:
        return self._call(self.warrants.Revoke, pb.RevokeWarrantRequest(id=warrant_id, reason=reason))

    def checkpoint(self) -> pb.Checkpoint:
        return self._call(self.audit.GetCheckpoint, pb.GetCheckpointRequest())

    def inclusion_proof(self, index: int, tree_size: int = 0) -> pb.InclusionProof:
        return self._call(self.audit.GetInclusionProof,
                          pb.GetInclusionProofRequest(index=index, tree_size=tree_size))

    def consistency_proof(self, old_size: int, new_size: int = 0) -> pb.ConsistencyProof:
        return self._call(self.audit.GetConsistencyProof,
                          pb.GetConsistencyProofRequest(old_size=old_size, new_size=new_size))

    def get_policy(self, name: str = "release") -> pb.PolicyRules:
        return self._call(self.policies.GetPolicy, pb.GetPolicyRequest(name=name))

    def set_policy(self, name: str, rules: str, reason: str = "") -> pb.PolicyRules:
        return self._call(self.policies.SetPolicy,
                          pb.SetPolicyRequest(name=name, rules=rules, reason=reason))

    def entries(self, request: pb.ListEntriesRequest) -> Iterator[pb.AuditEntry]:
        return self._stream(self.audit.ListEntries(request, metadata=self._metadata))

    def release(self, warrant_id: str, batch_size: int = 0) -> Iterator[pb.ReleaseResponse]:
        return self._stream(self.releases.Release(
            pb.ReleaseRequest(warrant_id=warrant_id, batch_size=batch_size), metadata=self._metadata
        ))

    @staticmethod
    def _stream(stream: Any) -> Iterator[Any]:
        try:
            yield from stream
        except grpc.RpcError as exc:
            raise _wrap(exc) from None
        finally:
            stream.cancel()
