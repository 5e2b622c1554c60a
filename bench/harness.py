"""Shared by the benchmarks: a real `syncline serve` subprocess on a fresh database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    database_url: str
    space: str
    client_id: str
    client_secret: str
    api_token: str
    process: subprocess.Popen[bytes]
    urls: list[str] = field(default_factory=list)  # every process's, when there are several
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """User + system CPU used so far by every server process."""
        return sum(cpu_seconds(p.pid) for p in self.processes or [self.process])


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (Linux /proc; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICKS


def syncline(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "syncline", *args], env=env, capture_output=True, check=True
    )
    return done.stdout.decode()


POSTGRES_ADMIN = os.environ.get(
    "SYNCLINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def postgres_available() -> bool:
    import psycopg

    try:
        psycopg.connect(POSTGRES_ADMIN, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


@contextmanager
def fresh_database(backend: str, directory: str) -> Iterator[str]:
    """An empty database: a SQLite file in `directory`, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{directory}/bench.db"
        return
    import psycopg

    name = f"syncline_bench_{os.getpid()}"
    base = POSTGRES_ADMIN.rpartition("/")[0]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def running_server(
    extra_env: dict[str, str] | None = None, backend: str = "sqlite", processes: int = 1
) -> Iterator[Server]:
    """`processes` × `syncline serve` on one fresh database (`Server.urls`, one each)."""
    with (
        tempfile.TemporaryDirectory(prefix="syncline-bench-") as tmp,
        fresh_database(backend, tmp) as database_url,
    ):
        env = {
            **os.environ,
            "SYNCLINE_DATABASE_URL": database_url,
            "SYNCLINE_LOG_LEVEL": "warning",
            **(extra_env or {}),
        }
        made = json.loads(syncline("spaces", "create", "--json", env=env))
        started: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            for n in range(processes):
                port = free_port()
                own = {**env, "SYNCLINE_PORT": str(port)}
                if n > 0:  # one delivery worker is enough
                    own["SYNCLINE_DELIVERY_WORKER"] = "false"
                process = subprocess.Popen(
                    [sys.executable, "-m", "syncline", "serve"],
                    env=own,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                url = f"http://127.0.0.1:{port}"
                started.append((url, process))
                _wait_ready(url, process)
            yield Server(
                started[0][0],
                database_url,
                made["apiSpaceId"],
                made["clientId"],
                made["clientSecret"],
                made["apiToken"],
                started[0][1],
                [url for url, _ in started],
                [process for _, process in started],
            )
        finally:
            for _, process in started:
                process.terminate()
            for _, process in started:
                process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0
