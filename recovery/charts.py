"""Geometry of the override-rates charts: where each stacked bar (accepted, then overridden) and
its labels go. Presentation only, plain Python: the template draws the SVG from these numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for the annotations: the geometry needs no database.
    from recovery.override_rates import OverrideRate

# Geometry of the rates charts, in SVG user units (the SVG scales to its box through viewBox).
CHART_WIDTH = 760
BAR_X = 210
BAR_WIDTH = 300
NUMBERS_X = BAR_X + BAR_WIDTH + 10
ROW_HEIGHT = 26
BAR_HEIGHT = 16


@dataclass(frozen=True, kw_only=True)
class Bar:
    label: str
    y: int
    text_y: int
    accepted_width: int
    overridden_x: int
    overridden_width: int
    numbers: str
    description: str


@dataclass(frozen=True, kw_only=True)
class BarChart:
    slug: str
    title: str
    dimension: str
    rows: list[OverrideRate]
    bars: list[Bar]
    width: int = CHART_WIDTH
    height: int
    bar_x: int = BAR_X
    bar_width: int = BAR_WIDTH
    bar_height: int = BAR_HEIGHT
    numbers_x: int = NUMBERS_X


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


def bar_chart(*, slug: str, title: str, dimension: str, rows: list[OverrideRate]) -> BarChart:
    """Presentation only: where each stacked bar (accepted, then overridden) goes."""
    bars = []
    for index, row in enumerate(rows):
        accepted = round(BAR_WIDTH * row.accepted / row.decisions) if row.decisions else 0
        overridden = BAR_WIDTH - accepted if row.decisions else 0
        numbers = (
            f"{_percent(row.override_rate)} overridden · {row.overridden} of {row.decisions}"
            if row.decisions
            else "no decisions"
        )
        if row.added:
            numbers += f" · {row.added} added"
        bars.append(
            Bar(
                label=row.label if len(row.label) <= 28 else row.label[:27] + "…",
                y=index * ROW_HEIGHT + 4,
                text_y=index * ROW_HEIGHT + 4 + BAR_HEIGHT - 4,
                accepted_width=accepted,
                overridden_x=BAR_X + accepted,
                overridden_width=overridden,
                numbers=numbers,
                description=(
                    f"{row.label}: {row.accepted} accepted and {row.overridden} overridden of "
                    f"{row.decisions} decisions ({_percent(row.acceptance_rate)} accepted, "
                    f"{_percent(row.override_rate)} overridden); "
                    f"{row.added} action{'' if row.added == 1 else 's'} added"
                ),
            )
        )
    return BarChart(
        slug=slug,
        title=title,
        dimension=dimension,
        rows=rows,
        bars=bars,
        height=max(len(rows), 1) * ROW_HEIGHT + 8,
    )
