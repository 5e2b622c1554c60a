"""Reading request bodies within the size limit, and decoding JSON bodies of admin calls."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from syncline.errors import BodyTimedOut, PayloadTooLarge, RequestRejected
from syncline.http.context import context
from syncline.schemas.collect import translate_error

T = TypeVar("T")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most `limit` bytes, arrived within SYNCLINE_BODY_TIMEOUT_SECONDS: a
    client trickling its body holds one request for that long, never the writer."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"body: at most {limit} bytes")
    seconds = context(request).settings.body_timeout_seconds
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body: at most {limit} bytes")
                parts.append(chunk)
    except TimeoutError as exc:
        raise BodyTimedOut(f"body: not received within {seconds:g} s") from exc
    except ClientDisconnect as exc:  # no one to answer; not an error of ours
        raise RequestRejected("body: the client closed the connection before sending it") from exc
    return b"".join(parts)


def decode_json(body: bytes, kind: type[T]) -> T:
    try:
        try:
            return msgspec.json.decode(body, type=kind)
        except msgspec.ValidationError as exc:
            if "Expected `int`, got `float`" not in str(exc):
                raise
            # JSON has one number type: 60.0 is the integer 60 (as JSON Schema says); a
            # fraction is still refused.
            return msgspec.json.decode(body, type=kind, strict=False)
    except msgspec.ValidationError as exc:
        error = translate_error(str(exc))
        if error.field == "event":
            raise RequestRejected("body: must be a JSON object") from exc
        raise RequestRejected(error.error) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise RequestRejected(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RequestRejected("body is not valid JSON: nested too deeply") from exc


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise RequestRejected(f"{name}: must be an integer from {low} to {high}")
    return int(raw)
