"""The release hot path's fast helpers must write exactly what their plain versions write."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit.canonical import canonical_bytes, canonical_json
from gateway.model import format_time
from gateway.stores.reference.sqlite import _time, from_us, to_us

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _plain(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=500, deadline=None)
@given(JSON)
def test_canonical_json_is_the_standard_librarys_canonical_form(value: object) -> None:
    try:
        expected = _plain(value).encode()
    except UnicodeEncodeError:  # lone surrogates: neither can write them as UTF-8
        return
    assert canonical_bytes(value) == expected
    assert canonical_json(value) == expected.decode()


def test_control_characters_and_big_integers() -> None:
    value = {"b": '\x00\x1f\x7f\u2028"\\/é😀', "a": [2**70, -(2**64), 1.5, True, None]}
    assert canonical_json(value) == _plain(value)


@settings(max_examples=500, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(1000, 1, 1),
        max_value=dt.datetime(9999, 12, 31),
        timezones=st.just(dt.UTC),
    )
)
def test_store_time_text_is_format_time(value: dt.datetime) -> None:
    us = to_us(value)
    assert _time(us) == format_time(from_us(us))
    assert _time(None) is None
