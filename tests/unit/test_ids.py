"""Ids minted on hot paths: UUIDv7 strings that sort by their time."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from syncline.ids import uuid7

MAX_MS = 2**48 - 1


@given(st.integers(0, MAX_MS))
def test_a_uuid7_is_a_version_7_rfc_uuid_carrying_its_milliseconds(millis: int) -> None:
    text = uuid7(millis)
    parsed = uuid.UUID(text)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == millis
    assert text == str(uuid.UUID(text))  # canonical: lower-case hex, dashes in place


@given(st.integers(0, MAX_MS - 1), st.integers(1, 10_000))
def test_later_ids_sort_later(millis: int, later: int) -> None:
    assert uuid7(millis) < uuid7(min(millis + later, MAX_MS))


def test_ids_of_one_millisecond_are_distinct() -> None:
    assert len({uuid7(1_700_000_000_000) for _ in range(10_000)}) == 10_000
