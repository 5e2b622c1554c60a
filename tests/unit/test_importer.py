"""The importer's pure parts: reading from an offset, row conversion and ids, the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncline.importer import readers
from syncline.importer.checkpoint import VERSION, Checkpoint, State, file_key, mismatch
from syncline.importer.readers import InputError, parse_mapping
from syncline.importer.rows import KINDS, Encoder, Problem, sync_event
from syncline.schemas import collect as c

CSV_TEXT = (
    "\ufeffuser_id,first_name,email\n"
    "u1,Ada,ada@example.com\n"
    '"u2","Multi\nline, quoted",\n'
    "\n"
    "u3,Élodie,e@example.com\n"
    "u4,short\n"
)


def test_csv_records_carry_lines_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    records = list(readers.read(path, {}))
    assert [(r.line, r.end_line) for r in records] == [(2, 2), (3, 4), (6, 6), (7, 7)]
    assert records[0].values == {"user_id": "u1", "first_name": "Ada", "email": "ada@example.com"}
    assert records[1].values == {"user_id": "u2", "first_name": "Multi\nline, quoted"}
    assert records[2].values["first_name"] == "Élodie"
    assert records[3].error == "expected 3 columns, got 2"
    assert records[-1].end == path.stat().st_size


@pytest.mark.parametrize("after", [0, 1, 2])
def test_resuming_from_any_record_reads_exactly_the_rest(tmp_path: Path, after: int) -> None:
    path = tmp_path / "users.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    whole = list(readers.read(path, {}))
    mark = whole[after]
    rest = list(readers.read(path, {}, mark.end, mark.end_line))
    assert rest == whole[after + 1 :]


def test_jsonl_records_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "things.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"thing_id": "t1"}\n\n[1]\n{"thing_id": "t2", "x": 1}\n{bad\n')
    records = list(readers.read(path, {"x": ""}))
    assert [(r.line, r.values, r.error) for r in records[:3]] == [
        (1, {"thing_id": "t1"}, None),
        (3, {}, "not a JSON object"),
        (4, {"thing_id": "t2"}, None),
    ]
    assert records[3].error is not None
    assert records[3].error.startswith("not valid JSON")
    assert list(readers.read(path, {"x": ""}, records[1].end, records[1].end_line)) == records[2:]


def test_formats_and_mappings() -> None:
    assert readers.file_format(Path("a.CSV")) == readers.CSV
    assert readers.file_format(Path("a.ndjson")) == readers.JSONL
    with pytest.raises(InputError, match="unknown format"):
        readers.file_format(Path("a.xlsx"))
    assert parse_mapping(["Mail=email", "notes="]) == {"Mail": "email", "notes": ""}
    with pytest.raises(InputError, match="COLUMN=FIELD"):
        parse_mapping(["email"])


def test_rows_become_events_the_server_accepts() -> None:
    encoder = Encoder(KINDS["users"], 1_700_000_000_000)
    out = encoder.encode(
        {
            "user_id": "u1",
            "copilot_analysis_consent": "Yes",
            "original_creation_date": "2019-05-03T02:03:58Z",
            "utc_offset": "-0500",
        }
    )
    assert not isinstance(out, Problem)
    event_id, data = out
    event = c.decode_event(data)
    assert isinstance(event, c.PreexistingUserCreated)
    assert event.event_id == event_id
    assert event.timestamp == 1_700_000_000_000
    assert event.payload.copilot_analysis_consent is True
    assert event.payload.original_creation_date == 1_556_849_038_000
    assert json.loads(data)["payload"]["utc_offset"] == "-0500"


def test_event_ids_depend_on_content_type_and_run() -> None:
    def event_id(kind: str, values: dict[str, str], timestamp: int = 1, line: int = 2) -> str:
        out = Encoder(KINDS[kind], timestamp).encode(dict(values), line)
        assert not isinstance(out, Problem)
        return out[0]

    row = {"user_id": "u1", "thing_id": "t1"}
    assert event_id("associations", row) == event_id("associations", row)
    assert event_id("associations", row) != event_id("associations", row, timestamp=2)
    assert event_id("users", {"user_id": "u1"}) != event_id("users", {"user_id": "u2"})
    assert event_id("users", {"user_id": "u1"}) != event_id("things", {"thing_id": "u1"})
    assert len(event_id("users", {"user_id": "u1"}, line=2**48)) <= 128
    # in line order, so that the server appends to its index of event ids
    lines = [2, 9, 10, 255, 4096, 70_000, 2**40]
    ids = [event_id("users", {"user_id": f"u{n % 7}"}, line=n) for n in lines]
    assert ids == sorted(ids)
    assert sync_event("preexisting_sync_started", 5)[0] == "sync-started-5"


@pytest.mark.parametrize(
    ("kind", "values", "expected"),
    [
        ("users", {"email": "a@b.co"}, "user_id: is required"),
        ("users", {"user_id": "u1", "email": "nope"}, "email: must be a valid email address"),
        ("users", {"user_id": "u1", "utc_offset": "+1460"}, "utc_offset: must be Z"),
        ("users", {"user_id": "u1", "original_creation_date": "May"}, "original_creation_date"),
        ("users", {"user_id": "u1", "nickname": "x"}, "nickname: unknown field"),
        ("things", {"thing_id": "t 1"}, "thing_id: must be 1..128"),
        ("associations", {"user_id": "u1"}, "thing_id: is required"),
        ("associations", {"user_id": "u1", "thing_id": "t", "original_association_date": -1}, ""),
    ],
)
def test_bad_rows_say_what_is_wrong(kind: str, values: dict[str, str], expected: str) -> None:
    out = Encoder(KINDS[kind], 1).encode(values)
    assert isinstance(out, Problem)
    assert str(out).startswith(expected)


def test_checkpoint_round_trip_and_mismatch(tmp_path: Path) -> None:
    data = tmp_path / "users.csv"
    data.write_text("user_id\nu1\n")
    inputs = {"users": file_key(data)}
    state = State(VERSION, "http://x", "id", 123, inputs)
    state.progress("users").offset = 8
    path = tmp_path / "cp.json"
    Checkpoint(path, state).save()
    loaded = Checkpoint.load(path)
    assert loaded == state
    assert not (tmp_path / "cp.json.tmp").exists()
    assert mismatch(state, "http://x", "id", inputs) is None
    assert mismatch(state, "http://y", "id", inputs) is not None
    assert mismatch(state, "http://x", "id", inputs, {"a": "user_id"}) is not None
    data.write_text("user_id\nu1\nu2\n")
    assert "changed since" in (mismatch(state, "http://x", "id", {"users": file_key(data)}) or "")
