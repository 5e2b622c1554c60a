"""Real `syncline` processes for end-to-end tests: the CLI, and `syncline serve` as a subprocess.

Everything runs `sys.executable -m syncline` (the package installed in the test venv), with a
clean environment (no inherited SYNCLINE_* settings) and bounded waits, so no test can hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import Tenant, free_port

CLI_TIMEOUT = 60.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def clean_env(**settings: str) -> dict[str, str]:
    """The process environment without any SYNCLINE_* variable, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCLINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`syncline ARGS...` as a user types it; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "syncline", *args],
        env=dict(env) if env is not None else clean_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_json(*args: str, database_url: str, cwd: str | Path | None = None, **settings: str) -> Any:
    """Run a `--json` command against `database_url`; fail loudly unless it exits 0."""
    env = clean_env(**settings)
    done = run_cli(*args, "--json", "--database-url", database_url, cwd=cwd, env=env)
    assert done.returncode == 0, (
        f"syncline {' '.join(args)} exited {done.returncode}: {done.stderr}"
    )
    return json.loads(done.stdout)


def create_space(database_url: str, account: int = 1, cwd: str | Path | None = None) -> Tenant:
    """`syncline spaces create --json`: a new API space and its secrets."""
    made = cli_json(
        "spaces", "create", "--account", str(account), database_url=database_url, cwd=cwd
    )
    return Tenant(made["apiSpaceId"], made["clientId"], made["clientSecret"], made["apiToken"])


@dataclass
class ServerProcess:
    """`syncline serve` in its own process, on 127.0.0.1 and a free port."""

    db_path: Path  # the SQLite file, or (with `url`) where logs go
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    url_of_database: str | None = None  # PostgreSQL (or any URL) instead of `db_path`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return self.url_of_database or f"sqlite:///{self.db_path}"

    @property
    def log_path(self) -> Path:
        return self.db_path.with_name(f"{self.db_path.name}.serve-{self.starts}.log")

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait until `/readyz` answers 200."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        env = clean_env(
            SYNCLINE_DATABASE_URL=self.database_url,
            SYNCLINE_HOST="127.0.0.1",
            SYNCLINE_PORT=str(self.port),
            **self.extra_env,
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syncline", "serve"],
                env=env,
                cwd=self.db_path.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"syncline serve exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"syncline serve was not ready within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM (a graceful stop), then SIGKILL if it takes too long."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def collect_client(self, tenant: Tenant, timeout: float = 30) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, auth=(tenant.client_id, tenant.client_secret), timeout=timeout
        )

    def api_client(self, tenant: Tenant, timeout: float = 30) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {tenant.api_token}"},
            timeout=timeout,
        )


@contextmanager
def serve(
    db_path: Path, url_of_database: str | None = None, **extra_env: str
) -> Iterator[ServerProcess]:
    """A started `syncline serve`, stopped (then killed if need be) on exit."""
    server = ServerProcess(db_path, extra_env=dict(extra_env), url_of_database=url_of_database)
    server.start()
    try:
        yield server
    finally:
        server.stop()
