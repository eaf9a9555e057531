"""A release batch's hand-written wire bytes are exactly what the generated class serializes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api.convert import release_item_to_pb
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.wire import batch_bytes, serialize, varint
from gateway.release.items import Batch, Released

TEXT = st.text(max_size=40)  # any Unicode the JSON payload and ids may carry, empty included
RECORDS = st.builds(
    Released,
    id=TEXT,
    category=st.sampled_from(["", "message_content", "subscriber", "ünïcode"]) | TEXT,
    effect=st.sampled_from(["", "release", "release_pseudonymized"]) | TEXT,
    payload=st.binary(max_size=300) | st.binary(min_size=16_000, max_size=20_000),
    sha256=st.sampled_from(["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"])
    | TEXT,
)
COUNTERS = st.integers(0, 2**32 - 1) | st.sampled_from([0, 1, 127, 128, 16383, 16384])


class TestBatchBytes:
    @settings(max_examples=300, deadline=None)
    @given(
        index=COUNTERS,
        records=st.lists(RECORDS, max_size=12),
        examined=COUNTERS | st.integers(0, 2**64 - 1),
        audit_index=COUNTERS | st.integers(0, 2**64 - 1),
    )
    def test_equal_to_the_generated_serialization(
        self, index: int, records: list[Released], examined: int, audit_index: int
    ) -> None:
        """Any batch (defaults left out, long and short fields, any text): the same bytes."""
        batch = Batch(index, records, examined, audit_index)
        expected = release_item_to_pb("w", batch).SerializeToString(deterministic=True)
        assert batch_bytes(batch) == expected
        assert pb.ReleaseResponse.FromString(batch_bytes(batch)) == release_item_to_pb("w", batch)

    def test_a_full_batch_of_realistic_records(self) -> None:
        """500 records of a few hundred bytes: the lengths of the batch need several bytes."""
        records = [
            Released(
                f"message_content:t{i:09d}",
                "message_content",
                "release_pseudonymized",
                b'{"body":"' + b"x" * (i % 400) + b'"}',
                f"{i:064x}",
            )
            for i in range(500)
        ]
        batch = Batch(199, records, 120_000, 3_456)
        assert batch_bytes(batch) == release_item_to_pb("w", batch).SerializeToString()

    def test_varint(self) -> None:
        for n in (0, 1, 127, 128, 300, 16383, 16384, 2**32, 2**64 - 1):
            assert pb.RecordBatch.FromString(b"\x18" + varint(n)).examined == n


def test_the_serializer_sends_bytes_as_they_are_and_messages_serialized() -> None:
    """What the Release RPC's serializer does with each kind of item."""
    started = pb.ReleaseResponse(started=pb.ReleaseStarted(warrant_id="w", candidate_records=3))
    assert serialize(b"\x12\x00") == b"\x12\x00"
    assert serialize(started) == started.SerializeToString()
