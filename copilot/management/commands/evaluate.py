from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from copilot.engine import get_engine
from copilot.nlp.evaluation import format_report, run_all

DEFAULT_DATA = Path(settings.BASE_DIR) / "data" / "eval"


class Command(BaseCommand):
    help = (
        "Measure the copilot's models on public data the team did not write: intent on "
        "BANKING77, sentiment on TweetEval, similar-case retrieval on Bitext and IBM customer "
        "care, each next to the simplest baseline. Trains on train splits, reports on test."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
        parser.add_argument(
            "--conversation",
            action="store_true",
            help="Only the conversation-state signal against the hand-labelled demo "
            "conversations (data/eval/conversation_state.jsonl), next to the last message alone.",
        )

    def handle(self, *args: Any, data: Path, conversation: bool = False, **options: Any) -> None:
        if conversation:
            from copilot.nlp.conversation_eval import evaluate_conversation_state

            self.stdout.write(
                evaluate_conversation_state(
                    labels=data / "conversation_state.jsonl",
                    transcripts=Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl",
                    sentiment=get_engine().sentiment,
                )
            )
            return
        if not (data / "banking77").is_dir():
            raise CommandError(f"No evaluation data in {data} (see data/eval/README.md)")
        self.stdout.write(format_report(run_all(data, encoder=get_engine().encoder)))
