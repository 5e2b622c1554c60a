"""Settings: one typed object, read once at start from the environment and CLI flags.

Every field maps to `SYNCLINE_<FIELD>` and to a CLI option of the same name. Invalid values
fail at start with the setting's name. Secrets are masked in `repr`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from syncline.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Secret(str):
    """A string that never shows itself in `repr` or logs."""

    def __repr__(self) -> str:
        return "Secret('********')"


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./syncline.db"
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: Secret | None = field(default=None)
    webhooks_allow_private: bool = False
    webhook_timeout_seconds: int = 10
    webhook_disable_after_hours: int = 72
    webhook_retention_days: int = 7
    webhook_max_inflight: int = 64
    webhook_lease_seconds: int = 120  # a claim not settled by then is another worker's to take
    webhook_retry_scale: float = 1.0  # < 1 shortens every retry wait (tests, demos)
    delivery_worker: bool = True  # `serve` also delivers webhooks
    max_header_bytes: int = 32 * 1024  # request line and headers; 431 above
    header_timeout_seconds: float = 10.0  # a request's headers must arrive within this
    body_timeout_seconds: float = 30.0  # and its body within this of the headers; 408 after
    rate_limit: float = 0.0  # requests per second per credential; 0: no limit
    rate_limit_burst: int = 0  # requests at once; 0: twice the rate
    max_body_bytes: int = 1024 * 1024
    max_events_per_request: int = 1000
    max_event_age_days: int = 30
    max_future_seconds: int = 300
    sqlite_synchronous: str = "FULL"
    log_level: str = "info"
    log_format: str = "json"
    bootstrap_account: int = 1

    def __post_init__(self) -> None:
        if not (self.database_url.startswith("sqlite:///") or _is_postgres(self.database_url)):
            raise ConfigError(
                "SYNCLINE_DATABASE_URL",
                "must start with sqlite:/// or postgresql://",
            )
        if not 0 < self.port < 65536:
            raise ConfigError("SYNCLINE_PORT", f"must be 1..65535, got {self.port}")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ConfigError("SYNCLINE_ADMIN_TOKEN", "must be at least 16 characters")
        for name in ("max_body_bytes", "max_events_per_request", "max_event_age_days"):
            if getattr(self, name) <= 0:
                raise ConfigError(_env_name(name), "must be a positive integer")
        for name in (
            "webhook_timeout_seconds",
            "webhook_disable_after_hours",
            "webhook_retention_days",
            "webhook_max_inflight",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(_env_name(name), "must be a positive integer")
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ConfigError(
                "SYNCLINE_WEBHOOK_LEASE_SECONDS", "must be longer than the webhook timeout"
            )
        if not 0 < self.webhook_retry_scale <= 1000:
            raise ConfigError("SYNCLINE_WEBHOOK_RETRY_SCALE", "must be in (0, 1000]")
        if self.max_header_bytes < 1024:
            raise ConfigError("SYNCLINE_MAX_HEADER_BYTES", "must be at least 1024")
        if self.header_timeout_seconds <= 0:
            raise ConfigError("SYNCLINE_HEADER_TIMEOUT_SECONDS", "must be > 0")
        if self.body_timeout_seconds <= 0:
            raise ConfigError("SYNCLINE_BODY_TIMEOUT_SECONDS", "must be > 0")
        if self.rate_limit < 0:
            raise ConfigError("SYNCLINE_RATE_LIMIT", "must be >= 0 (0: no limit)")
        if self.rate_limit_burst < 0:
            raise ConfigError("SYNCLINE_RATE_LIMIT_BURST", "must be >= 0 (0: twice the rate)")
        if self.max_future_seconds < 0:
            raise ConfigError("SYNCLINE_MAX_FUTURE_SECONDS", "must be >= 0")
        if self.sqlite_synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigError("SYNCLINE_SQLITE_SYNCHRONOUS", "must be FULL, NORMAL or EXTRA")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise ConfigError("SYNCLINE_LOG_LEVEL", "must be debug, info, warning or error")
        if self.log_format not in ("json", "console"):
            raise ConfigError("SYNCLINE_LOG_FORMAT", "must be json or console")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:///")

    @property
    def sqlite_path(self) -> str:
        return self.database_url.removeprefix("sqlite:///")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `env` (default: the process environment), then non-None overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_env_name(f.name))
            if raw is not None:
                values[f.name] = _parse(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("admin_token") is not None:
            values["admin_token"] = Secret(values["admin_token"])
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def _env_name(name: str) -> str:
    return f"SYNCLINE_{name.upper()}"


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = str(f.type)
    name = _env_name(f.name)
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(name, f"must be an integer, got {raw!r}") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if kind == "bool":
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(name, f"must be true or false, got {raw!r}")
    if f.name == "sqlite_synchronous":
        return raw.upper()
    if f.name in ("log_level", "log_format"):
        return raw.lower()
    return raw
