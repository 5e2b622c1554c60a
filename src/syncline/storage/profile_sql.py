"""Profile queries (`domain.query` terms) as SQL over the stored JSON document: the shared
part (the email prefilter the index serves) and SQLite's JSON functions (`profile_pg` has
PostgreSQL's).

Each value is matched by type, as `domain.query.matches` does: a string only equals a string,
a number a number, a boolean a boolean (`json_type` tells them apart, since SQLite's
`json_extract` turns true into 1). String operators use LIKE, case-insensitive for ASCII.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from syncline.domain import query as q
from syncline.storage.conn import marks
from syncline.storage.records import ProfileRow

COLUMNS = "user_id, profile, etag, revision, created_on, updated_on"
VISIBLE = "revision >= 0 AND NOT deleted"
_decode = msgspec.json.Decoder(dict[str, Any]).decode
_COMPARE = {q.GT: ">", q.GTE: ">=", q.LT: "<", q.LTE: "<="}


def row(r: tuple[Any, ...]) -> ProfileRow:
    user_id, profile, etag, revision, created_on, updated_on = r
    return ProfileRow(user_id, _decode(profile), etag, revision, created_on, updated_on)


JsonTerm = Callable[[q.Term], tuple[str, list[Any]]]


def where(query: q.Query) -> tuple[str, list[Any]]:
    return where_with(query, _json_term)


def where_with(query: q.Query, json_term: JsonTerm) -> tuple[str, list[Any]]:
    """The terms ANDed; `json_term` is the dialect's test of one term on the document."""
    parts: list[str] = []
    args: list[Any] = []
    for term in query.terms:
        sql, term_args = _term(term, json_term)
        parts.append(sql)
        args.extend(term_args)
    return (" AND ".join(parts) or "TRUE"), args


def by_email(query: q.Query) -> bool:
    """True when a term names emails the `users_by_email` index can look up."""
    return any(_email_term(term) for term in query.terms)


def _email_term(term: q.Term) -> bool:
    return (
        term.field == "email"
        and term.op in (q.EQ, q.IN)
        and all(isinstance(v, str) for v in term.values)
    )


def _term(term: q.Term, json_term: JsonTerm) -> tuple[str, list[Any]]:
    sql, args = json_term(term)
    if _email_term(term):
        emails = [str(v) for v in term.values]
        # A visible profile's email is its user's, whose lower case the indexed column holds:
        # a necessary condition the index serves, before the exact test on the document.
        return f"(email IN ({marks(len(emails))}) AND {sql})", [*(e.lower() for e in emails), *args]
    return sql, args


def _json_term(term: q.Term) -> tuple[str, list[Any]]:
    if term.field == "id":
        kind, value, path_args = "'text'", "user_id", []
    else:
        path = f'$."{term.field}"'
        kind, value = "json_type(profile, ?)", "json_extract(profile, ?)"
        path_args = [path]
    if term.op == q.EXISTS:
        return f"{kind} IS NOT NULL", path_args
    if term.op == q.MISSING:
        return f"{kind} IS NULL", path_args
    if term.op in (q.EQ, q.IN, q.NE, q.NOT_IN):
        sql, args = _equals_any(kind, value, path_args, term.values)
        negate = term.op in (q.NE, q.NOT_IN)
        return (f"NOT ({sql})" if negate else f"({sql})"), args
    if term.op in (q.STARTS, q.ENDS, q.CONTAINS):
        text = like_escape(term.text or "")
        pattern = {q.STARTS: f"{text}%", q.ENDS: f"%{text}", q.CONTAINS: f"%{text}%"}[term.op]
        return (
            f"({kind} = 'text' AND {value} LIKE ? ESCAPE '\\')",
            [*path_args, *path_args, pattern],
        )
    return _compare(term, kind, value, path_args)


def _equals_any(
    kind: str, value: str, path_args: list[Any], values: tuple[Any, ...]
) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    for v in values:
        if isinstance(v, bool):
            parts.append(f"IFNULL({kind} = '{'true' if v else 'false'}', 0)")
            args.extend(path_args)
        elif isinstance(v, str):
            parts.append(f"IFNULL({kind} = 'text' AND {value} = ?, 0)")
            args.extend([*path_args, *path_args, v])
        else:
            parts.append(f"IFNULL({kind} IN ('integer', 'real') AND {value} = ?, 0)")
            args.extend([*path_args, *path_args, v])
    return (" OR ".join(parts) or "FALSE"), args


def _compare(term: q.Term, kind: str, value: str, path_args: list[Any]) -> tuple[str, list[Any]]:
    op = _COMPARE[term.op]
    parts = [f"({kind} = 'text' AND {value} {op} ?)"]
    args: list[Any] = [*path_args, *path_args, term.text]
    if term.number is not None:
        parts.append(f"({kind} IN ('integer', 'real') AND {value} {op} ?)")
        args.extend([*path_args, *path_args, term.number])
    return f"({' OR '.join(parts)})", args


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
