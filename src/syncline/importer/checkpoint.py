"""The checkpoint: how far the server has acknowledged an import, written atomically.

Written after acknowledged batches (at most every `interval` seconds, and at every phase
boundary and on exit): a temporary file, fsync, rename. It records the run's timestamp (which
the event ids derive from), whether `preexisting_sync_started`/`_completed` were acknowledged,
and per input file the byte offset and line after the last record of the contiguous
acknowledged prefix, with the counts so far, and the size of the rejected-rows file at that
point. Rerunning the same command resumes from there; what was sent after it is sent again and
comes back as duplicates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

VERSION = 1


class CheckpointError(Exception):
    pass


class FileProgress(msgspec.Struct):
    offset: int = 0
    line: int = 0
    done: bool = False
    rows: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    bad: int = 0


class FileKey(msgspec.Struct, frozen=True):
    path: str
    size: int
    mtime_ns: int


class State(msgspec.Struct):
    version: int
    url: str
    client_id: str
    timestamp: int
    inputs: dict[str, FileKey]
    mapping: dict[str, str] = {}
    files: dict[str, FileProgress] = {}
    started: bool = False
    completed: bool = False
    rejected_bytes: int = 0
    reasons: dict[str, int] = {}  # rejection code -> rows, local and from the server

    def progress(self, kind: str) -> FileProgress:
        if kind not in self.files:
            self.files[kind] = FileProgress()
        return self.files[kind]


def file_key(path: Path) -> FileKey:
    stat = path.stat()
    return FileKey(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass
class Checkpoint:
    path: Path
    state: State
    saved: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return msgspec.json.decode(data, type=State)
        except msgspec.MsgspecError as exc:
            raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from exc

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(msgspec.json.encode(self.state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def mismatch(
    state: State,
    url: str,
    client_id: str,
    inputs: dict[str, FileKey],
    mapping: dict[str, str] | None = None,
) -> str | None:
    """Why `state` belongs to another import, or None if this command may resume it."""
    if state.version != VERSION:
        return f"it was written by another version ({state.version})"
    if (state.url, state.client_id) != (url, client_id):
        return f"it is for {state.url} as {state.client_id}"
    if state.mapping != (mapping or {}):
        return "its --map options differ"
    if set(state.inputs) != set(inputs):
        return f"it imports {', '.join(sorted(state.inputs))}"
    for kind, key in inputs.items():
        before = state.inputs[kind]
        if before.path != key.path:
            return f"its {kind} file is {before.path}"
        if (before.size, before.mtime_ns) != (key.size, key.mtime_ns):
            return f"{key.path} changed since (size or modification time)"
    return None
