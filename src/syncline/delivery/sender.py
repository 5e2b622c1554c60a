"""One HTTP attempt: POST the body with its signatures, read at most 2 KB of the answer."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from syncline.delivery.schedule import parse_retry_after
from syncline.domain.webhooks import is_public_address

RESPONSE_BYTES = 2048


@dataclass(frozen=True, slots=True)
class Sent:
    status: int | None
    latency_ms: float
    response: str | None
    error: str | None
    retry_after_s: float | None


class PublicOnlyResolver(ThreadedResolver):
    """Resolves names as usual but drops loopback, private and link-local addresses."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await super().resolve(host, port, family)
        public = [r for r in found if is_public_address(ipaddress.ip_address(r["host"]))]
        if not public:
            raise OSError(f"{host} resolves only to non-public addresses, which are refused")
        return public


def new_session(allow_private: bool) -> aiohttp.ClientSession:
    resolver: Any = None if allow_private else PublicOnlyResolver()
    connector = aiohttp.TCPConnector(limit=0, resolver=resolver, ttl_dns_cache=60)
    return aiohttp.ClientSession(connector=connector, auto_decompress=False)


async def send(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
) -> Sent:
    started = time.perf_counter()
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as answer:
            raw = await answer.content.read(RESPONSE_BYTES)
            return Sent(
                answer.status,
                _ms(started),
                raw.decode("utf-8", "replace"),
                None,
                parse_retry_after(answer.headers.get("Retry-After"), time.time()),
            )
    except TimeoutError:
        return Sent(None, _ms(started), None, f"no answer within {timeout_s:g} s", None)
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
        return Sent(None, _ms(started), None, f"{type(exc).__name__}: {exc}"[:500], None)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
