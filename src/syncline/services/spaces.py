"""Accounts, API spaces and their credentials. Secrets are shown once and stored as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from syncline.errors import AuthError, NotFound
from syncline.storage.interface import Reader, UnitOfWork
from syncline.storage.records import Credential, Space

COLLECT = "collect"
API_TOKEN = "api_token"
TOKEN_PREFIX = "sl"


@dataclass(frozen=True)
class NewSpace:
    account_id: int
    api_space_id: str
    client_id: str
    client_secret: str
    api_token: str

    def as_json(self) -> dict[str, object]:
        return {
            "accountId": self.account_id,
            "apiSpaceId": self.api_space_id,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "apiToken": self.api_token,
        }


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random strings, so one SHA-256 is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_space(uow: UnitOfWork, account_id: int, name: str, now: int) -> NewSpace:
    uow.create_account(account_id, f"account {account_id}", now)
    space_id = str(uuid.uuid4())
    uow.create_space(Space(space_id, account_id, name, now))
    client_id, client_secret = add_collect_credential(uow, space_id, now)
    api_token = add_api_token(uow, space_id, now)
    return NewSpace(account_id, space_id, client_id, client_secret, api_token)


def add_collect_credential(uow: UnitOfWork, space: str, now: int) -> tuple[str, str]:
    client_id = secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    uow.add_credential(
        Credential(space, uuid.uuid4().hex, COLLECT, client_id, hash_secret(secret), now, None)
    )
    return client_id, secret


def add_api_token(uow: UnitOfWork, space: str, now: int) -> str:
    credential_id = uuid.uuid4().hex
    secret = secrets.token_urlsafe(32)
    uow.add_credential(
        Credential(space, credential_id, API_TOKEN, None, hash_secret(secret), now, None)
    )
    return f"{TOKEN_PREFIX}.{credential_id}.{secret}"


def rotate(uow: UnitOfWork, reader: Reader, space: str, kind: str, now: int) -> dict[str, str]:
    """Revoke every credential of `kind` in the space and issue a new one."""
    if reader.space(space) is None:
        raise NotFound(f"no API space {space}")
    uow.revoke_credentials(space, kind, now)
    if kind == COLLECT:
        client_id, secret = add_collect_credential(uow, space, now)
        return {"apiSpaceId": space, "clientId": client_id, "clientSecret": secret}
    return {"apiSpaceId": space, "apiToken": add_api_token(uow, space, now)}


def authenticate_collect(reader: Reader, client_id: str, secret: str) -> Credential:
    credential = reader.credential_by_client_id(client_id)
    if credential is None or credential.kind != COLLECT or credential.revoked_at is not None:
        hmac.compare_digest(hash_secret(secret), hash_secret(""))  # same work either way
        raise AuthError("unknown or revoked client_id")
    if not hmac.compare_digest(credential.secret_hash, hash_secret(secret)):
        raise AuthError("wrong client_secret")
    return credential


def authenticate_token(reader: Reader, space: str, token: str) -> Credential:
    """The token's credential. A valid token of another space gets NotFound, never a hint."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise AuthError("malformed API token")
    credential = reader.credential(parts[1])
    if credential is None or credential.kind != API_TOKEN or credential.revoked_at is not None:
        raise AuthError("unknown or revoked API token")
    if not hmac.compare_digest(credential.secret_hash, hash_secret(parts[2])):
        raise AuthError("wrong API token")
    if credential.api_space_id != space:
        raise NotFound(f"no API space {space}")
    return credential
