"""Geometry of the override-rates charts: plain numbers, no database."""

from recovery.charts import BAR_HEIGHT, BAR_WIDTH, BAR_X, ROW_HEIGHT, bar_chart
from recovery.override_rates import OverrideRate


def _rate(label: str, *, accepted: int, overridden: int, added: int = 0) -> OverrideRate:
    return OverrideRate(
        key=label,
        label=label,
        decisions=accepted + overridden,
        accepted=accepted,
        overridden=overridden,
        rejected=overridden,
        changed=0,
        added=added,
    )


def test_each_bar_splits_the_full_width_between_accepted_and_overridden() -> None:
    rows = [_rate("ana", accepted=3, overridden=1), _rate("ben", accepted=1, overridden=2)]

    chart = bar_chart(slug="agent", title="By agent", dimension="Agent", rows=rows)

    first, second = chart.bars
    assert (first.accepted_width, first.overridden_x, first.overridden_width) == (225, 435, 75)
    assert (second.accepted_width, second.overridden_width) == (100, 200)
    assert first.accepted_width + first.overridden_width == BAR_WIDTH
    assert second.overridden_x == BAR_X + second.accepted_width
    assert (first.y, second.y) == (4, ROW_HEIGHT + 4)
    assert first.text_y == 4 + BAR_HEIGHT - 4
    assert chart.height == 2 * ROW_HEIGHT + 8
    assert first.numbers == "25% overridden · 1 of 4"
    assert first.description == (
        "ana: 3 accepted and 1 overridden of 4 decisions (75% accepted, 25% overridden); "
        "0 actions added"
    )


def test_a_group_without_decisions_has_an_empty_bar_and_says_so() -> None:
    chart = bar_chart(
        slug="action",
        title="By action",
        dimension="Action",
        rows=[_rate("Voucher", accepted=0, overridden=0, added=1)],
    )

    (bar,) = chart.bars
    assert (bar.accepted_width, bar.overridden_width) == (0, 0)
    assert bar.numbers == "no decisions · 1 added"
    assert bar.description.endswith("(— accepted, — overridden); 1 action added")


def test_an_empty_chart_keeps_the_height_of_one_row_and_long_labels_are_cut() -> None:
    empty = bar_chart(slug="week", title="By ISO week", dimension="ISO week", rows=[])
    long = bar_chart(
        slug="intent",
        title="By intent",
        dimension="Intent",
        rows=[_rate("x" * 40, accepted=1, overridden=0)],
    )

    assert empty.bars == [] and empty.height == ROW_HEIGHT + 8
    assert long.bars[0].label == "x" * 27 + "…"
