"""Sample input files for `syncline demo` and `bench/import.py`: users, things, associations.

Deterministic for a given size; written in blocks so a million rows take a second or two.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds")
_OFFSETS = ("Z", "+0100", "-0500", "+0530", "0000", "+1000", "-0800", "+0200")
_MODELS = ("kettle-2", "thermo-x", "lamp-mini", "plug-3")
_BASE_MS = 1_556_849_038_000  # 2019-05-03, the seed's original_creation_date
_BLOCK = 10_000


def write_sample(directory: Path, users: int, things: int, associations: int) -> dict[str, Path]:
    """users.csv, things.csv, associations.csv in `directory`; thing i belongs to user i % n."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "users": directory / "users.csv",
        "things": directory / "things.csv",
        "associations": directory / "associations.csv",
    }
    _write(
        paths["users"],
        "user_id,first_name,last_name,email,copilot_analysis_consent,utc_offset,"
        "original_creation_date",
        users,
        lambda i: (
            f"user-{i},{_FIRST[i % 8]},{_LAST[i // 8 % 8]},user{i}@example.com,"
            f"{'true' if i % 3 else 'false'},{_OFFSETS[i % 8]},{_BASE_MS + i * 1000}"
        ),
    )
    _write(
        paths["things"],
        "thing_id,model,firmware_version,original_creation_date",
        things,
        lambda i: f"thing-{i},{_MODELS[i % 4]},1.{i % 7}.0,{_BASE_MS + i * 1000}",
    )
    _write(
        paths["associations"],
        "user_id,thing_id,original_association_date",
        associations,
        lambda i: f"user-{i % max(users, 1)},thing-{i % max(things, 1)},{_BASE_MS + i * 1000}",
    )
    return paths


def _write(path: Path, header: str, count: int, make: Callable[[int], str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        for start in range(0, count, _BLOCK):
            stop = min(count, start + _BLOCK)
            f.write("\n".join(make(i) for i in range(start, stop)) + "\n")
