"""A lean HTTP/1.1 client for webhook POSTs: keep-alive pools per origin, nothing else.

Delivery sends one small POST per revision and reads at most 2 KB of the answer, so the general
clients' features (cookies, redirects, proxies, tracing, decompression) are pure cost: against
one local receiver (`bench/http_client.py`), aiohttp's client spent 71 to 110 µs of CPU a
request and this one 29 to 42 µs. What it does:

- http and https (TLS verified with the system's CA store), `Host` with a non-default port;
- resolves names itself, so the public-address policy applies to the very address it connects
  to (no second lookup between the check and the connection), and tries a name's addresses in
  turn, each but the last for at most `attempt_s`;
- reads responses framed by `Content-Length`, `Transfer-Encoding: chunked` or the connection's
  end; skips interim 1xx responses; keeps the first `keep` bytes of a body and drains the rest
  (up to `MAX_DRAIN`, beyond which the connection is closed instead of reused);
- reuses a connection only after a complete response that did not ask to close it, for at most
  `idle_s` seconds idle;
- the status is the answer (a body is only logged): a body still arriving `GRACE_S` after its
  head is cut there, and that connection closed;
- sends a request once: a connection the server closes before answering is a failed attempt
  like any other (the server may have read the request), retried on the delivery schedule.

Anything malformed is an `HttpError` naming what was wrong; the connection is then closed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from yarl import URL

from syncline.domain.webhooks import is_public_address

KEEP = 2048
GRACE_S = 0.1  # a body still arriving this long after its head: the status is the answer
MAX_HEAD = 64 * 1024
MAX_DRAIN = 1024 * 1024
_LINE_LIMIT = 8 * 1024


class HttpError(Exception):
    """The peer broke HTTP/1.1 or the connection ended early; the message says how."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    body: bytes  # the first `keep` bytes


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass(frozen=True, slots=True)
class Target:
    origin: Origin
    head: bytes  # "POST <path> HTTP/1.1\r\nHost: <host>\r\n"


@lru_cache(maxsize=4096)
def target(url: str) -> Target:
    """The origin and the request line of `url` (path and query percent-encoded)."""
    try:
        parsed = URL(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError as exc:
        raise HttpError(f"not a usable URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise HttpError(f"not an absolute http(s) URL: {url}")
    host = parsed.raw_host
    shown = f"[{host}]" if ":" in host else host
    if not parsed.is_default_port():
        shown = f"{shown}:{port}"
    path = parsed.raw_path_qs or "/"
    head = f"POST {path} HTTP/1.1\r\nHost: {shown}\r\n".encode("ascii")
    return Target(Origin(parsed.scheme, host, port), head)


def request_bytes(where: Target, headers: dict[str, str], body: bytes) -> bytes:
    lines = [where.head]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise HttpError(f"header {name!r}: line breaks are not allowed")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
    lines.append(body)
    return b"".join(lines)


class ResponseParser:
    """One response at a time, fed bytes as they arrive."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.buffer = bytearray()
        self.response: Response | None = None
        self.reusable = True
        self._status = 0
        self._headers: dict[str, str] = {}
        self._framing = ""  # "" (reading the head), "length", "chunked", "close"
        self._remaining = 0  # length: body bytes left; chunked: bytes left of this chunk
        self._chunk_state = "size"  # size, data, crlf, trailer
        self._body = bytearray()
        self._drained = 0

    def feed(self, data: bytes) -> bool:
        """True once a whole response has arrived (then `response` holds it)."""
        if self.response is not None:
            self.reusable = False  # bytes nobody asked for
            return True
        self.buffer += data
        while True:
            if not self._framing:
                if not self._head():
                    return False
                if self.response is not None:
                    return True
                continue
            return self._body_step()

    @property
    def has_head(self) -> bool:
        return bool(self._framing)

    def partial(self) -> Response:
        """What arrived of a response whose head is in but whose body is not complete."""
        self.reusable = False
        self.response = Response(self._status, self._headers, bytes(self._body))
        return self.response

    def eof(self) -> bool:
        """The peer closed: True if that ends a response read until the close."""
        self.reusable = False
        if self.response is None and self._framing == "close":
            self._finish()
            return True
        return self.response is not None

    # the head ------------------------------------------------------------------------------
    def _head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                raise HttpError(f"response head longer than {MAX_HEAD} bytes")
            return False
        if end > MAX_HEAD:
            raise HttpError(f"response head longer than {MAX_HEAD} bytes")
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        version, status = _status_line(lines[0])
        headers: dict[str, str] = {}
        lengths: set[str] = set()
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise HttpError(f"malformed header line: {line[:80]!r}")
            key = name.lower()
            headers[key] = value.strip()
            if key == "content-length":
                lengths.add(value.strip())
        if 100 <= status < 200:  # interim (100 Continue, 103 Early Hints): the answer follows
            return True
        self._status, self._headers = status, headers
        connection = headers.get("connection", "").lower()
        if (version == "HTTP/1.0" and "keep-alive" not in connection) or "close" in connection:
            self.reusable = False
        coding = headers.get("transfer-encoding", "").lower()
        if status in (204, 304):
            self._finish()
        elif coding:
            if coding.rsplit(",", 1)[-1].strip() != "chunked":
                self._framing = "close"  # an encoding that only the close can end
                self.reusable = False
            else:
                self._framing = "chunked"
        elif lengths:
            if len(lengths) > 1:
                raise HttpError("conflicting Content-Length headers")
            text = lengths.pop()
            if not (text.isascii() and text.isdigit()):
                raise HttpError(f"malformed Content-Length: {text[:40]!r}")
            self._framing, self._remaining = "length", int(text)
            if self._remaining == 0:
                self._finish()
        else:
            self._framing = "close"
            self.reusable = False
        return True

    # the body ------------------------------------------------------------------------------
    def _body_step(self) -> bool:
        if self._framing == "length":
            take = min(self._remaining, len(self.buffer))
            self._take(bytes(self.buffer[:take]))
            del self.buffer[:take]
            self._remaining -= take
            if self._remaining == 0:
                self._finish()
                return True
            return self._drain_limit()
        if self._framing == "close":
            self._take(bytes(self.buffer))
            self.buffer.clear()
            return self._drain_limit()
        return self._chunks()

    def _chunks(self) -> bool:
        while True:
            if self._chunk_state in ("size", "trailer", "crlf"):
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    if len(self.buffer) > _LINE_LIMIT:
                        raise HttpError("chunk line too long")
                    return self._drain_limit()
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 2]
                if self._chunk_state == "crlf":
                    if line:
                        raise HttpError("chunk data not followed by CRLF")
                    self._chunk_state = "size"
                elif self._chunk_state == "trailer":
                    if not line:
                        self._finish()
                        return True
                else:
                    size = line.split(b";", 1)[0].strip()
                    if not size or size.strip(b"0123456789abcdefABCDEF") or len(size) > 16:
                        raise HttpError(f"malformed chunk size: {size[:20]!r}")
                    self._remaining = int(size, 16)
                    self._chunk_state = "data" if self._remaining else "trailer"
            else:
                take = min(self._remaining, len(self.buffer))
                if take == 0:
                    return self._drain_limit()
                self._take(bytes(self.buffer[:take]))
                del self.buffer[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._chunk_state = "crlf"

    def _take(self, data: bytes) -> None:
        room = self.keep - len(self._body)
        if room > 0:
            self._body += data[:room]
        self._drained += len(data)

    def _drain_limit(self) -> bool:
        """A body too long to drain ends the response here; the connection is not reused."""
        if self._drained > MAX_DRAIN:
            self.reusable = False
            self._finish()
            return True
        return False

    def _finish(self) -> None:
        if self.buffer and self._framing != "close":
            self.reusable = False  # more than the response: do not trust the connection
        self.response = Response(self._status, self._headers, bytes(self._body))


def _status_line(line: str) -> tuple[str, int]:
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3:
        raise HttpError(f"malformed status line: {line[:80]!r}")
    if not (parts[1].isascii() and parts[1].isdigit()) or not 100 <= int(parts[1]) <= 599:
        raise HttpError(f"malformed status line: {line[:80]!r}")
    return parts[0], int(parts[1])


class _Connection(asyncio.Protocol):
    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._parser: ResponseParser | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self._grace: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        parser, waiter = self._parser, self._waiter
        if parser is None or waiter is None or waiter.done():
            self.close()  # bytes while idle: the connection is not in a known state
            return
        try:
            if parser.feed(data):
                assert parser.response is not None
                waiter.set_result(parser.response)
            elif parser.has_head and self._grace is None:
                loop = asyncio.get_running_loop()
                self._grace = loop.call_later(GRACE_S, self._cut_short)
        except Exception as exc:  # a callback's error would leave the request waiting
            error = exc if isinstance(exc, HttpError) else HttpError(f"unreadable answer: {exc}")
            waiter.set_exception(error)
            self.close()

    def _cut_short(self) -> None:
        parser, waiter = self._parser, self._waiter
        if parser is not None and waiter is not None and not waiter.done():
            waiter.set_result(parser.partial())
            self.close()

    def eof_received(self) -> bool | None:
        self._ended(None)
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended(exc)

    def _ended(self, exc: Exception | None) -> None:
        parser, waiter = self._parser, self._waiter
        if parser is None or waiter is None or waiter.done():
            self.closed = True
            return
        if parser.eof():
            assert parser.response is not None
            waiter.set_result(parser.response)
            return
        reason = f": {exc}" if exc is not None else ""
        waiter.set_exception(HttpError(f"the connection closed before a complete response{reason}"))

    async def request(self, data: bytes) -> tuple[Response, bool]:
        """The response, and whether the connection may carry another request."""
        assert self.transport is not None
        if self.closed:
            raise HttpError("the connection closed before the request was sent")
        loop = asyncio.get_running_loop()
        self._parser = parser = ResponseParser(self.keep)
        self._waiter = loop.create_future()
        self.transport.write(data)
        try:
            response = await self._waiter
        finally:
            self._waiter = None
            if self._grace is not None:
                self._grace.cancel()
                self._grace = None
        self._parser = None
        self.idle_since = time.monotonic()
        return response, parser.reusable and not self.closed

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections per origin, shared by every endpoint of one worker."""

    def __init__(
        self,
        allow_private: bool,
        idle_s: float = 15.0,
        dns_ttl_s: float = 60.0,
        keep: int = KEEP,
        tls: ssl.SSLContext | None = None,
        attempt_s: float = 2.0,
    ) -> None:
        self.allow_private = allow_private
        self.attempt_s = attempt_s
        self.idle_s, self.dns_ttl_s, self.keep = idle_s, dns_ttl_s, keep
        self._tls = tls
        self._idle: dict[Origin, list[_Connection]] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._closed = False
        self._swept = time.monotonic()

    async def post(
        self, url: str, headers: dict[str, str], body: bytes, timeout_s: float
    ) -> Response:
        """POST `body`; raises TimeoutError after `timeout_s` in all, OSError or HttpError."""
        where = target(url)
        data = request_bytes(where, headers, body)
        async with asyncio.timeout(timeout_s):
            conn = await self._acquire(where.origin)
            try:
                response, reusable = await conn.request(data)
            except BaseException:
                conn.close()
                raise
        if reusable and not self._closed:
            self._idle.setdefault(where.origin, []).append(conn)
        else:
            conn.close()
        return response

    async def close(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def _acquire(self, origin: Origin) -> _Connection:
        now = time.monotonic()
        if now - self._swept > self.idle_s:
            self._sweep(now)
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if self._fresh(conn, now):
                return conn
            conn.close()
        return await self._connect(origin)

    def _sweep(self, now: float) -> None:
        """Close what idled too long, for every origin (one no longer posted to as well)."""
        self._swept = now
        for origin in list(self._idle):
            fresh = []
            for conn in self._idle[origin]:
                if self._fresh(conn, now):
                    fresh.append(conn)
                else:
                    conn.close()
            if fresh:
                self._idle[origin] = fresh
            else:
                del self._idle[origin]

    def _fresh(self, conn: _Connection, now: float) -> bool:
        return not conn.closed and now - conn.idle_since < self.idle_s

    async def _connect(self, origin: Origin) -> _Connection:
        """The first of the origin's addresses that answers; one that does not answer within
        `attempt_s` (a black-holed route, say IPv6 without a way out) gives way to the next."""
        loop = asyncio.get_running_loop()
        context = self._context() if origin.tls else None
        addresses = await self._resolve(origin)
        failure: OSError | None = None
        for n, (address, port) in enumerate(addresses):
            last = n == len(addresses) - 1
            try:
                async with asyncio.timeout(None if last else self.attempt_s):
                    _, conn = await loop.create_connection(
                        lambda: _Connection(self.keep),
                        address,
                        port,
                        ssl=context,
                        server_hostname=origin.host if context is not None else None,
                    )
                return conn
            except TimeoutError:
                if last:
                    raise
                failure = OSError(f"{address} did not answer within {self.attempt_s:g} s")
            except OSError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def _resolve(self, origin: Origin) -> list[tuple[str, int]]:
        """Where to connect: (address, port) in the order to try them."""
        return [(a, origin.port) for a in await self._addresses(origin)]

    async def _addresses(self, origin: Origin) -> list[str]:
        host = origin.host
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if not self.allow_private and not is_public_address(literal):
                raise OSError(f"{host} is not a public address, which is refused")
            return [host]
        key = (host, origin.port)
        cached = self._dns.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, origin.port, type=socket.SOCK_STREAM)
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.allow_private:
            found = [a for a in found if is_public_address(ipaddress.ip_address(a))]
            if not found:
                raise OSError(f"{host} resolves only to non-public addresses, which are refused")
        if not found:
            raise OSError(f"{host} did not resolve")
        self._dns[key] = (time.monotonic() + self.dns_ttl_s, found)
        return found

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls
