"""The webhook client's response parser, fed valid answers cut at random places and garbage."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.delivery.http1 import HttpError, ResponseParser

KEEP = 2048


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, int, bytes, str]:
    """(the bytes of an answer, its status, its body, its framing)."""
    status = draw(st.sampled_from([200, 201, 202, 204, 304, 400, 410, 429, 500, 503]))
    bodies = st.one_of(st.binary(max_size=300), st.binary(min_size=2000, max_size=6000))
    body = b"" if status in (204, 304) else draw(bodies)
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    head = b"HTTP/1.1 %d Whatever It Says\r\nX-Any: v\r\n" % status
    interim = draw(st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n"]))
    if status in (204, 304):
        return interim + head + b"\r\n", status, b"", "none"
    if framing == "length":
        return (
            interim + head + b"Content-Length: %d\r\n\r\n" % len(body) + body,
            status,
            body,
            framing,
        )
    if framing == "close":
        return interim + head + b"\r\n" + body, status, body, framing
    sizes = draw(st.lists(st.integers(1, 700), max_size=12))
    chunks, rest = [], body
    for size in sizes:
        if rest:
            chunks.append(rest[:size])
            rest = rest[size:]
    if rest:
        chunks.append(rest)
    encoded = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nT: 1\r\n\r\n"
    return interim + head + b"Transfer-Encoding: chunked\r\n\r\n" + encoded, status, body, framing


def cuts(data: bytes, points: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300)
@given(answers(), st.lists(st.integers(0, 20_000), max_size=20))
def test_an_answer_cut_anywhere_parses_the_same(
    answer: tuple[bytes, int, bytes, str], points: list[int]
) -> None:
    data, status, body, framing = answer
    parser = ResponseParser(KEEP)
    done = False
    for piece in cuts(data, points):
        assert not done, "bytes after a complete answer"
        done = parser.feed(piece)
    if framing == "close":
        assert not done
        done = parser.eof()
    assert done
    assert parser.response is not None
    assert parser.response.status == status
    assert parser.response.body == body[:KEEP]
    assert parser.response.headers["x-any"] == "v"
    assert parser.reusable == (framing != "close")


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_garbage_is_an_http_error_or_an_incomplete_answer(pieces: list[bytes]) -> None:
    parser = ResponseParser(KEEP)
    try:
        for piece in pieces:
            if parser.feed(b"HTTP/1.1 " + piece if piece[:1] == b"2" else piece):
                break
        parser.eof()
    except HttpError:
        return


@pytest.mark.parametrize("text", [b"\xb200", "\u0662\u0660\u0660".encode(), b"+20", b" 200", b"20"])
def test_a_status_in_other_digits_is_refused(text: bytes) -> None:
    with pytest.raises(HttpError, match="status line"):
        ResponseParser(KEEP).feed(b"HTTP/1.1 " + text + b" OK\r\n\r\n")


@pytest.mark.parametrize("text", [b"\xb2", "\u0662".encode(), b"+2", b"0x10", b"1 2", b""])
def test_a_length_in_other_digits_is_refused(text: bytes) -> None:
    with pytest.raises(HttpError, match="Content-Length"):
        ResponseParser(KEEP).feed(b"HTTP/1.1 200 OK\r\nContent-Length: " + text + b"\r\n\r\n")
