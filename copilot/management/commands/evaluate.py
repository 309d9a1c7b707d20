from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from copilot.engine import get_engine
from copilot.nlp.evaluation import evaluate_tweeteval, format_report, format_sentiment, run_all

DEFAULT_DATA = Path(settings.BASE_DIR) / "data" / "eval"
SOCIAL_TRAIN_LABELS = "intent_labels_social.jsonl"


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
            "conversations (data/eval/conversation_state.jsonl, the test sample, and "
            "conversation_state_dev.jsonl, the development sample), next to the last message "
            "alone and the previous rules.",
        )

        parser.add_argument(
            "--intent-few-shot",
            action="store_true",
            help="Only intent on BANKING77 few-shot (10 per intent to train, 5 more to choose "
            "the 'unsure' threshold for --target-precision), tested on the 3,080 test requests.",
        )
        parser.add_argument(
            "--intent-social",
            action="store_true",
            help="Only the social intent label set: trained as train_intent --label-set social "
            "does on the hand-labelled demo Twitter requests (data/demo/"
            "intent_labels_social.jsonl), tested on the held-out ones (data/eval/"
            "intent_social_test.jsonl) at the thresholds calibrated for 90% and 80% precision "
            "and at 0.5, next to TF-IDF + logistic regression and the nearest labelled request.",
        )
        parser.add_argument(
            "--replies",
            action="store_true",
            help="Only the response selector: 1-of-100 R@1/R@3 on held-out Twitter (demo "
            "TWCS threads), IBM customer care and Bitext requests, next to BM25, the encoder's "
            "cosine and the nearest case's reply. --target-precision defaults to "
            "COPILOT_REPLY_TARGET_PRECISION here.",
        )
        parser.add_argument(
            "--real-only",
            action="store_true",
            help="With --replies: the real conversations only (Twitter and IBM), not Bitext.",
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
        intent_social: bool = False,
        target_precision: float | None = None,
        seed: int = 0,
        sentiment_only: bool = False,
        replies: bool = False,
        compare_branch: list[Path] | None = None,
        **options: Any,
    ) -> None:
        if replies:
            from copilot.nlp.reply_eval import evaluate_replies, format_replies
            from copilot.nlp.selector_branch import SHIPPED, load_selector_branch

            target = (
                settings.COPILOT_REPLY_TARGET_PRECISION
                if target_precision is None
                else target_precision
            )
            if not 0.0 < target <= 1.0:
                raise CommandError("--target-precision must be above 0 and at most 1")
            encoder = get_engine().encoder
            # The shipped selector, never the organisation's: `train_intent` on the demo
            # tickets would have trained on the Twitter test threads.
            shipped = load_selector_branch(SHIPPED)
            if shipped.encoder_version != encoder.version:
                raise CommandError(
                    f"The shipped response selector sits on encoder {shipped.encoder_version}, "
                    f"not {encoder.version}: retrain it with scripts/finetune_selector.py"
                )
            measured = evaluate_replies(
                selector=shipped.selector(),
                real_only=bool(options.get("real_only")),
                tickets_jsonl=Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl",
                data_dir=data,
                encoder=encoder,
                # Embeddings of the evaluation texts, so a second run skips the encoder.
                cache_dir=Path(settings.VAR_DIR) / "cache" / "reply-eval",
                target_precision=target,
                seed=seed,
            )
            self.stdout.write(format_replies(measured))
            return
        if intent_social:
            from copilot.nlp.intent_eval import evaluate_social_intents, format_social

            test_labels = data / "intent_social_test.jsonl"
            if not test_labels.is_file():
                raise CommandError(f"No social intent test labels at {test_labels}")
            social = evaluate_social_intents(
                tickets_jsonl=Path(settings.BASE_DIR) / "data" / "demo" / "tickets.jsonl",
                train_labels=Path(settings.BASE_DIR) / "data" / "demo" / SOCIAL_TRAIN_LABELS,
                test_labels=test_labels,
                encoder=get_engine().encoder,
                seed=seed,
            )
            self.stdout.write(format_social(social))
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
                        samples=[
                            ("test", data / "conversation_state.jsonl"),
                            ("development", data / "conversation_state_dev.jsonl"),
                        ],
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
