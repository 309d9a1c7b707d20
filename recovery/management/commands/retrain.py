from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from copilot.engine import index_store
from copilot.nlp.index import IndexStoreError
from copilot.services.cases import case_index_rebuild
from copilot.training import intent_model_train
from core.errors import DomainError
from recovery.churn.service import churn_model_current, churn_model_train
from recovery.customer_features import customer_signals_refresh_all
from recovery.services import recovery_outcomes_update


class Command(BaseCommand):
    help = (
        "The feedback loop in one go: take in what agents approved and what happened after "
        "recoveries, retrain the intent and churn models, rebuild the similar-case index, "
        "refresh customer signals, and print the figures before and after."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--churn-horizon", type=int, default=90)

    def handle(self, *args: Any, churn_horizon: int, **options: Any) -> None:
        out = self.stdout.write
        out(f"Recovery outcomes updated: {recovery_outcomes_update()}")

        try:
            intent = intent_model_train()
            before = (
                "n/a" if intent.previous_accuracy is None else f"{intent.previous_accuracy:.1f}%"
            )
            after = "n/a" if intent.accuracy is None else f"{intent.accuracy:.1f}%"
            out(
                f"Intent: held-out accuracy before {before}, after {after} "
                f"({intent.holdout_size} tickets, {len(intent.labels)} intents, threshold "
                f"{intent.threshold:.2f}) -> {intent.version}"
            )
        except DomainError as exc:
            out(f"Intent: not retrained ({exc.message})")

        previous = churn_model_current()
        try:
            run = churn_model_train(horizon_days=churn_horizon)
            before = (
                "n/a (heuristic)"
                if previous is None or previous.validation_auc is None
                else f"{previous.validation_auc:.3f}"
            )
            out(
                f"Churn: validation AUC before {before}, after {run.validation_auc:.3f} "
                f"(baseline {run.baseline_auc:.3f}; {run.n_customers} customers, "
                f"{run.n_churned} churned) -> {run.version}"
            )
        except DomainError as exc:
            out(f"Churn: not retrained ({exc.message})")

        try:
            cases_before = index_store().read_manifest().count
        except IndexStoreError:
            cases_before = 0
        manifest = case_index_rebuild(progress=None).manifest
        assert manifest is not None  # a rebuild always publishes
        out(
            f"Similar-case index: {cases_before} cases before, {manifest.count} after "
            f"(generation {manifest.generation})"
        )
        out(f"Customer signals refreshed: {customer_signals_refresh_all()}")
        self.stdout.write(self.style.SUCCESS("Retrained. Restart the workers to load the models."))
