from typing import Any

from django.core.management.base import BaseCommand

from copilot.selectors import intent_coverage


class Command(BaseCommand):
    help = (
        "Per team and intent label set, how many active tickets the inbox shows with an intent, "
        "as 'unsure', or with none (their newest analysis); names any team unsure on every one."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rows = intent_coverage()
        self.stdout.write("| team | label set | active tickets | intent | unsure | none |")
        self.stdout.write("| --- | --- | ---: | ---: | ---: | ---: |")
        for row in rows:
            self.stdout.write(
                f"| {row.team} | {row.label_set} | {row.tickets} | "
                f"{100 * row.labelled / row.tickets:.1f}% | {100 * row.unsure / row.tickets:.1f}% "
                f"| {100 * row.no_intent / row.tickets:.1f}% |"
            )
        teams: dict[str, list[int]] = {}
        for row in rows:
            total = teams.setdefault(row.team, [0, 0])
            total[0] += row.tickets
            total[1] += row.unsure
        always = sorted(team for team, (n, unsure) in teams.items() if n and unsure == n)
        if always:
            self.stdout.write(
                self.style.WARNING("Unsure on every active ticket: " + ", ".join(always))
            )
        else:
            self.stdout.write("No team is unsure on every active ticket.")
