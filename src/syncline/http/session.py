"""The dashboard's login session: a signed cookie, never the token itself.

The cookie holds who logged in (an API space and its token's credential id, or the admin), when
the session ends and a per-session CSRF token, signed with HMAC-SHA256. The key is derived from
the admin token when there is one (every process of a deployment then accepts the same
cookies), else random per process (a restart logs everyone out). The cookie is HttpOnly and
SameSite=Strict, and every POST must also carry the CSRF token in a form field or header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import msgspec

COOKIE = "syncline_ui"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
ADMIN = "*"
LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    scope: str  # the API space the token may see, or ADMIN for every space
    credential_id: str  # the API token's credential (checked for revocation), or "admin"
    csrf: str
    expires: int  # epoch seconds

    @property
    def is_admin(self) -> bool:
        return self.scope == ADMIN

    def may_see(self, space: str) -> bool:
        return self.is_admin or hmac.compare_digest(self.scope.encode(), space.encode())

    def csrf_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


def session_key(admin_token: str | None) -> bytes:
    if admin_token is None:
        return secrets.token_bytes(32)
    return hmac.new(admin_token.encode(), b"syncline dashboard session", hashlib.sha256).digest()


class SessionSigner:
    def __init__(self, key: bytes, lifetime_seconds: int = LIFETIME_SECONDS) -> None:
        self._key = key
        self.lifetime = lifetime_seconds

    def issue(self, scope: str, credential_id: str, now: int) -> tuple[Session, str]:
        """A new session from `now` (epoch seconds) and its cookie value."""
        made = Session(scope, credential_id, secrets.token_urlsafe(24), now + self.lifetime)
        fields = [made.scope, made.credential_id, made.csrf, made.expires]
        payload = _b64(msgspec.json.encode(fields))
        return made, f"{payload}.{self._sign(payload)}"

    def read(self, value: str | None, now: int) -> Session | None:
        """The session of a cookie value; None when absent, forged, malformed or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            scope, credential_id, csrf, expires = msgspec.json.decode(
                _unb64(payload), type=tuple[str, str, str, int]
            )
        except (msgspec.DecodeError, binascii.Error, ValueError):
            return None
        if expires <= now:
            return None
        return Session(scope, credential_id, csrf, expires)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
