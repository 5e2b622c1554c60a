"""What operators type into the dashboard's forms, read into what the services take."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, quote

from syncline.errors import RequestRejected

MAX_TEXT = 512


def fields(body: bytes) -> dict[str, list[str]]:
    """An `application/x-www-form-urlencoded` body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRejected("form: not UTF-8") from None
    return parse_qs(text, keep_blank_values=True, max_num_fields=2000)


def one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()[:MAX_TEXT]


def typed_query(text: str) -> str:
    """A profile query as typed (`email=ada@example.com&utcOffset=+0100`) as the raw query
    string the Profiles API reads: keys and values percent-encoded, so a `+` stays a plus and
    a space stays a space."""
    terms = []
    for raw in text.split("&"):
        term = raw.strip()
        if term:
            key, sep, value = term.partition("=")
            terms.append(quote(key.strip(), safe="") + sep + quote(value, safe=""))
    return "&".join(terms)


def utc_ms(text: str, name: str) -> int | None:
    """A `datetime-local` value (`2026-11-23T10:00`), read as UTC; None when empty."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RequestRejected(f"{name}: not a date and time (YYYY-MM-DDTHH:MM)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def counts_note(text: str | None, size: int) -> list[int] | None:
    """`1.0.2` (the outcome of an action, passed in the redirect) as numbers, else None."""
    if not text:
        return None
    parts = text.split(".")
    if len(parts) != size or not all(p.isdigit() and len(p) < 10 for p in parts):
        return None
    return [int(p) for p in parts]
