"""Profile query terms in PostgreSQL's JSON functions, with `domain.query.matches` semantics.

The reader exposes the parsed document as `doc.j` (one `jsonb` cast per row, not per term).
`jsonb_typeof` tells strings, numbers and booleans apart; numbers are compared as numerics
through CASE (evaluated only for numbers); strings compare by code point (`COLLATE "C"`) and
match case-insensitively for ASCII only, as in Python.
"""

from __future__ import annotations

from typing import Any

from syncline.domain import query as q
from syncline.storage import profile_sql

FROM = "users CROSS JOIN LATERAL (SELECT users.profile::jsonb AS j) AS doc"
_COMPARE = {q.GT: ">", q.GTE: ">=", q.LT: "<", q.LTE: "<="}
_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
_ASCII_LOWER = str.maketrans(_UPPER, _LOWER)


def where(query: q.Query) -> tuple[str, list[Any]]:
    return profile_sql.where_with(query, _json_term)


def _json_term(term: q.Term) -> tuple[str, list[Any]]:
    if term.field == "id":
        kind, text, number, boolean, key = "'string'", "user_id", "NULL", "NULL", []
    else:
        kind = "jsonb_typeof(doc.j -> ?::text)"
        text = "(doc.j ->> ?::text)"
        number = (
            "(CASE WHEN jsonb_typeof(doc.j -> ?::text) = 'number' "
            "THEN (doc.j ->> ?::text)::numeric END)"
        )
        boolean = "(doc.j -> ?::text)"
        key = [term.field]
    if term.op == q.EXISTS:
        return f"{kind} IS NOT NULL", key
    if term.op == q.MISSING:
        return f"{kind} IS NULL", key
    if term.op in (q.EQ, q.IN, q.NE, q.NOT_IN):
        parts: list[str] = []
        args: list[Any] = []
        for v in term.values:
            if isinstance(v, bool):
                parts.append(f"COALESCE({boolean} = '{'true' if v else 'false'}'::jsonb, FALSE)")
                args.extend(key)
            elif isinstance(v, str):
                parts.append(f"COALESCE({kind} = 'string' AND {text} = ?, FALSE)")
                args.extend([*key, *key, v])
            else:
                parts.append(f"COALESCE({number} = ?, FALSE)")
                args.extend([*key, *key, v])
        sql = " OR ".join(parts) or "FALSE"
        return (f"NOT ({sql})" if term.op in (q.NE, q.NOT_IN) else f"({sql})"), args
    if term.op in (q.STARTS, q.ENDS, q.CONTAINS):
        needle = profile_sql.like_escape((term.text or "").translate(_ASCII_LOWER))
        pattern = {q.STARTS: f"{needle}%", q.ENDS: f"%{needle}", q.CONTAINS: f"%{needle}%"}[term.op]
        return (
            f"({kind} = 'string' AND translate({text}, '{_UPPER}', '{_LOWER}') LIKE ? ESCAPE '\\')",
            [*key, *key, pattern],
        )
    op = _COMPARE[term.op]
    parts = [f"({kind} = 'string' AND {text} COLLATE \"C\" {op} ?)"]
    args = [*key, *key, term.text]
    if term.number is not None:
        parts.append(f"COALESCE({number} {op} ?, FALSE)")
        args.extend([*key, *key, term.number])
    return f"({' OR '.join(parts)})", args
