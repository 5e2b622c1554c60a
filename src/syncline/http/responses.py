"""JSON responses encoded by msgspec, and the error bodies of both vendor APIs."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

_encode = msgspec.json.Encoder().encode


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encode(content)


def error(status: int, reason: str, message: str, **headers: str) -> JSON:
    return JSON(
        {"reason": reason, "error_message": message}, status_code=status, headers=headers or None
    )
