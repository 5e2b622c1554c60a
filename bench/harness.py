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
from dataclasses import dataclass


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


def syncline(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "syncline", *args], env=env, capture_output=True, check=True
    )
    return done.stdout.decode()


@contextmanager
def running_server(extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="syncline-bench-") as tmp:
        port = free_port()
        database_url = f"sqlite:///{tmp}/bench.db"
        env = {
            **os.environ,
            "SYNCLINE_DATABASE_URL": database_url,
            "SYNCLINE_PORT": str(port),
            "SYNCLINE_LOG_LEVEL": "warning",
            **(extra_env or {}),
        }
        made = json.loads(syncline("spaces", "create", "--json", env=env))
        process = subprocess.Popen(
            [sys.executable, "-m", "syncline", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process)
            yield Server(
                url,
                database_url,
                made["apiSpaceId"],
                made["clientId"],
                made["clientSecret"],
                made["apiToken"],
                process,
            )
        finally:
            process.terminate()
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
