"""The services and RPC names the gateway serves, read from the generated service descriptors.

The API policy is checked against this list: a rule naming an RPC that does not exist is refused
at load, and a test fails when an RPC has no rule (it would be denied to everyone).
"""

from __future__ import annotations

from gateway.api.v1 import wsg_pb2 as pb

SERVICES: tuple[str, ...] = tuple(s.full_name for s in pb.DESCRIPTOR.services_by_name.values())
RPCS: tuple[str, ...] = tuple(
    m.name for s in pb.DESCRIPTOR.services_by_name.values() for m in s.methods
)
