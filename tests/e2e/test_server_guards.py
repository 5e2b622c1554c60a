"""What `syncline serve` does about hostile or unlucky clients, and how it stops.

- Oversized request headers: 431, connection closed, the server unharmed.
- A request the HTTP parser refuses: 400 with the API's JSON error body.
- A client trickling its headers, or connecting and sending nothing: dropped after
  SYNCLINE_HEADER_TIMEOUT_SECONDS.
- A client trickling its body: 408 after SYNCLINE_BODY_TIMEOUT_SECONDS, connection closed,
  nothing of it stored, other clients served meanwhile.
- SIGTERM: no new connections, the request in flight finishes (its 200 is durable), then exit;
  a second SIGTERM while one is still in flight forces the exit.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.clock import now_ms
from tests.support.process import ServerProcess, create_space

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerProcess]:
    db = tmp_path / "guards.db"
    server = ServerProcess(db, extra_env={"SYNCLINE_HEADER_TIMEOUT_SECONDS": "1"})
    create_space(server.database_url, cwd=tmp_path)
    server.start()
    yield server
    server.kill()


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_oversized_headers_get_431_and_the_server_goes_on(serve: ServerProcess) -> None:
    with connect(serve) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    with connect(serve) as sock:  # a normal request, on the same limit, still works
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 8_000 + b"\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")


def test_a_request_the_parser_refuses_gets_400_in_the_api_error_format(
    serve: ServerProcess,
) -> None:
    with connect(serve) as sock:  # found by schemathesis: a Content-Length that is no number
        sock.sendall(b"POST /v2/collect HTTP/1.1\r\nHost: x\r\nContent-Length: oC\r\n\r\n")
        head, _, body = read_all(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"content-type: application/json" in head.lower()
    answer = json.loads(body)
    assert answer["reason"] == "COMMON.REQUEST_VALIDATION"
    assert answer["error_message"].startswith("request: ")


def test_a_client_trickling_its_headers_is_dropped(serve: ServerProcess) -> None:
    started = time.monotonic()
    with connect(serve) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        closed = b""
        for _ in range(40):  # a byte every 0.1 s would take 4 s; the limit is 1 s
            try:
                sock.sendall(b"X")
            except OSError:
                break
            time.sleep(0.1)
            sock.setblocking(False)
            try:
                closed = sock.recv(100)
            except BlockingIOError:
                closed = b""
            finally:
                sock.setblocking(True)
            if closed:
                break
    elapsed = time.monotonic() - started
    assert closed.startswith(b"HTTP/1.1 408 "), closed
    assert 0.9 < elapsed < 3.5


def test_a_silent_connection_is_dropped(serve: ServerProcess) -> None:
    started = time.monotonic()
    with connect(serve) as sock:
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 0.9 < time.monotonic() - started < 3.5


def partial_collect(
    server: ServerProcess, tenant_secret: tuple[str, str], ids: list[str]
) -> tuple[socket.socket, bytes]:
    """A collect request whose headers and first half of the body are sent; the rest is
    returned for the caller to send."""
    events = [
        {"type": "user_created", "event_id": i, "timestamp": now_ms(), "payload": {"user_id": i}}
        for i in ids
    ]
    body = json.dumps({"events": events}).encode()
    auth = base64.b64encode(f"{tenant_secret[0]}:{tenant_secret[1]}".encode()).decode()
    head = (
        f"POST /v2/collect HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = connect(server)
    half = len(body) // 2
    sock.sendall(head + body[:half])
    return sock, body[half:]


def stored(db: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {r[0] for r in conn.execute("SELECT event_id FROM events")}
    finally:
        conn.close()


def test_a_client_trickling_its_body_gets_408_and_nothing_is_stored(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "body.db", extra_env={"SYNCLINE_BODY_TIMEOUT_SECONDS": "1"})
    tenant = create_space(server.database_url, cwd=tmp_path)
    server.start()
    secret = (tenant.client_id, tenant.client_secret)
    try:
        started = time.monotonic()
        sock, rest = partial_collect(server, secret, ["slow-1", "slow-2"])
        answer = b""
        for byte in rest[:30]:  # a byte every 0.1 s: the whole rest would take minutes
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
        answer = read_all(sock)
        elapsed = time.monotonic() - started
        sock.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"connection: close" in head.lower()
        assert json.loads(body) == {
            "reason": "COMMON.REQUEST_TIMEOUT",
            "error_message": "body: not received within 1 s",
        }
        assert 0.9 < elapsed < 4.5
        quick, rest = partial_collect(server, secret, ["quick-1"])  # others are served
        quick.sendall(rest)
        assert read_until_answer(quick).startswith(b"HTTP/1.1 200 ")
        quick.close()
    finally:
        server.kill()
    assert stored(server.db_path) == {"quick-1"}


def read_until_answer(sock: socket.socket) -> bytes:
    """The head of one answer on a kept-alive connection."""
    out = b""
    while b"\r\n\r\n" not in out and (chunk := sock.recv(65536)):
        out += chunk
    return out


def test_sigterm_finishes_the_request_in_flight_then_exits(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "drain.db")
    tenant = create_space(server.database_url, cwd=tmp_path)
    server.start()
    assert server.proc is not None
    try:
        sock, rest = partial_collect(
            server, (tenant.client_id, tenant.client_secret), ["d-1", "d-2"]
        )
        time.sleep(0.3)  # the request is in flight: headers read, body half there
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None, "it must wait for the request in flight"
        with pytest.raises(ConnectionRefusedError):  # no new connections once draining
            socket.create_connection(("127.0.0.1", server.port), timeout=2).recv(1)
        sock.sendall(rest)
        answer = read_all(sock).decode()
        sock.close()
        assert answer.startswith("HTTP/1.1 200 "), answer[:200]
        assert json.loads(answer.split("\r\n\r\n", 1)[1])["accepted"] == 2
        server.proc.wait(timeout=20)
        assert server.proc.returncode in (0, -signal.SIGTERM)
        assert "syncline stopped" in server.log()
    finally:
        server.kill()
    assert {"d-1", "d-2"} <= stored(server.db_path)


def test_a_second_sigterm_forces_the_exit(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "force.db")
    tenant = create_space(server.database_url, cwd=tmp_path)
    server.start()
    assert server.proc is not None
    try:
        sock, _ = partial_collect(server, (tenant.client_id, tenant.client_secret), ["f-1"])
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert server.proc.poll() is None, "the first signal waits for the request"
        forced = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=10)
        assert time.monotonic() - forced < 5
        sock.close()
    finally:
        server.kill()
    assert "f-1" not in stored(server.db_path)  # never acknowledged, never half-written
