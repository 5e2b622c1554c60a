"""Reading request bodies within the size limit, and decoding JSON bodies of admin calls."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from syncline.errors import PayloadTooLarge, RequestRejected
from syncline.schemas.collect import translate_error

T = TypeVar("T")


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"body: at most {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body: at most {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def decode_json(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
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
