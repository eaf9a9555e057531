import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WarrantState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WARRANT_STATE_UNSPECIFIED: _ClassVar[WarrantState]
    WARRANT_STATE_SUBMITTED: _ClassVar[WarrantState]
    WARRANT_STATE_APPROVED: _ClassVar[WarrantState]
    WARRANT_STATE_REJECTED: _ClassVar[WarrantState]
    WARRANT_STATE_REVOKED: _ClassVar[WarrantState]
    WARRANT_STATE_EXPIRED: _ClassVar[WarrantState]
WARRANT_STATE_UNSPECIFIED: WarrantState
WARRANT_STATE_SUBMITTED: WarrantState
WARRANT_STATE_APPROVED: WarrantState
WARRANT_STATE_REJECTED: WarrantState
WARRANT_STATE_REVOKED: WarrantState
WARRANT_STATE_EXPIRED: WarrantState

class Window(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WarrantSpec(_message.Message):
    __slots__ = ("case_number", "authority", "legal_basis", "targets", "window", "categories", "expires_at", "nondisclosure_until", "include_received_direct", "document_sha256")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    NONDISCLOSURE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RECEIVED_DIRECT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    authority: str
    legal_basis: str
    targets: _containers.RepeatedScalarFieldContainer[str]
    window: Window
    categories: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    nondisclosure_until: _timestamp_pb2.Timestamp
    include_received_direct: bool
    document_sha256: str
    def __init__(self, case_number: _Optional[str] = ..., authority: _Optional[str] = ..., legal_basis: _Optional[str] = ..., targets: _Optional[_Iterable[str]] = ..., window: _Optional[_Union[Window, _Mapping]] = ..., categories: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., nondisclosure_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., include_received_direct: _Optional[bool] = ..., document_sha256: _Optional[str] = ...) -> None: ...

class Warrant(_message.Message):
    __slots__ = ("id", "spec", "state", "target_accounts", "submitted_by", "submitted_at", "decided_by", "decided_at", "revoked_by", "revoked_at", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: WarrantSpec
    state: WarrantState
    target_accounts: _containers.RepeatedScalarFieldContainer[str]
    submitted_by: str
    submitted_at: _timestamp_pb2.Timestamp
    decided_by: str
    decided_at: _timestamp_pb2.Timestamp
    revoked_by: str
    revoked_at: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[WarrantSpec, _Mapping]] = ..., state: _Optional[_Union[WarrantState, str]] = ..., target_accounts: _Optional[_Iterable[str]] = ..., submitted_by: _Optional[str] = ..., submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_by: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_by: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class SubmitWarrantRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: WarrantSpec
    def __init__(self, spec: _Optional[_Union[WarrantSpec, _Mapping]] = ...) -> None: ...

class GetWarrantRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListWarrantsRequest(_message.Message):
    __slots__ = ("state", "limit")
    STATE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    state: WarrantState
    limit: int
    def __init__(self, state: _Optional[_Union[WarrantState, str]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListWarrantsResponse(_message.Message):
    __slots__ = ("warrants",)
    WARRANTS_FIELD_NUMBER: _ClassVar[int]
    warrants: _containers.RepeatedCompositeFieldContainer[Warrant]
    def __init__(self, warrants: _Optional[_Iterable[_Union[Warrant, _Mapping]]] = ...) -> None: ...

class ApproveWarrantRequest(_message.Message):
    __slots__ = ("id", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    note: str
    def __init__(self, id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class RejectWarrantRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeWarrantRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("warrant_id", "batch_size")
    WARRANT_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    warrant_id: str
    batch_size: int
    def __init__(self, warrant_id: _Optional[str] = ..., batch_size: _Optional[int] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("id", "category", "effect", "payload", "sha256")
    ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    category: str
    effect: str
    payload: bytes
    sha256: str
    def __init__(self, id: _Optional[str] = ..., category: _Optional[str] = ..., effect: _Optional[str] = ..., payload: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

class ReleaseStarted(_message.Message):
    __slots__ = ("warrant_id", "candidate_records")
    WARRANT_ID_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_RECORDS_FIELD_NUMBER: _ClassVar[int]
    warrant_id: str
    candidate_records: int
    def __init__(self, warrant_id: _Optional[str] = ..., candidate_records: _Optional[int] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("index", "records", "examined", "audit_index")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    EXAMINED_FIELD_NUMBER: _ClassVar[int]
    AUDIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    index: int
    records: _containers.RepeatedCompositeFieldContainer[Record]
    examined: int
    audit_index: int
    def __init__(self, index: _Optional[int] = ..., records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., examined: _Optional[int] = ..., audit_index: _Optional[int] = ...) -> None: ...

class ReleaseSummary(_message.Message):
    __slots__ = ("warrant_id", "released", "released_by_effect", "withheld", "pseudonymized_parties", "batches", "audit_index", "released_by_category", "checkpoint", "last_batch_proof", "completed_proof", "records_sha256")
    class ReleasedByEffectEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class WithheldEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ReleasedByCategoryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    WARRANT_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_BY_EFFECT_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYMIZED_PARTIES_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    AUDIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    RELEASED_BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_PROOF_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_PROOF_FIELD_NUMBER: _ClassVar[int]
    RECORDS_SHA256_FIELD_NUMBER: _ClassVar[int]
    warrant_id: str
    released: int
    released_by_effect: _containers.ScalarMap[str, int]
    withheld: _containers.ScalarMap[str, int]
    pseudonymized_parties: int
    batches: int
    audit_index: int
    released_by_category: _containers.ScalarMap[str, int]
    checkpoint: str
    last_batch_proof: InclusionProof
    completed_proof: InclusionProof
    records_sha256: str
    def __init__(self, warrant_id: _Optional[str] = ..., released: _Optional[int] = ..., released_by_effect: _Optional[_Mapping[str, int]] = ..., withheld: _Optional[_Mapping[str, int]] = ..., pseudonymized_parties: _Optional[int] = ..., batches: _Optional[int] = ..., audit_index: _Optional[int] = ..., released_by_category: _Optional[_Mapping[str, int]] = ..., checkpoint: _Optional[str] = ..., last_batch_proof: _Optional[_Union[InclusionProof, _Mapping]] = ..., completed_proof: _Optional[_Union[InclusionProof, _Mapping]] = ..., records_sha256: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("started", "batch", "summary")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    started: ReleaseStarted
    batch: RecordBatch
    summary: ReleaseSummary
    def __init__(self, started: _Optional[_Union[ReleaseStarted, _Mapping]] = ..., batch: _Optional[_Union[RecordBatch, _Mapping]] = ..., summary: _Optional[_Union[ReleaseSummary, _Mapping]] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("note", "tree_size", "root_hash", "verifier_key")
    NOTE_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    note: str
    tree_size: int
    root_hash: bytes
    verifier_key: str
    def __init__(self, note: _Optional[str] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ..., verifier_key: _Optional[str] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("index", "tree_size")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    index: int
    tree_size: int
    def __init__(self, index: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("index", "tree_size", "leaf", "hashes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    index: int
    tree_size: int
    leaf: bytes
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, index: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf: _Optional[bytes] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("old_size", "new_size")
    OLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    old_size: int
    new_size: int
    def __init__(self, old_size: _Optional[int] = ..., new_size: _Optional[int] = ...) -> None: ...

class ConsistencyProof(_message.Message):
    __slots__ = ("old_size", "new_size", "hashes")
    OLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    old_size: int
    new_size: int
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, old_size: _Optional[int] = ..., new_size: _Optional[int] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ListEntriesRequest(_message.Message):
    __slots__ = ("warrant_id", "since", "until")
    WARRANT_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    warrant_id: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, warrant_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("index", "line")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    index: int
    line: bytes
    def __init__(self, index: _Optional[int] = ..., line: _Optional[bytes] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SetPolicyRequest(_message.Message):
    __slots__ = ("name", "rules", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    rules: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., rules: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PolicyRules(_message.Message):
    __slots__ = ("name", "rules", "rules_sha256", "policy_version", "table_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    RULES_SHA256_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    rules: str
    rules_sha256: str
    policy_version: str
    table_version: int
    def __init__(self, name: _Optional[str] = ..., rules: _Optional[str] = ..., rules_sha256: _Optional[str] = ..., policy_version: _Optional[str] = ..., table_version: _Optional[int] = ...) -> None: ...
