"""Geometry of the match-weight waterfall drawn as inline SVG on the decision page.

One row per step: the prior (as a weight), then each comparison's weight added in turn,
then the total. Bars run from the running total before the step to after it; the link
and review thresholds are drawn as vertical lines at their weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WIDTH = 720
LABEL_WIDTH = 250
VALUE_WIDTH = 70
ROW = 24
TOP = 26


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of the waterfall: ``kind`` is ``prior``, ``up``, ``down``, ``zero`` or ``total``."""

    label: str
    value: str
    kind: str
    x: float
    width: float
    y: float
    text_y: float


@dataclass(frozen=True, slots=True)
class Marker:
    """A threshold line."""

    label: str
    x: float


@dataclass(frozen=True, slots=True)
class Waterfall:
    """Everything the template needs to draw the chart."""

    width: int
    height: int
    plot_left: int
    plot_right: int
    zero_x: float
    bars: list[Bar]
    markers: list[Marker]
    summary: str


def _logit2(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))


def waterfall(
    explanation: Sequence[dict[str, Any]],
    prior_weight: float,
    probability: float,
    thresholds: tuple[float, float],
) -> Waterfall:
    """The waterfall of a score's explanation.

    Args:
        explanation: ``{"comparison", "level", "weight"}`` rows, in order.
        prior_weight: the prior as a weight (log2 odds).
        probability: the pair's match probability.
        thresholds: (link, review) probabilities.
    """
    steps: list[tuple[str, float, float, str]] = [("prior", 0.0, prior_weight, "prior")]
    running = prior_weight
    for row in explanation:
        weight = float(row.get("weight", 0.0))
        label = f"{str(row.get('comparison', '?')).replace('_', ' ')}: {row.get('level', '?')}"
        kind = "up" if weight > 0 else "down" if weight < 0 else "zero"
        steps.append((label, running, running + weight, kind))
        running += weight
    steps.append((f"total (p = {probability:.4f})", 0.0, running, "total"))
    link_w, review_w = _logit2(thresholds[0]), _logit2(thresholds[1])
    points = [0.0, link_w, review_w] + [s[1] for s in steps] + [s[2] for s in steps]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    left, right = LABEL_WIDTH, WIDTH - VALUE_WIDTH

    def x(value: float) -> float:
        return round(left + (value - low) / span * (right - left), 1)

    bars = []
    for i, (label, start, end, kind) in enumerate(steps):
        a, b = sorted((x(start), x(end)))
        delta = end - start if kind not in ("prior", "total") else end
        bars.append(
            Bar(
                label=label,
                value=f"{delta:+.2f}",
                kind=kind,
                x=a,
                width=max(b - a, 1.5),
                y=TOP + i * ROW,
                text_y=TOP + i * ROW + 15,
            )
        )
    markers = [Marker("link", x(link_w)), Marker("review", x(review_w))]
    ups = sum(1 for s in steps if s[3] == "up")
    downs = sum(1 for s in steps if s[3] == "down")
    summary = (
        f"Match weight waterfall: prior {prior_weight:+.1f}, {ups} comparisons for,"
        f" {downs} against, total {running:+.1f} bits, probability {probability:.4f}."
    )
    return Waterfall(
        width=WIDTH,
        height=TOP + len(steps) * ROW + 10,
        plot_left=left,
        plot_right=right,
        zero_x=x(0.0),
        bars=bars,
        markers=markers,
        summary=summary,
    )
