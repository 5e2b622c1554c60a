"""Reading credentials from headers: Basic for Collect, Bearer for everything else."""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.requests import Request

from syncline.errors import AuthError, NotFound
from syncline.services import spaces
from syncline.storage.interface import Reader


def basic(request: Request) -> tuple[str, str]:
    request.state.auth_scheme = "Basic"
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise AuthError("Basic credentials required")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthError("malformed Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise AuthError("malformed Basic credentials")
    return client_id, secret


def bearer(request: Request) -> str:
    request.state.auth_scheme = "Bearer"
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError("Bearer token required")
    return value.strip()


def challenge(request: Request) -> str:
    """The `WWW-Authenticate` of a 401: the scheme the refused route asked for."""
    return f'{getattr(request.state, "auth_scheme", "Bearer")} realm="syncline"'


def space_access(request: Request, reader: Reader, space: str, admin_token: str | None) -> str:
    """Who may act on `space`: its own API token, or the operator's admin token."""
    token = bearer(request)
    if admin_token is not None and hmac.compare_digest(token.encode(), admin_token.encode()):
        if reader.space(space) is None:
            raise NotFound(f"no API space {space}")
        return "admin"
    return spaces.authenticate_token(reader, space, token).credential_id


def admin(request: Request, admin_token: str | None) -> None:
    token = bearer(request)
    if admin_token is None or not hmac.compare_digest(token.encode(), admin_token.encode()):
        raise AuthError("admin token required")
