"""The delivery's HTTP/1.1 client against real sockets on 127.0.0.1 that answer scripted bytes:
framing (length, chunked, until close), interim responses, keep-alive and when it must not
reuse a connection, malformed answers, slow and missing answers, TLS, and the address policy."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from syncline.delivery.http1 import HttpError, Pool, Response
from syncline.delivery.sender import send

Script = list[bytes | float]  # bytes to write, or seconds to wait; then the connection stays


class Scripted:
    """Answers the n-th request with `answers[n]` (the last one repeats). `None` closes the
    connection instead of answering; an answer followed by `None` closes it after writing."""

    def __init__(self, answers: list[Script | None]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self.requests.append(head + await reader.readexactly(length))
                script = self.answers[min(len(self.requests), len(self.answers)) - 1]
                if script is None:
                    break
                for step in script:
                    if isinstance(step, float):
                        await asyncio.sleep(step)
                    else:
                        writer.write(step)
                        await writer.drain()
                n = len(self.requests)
                if n < len(self.answers) and self.answers[n] is None:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run(
    answers: list[Script | None],
    client: Callable[[Pool, str, Scripted], Awaitable[Any]],
    tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
) -> Any:
    async def main() -> Any:
        scripted = Scripted(answers)
        server = await asyncio.start_server(
            scripted.handle, "127.0.0.1", 0, ssl=tls[0] if tls else None
        )
        scripted.port = server.sockets[0].getsockname()[1]
        pool = Pool(allow_private=True, tls=tls[1] if tls else None)
        scheme = "https" if tls else "http"
        try:
            return await client(pool, f"{scheme}://127.0.0.1:{scripted.port}/hook?a=1", scripted)
        finally:
            await pool.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def post(pool: Pool, url: str, timeout: float = 5.0) -> Awaitable[Response]:
    return pool.post(url, {"Content-Type": "application/json"}, b'{"n":1}', timeout)


OK: Script = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]


def test_keep_alive_reuses_one_connection_and_sends_host_path_and_length() -> None:
    async def capture(pool: Pool, url: str, s: Scripted) -> Scripted:
        for _ in range(3):
            await post(pool, url)
        return s

    s = run([OK], capture)
    assert s.connections == 1
    assert len(s.requests) == 3
    first = s.requests[0].split(b"\r\n")
    assert first[0] == b"POST /hook?a=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{s.port}".encode() in first
    assert b"Content-Length: 7" in first
    assert s.requests[0].endswith(b'\r\n\r\n{"n":1}')


def test_a_connection_idle_too_long_is_not_reused() -> None:
    async def main() -> int:
        scripted = Scripted([OK])
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
        pool = Pool(allow_private=True, idle_s=0.2)
        try:
            await post(pool, url)
            await post(pool, url)  # at once: the same connection
            await asyncio.sleep(0.3)
            await post(pool, url)  # idle longer than idle_s: a new one
            return scripted.connections
        finally:
            await pool.close()
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == 2


def test_chunked_bodies_split_anywhere_are_joined_and_the_connection_reused() -> None:
    answer: Script = [
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        0.01,
        b"lo\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n",
        0.01,
        b"\r\n",
    ]

    async def client(pool: Pool, url: str, s: Scripted) -> tuple[Response, Response, int]:
        return await post(pool, url), await post(pool, url), s.connections

    one, two, connections = run([answer], client)
    assert (one.status, one.body) == (202, b"hello world")
    assert two.body == b"hello world"
    assert connections == 1


def test_interim_responses_are_skipped() -> None:
    answer: Script = [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"]
    answer += OK

    async def client(pool: Pool, url: str, s: Scripted) -> Response:
        return await post(pool, url)

    response = run([answer], client)
    assert (response.status, response.body) == (200, b"ok")


@pytest.mark.parametrize(
    "answer",
    [
        [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"],
        [b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"],  # more than was framed
    ],
    ids=["connection-close", "http-1.0", "trailing-bytes"],
)
def test_a_connection_is_not_reused_when_the_answer_says_or_shows_so(answer: Script) -> None:
    async def client(pool: Pool, url: str, s: Scripted) -> tuple[list[int], int]:
        statuses = [(await post(pool, url)).status for _ in range(2)]
        return statuses, s.connections

    statuses, connections = run([answer], client)
    assert statuses == [200, 200]
    assert connections == 2


def test_a_body_without_framing_is_read_until_the_close() -> None:
    async def client(pool: Pool, url: str, s: Scripted) -> Response:
        return await post(pool, url)

    response = run([[b"HTTP/1.1 500 Oops\r\n\r\nall of ", 0.01, b"this"], None], client)
    assert (response.status, response.body) == (500, b"all of this")


def test_long_bodies_keep_their_first_bytes_and_drain_the_rest() -> None:
    body = b"x" * 2000 + b"y" * 48_000

    async def client(pool: Pool, url: str, s: Scripted) -> tuple[Response, int]:
        first = await post(pool, url)
        await post(pool, url)
        return first, s.connections

    answer: Script = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body), body]
    first, connections = run([answer], client)
    assert first.body == body[:2048]
    assert connections == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([b"HTTP/2 200\r\n\r\n"], "malformed status line"),
        ([b"HTTP/1.1 2000 OK\r\n\r\n"], "malformed status line"),
        ([b"garbage\r\n\r\n"], "malformed status line"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"], "conflicting"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"], "malformed Content-Length"),
        ([b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"], "malformed header line"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], "chunk size"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], "closed before a complete"),
        (None, "closed before a complete"),
    ],
)
def test_broken_answers_are_errors_that_say_what_was_wrong(
    answer: Script | None, message: str
) -> None:
    async def client(pool: Pool, url: str, s: Scripted) -> str:
        with pytest.raises(HttpError) as caught:
            await post(pool, url)
        return str(caught.value)

    found = run(_then_close(answer), client)
    assert message in found


def _then_close(answer: Script | None) -> list[Script | None]:
    """The answer, then the server closes the connection (so nothing waits for more bytes)."""
    return [None] if answer is None else [answer, None]


def test_a_slow_body_is_cut_short_and_the_status_kept() -> None:
    answer: Script = [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst", 2.0, b"x" * 95]

    async def client(pool: Pool, url: str, s: Scripted) -> tuple[Response, float, int]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await post(pool, url, timeout=5)
        took = loop.time() - started
        await post(pool, url, timeout=5)
        return response, took, s.connections

    response, took, connections = run([answer], client)
    assert (response.status, response.body) == (200, b"first")
    assert took < 1.0
    assert connections == 2


def test_no_answer_is_a_timeout() -> None:
    async def client(pool: Pool, url: str, s: Scripted) -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await post(pool, url, timeout=0.3)
        return loop.time() - started

    took = run([[5.0]], client)
    assert 0.3 <= took < 2


def test_send_turns_every_failure_into_an_attempt_with_a_reason() -> None:
    async def client(pool: Pool, url: str, s: Scripted) -> list[Any]:
        ok = await send(pool, url, b"{}", {}, 5)
        broken = await send(pool, url, b"{}", {}, 5)
        refused = await send(pool, "http://127.0.0.1:1/hook", b"{}", {}, 5)
        return [ok, broken, refused]

    answers: list[Script | None] = [
        [b"HTTP/1.1 429 Slow down\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nwait"],
        [b"HTTP/1.1 nope\r\n\r\n"],
    ]
    ok, broken, refused = run(answers, client)
    assert (ok.status, ok.response, ok.retry_after_s, ok.error) == (429, "wait", 7.0, None)
    assert broken.status is None
    assert "malformed status line" in broken.error
    assert refused.status is None
    assert "ConnectionRefusedError" in refused.error


def test_header_values_cannot_inject_lines_and_odd_urls_are_errors() -> None:
    async def main() -> None:
        pool = Pool(allow_private=True)
        with pytest.raises(HttpError, match="line breaks"):
            await pool.post("http://127.0.0.1:1/", {"X-Evil": "a\r\nHost: b"}, b"", 1)
        for url in ("http://127.0.0.1:99999/", "ftp://127.0.0.1/", "http:///path"):
            with pytest.raises(HttpError, match="URL"):
                await pool.post(url, {}, b"", 1)

    asyncio.run(main())


def test_private_addresses_are_refused_at_connect_time_unless_allowed() -> None:
    async def main() -> tuple[str, str]:
        pool = Pool(allow_private=False)
        with pytest.raises(OSError, match="public") as literal:
            await pool.post("http://127.0.0.1:9/hook", {}, b"", 1)
        with pytest.raises(OSError, match="public") as named:
            await pool.post("http://localhost:9/hook", {}, b"", 1)
        return str(literal.value), str(named.value)

    literal, named = asyncio.run(main())
    assert "not a public address" in literal
    assert "resolves only to non-public addresses" in named


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make a test certificate (.ci/run installs it)"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    args = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    args += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [openssl, *args.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_verifies_the_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def client(pool: Pool, url: str, s: Scripted) -> tuple[Response, int]:
        first = await post(pool, url)
        await post(pool, url)
        return first, s.connections

    response, connections = run([OK], client, tls=(server, trusting))
    assert (response.status, response.body, connections) == (200, b"ok", 1)

    async def untrusted(pool: Pool, url: str, s: Scripted) -> str:
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            await post(pool, url)
        return str(caught.value)

    assert "certificate verify failed" in run(
        [OK], untrusted, tls=(server, ssl.create_default_context())
    )


def test_an_unexpected_error_is_still_an_attempt_with_its_reason() -> None:
    class Broken(Pool):  # fault injection: a bug below the sender must not lose the delivery
        async def post(self, *args: Any, **kwargs: Any) -> Response:
            raise RuntimeError("a bug")

    sent = asyncio.run(send(Broken(allow_private=True), "http://127.0.0.1:1/", b"{}", {}, 1))
    assert sent.status is None
    assert sent.error == "RuntimeError: a bug"


def test_an_address_that_does_not_answer_gives_way_to_the_next() -> None:
    """A black hole on 127.0.0.1: a listener whose accept queue is full drops new SYNs, so a
    connection to it hangs; a name resolving to it first and to a live server second is served
    by the second after `attempt_s`."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue: what connects next is never answered
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(hole.getsockname())
        fillers.append(filler)

    class TwoAddresses(Pool):
        live = 0

        async def _resolve(self, origin: Any) -> list[tuple[str, int]]:
            return [hole.getsockname(), ("127.0.0.1", self.live)]

    async def main() -> tuple[Response, float]:
        scripted = Scripted([OK])
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        pool = TwoAddresses(allow_private=True, attempt_s=0.3)
        pool.live = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await post(pool, "http://example.test/hook", timeout=5)
            return response, loop.time() - started
        finally:
            await pool.close()
            server.close()
            await server.wait_closed()

    try:
        response, took = asyncio.run(main())
    finally:
        for s in [*fillers, hole]:
            s.close()
    assert response.status == 200
    assert 0.3 <= took < 2
