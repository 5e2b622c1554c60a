"""The part of a DB-API connection the shared SQL uses, and the one value type it marks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Any], /) -> Any: ...


class Blob(bytes):
    """Binary data for a binary column. Other `bytes` are UTF-8 text (JSON documents)."""

    __slots__ = ()


def marks(n: int) -> str:
    """`n` placeholders for `IN (...)`; none is `NULL`, which matches nothing (PostgreSQL
    refuses an empty list)."""
    return ",".join("?" * n) or "NULL"
