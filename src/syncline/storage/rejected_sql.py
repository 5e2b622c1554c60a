"""The `rejected_events` columns and filters, shared by the unit of work, the reader and the
dashboard's reads."""

from __future__ import annotations

from typing import Any

from syncline.storage.conn import Blob
from syncline.storage.records import RejectedRow

COLUMNS = (
    "rejected_id, event_id, event_index, type, raw, code, field, message, received_at, "
    "status, replayed_at, replay_count"
)


def values(r: RejectedRow) -> tuple[Any, ...]:
    return (
        r.rejected_id,
        r.event_id,
        r.event_index,
        r.type,
        Blob(r.raw),
        r.code,
        r.field,
        r.message,
        r.received_at,
        r.status,
        r.replayed_at,
        r.replay_count,
    )


def row(r: tuple[Any, ...]) -> RejectedRow:
    fields = list(r)
    fields[4] = bytes(fields[4])
    return RejectedRow(*fields)


def where(
    space: str, status: str | None, code: str | None, type: str | None
) -> tuple[str, list[Any]]:
    sql, args = "space_key = ?", [space]
    for column, value in (("status", status), ("code", code), ("type", type)):
        if value is not None:
            sql += f" AND {column} = ?"
            args.append(value)
    return sql, args
