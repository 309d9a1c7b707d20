from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError
from recovery.proactive.backtest import KS, Figures
from recovery.proactive.model import WINDOW_DAYS
from recovery.proactive.service import LOOKBACK_DAYS, proactive_model_train


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "Backtest the 'likely to write again' predictor on a time split of the organisation's "
        "own solves (train on the past, test on the later period), print AUC, precision@20/50 "
        "and Brier score beside the 'contacted twice in 30 days' baseline, then record the run "
        "and put its model in use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--window", type=int, default=WINDOW_DAYS, help="Days after a solve.")
        parser.add_argument(
            "--lookback", type=int, default=LOOKBACK_DAYS, help="Days of history to use."
        )

    def handle(self, *args: Any, window: int, lookback: int, **options: Any) -> None:
        try:
            result = proactive_model_train(window_days=window, lookback_days=lookback)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        b = result.backtest
        out = self.stdout.write
        out(f"Label: a customer message within {window} days of a solve.")
        out(
            f"Solves with an observed window in the last {lookback} days: {b.n_labelled}. "
            f"Train: {b.n_train} solved before {b.train_until:%Y-%m-%d} "
            f"({b.n_train_positive} wrote again; calibration on the last {b.n_calibration}, "
            f"{b.n_calibration_positive} positive). "
            f"Test: {b.n_test} solved {b.test_from:%Y-%m-%d} to {b.test_to:%Y-%m-%d} "
            f"({b.n_test_positive} wrote again, base rate {b.n_test_positive / b.n_test:.3f})."
        )
        header = f"{'':<34}{'AUC':>7}" + "".join(f"{'P@' + str(k):>8}" for k in KS)
        out(header + f"{'Brier':>8}")

        def line(name: str, f: Figures) -> None:
            cells = "".join(f"{_fmt(f.precision_at[k]):>8}" for k in KS)
            out(f"{name:<34}{_fmt(f.auc):>7}{cells}{_fmt(f.brier):>8}")

        line("predictor (calibrated)", b.model)
        line("baseline: 2+ contacts in 30 days", b.baseline)
        out(
            f"Calibration: Brier {b.model_uncalibrated_brier:.4f} before Platt scaling, "
            f"{b.model.brier:.4f} after ({'fitted' if b.calibrated else 'too few positives'})."
        )
        for band in b.reliability:
            out(
                f"  predicted {band['from']:.2f}-{band['to']:.2f}: n={band['n']:.0f}, "
                f"mean predicted {band['predicted']:.3f}, observed {band['observed']:.3f}"
            )
        if b.n_test_positive < 30:
            out(
                f"Only {b.n_test_positive} positives in the test period: precision@k moves by "
                f"{1 / 20:.2f} per hit at k=20; read these figures as indicative."
            )
        out(f"Model in use: {result.run.version}.")
