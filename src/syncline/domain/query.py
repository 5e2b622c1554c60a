"""Comapi's profile query string (mongo-querystring style), parsed into terms.

    email=a@b.c            equals          age=>18 / =>= / =< / =<=   compare
    email=!a@b.c           not equal       name=^Ad / =$ce / =~la     starts, ends, contains
    email=                 exists          email=!                    does not exist
    plan[]=pro&plan[]=max  in              plan[]=!free               not in

A raw value may mean a string, a number or a boolean (`"18"`, `"true"`); each term keeps every
reading and matches a stored value of any of those types, so `utcOffset=0000` still finds the
string "0000". Terms are form-encoded (`+` is a space; send a plus sign as `%2B`, as
`utcOffset=%2B0100`). String operators are case-insensitive, as mongo-querystring's regexes are
(ASCII letters only, as SQLite's LIKE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

EQ, NE, GT, GTE, LT, LTE = "eq", "ne", "gt", "gte", "lt", "lte"
STARTS, ENDS, CONTAINS, EXISTS, MISSING, IN, NOT_IN = (
    "starts",
    "ends",
    "contains",
    "exists",
    "missing",
    "in",
    "nin",
)


class QuerySyntaxError(ValueError):
    """A term that cannot be read; the message names it."""


RESERVED_PARAMS = frozenset({"limit", "cursor"})
_FIELD = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,128}$")
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,15})?$")
_PREFIXES: tuple[tuple[str, str], ...] = (
    (">=", GTE),
    ("<=", LTE),
    (">", GT),
    ("<", LT),
    ("^", STARTS),
    ("$", ENDS),
    ("~", CONTAINS),
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class Term:
    field: str
    op: str
    values: tuple[Any, ...] = ()  # every reading of every value, for the list operators too

    @property
    def text(self) -> str | None:
        """The value as a string, for the string and comparison operators."""
        return next((v for v in self.values if isinstance(v, str)), None)

    @property
    def number(self) -> int | float | None:
        return next(
            (v for v in self.values if isinstance(v, int | float) and not isinstance(v, bool)),
            None,
        )


@dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[Term, ...]
    params: dict[str, str]  # limit, cursor


def readings(raw: str) -> tuple[Any, ...]:
    """Every type `raw` may stand for: always the string, plus a number or a boolean."""
    out: list[Any] = [raw]
    if raw in ("true", "false"):
        out.append(raw == "true")
    elif _NUMBER.match(raw):
        out.append(float(raw) if "." in raw else int(raw))
    return tuple(out)


def parse(query_string: str) -> Query:
    """Parse a raw query string; a term that cannot be read is a 400 naming it."""
    terms: list[Term] = []
    lists: dict[tuple[str, str], list[Any]] = {}
    params: dict[str, str] = {}
    for raw_term in query_string.split("&"):
        if not raw_term:
            continue
        raw_key, sep, raw_value = raw_term.partition("=")
        key, value = _unquote(raw_term, raw_key), _unquote(raw_term, raw_value)
        if not sep:
            raise _bad(raw_term, "expected key=value")
        if key in RESERVED_PARAMS:
            params[key] = value
            continue
        if key.endswith("[]"):
            field = _field(raw_term, key[:-2])
            op, item = (NOT_IN, value[1:]) if value.startswith("!") else (IN, value)
            lists.setdefault((field, op), []).extend(readings(item))
            continue
        terms.append(_term(raw_term, _field(raw_term, key), value))
    terms.extend(Term(field, op, tuple(values)) for (field, op), values in lists.items())
    return Query(tuple(terms), params)


def _term(raw_term: str, field: str, value: str) -> Term:
    if value == "":
        return Term(field, EXISTS)
    if value == "!":
        return Term(field, MISSING)
    if value.startswith("!"):
        return Term(field, NE, readings(value[1:]))
    for prefix, op in _PREFIXES:
        if value.startswith(prefix):
            operand = value[len(prefix) :]
            if operand == "":
                raise _bad(raw_term, f"operator {prefix!r} needs a value")
            return Term(field, op, readings(operand))
    return Term(field, EQ, readings(value))


def _field(raw_term: str, key: str) -> str:
    if not _FIELD.match(key):
        raise _bad(raw_term, "a field name is 1 to 128 of [A-Za-z0-9_.:@+-]")
    return key


def _unquote(raw_term: str, value: str) -> str:
    try:
        return unquote_plus(value, errors="strict")
    except UnicodeDecodeError:
        raise _bad(raw_term, "not valid percent-encoded UTF-8") from None


def _bad(raw_term: str, why: str) -> QuerySyntaxError:
    shown = raw_term if len(raw_term) <= 80 else raw_term[:77] + "..."
    return QuerySyntaxError(f"query term {shown!r}: {why}")


def matches(doc: dict[str, Any], query: Query) -> bool:
    """The reference semantics, in Python: storage backends must agree with it."""
    return all(_match(doc, term) for term in query.terms)


def _match(doc: dict[str, Any], term: Term) -> bool:
    present = term.field in doc and doc[term.field] is not None
    value = doc.get(term.field)
    if term.op == EXISTS:
        return present
    if term.op == MISSING:
        return not present
    if term.op in (EQ, IN):
        return present and any(_same(value, v) for v in term.values)
    if term.op in (NE, NOT_IN):
        return not (present and any(_same(value, v) for v in term.values))
    if not present:
        return False
    if term.op in (STARTS, ENDS, CONTAINS):
        if not isinstance(value, str) or term.text is None:
            return False
        low, needle = value.translate(_ASCII_LOWER), term.text.translate(_ASCII_LOWER)
        if term.op == STARTS:
            return low.startswith(needle)
        return low.endswith(needle) if term.op == ENDS else needle in low
    return _compare(value, term)


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(stored, str) != isinstance(wanted, str):
        return False
    return bool(stored == wanted)


def _compare(value: Any, term: Term) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        operand: Any = term.number
    elif isinstance(value, str):
        operand = term.text
    else:
        return False
    if operand is None:
        return False
    if term.op == GT:
        return bool(value > operand)
    if term.op == GTE:
        return bool(value >= operand)
    if term.op == LT:
        return bool(value < operand)
    return bool(value <= operand)
