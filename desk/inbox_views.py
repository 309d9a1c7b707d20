"""The inbox's views: the built-in ones every agent has, and each agent's saved ones, as one
list of (name, query string) the page links to.

A view is nothing more than a query string of the inbox's filters, normalised so that the same
filters always read the same (and the current one can be marked in the list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from desk.models import SavedView

# The filters a view keeps (the page number is where one is, not what one looks at).
FILTER_KEYS = ("q", "status", "priority", "team", "channel", "mine", "unassigned", "sort")


@dataclass(frozen=True, kw_only=True)
class InboxView:
    key: str  # "mine-urgent" for a built-in view, "saved-<id>" for an agent's own
    name: str
    query: str
    saved: SavedView | None = None


BUILTIN_VIEWS = (
    InboxView(key="mine-urgent", name="Mine and urgent", query="mine=on&sort=urgency"),
    InboxView(key="waiting", name="Waiting on customer", query="status=pending"),
    InboxView(key="unassigned", name="Unassigned", query="sort=urgency&unassigned=on"),
    InboxView(key="all-open", name="All open", query=""),
)


def inbox_query_normalise(*, params: Mapping[str, str]) -> str:
    """The filters of a query, known keys with a value only, sorted: `sort=recent` is the
    default order and left out, so "All open" matches the bare inbox."""
    kept = {
        key: str(params.get(key, "")).strip()
        for key in FILTER_KEYS
        if str(params.get(key, "")).strip()
    }
    if kept.get("sort") == "recent":
        del kept["sort"]
    return urlencode(sorted(kept.items()))


def inbox_views_for_user(*, saved: list[SavedView]) -> list[InboxView]:
    """The built-in views, then the agent's own (`saved`: theirs, from saved_view_list_for_user)."""
    own = [InboxView(key=f"saved-{v.pk}", name=v.name, query=v.query, saved=v) for v in saved]
    return [*BUILTIN_VIEWS, *own]
