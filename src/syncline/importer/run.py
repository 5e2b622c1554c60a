"""The import pipeline: started, users, things, associations, completed, resumable.

Each file is read once, as a stream: records become encoded events, grouped in batches within
the Collect limits, and up to `concurrency` batches are in flight at once. Answers are settled
strictly in file order, so the checkpoint always describes a contiguous acknowledged prefix
(memory holds at most `concurrency + 1` batches, whatever the file size). Bad rows are written
to the rejected file with their file and line, and never sent.

A first Ctrl-C (or SIGTERM) stops at the next batch boundary: the checkpoint is saved and the
same command resumes. A second one forces. A kill -9 loses at most `save_interval` seconds of
acknowledgements, which are sent again and come back as duplicates.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

from syncline.client import Collector, RetryPolicy, SendResult
from syncline.client.collector import ENVELOPE_BYTES, MAX_BYTES, MAX_EVENTS
from syncline.client.errors import AuthenticationError, CollectError
from syncline.importer import readers
from syncline.importer.checkpoint import (
    VERSION,
    Checkpoint,
    CheckpointError,
    FileKey,
    FileProgress,
    State,
    file_key,
    mismatch,
)
from syncline.importer.readers import InputError, Record
from syncline.importer.report import RejectedLog, RejectedRow
from syncline.importer.rows import KINDS, Encoder, Problem, sync_event

ORDER = ("users", "things", "associations")
STARTED, COMPLETED = "preexisting_sync_started", "preexisting_sync_completed"


class ImportFailed(Exception):
    """The import stopped (refused credentials, a sync already completed, the server gone for
    longer than the retries last...). The checkpoint is saved: rerun to resume."""


class Interrupted(ImportFailed):
    pass


class Progress(Protocol):
    def begin(self, kind: str, path: Path, total: int, done: int, rows: int) -> None: ...
    def advance(self, kind: str, done: int, rows: int) -> None: ...
    def note(self, message: str) -> None: ...


class _Silent:
    def begin(self, kind: str, path: Path, total: int, done: int, rows: int) -> None:
        pass

    def advance(self, kind: str, done: int, rows: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class Options:
    url: str
    client_id: str
    client_secret: str
    files: dict[str, Path]
    mapping: dict[str, str] = field(default_factory=dict)
    checkpoint: Path = Path("syncline-import.checkpoint.json")
    rejected: Path = Path("import-rejected.jsonl")
    restart: bool = False
    concurrency: int = 4
    batch_size: int = MAX_EVENTS
    max_bytes: int = MAX_BYTES
    timestamp: int | None = None
    retry: RetryPolicy | None = None
    save_interval: float = 0.5


@dataclass
class _Chunk:
    events: list[bytes] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    bad: list[RejectedRow] = field(default_factory=list)
    size: int = ENVELOPE_BYTES
    rows: int = 0
    end: int = 0
    end_line: int = 0
    future: Future[SendResult] | None = None


class Importer:
    def __init__(self, options: Options, progress: Progress | None = None) -> None:
        self.o = options
        self.progress: Progress = progress or _Silent()
        self._stop = threading.Event()
        self._last_save = 0.0

    # the whole run ---------------------------------------------------------------------------
    def run(self) -> State:
        """Import everything (or resume); returns the final state. Raises ImportFailed."""
        inputs = self._check_inputs()
        state = self._state(inputs)
        checkpoint = Checkpoint(self.o.checkpoint, state)
        if state.completed:
            self.progress.note(f"already completed (checkpoint {self.o.checkpoint})")
            return state
        log = RejectedLog(self.o.rejected, state.rejected_bytes)
        collector = Collector(
            self.o.url,
            self.o.client_id,
            self.o.client_secret,
            retry=self.o.retry,
            max_events=self.o.batch_size,
            max_bytes=self.o.max_bytes,
            max_connections=self.o.concurrency,
        )
        pool = ThreadPoolExecutor(self.o.concurrency, thread_name_prefix="import")
        restore = self._trap_signals()
        try:
            self._save(checkpoint, log, force=True)
            if not state.started:
                self._sync_event(collector, pool, STARTED, state.timestamp)
                state.started = True
                self._save(checkpoint, log, force=True)
            for kind in ORDER:
                if kind in self.o.files:
                    self._file(kind, state, collector, pool, log, checkpoint)
            self._sync_event(collector, pool, COMPLETED, state.timestamp)
            state.completed = True
        except CollectError as exc:
            raise ImportFailed(str(exc)) from exc
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            collector.close()
            self._save(checkpoint, log, force=True)
            log.close()
            restore()
        return state

    def stop(self) -> None:
        """Stop at the next batch boundary (what a first Ctrl-C does)."""
        self._stop.set()

    # set-up --------------------------------------------------------------------------------
    def _check_inputs(self) -> dict[str, FileKey]:
        if not self.o.files:
            raise InputError("nothing to import: give --users, --things and/or --associations")
        keys = {}
        for kind, path in self.o.files.items():
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            if readers.file_format(path) == readers.CSV:
                self._check_header(kind, path)
            keys[kind] = file_key(path)
        return keys

    def _check_header(self, kind: str, path: Path) -> None:
        spec = KINDS[kind]
        columns = readers.csv_columns(path, self.o.mapping)
        unknown = [c for c in columns if c and c not in spec.fields]
        if unknown:
            raise InputError(
                f"{path}: unknown column(s) {', '.join(unknown)} for {kind} (fields: "
                f"{', '.join(spec.fields)}); rename with --map COLUMN=FIELD or drop with "
                "--map COLUMN="
            )
        missing = [f for f in spec.required if f not in columns]
        if missing:
            raise InputError(f"{path}: no {', '.join(missing)} column (required for {kind})")

    def _state(self, inputs: dict[str, FileKey]) -> State:
        try:
            saved = None if self.o.restart else Checkpoint.load(self.o.checkpoint)
        except CheckpointError as exc:
            raise InputError(f"{exc}; use --restart to start over") from exc
        if saved is not None:
            why = mismatch(saved, self.o.url, self.o.client_id, inputs, self.o.mapping)
            if why is not None:
                raise InputError(
                    f"checkpoint {self.o.checkpoint} belongs to another import ({why}); "
                    "use --restart to start over, or --checkpoint for another file"
                )
            return saved
        timestamp = self.o.timestamp or time.time_ns() // 1_000_000
        return State(VERSION, self.o.url, self.o.client_id, timestamp, inputs, dict(self.o.mapping))

    def _trap_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def first(signum: int, frame: FrameType | None) -> None:
            self.progress.note("stopping at the next batch (again to force)")
            self._stop.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)

        before = {s: signal.signal(s, first) for s in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for signum, handler in before.items():
                signal.signal(signum, handler)

        return restore

    # the sync's own events -----------------------------------------------------------------
    def _sync_event(
        self, collector: Collector, pool: ThreadPoolExecutor, event_type: str, timestamp: int
    ) -> None:
        _, data = sync_event(event_type, timestamp)
        result = self._wait(pool.submit(collector.post, [data]))  # Ctrl-C stays responsive
        if result.invalid:
            bad = result.invalid[0]
            hint = ""
            if bad.code == "sync.already_completed":
                hint = (
                    " (this API space's preexisting sync was completed before; an operator can "
                    "allow another one with `syncline sync reopen`)"
                )
            raise ImportFailed(f"{event_type} refused: {bad.error}{hint}")

    # one file ------------------------------------------------------------------------------
    def _file(
        self,
        kind: str,
        state: State,
        collector: Collector,
        pool: ThreadPoolExecutor,
        log: RejectedLog,
        checkpoint: Checkpoint,
    ) -> None:
        progress = state.progress(kind)
        path = self.o.files[kind]
        self.progress.begin(kind, path, path.stat().st_size, progress.offset, progress.rows)
        if progress.done:
            return
        encoder = Encoder(KINDS[kind], state.timestamp)
        records = readers.read(path, self.o.mapping, progress.offset, progress.line)
        pending: deque[_Chunk] = deque()
        for chunk in self._chunks(path.name, encoder, records):
            if chunk.events:
                chunk.future = pool.submit(collector.post, chunk.events)
            pending.append(chunk)
            while pending and (len(pending) > self.o.concurrency or _ready(pending[0])):
                self._settle(kind, pending.popleft(), state, log, checkpoint)
            if self._stop.is_set():
                raise Interrupted("interrupted")
        while pending:
            self._settle(kind, pending.popleft(), state, log, checkpoint)
        progress.done = True
        self._save(checkpoint, log, force=True)

    def _chunks(self, name: str, encoder: Encoder, records: Iterator[Record]) -> Iterator[_Chunk]:
        chunk = _Chunk()
        limit, max_bytes = self.o.batch_size, self.o.max_bytes
        for record in records:
            if record.error is not None:
                chunk.bad.append(
                    RejectedRow(name, record.line, "row.malformed", record.error, "importer")
                )
            else:
                out = encoder.encode(record.values, record.line)
                if isinstance(out, Problem):
                    chunk.bad.append(
                        RejectedRow(name, record.line, out.code, str(out), "importer", out.field)
                    )
                else:
                    extra = len(out[1]) + 1
                    if chunk.events and (
                        len(chunk.events) >= limit or chunk.size + extra > max_bytes
                    ):
                        yield chunk
                        chunk = _Chunk()
                    chunk.events.append(out[1])
                    chunk.lines.append(record.line)
                    chunk.size += extra
            chunk.rows += 1
            chunk.end, chunk.end_line = record.end, record.end_line
            if len(chunk.bad) >= limit:
                yield chunk
                chunk = _Chunk()
        if chunk.rows:
            yield chunk

    def _settle(
        self, kind: str, chunk: _Chunk, state: State, log: RejectedLog, checkpoint: Checkpoint
    ) -> None:
        result = self._wait(chunk.future) if chunk.future is not None else None
        rejected = list(chunk.bad)
        name = self.o.files[kind].name
        if result is not None:
            for bad in result.invalid:
                line = chunk.lines[bad.index] if 0 <= bad.index < len(chunk.lines) else 0
                code = bad.code or "rejected"
                rejected.append(
                    RejectedRow(
                        name, line, code, bad.error, "server", bad.field or "", bad.event_id
                    )
                )
        rejected.sort(key=lambda r: r.line)
        for row in rejected:
            log.write(row)
            state.reasons[row.code] = state.reasons.get(row.code, 0) + 1
        progress = state.progress(kind)
        _count(progress, chunk, result)
        state.rejected_bytes = log.size
        self.progress.advance(kind, progress.offset, progress.rows)
        self._save(checkpoint, log)

    def _wait(self, future: Future[SendResult]) -> SendResult:
        while True:
            try:
                return future.result(timeout=0.2)
            except FutureTimeout:
                if self._stop.is_set():
                    raise Interrupted("interrupted") from None
            except AuthenticationError as exc:
                raise ImportFailed(f"the server refused the credentials: {exc}") from exc

    def _save(self, checkpoint: Checkpoint, log: RejectedLog, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_save >= self.o.save_interval:
            log.sync()
            checkpoint.save()
            self._last_save = now


def _ready(chunk: _Chunk) -> bool:
    return chunk.future is None or chunk.future.done()


def _count(progress: FileProgress, chunk: _Chunk, result: SendResult | None) -> None:
    progress.rows += chunk.rows
    progress.bad += len(chunk.bad)
    if result is not None:
        progress.sent += len(chunk.events)
        progress.accepted += result.accepted
        progress.duplicates += result.duplicates
        progress.rejected += len(result.invalid)
    progress.offset, progress.line = chunk.end, chunk.end_line
