"""`syncline import` end to end: N users + N things + N associations from CSV files into a
real `syncline serve` on a fresh SQLite file.

    python bench/import.py [--rows N] [--concurrency C] [--synchronous FULL|NORMAL]

Runs, in one go on this machine:
  1. writes the three CSV files (N rows each, default 1,000,000) into a temporary directory;
  2. the importer alone: reading and encoding every row with nothing sent (its CPU ceiling);
  3. a 1,000-row import, for the importer's baseline memory;
  4. the whole import (`syncline import` as a subprocess against `syncline serve`);
and prints wall time, rows/s, the importer's peak RSS (small vs large: memory must not grow with
file size) and CPU per row, and the server's CPU, to show which side is the bottleneck.
Targets (DESIGN.md section 9): 3,000,000 rows in < 2 minutes, importer RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Server, running_server
from syncline.importer import readers
from syncline.importer.rows import KINDS, Encoder, Problem
from syncline.importer.sample import write_sample


def encode_only(files: dict[str, Path]) -> tuple[int, float]:
    """Every row read and encoded as the importer does, nothing sent: (rows, seconds)."""
    started = time.perf_counter()
    rows = 0
    for kind, path in files.items():
        encoder = Encoder(KINDS[kind], int(time.time() * 1000))
        for record in readers.read(path, {}):
            out = encoder.encode(record.values, record.line)
            assert not isinstance(out, Problem), out
            rows += 1
    return rows, time.perf_counter() - started


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sample_rss(pid: int, samples: list[float], stop: threading.Event) -> None:
    """The importer's RSS once a second while it runs (does it grow with the rows read?)."""
    while not stop.wait(1.0):
        try:
            samples.append(rss_mb(pid))
        except (OSError, ValueError):
            return


def run_import(server: Server, files: dict[str, Path], workdir: Path, concurrency: int) -> Any:
    """`syncline import` as a child process: its report, wall time, peak RSS and CPU."""
    args = [sys.executable, "-m", "syncline", "import", "--url", server.url]
    args += ["--client-id", server.client_id, "--client-secret", server.client_secret]
    for kind, path in files.items():
        args += [f"--{kind}", str(path)]
    args += ["--json", "--concurrency", str(concurrency)]
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "report.json"
    server_cpu = server.cpu_seconds()
    started = time.perf_counter()
    with out.open("wb") as stdout:
        proc = subprocess.Popen(args, cwd=workdir, stdout=stdout, stderr=subprocess.DEVNULL)
        samples: list[float] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(proc.pid, samples, stop))
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        stop.set()
        sampler.join()
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"syncline import exited {proc.returncode}: {out.read_text()[:2000]}")
    return {
        "report": json.loads(out.read_text()),
        "wall": wall,
        "rss_mb": usage.ru_maxrss / 1024,
        "rss_tenth_mb": samples[len(samples) // 10] if samples else 0.0,
        "rss_half_mb": samples[len(samples) // 2] if samples else 0.0,
        "cpu": usage.ru_utime + usage.ru_stime,
        "server_cpu": server.cpu_seconds() - server_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per file")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    args = parser.parse_args()
    n = args.rows
    env = {"SYNCLINE_SQLITE_SYNCHRONOUS": args.synchronous}
    with tempfile.TemporaryDirectory(prefix="syncline-import-bench-") as tmp:
        started = time.perf_counter()
        files = write_sample(Path(tmp) / "big", n, n, n)
        written = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in files.values()) / 1e6
        small = write_sample(Path(tmp) / "small", 1000, 1000, 1000)
        rows, encode_s = encode_only(files)
        load_before = os.getloadavg()[0]
        with running_server(env) as server:
            baseline = run_import(server, small, Path(tmp) / "run-small", args.concurrency)
        with running_server(env) as server:
            big = run_import(server, files, Path(tmp) / "run-big", args.concurrency)
        load_after = os.getloadavg()[0]

    total = big["report"]["totals"]
    assert total["accepted"] == 3 * n, total
    rate = 3 * n / big["wall"]
    print(f"import benchmark: {n:,} users + {n:,} things + {n:,} associations "
          f"(CSV, {size_mb:.0f} MB, written in {written:.1f} s), SQLite synchronous="
          f"{args.synchronous}, importer concurrency {args.concurrency}")  # fmt: skip
    print(f"{'measure':44} {'value':>14} {'target':>12}")
    rows_out = [
        ("wall time, whole sync", f"{big['wall']:.1f} s", "< 120 s"),
        ("rows/s end to end", f"{rate:,.0f}", ">= 25,000"),
        ("importer peak RSS (3 x 1,000 rows)", f"{baseline['rss_mb']:.0f} MB", ""),
        (
            "importer RSS at 10% / 50% of the run",
            f"{big['rss_tenth_mb']:.0f} / {big['rss_half_mb']:.0f} MB",
            "",
        ),
        (f"importer peak RSS (3 x {n:,} rows)", f"{big['rss_mb']:.0f} MB", "< 300 MB"),
        ("importer CPU per row (whole import)", f"{big['cpu'] / (3 * n) * 1e6:.1f} µs", ""),
        ("importer CPU share of the run", f"{big['cpu'] / big['wall']:.0%} of a core", ""),
        ("read + encode only, no network", f"{rows / encode_s:,.0f} rows/s", ""),
        ("server CPU per row", f"{big['server_cpu'] / (3 * n) * 1e6:.1f} µs", ""),
        ("server CPU share of the run", f"{big['server_cpu'] / big['wall']:.0%} of a core", ""),
    ]
    for label, value, target in rows_out:
        print(f"{label:44} {value:>14} {target:>12}")
    print(f"load average (1 min) before/after: {load_before:.2f} / {load_after:.2f} on "
          f"{os.cpu_count()} cores (other processes disturb the figures)")  # fmt: skip
    summary = {k: v for k, v in big.items() if k != "report"}
    print(json.dumps({"rows": n, "rows_per_s": round(rate), **summary, "totals": total}))


if __name__ == "__main__":
    main()
