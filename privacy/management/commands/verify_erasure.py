from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.verify import erasure_verify


class Command(BaseCommand):
    help = (
        "Check that nothing identifying an erased customer remains: every text column of "
        "every table in the database (Django's own and third-party apps' too, read from the "
        "database itself), stored sessions (decoded), every similar-case index generation on "
        "disk, Redis (broker and cache) and export packages. Give the identifiers to look "
        "for; prints what it checked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer_id", type=int)
        parser.add_argument(
            "--term",
            action="append",
            default=[],
            help="An identifier of the customer (name, e-mail, the shop's id); repeatable.",
        )

    def handle(self, *args: Any, customer_id: int, term: list[str], **options: Any) -> None:
        if not term:
            raise CommandError("Give at least one --term (their name, e-mail or shop id).")
        report = erasure_verify(customer_id=customer_id, terms=term)
        self.stdout.write(f"Checked {len(report.checked)} places:")
        for place in report.checked:
            self.stdout.write(f"  {place}")
        if not report.clean:
            for finding in report.found:
                self.stderr.write(f"FOUND {finding}")
            raise CommandError(f"{len(report.found)} trace(s) of the customer remain.")
        self.stdout.write(self.style.SUCCESS("Nothing identifying the customer remains."))
