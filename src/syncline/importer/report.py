"""What an import did: the rejected-rows file (JSON Lines) and the totals."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from syncline.importer.checkpoint import State


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that was not imported: refused here (`source` importer) or by the server."""

    file: str
    line: int
    code: str
    reason: str
    source: str
    field: str = ""
    event_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "where": f"{self.file}:{self.line}",
            "code": self.code,
            "reason": self.reason,
            "source": self.source,
        }
        if self.field:
            out["field"] = self.field
        if self.event_id:
            out["event_id"] = self.event_id
        return out


class RejectedLog:
    """Append-only JSON Lines of rejected rows, cut back to a checkpoint's size on resume."""

    def __init__(self, path: Path, keep_bytes: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[bytes] = path.open("ab")
        self._f.truncate(keep_bytes)
        self._f.seek(keep_bytes)
        self.size = keep_bytes

    def write(self, row: RejectedRow) -> None:
        data = msgspec.json.encode(row.as_json()) + b"\n"
        self._f.write(data)
        self.size += len(data)

    def sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def totals(state: State) -> dict[str, int]:
    keys = ("rows", "sent", "accepted", "duplicates", "rejected", "bad")
    return {k: sum(getattr(p, k) for p in state.files.values()) for k in keys}


def summary(state: State, elapsed: float, rejected_path: Path) -> dict[str, Any]:
    """The report as JSON (`syncline import --json`)."""
    return {
        "status": "completed" if state.completed else "incomplete",
        "timestamp": state.timestamp,
        "files": {k: msgspec.to_builtins(v) for k, v in state.files.items()},
        "totals": totals(state),
        "reasons": dict(sorted(state.reasons.items(), key=lambda kv: -kv[1])),
        "rejectedFile": str(rejected_path),
        "seconds": round(elapsed, 3),
    }
