from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from copilot.engine import get_engine
from copilot.nlp.evaluation import evaluate_tweeteval, format_report, format_sentiment, run_all

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

        parser.add_argument(
            "--intent-few-shot",
            action="store_true",
            help="Only intent on BANKING77 few-shot (10 per intent to train, 5 more to choose "
            "the 'unsure' threshold for --target-precision), tested on the 3,080 test requests.",
        )
        parser.add_argument(
            "--replies",
            action="store_true",
            help="Only the response selector: 1-of-100 R@1/R@3 on held-out Twitter (demo "
            "TWCS threads), IBM customer care and Bitext requests, next to BM25, the encoder's "
            "cosine and the nearest case's reply. --target-precision defaults to "
            "COPILOT_REPLY_TARGET_PRECISION here.",
        )
        parser.add_argument("--target-precision", type=float, default=None)
        parser.add_argument(
            "--sentiment-only",
            action="store_true",
            help="only (b): the sentiment model, the previous one and VADER on TweetEval test",
        )
        parser.add_argument(
            "--compare-branch",
            type=Path,
            action="append",
            default=[],
            help="another sentiment branch file (e.g. the previous one) to score on TweetEval "
            "test in the same encoder pass, or with --conversation, on the same conversations; "
            "may be repeated",
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(
        self,
        *args: Any,
        data: Path,
        conversation: bool = False,
        intent_few_shot: bool = False,
        target_precision: float | None = None,
        seed: int = 0,
        sentiment_only: bool = False,
        replies: bool = False,
        compare_branch: list[Path] | None = None,
        **options: Any,
    ) -> None:
        if replies:
            from copilot.nlp.reply_eval import evaluate_replies, format_replies

            target = (
                settings.COPILOT_REPLY_TARGET_PRECISION
                if target_precision is None
                else target_precision
            )
            if not 0.0 < target <= 1.0:
                raise CommandError("--target-precision must be above 0 and at most 1")
            measured = evaluate_replies(
                tickets_jsonl=Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl",
                data_dir=data,
                encoder=get_engine().encoder,
                # Embeddings of the evaluation texts, so a second run skips the encoder.
                cache_dir=Path(settings.VAR_DIR) / "cache" / "reply-eval",
                target_precision=target,
                seed=seed,
            )
            self.stdout.write(format_replies(measured))
            return
        target_precision = 0.9 if target_precision is None else target_precision
        if intent_few_shot:
            from copilot.nlp.intent_eval import evaluate_banking77_few_shot, format_few_shot

            if not (data / "banking77").is_dir():
                raise CommandError(f"No evaluation data in {data} (see data/eval/README.md)")
            if not 0.0 < target_precision <= 1.0:
                raise CommandError("--target-precision must be above 0 and at most 1")
            result = evaluate_banking77_few_shot(
                data / "banking77",
                encoder=get_engine().encoder,
                target_precision=target_precision,
                seed=seed,
            )
            self.stdout.write(format_few_shot(result))
            return
        compare = list(compare_branch or [])
        for path in compare:
            if not path.is_file():
                raise CommandError(f"--compare-branch: no file {path}")
        if conversation:
            from copilot.nlp.conversation_eval import evaluate_conversation_state
            from copilot.nlp.sentiment import BranchSentimentAnalyzer

            engine = get_engine()
            models = [
                engine.sentiment,
                *(BranchSentimentAnalyzer(path, engine.encoder) for path in compare),
            ]
            self.stdout.write(
                "\n\n".join(
                    evaluate_conversation_state(
                        labels=data / "conversation_state.jsonl",
                        transcripts=Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl",
                        sentiment=model,
                    )
                    for model in models
                )
            )
            return
        if not (data / "banking77").is_dir():
            raise CommandError(f"No evaluation data in {data} (see data/eval/README.md)")
        if sentiment_only:
            report = evaluate_tweeteval(
                data / "tweeteval_sentiment", encoder=get_engine().encoder, compare=compare
            )
            self.stdout.write("\n".join(format_sentiment(report)))
            return
        self.stdout.write(
            format_report(run_all(data, encoder=get_engine().encoder, compare=compare))
        )
