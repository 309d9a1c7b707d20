import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from core.errors import DomainError
from recovery.churn.dataset import ACTIVE_DAYS
from recovery.churn.service import churn_model_train
from recovery.churn.storage import churn_model_path
from recovery.customer_features import customer_signals_refresh_all


def _moment(value: str) -> dt.datetime:
    """An ISO date (midnight, in TIME_ZONE) or date-time, for argparse."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = dt.datetime.combine(day, dt.time())
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Train the churn model on a time split of the contact history (churned = no message in "
        "the horizon after the cutoff, among customers active before it), save it where the "
        "workers load it from, and print its validation AUC beside the days-since-last-contact "
        "baseline. With --refresh, recompute every customer's signals with it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cutoff",
            type=_moment,
            default=None,
            help="ISO date or date-time (default: the end of the history minus the horizon).",
        )
        parser.add_argument("--horizon", type=int, default=90, help="Days after the cutoff.")
        parser.add_argument(
            "--active-days",
            type=int,
            default=ACTIVE_DAYS,
            help="Customers count if they wrote in this many days before the cutoff.",
        )
        parser.add_argument(
            "--now",
            type=_moment,
            default=None,
            help="End of the recorded history (default: the newest customer message).",
        )
        parser.add_argument("--refresh", action="store_true", help="Recompute all signals.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(
        self,
        *args: Any,
        cutoff: dt.datetime | None,
        horizon: int,
        active_days: int,
        now: dt.datetime | None,
        refresh: bool,
        no_progress: bool,
        **options: Any,
    ) -> None:
        try:
            run = churn_model_train(
                cutoff=cutoff, horizon_days=horizon, now=now, active_days=active_days
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        training = run.details["training"]
        validation = training["validation"]
        self.stdout.write(
            f"Customers: {run.n_customers} active in the {active_days} days before "
            f"{training['cutoff']}; churned (no message in the {horizon} days after): "
            f"{run.n_churned}"
        )
        self.stdout.write(
            f"Validation AUC on {validation['n_test']} held-out customers: "
            f"{run.validation_auc:.3f} (baseline, days since last contact: "
            f"{run.baseline_auc:.3f})"
        )
        self.stdout.write(
            self.style.SUCCESS(f"Saved churn model {run.version} to {churn_model_path()}")
        )
        if refresh:
            with tqdm(
                desc="Signals", unit="customer", disable=no_progress, file=self.stderr
            ) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                count = customer_signals_refresh_all(progress=progress, now=now)
            self.stdout.write(self.style.SUCCESS(f"Refreshed the signals of {count} customers."))
