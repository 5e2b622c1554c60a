"""Records from CSV or JSON Lines files, streamed, each with its line and the byte offset after it.

The byte offset lets an import resume exactly after the last acknowledged record (the CSV
header is read again first). Values come as found: strings from CSV (an empty cell is absent),
JSON values from JSON Lines. `--map old=new` renames a column; `old=` drops it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

CSV, JSONL = "csv", "jsonl"
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


class InputError(Exception):
    """A file cannot be imported at all (unknown format, no header, unknown columns)."""


@dataclass(slots=True)
class Record:
    line: int  # the record's first line, 1-based
    end: int  # byte offset just after the record
    end_line: int  # the record's last line
    values: dict[str, Any]
    error: str | None = None  # a line that is not a record (bad JSON, wrong column count)


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        return CSV
    if name.endswith(_JSONL_SUFFIXES):
        return JSONL
    raise InputError(f"{path}: unknown format (expected .csv, .jsonl or .ndjson)")


def parse_mapping(items: list[str]) -> dict[str, str]:
    """`["Email=email", "notes="]` -> {"Email": "email", "notes": ""} ("" drops the column)."""
    mapping: dict[str, str] = {}
    for item in items:
        source, sep, target = item.partition("=")
        if not sep or not source:
            raise InputError(f"--map {item!r}: expected COLUMN=FIELD (or COLUMN= to drop it)")
        mapping[source] = target
    return mapping


def read(
    path: Path, mapping: Mapping[str, str], offset: int = 0, line: int = 0
) -> Iterator[Record]:
    """The records after byte `offset` (0: the whole file; `line` = lines before `offset`)."""
    if file_format(path) == CSV:
        yield from _csv(path, mapping, offset, line)
    else:
        yield from _jsonl(path, mapping, offset, line)


def csv_columns(path: Path, mapping: Mapping[str, str]) -> list[str]:
    """The fields a CSV file's header names, after mapping ("" for a dropped column)."""
    with path.open("rb") as f:
        lines = _Lines(f, 0, 0)
        header = next(csv.reader(lines), None)
    if not header:
        raise InputError(f"{path}: empty file, expected a header line")
    header[0] = header[0].removeprefix("\ufeff")
    return [mapping.get(name.strip(), name.strip()) for name in header]


class _Lines:
    """Decoded lines of a binary file, counting bytes and lines as csv.reader pulls them."""

    __slots__ = ("count", "f", "offset")

    def __init__(self, f: IO[bytes], offset: int, count: int) -> None:
        self.f, self.offset, self.count = f, offset, count

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        data = self.f.readline()
        if not data:
            raise StopIteration
        self.offset += len(data)
        self.count += 1
        return data.decode("utf-8", errors="replace")


def _csv(path: Path, mapping: Mapping[str, str], offset: int, line: int) -> Iterator[Record]:
    columns = csv_columns(path, mapping)
    width = len(columns)
    keep = [(i, name) for i, name in enumerate(columns) if name]
    with path.open("rb") as f:
        lines = _Lines(f, 0, 0)
        reader = csv.reader(lines)
        next(reader)  # the header
        if offset > lines.offset:
            f.seek(offset)
            lines.offset, lines.count = offset, line
        previous = lines.count
        for row in reader:
            first, previous = previous + 1, lines.count
            if not row:
                continue
            if len(row) != width:
                error = f"expected {width} columns, got {len(row)}"
                yield Record(first, lines.offset, lines.count, {}, error)
                continue
            values = {name: row[i] for i, name in keep if row[i] != ""}
            yield Record(first, lines.offset, lines.count, values)


_decode = msgspec.json.decode


def _jsonl(path: Path, mapping: Mapping[str, str], offset: int, line: int) -> Iterator[Record]:
    with path.open("rb") as f:
        f.seek(offset)
        if offset == 0:
            if f.read(3) == b"\xef\xbb\xbf":
                offset = 3
            else:
                f.seek(0)
        for data in f:
            offset += len(data)
            line += 1
            if not data.strip():
                continue
            try:
                value = _decode(data)
            except msgspec.DecodeError as exc:
                yield Record(line, offset, line, {}, f"not valid JSON: {exc}")
                continue
            if not isinstance(value, dict):
                yield Record(line, offset, line, {}, "not a JSON object")
                continue
            if mapping:
                value = _mapped(value, mapping)
            yield Record(line, offset, line, value)


def _mapped(value: dict[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        target = mapping.get(key, key)
        if target:
            out[target] = item
    return out
