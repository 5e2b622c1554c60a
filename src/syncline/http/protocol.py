"""The HTTP/1.1 protocol the server runs: uvicorn's httptools protocol with guards it lacks.

- A request line and headers over `max_header_bytes` get 431 and the connection is closed.
- A request the parser refuses gets 400 with the API's JSON error body (uvicorn's is text).
- A request whose headers are not complete within `header_timeout` seconds of its first byte
  (or of the connection, when nothing arrives) is dropped: a slow client cannot hold a
  connection open by trickling bytes. Idle keep-alive connections keep uvicorn's own timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_REASONS = {431: b"Request Header Fields Too Large", 408: b"Request Timeout"}


class HeaderTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 32 * 1024
    header_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._refusal: int | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """A request the parser cannot read (a bad header, a Content-Length that is not a
        number): 400 in the API's own error format, not uvicorn's plain text."""
        if self._refusal is not None:
            self._refuse(self._refusal)
            return
        body = msgspec.json.encode(
            {"reason": "COMMON.REQUEST_VALIDATION", "error_message": f"request: {msg}"}
        )
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        self.transport.close()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._refusal = 431
            raise HeaderTooLarge  # the parser stops; `send_400_response` answers 431

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self._refuse(408)

    def _refuse(self, status: int) -> None:
        self._disarm()
        reason = _REASONS[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % (status, reason)
        )
        self.transport.close()


def guarded_protocol(max_header_bytes: int, header_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class with these limits, for `uvicorn.Config(http=...)`."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"max_header_bytes": max_header_bytes, "header_timeout": header_timeout},
    )
