from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from privacy.erasure import customer_erase
from tickets.customer_data import customer_get


class Command(BaseCommand):
    help = "Erase a customer's personal data everywhere (see privacy/erasure.py for what stays)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer_id", type=int)

    def handle(self, *args: Any, customer_id: int, **options: Any) -> None:
        customer = customer_get(customer_id=customer_id)
        receipt = customer_erase(customer=customer, by=None)
        for what, n in receipt.counts.items():
            self.stdout.write(f"  {what}: {n}")
        self.stdout.write(self.style.SUCCESS(f"Customer {customer_id} erased."))
