from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from copilot.selectors import draft_leaks_for_open_tickets


def _kind(identifier: str) -> str:
    if "/" in identifier or identifier.lower().startswith("www."):
        return "url"
    if identifier.startswith("@"):
        return "handle"
    if "@" in identifier:
        return "e-mail"
    if any(ch.isdigit() for ch in identifier):
        return "number"
    return "name"


class Command(BaseCommand):
    help = (
        "Count the drafts of open tickets that name someone else: a person name, handle, "
        "e-mail, phone, number or URL that comes neither from the ticket nor from its agent. "
        "Reports the drafts as stored and as the current code builds them from the same "
        "similar cases, and the reply-library suggestions stored for them with their slots "
        "filled from the ticket and its assignee, in one run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--show", type=int, default=10, help="leaks to list per column")

    def handle(self, *args: Any, show: int, **options: Any) -> None:
        report = draft_leaks_for_open_tickets()
        for label, attr in (
            ("as stored", "stored"),
            ("rebuilt now", "rebuilt"),
            ("suggested (slots filled)", "suggested"),
        ):
            leaking = [r for r in report if getattr(r, attr)]
            words = Counter(w for r in leaking for w in getattr(r, attr))
            kinds = Counter(_kind(w) for r in leaking for w in set(getattr(r, attr)))
            by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            self.stdout.write(
                f"Drafts {label}: {len(leaking)} of {len(report)} name someone else "
                f"({sum(words.values())} identifiers, {len(words)} distinct"
                + (f"; {by_kind}" if by_kind else "")
                + ")."
            )
            for r in leaking[:show]:
                self.stdout.write(f"  ticket {r.ticket_id}: {', '.join(getattr(r, attr))}")
