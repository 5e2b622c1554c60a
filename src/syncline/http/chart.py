"""A stacked bar chart of events per minute, as plain SVG geometry (no JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from syncline.services.dashboard import Minute

WIDTH, HEIGHT, AXIS = 720, 160, 20


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # accepted | rejected
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    labels: list[tuple[float, str, str]]  # x, HH:MM (UTC), text-anchor
    accepted: int
    rejected: int


def nice_ceiling(n: int) -> int:
    """The smallest of 1, 2, 5 x 10^k at or above `n` (the top of the scale)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= n:
                return top * step
        top *= 10


def bars(minutes: Sequence[Minute], width: int = WIDTH, height: int = HEIGHT) -> Chart:
    plot = height - AXIS
    peak = nice_ceiling(max((m.accepted + m.rejected for m in minutes), default=0))
    slot = width / max(len(minutes), 1)
    out: list[Bar] = []
    labels: list[tuple[float, str, str]] = []
    for i, m in enumerate(minutes):
        x = i * slot
        at = _clock(m.minute)
        accepted_h = plot * m.accepted / peak
        rejected_h = plot * m.rejected / peak
        title = f"{at} UTC: {m.accepted} accepted, {m.rejected} rejected"
        if m.accepted:
            out.append(Bar(x, plot - accepted_h, slot - 1, accepted_h, "accepted", title))
        if m.rejected:
            y = plot - accepted_h - rejected_h
            out.append(Bar(x, y, slot - 1, rejected_h, "rejected", title))
        if i == len(minutes) - 1:
            labels.append((float(width), at, "end"))
        elif i % 15 == 0:
            labels.append((x, at, "start"))
    return Chart(
        width,
        height,
        out,
        peak,
        labels,
        sum(m.accepted for m in minutes),
        sum(m.rejected for m in minutes),
    )


def _clock(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%H:%M")
