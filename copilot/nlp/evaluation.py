"""Offline evaluation of the NLP core on the public datasets copied into `data/eval/`.

Each function takes the data directory (the repo's `data/eval`), computes its figures and
returns a frozen dataclass; `format_report` renders them for the management command.
Percentages are 0-100. Nothing here reads outside the given directory or downloads anything.

    HF_HUB_OFFLINE=1 .venv/bin/python -m copilot.nlp.evaluation data/eval
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from copilot.nlp.datasets import (
    BitextRow,
    load_banking77,
    load_bitext,
    load_ibm,
    load_tweeteval,
)
from copilot.nlp.embeddings import Encoder, get_encoder
from copilot.nlp.index import INTENT_RERANK_WEIGHT, SimilarCaseIndex, rerank_by_intent
from copilot.nlp.intent import IntentClassifier
from copilot.nlp.sentiment import (
    DEFAULT_BRANCH_PATH,
    LABELS,
    BranchSentimentAnalyzer,
    HeadSentimentAnalyzer,
    SentimentAnalyzer,
    get_sentiment_analyzer,
)

# ----------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassificationScores:
    accuracy: float
    macro_f1: float
    macro_recall: float


def classification_scores(gold: Sequence[str], predicted: Sequence[str]) -> ClassificationScores:
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    labels = sorted(set(gold))
    return ClassificationScores(
        accuracy=100 * float(accuracy_score(gold, predicted)),
        # Restricted to the gold label set so a never-gold prediction ("unsure") counts as
        # an error without adding a zero-score class to the average.
        macro_f1=100 * float(f1_score(gold, predicted, labels=labels, average="macro")),
        # TweetEval's official scorer: classification_report(...)["macro avg"]["recall"].
        macro_recall=100
        * float(recall_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
    )


@dataclass(frozen=True)
class SentimentScores(ClassificationScores):
    # Recall of each class in LABELS order (negative, neutral, positive): macro figures hide
    # a model that finds few of the unhappy customers.
    recall: tuple[float, float, float]


def sentiment_scores(gold: Sequence[str], predicted: Sequence[str]) -> SentimentScores:
    from sklearn.metrics import recall_score

    overall = classification_scores(gold, predicted)
    per_class = recall_score(gold, predicted, labels=list(LABELS), average=None, zero_division=0)
    neg, neu, pos = (100 * float(r) for r in per_class)
    return SentimentScores(**overall.__dict__, recall=(neg, neu, pos))


def vader_rule_predictions(texts: Sequence[str]) -> list[str]:
    """The VADER authors' rule: compound >= 0.05 positive, <= -0.05 negative, else neutral."""
    from copilot.nlp.sentiment import lexicon_features

    compound = lexicon_features(texts)[:, 3]
    return ["positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral" for c in compound]


_TOKEN = re.compile(r"\w+")


def bm25_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class RankingScores:
    precision_at_5: float
    hit_at_5: float
    mrr: float  # over the full ranking of all indexed cases


def ranking_scores(rankings: Sequence[Sequence[bool]]) -> RankingScores:
    """`rankings[q][r]` says whether the r-th ranked case is relevant to query q."""
    precision, hit, reciprocal = [], [], []
    for ranking in rankings:
        top5 = list(ranking[:5])
        precision.append(sum(top5) / 5)
        hit.append(float(any(top5)))
        first = next((r for r, relevant in enumerate(ranking) if relevant), None)
        reciprocal.append(0.0 if first is None else 1.0 / (first + 1))
    return RankingScores(
        precision_at_5=100 * float(np.mean(precision)),
        hit_at_5=100 * float(np.mean(hit)),
        mrr=100 * float(np.mean(reciprocal)),
    )


def _bm25_rankings(
    corpus: Sequence[str],
    queries: Sequence[str],
    relevant: Callable[[int, int], bool],
    depth: int,
) -> list[list[bool]]:
    from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

    bm25 = BM25Okapi([bm25_tokens(t) or [""] for t in corpus])
    out = []
    for q, query in enumerate(queries):
        scores = np.asarray(bm25.get_scores(bm25_tokens(query)))
        # Stable sort so ties keep corpus order, as the dense index does.
        order = np.argsort(-scores, kind="stable")[:depth]
        out.append([relevant(q, int(i)) for i in order])
    return out


# ----------------------------------------------------------------------------------------
# (a) BANKING77 intent
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntentEvaluation:
    n_train: int
    n_test: int
    model: ClassificationScores
    embedding_only: ClassificationScores
    tfidf_only: ClassificationScores
    baseline_name: str
    baseline: ClassificationScores
    majority: ClassificationScores
    encode_seconds: float
    fit_seconds: float
    threshold: float
    coverage_at_threshold: float  # % of test messages not answered "unsure"
    accuracy_when_confident: float
    model_version: str


def evaluate_banking77(directory: Path, *, encoder: Encoder | None = None) -> IntentEvaluation:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    encoder = encoder or get_encoder()
    train_texts, train_labels = load_banking77(directory, "train")
    test_texts, test_labels = load_banking77(directory, "test")
    started = time.perf_counter()
    train_vectors = encoder.encode(train_texts)
    encode_seconds = time.perf_counter() - started
    model = IntentClassifier.fit(
        train_texts, train_labels, encoder=encoder, embeddings=train_vectors
    )
    fit_seconds = float(model.training["fit_seconds"])

    predictions = model.predict(test_texts)
    best = [p.best_guess for p in predictions]
    embedding_probs, tfidf_probs = model.component_probabilities(test_texts, encoder=encoder)
    confident = [
        (p.label, gold)
        for p, gold in zip(predictions, test_labels, strict=True)
        if p.label != "unsure"
    ]

    # Baseline: the simplest sensible text classifier, word 1-2-gram TF-IDF + logistic
    # regression (scikit-learn defaults, C=1), trained in this same run.
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    baseline = LogisticRegression(max_iter=3000).fit(word.fit_transform(train_texts), train_labels)
    baseline_pred = [str(x) for x in baseline.predict(word.transform(test_texts))]
    majority_label = Counter(train_labels).most_common(1)[0][0]

    return IntentEvaluation(
        n_train=len(train_texts),
        n_test=len(test_texts),
        model=classification_scores(test_labels, best),
        embedding_only=classification_scores(
            test_labels, [model.labels[i] for i in embedding_probs.argmax(axis=1)]
        ),
        tfidf_only=classification_scores(
            test_labels, [model.labels[i] for i in tfidf_probs.argmax(axis=1)]
        ),
        baseline_name="TF-IDF word 1-2-grams + logistic regression (C=1)",
        baseline=classification_scores(test_labels, baseline_pred),
        majority=classification_scores(test_labels, [majority_label] * len(test_labels)),
        encode_seconds=encode_seconds,
        fit_seconds=fit_seconds,
        threshold=model.threshold,
        coverage_at_threshold=100 * len(confident) / len(test_texts),
        accuracy_when_confident=(
            100 * sum(p == g for p, g in confident) / len(confident) if confident else 0.0
        ),
        model_version=model.version,
    )


# ----------------------------------------------------------------------------------------
# (b) TweetEval sentiment
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentimentEvaluation:
    n_test: int
    model: SentimentScores
    vader: SentimentScores
    majority: SentimentScores
    seconds: float
    model_version: str
    # The fine-tuned branch (int8 as it runs, and fp32 before quantisation), scored in the same
    # run and the same encoder pass as the default head.
    branch: SentimentScores | None = None
    branch_fp32: SentimentScores | None = None
    branch_version: str | None = None
    # Milliseconds per message that the int8 branch adds to the shared encoder pass (its own
    # blocks and classifier), measured in this run.
    branch_ms: float | None = None
    # Other branch files (e.g. the previous one) scored in the same encoder pass, int8.
    compared: tuple[ComparedBranch, ...] = ()


@dataclass(frozen=True)
class ComparedBranch:
    path: str
    version: str
    scores: SentimentScores
    ms: float  # per message on top of the shared encoder pass, same run


def evaluate_tweeteval(
    directory: Path,
    *,
    analyzer: SentimentAnalyzer | None = None,
    encoder: Encoder | None = None,
    compare: Sequence[Path] = (),
) -> SentimentEvaluation:
    """The default sentiment model on TweetEval test, next to the fine-tuned branch (int8 and
    fp32), VADER and the majority class. The head and the branch share one encoder pass per
    batch (both read its hidden states); so do the branch files in `compare`, whose cost per
    message is timed in the same batches as the shipped branch's."""
    texts, labels = load_tweeteval(directory, "test")
    vader = sentiment_scores(labels, vader_rule_predictions(texts))
    majority = sentiment_scores(labels, ["neutral"] * len(labels))
    analyzer = analyzer or get_sentiment_analyzer(
        encoder_path=encoder.model_path if encoder is not None else None
    )
    started = time.perf_counter()
    if not isinstance(analyzer, HeadSentimentAnalyzer):
        predicted = [r.label for r in analyzer.analyse(texts)]
        return SentimentEvaluation(
            n_test=len(texts),
            model=sentiment_scores(labels, predicted),
            vader=vader,
            majority=majority,
            seconds=time.perf_counter() - started,
            model_version=analyzer.version,
        )
    import torch

    head = analyzer
    int8 = BranchSentimentAnalyzer(DEFAULT_BRANCH_PATH, head.encoder)
    fp32 = BranchSentimentAnalyzer(DEFAULT_BRANCH_PATH, head.encoder, quantise=False)
    others = [BranchSentimentAnalyzer(path, head.encoder) for path in compare]
    timed = [int8, *others, fp32]
    spent = [0.0] * len(timed)
    widths: list[int] = []
    batch_count = [0]

    def everything(hidden_states: tuple[torch.Tensor, ...], mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(torch.float32)
        counts = weights.sum(dim=1).clamp(min=1.0)
        means = [(hidden_states[i] * weights).sum(dim=1) / counts for i in head.layers]
        own: list[torch.Tensor | None] = [None] * len(timed)
        # The order turns batch by batch, so that load from other processes falls on each alike.
        batch_count[0] += 1
        for j in range(len(timed)):
            k = (j + batch_count[0]) % len(timed)
            t0 = time.perf_counter()
            own[k] = timed[k].probabilities(hidden_states, mask)
            spent[k] += time.perf_counter() - t0
        outputs = [o for o in own if o is not None]
        widths[:] = [o.shape[1] for o in outputs]
        return torch.cat([*outputs, *means], dim=1)

    _, out = head.encoder.encode_with_branch(texts, everything)
    edges = np.cumsum([0, *widths])
    predicted = [r.label for r in head.analyse_layer_means(texts, out[:, edges[-1] :])]
    seconds = time.perf_counter() - started

    def scored(k: int) -> SentimentScores:
        probs = out[:, edges[k] : edges[k + 1]]
        return sentiment_scores(labels, [LABELS[i] for i in probs.argmax(axis=1)])

    all_scores = [scored(k) for k in range(len(timed))]
    per_message = [1000.0 * t / len(texts) for t in spent]
    return SentimentEvaluation(
        n_test=len(texts),
        model=sentiment_scores(labels, predicted),
        vader=vader,
        majority=majority,
        seconds=seconds,
        model_version=head.version,
        branch=all_scores[0],
        branch_fp32=all_scores[-1],
        branch_version=int8.version,
        branch_ms=per_message[0],
        compared=tuple(
            ComparedBranch(path=str(path), version=other.version, scores=scores, ms=ms)
            for path, other, scores, ms in zip(
                compare, others, all_scores[1:-1], per_message[1:-1], strict=True
            )
        ),
    )


# ----------------------------------------------------------------------------------------
# (c) Bitext and (d) IBM retrieval
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrievalEvaluation:
    dataset: str
    relevance: str
    n_indexed: int
    n_queries: int
    model: RankingScores
    bm25: RankingScores
    seconds: float
    # Same figures when only cases of the query's own company may be retrieved (IBM only).
    model_same_company: RankingScores | None = None
    bm25_same_company: RankingScores | None = None
    # Dense hits re-ranked by intent agreement, the intent model trained on the indexed rows
    # only (Bitext only: IBM cases carry no intent).
    model_intent_reranked: RankingScores | None = None
    intent_rerank_weight: float | None = None


BITEXT_SPLIT_SEED = 13


def bitext_split(
    rows: Sequence[BitextRow], seed: int = BITEXT_SPLIT_SEED
) -> tuple[list[int], list[int]]:
    """Stratified 80/20 split per intent (row indices), as the dataset README suggests."""
    from sklearn.model_selection import train_test_split

    indices = list(range(len(rows)))
    train, test = train_test_split(
        indices, test_size=0.2, random_state=seed, stratify=[r.intent for r in rows]
    )
    return sorted(int(i) for i in train), sorted(int(i) for i in test)


def evaluate_bitext_retrieval(
    directory: Path, *, encoder: Encoder | None = None
) -> RetrievalEvaluation:
    encoder = encoder or get_encoder()
    rows = load_bitext(directory)
    train, test = bitext_split(rows)
    corpus = [rows[i].instruction for i in train]
    queries = [rows[i].instruction for i in test]

    def relevant(q: int, c: int) -> bool:
        return rows[test[q]].intent == rows[train[c]].intent

    started = time.perf_counter()
    corpus_vectors = encoder.encode(corpus)
    index = SimilarCaseIndex.build(np.arange(len(corpus)), corpus_vectors)
    query_vectors = encoder.encode(queries)
    hits = index.search(query_vectors, len(corpus))
    seconds = time.perf_counter() - started
    dense = ranking_scores([[relevant(q, n.id) for n in row] for q, row in enumerate(hits)])
    bm25 = ranking_scores(_bm25_rankings(corpus, queries, relevant, len(corpus)))

    # Intent-aware variant: an intent model learned from the indexed rows' own intents
    # (what a help desk's solved cases carry), applied to the query; the query's gold intent
    # is never used.
    corpus_intents = [rows[i].intent for i in train]
    intent_model = IntentClassifier.fit(
        corpus, corpus_intents, encoder=encoder, embeddings=corpus_vectors
    )
    probabilities = intent_model.predict_proba(queries, encoder=encoder)
    case_intents = dict(enumerate(corpus_intents))
    reranked = []
    for q, row in enumerate(hits):
        query_probs = dict(zip(intent_model.labels, probabilities[q].tolist(), strict=True))
        top = rerank_by_intent(
            row[:50], case_intents=case_intents, query_intent_probabilities=query_probs
        )
        reranked.append([relevant(q, n.id) for n in top + row[50:]])
    return RetrievalEvaluation(
        dataset=f"Bitext (stratified 80/20 per intent, seed {BITEXT_SPLIT_SEED})",
        relevance="same intent",
        n_indexed=len(corpus),
        n_queries=len(queries),
        model=dense,
        bm25=bm25,
        seconds=seconds,
        model_intent_reranked=ranking_scores(reranked),
        intent_rerank_weight=INTENT_RERANK_WEIGHT,
    )


def evaluate_ibm_retrieval(
    directory: Path, *, encoder: Encoder | None = None
) -> RetrievalEvaluation:
    encoder = encoder or get_encoder()
    dev = load_ibm(directory, "dev")
    test_all = load_ibm(directory, "test")
    dev_docs = {c.doc_id for c in dev}
    # Only test conversations whose resolving document also resolves a dev case can be
    # answered by a similar case (278 of 500).
    test = [c for c in test_all if c.doc_id in dev_docs]
    corpus = [c.customer_text for c in dev]
    queries = [c.customer_text for c in test]

    def relevant(q: int, c: int) -> bool:
        return test[q].doc_id == dev[c].doc_id

    started = time.perf_counter()
    index = SimilarCaseIndex.build(np.arange(len(corpus)), encoder.encode(corpus))
    dense_hits = index.search(encoder.encode(queries), len(corpus))
    seconds = time.perf_counter() - started
    dense_rank = [[n.id for n in row] for row in dense_hits]

    from rank_bm25 import BM25Okapi

    bm25 = BM25Okapi([bm25_tokens(t) or [""] for t in corpus])
    bm25_rank = [
        [int(i) for i in np.argsort(-np.asarray(bm25.get_scores(bm25_tokens(q))), kind="stable")]
        for q in queries
    ]

    def judged(ranks: list[list[int]], same_company: bool) -> RankingScores:
        return ranking_scores(
            [
                [
                    relevant(q, c)
                    for c in ranking
                    if not same_company or dev[c].company == test[q].company
                ]
                for q, ranking in enumerate(ranks)
            ]
        )

    return RetrievalEvaluation(
        dataset="IBM Twitter customer care (index dev, query test)",
        relevance="same agentURL.doc_id",
        n_indexed=len(corpus),
        n_queries=len(queries),
        model=judged(dense_rank, False),
        bm25=judged(bm25_rank, False),
        seconds=seconds,
        model_same_company=judged(dense_rank, True),
        bm25_same_company=judged(bm25_rank, True),
    )


# ----------------------------------------------------------------------------------------
# Everything
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationReport:
    encoder_version: str
    intent: IntentEvaluation
    sentiment: SentimentEvaluation
    bitext: RetrievalEvaluation
    ibm: RetrievalEvaluation
    seconds: float


def run_all(
    data_dir: Path, *, encoder: Encoder | None = None, compare: Sequence[Path] = ()
) -> EvaluationReport:
    encoder = encoder or get_encoder()
    started = time.perf_counter()
    intent = evaluate_banking77(data_dir / "banking77", encoder=encoder)
    sentiment = evaluate_tweeteval(
        data_dir / "tweeteval_sentiment", encoder=encoder, compare=compare
    )
    bitext = evaluate_bitext_retrieval(data_dir / "bitext_customer_support", encoder=encoder)
    ibm = evaluate_ibm_retrieval(data_dir / "twitter_cdp_ibm", encoder=encoder)
    return EvaluationReport(
        encoder_version=encoder.version,
        intent=intent,
        sentiment=sentiment,
        bitext=bitext,
        ibm=ibm,
        seconds=time.perf_counter() - started,
    )


def _cls(scores: ClassificationScores) -> str:
    return (
        f"accuracy {scores.accuracy:.2f}  macro-F1 {scores.macro_f1:.2f}  "
        f"macro-recall {scores.macro_recall:.2f}"
    )


def _rank(scores: RankingScores) -> str:
    return f"P@5 {scores.precision_at_5:.2f}  hit@5 {scores.hit_at_5:.2f}  MRR {scores.mrr:.2f}"


def _sent(scores: SentimentScores) -> str:
    neg, neu, pos = scores.recall
    return f"{_cls(scores)}  recall neg {neg:.2f} / neu {neu:.2f} / pos {pos:.2f}"


def format_sentiment(s: SentimentEvaluation) -> list[str]:
    lines = [
        f"(b) TweetEval sentiment test: n={s.n_test} (official metric: macro-recall)",
        f"  model {s.model_version}: {_sent(s.model)}  ({s.seconds:.0f}s)",
    ]
    if s.branch is not None and s.branch_fp32 is not None:
        lines += [
            f"  fine-tuned branch {s.branch_version}: {_sent(s.branch)}"
            + (f"  ({s.branch_ms:.2f} ms/message on top of the encoder)" if s.branch_ms else ""),
            f"    same branch in fp32 (before int8): {_sent(s.branch_fp32)}",
        ]
    for c in s.compared:
        lines.append(
            f"  compared branch {c.path} {c.version}: {_sent(c.scores)}  "
            f"({c.ms:.2f} ms/message on top of the encoder)"
        )
    lines += [
        f"  baseline VADER compound rule: {_sent(s.vader)}",
        f"  baseline majority (neutral): {_sent(s.majority)}",
    ]
    return lines


def format_report(report: EvaluationReport) -> str:
    i, s, b, m = report.intent, report.sentiment, report.bitext, report.ibm
    lines = [
        f"Encoder: {report.encoder_version}",
        "",
        f"(a) BANKING77 intent: train {i.n_train}, test {i.n_test}",
        f"  model {i.model_version} (embedding LR + TF-IDF LR): {_cls(i.model)}",
        f"    embedding LR alone: {_cls(i.embedding_only)}",
        f"    TF-IDF LR alone:    {_cls(i.tfidf_only)}",
        f"  baseline {i.baseline_name}: {_cls(i.baseline)}",
        f"  baseline majority class: {_cls(i.majority)}",
        f"  training time: encode {i.encode_seconds:.1f}s + fit {i.fit_seconds:.1f}s",
        f"  at threshold {i.threshold:.2f}: {i.coverage_at_threshold:.1f}% answered, "
        f"accuracy on those {i.accuracy_when_confident:.2f} (rest 'unsure')",
        "",
        *format_sentiment(s),
        "",
    ]
    for r, tag in ((b, "(c)"), (m, "(d)")):
        lines += [
            f"{tag} {r.dataset}: {r.n_indexed} indexed, {r.n_queries} queries, "
            f"relevant = {r.relevance}",
            f"  dense (FAISS flat, cosine): {_rank(r.model)}  ({r.seconds:.0f}s)",
            f"  baseline BM25 (rank-bm25 Okapi): {_rank(r.bm25)}",
        ]
        if r.model_intent_reranked is not None:
            lines.append(
                f"  dense, top-50 re-ranked by intent (weight {r.intent_rerank_weight}): "
                f"{_rank(r.model_intent_reranked)}"
            )
        if r.model_same_company is not None and r.bm25_same_company is not None:
            lines += [
                f"  same company only, dense: {_rank(r.model_same_company)}",
                f"  same company only, BM25:  {_rank(r.bm25_same_company)}",
            ]
        lines.append("")
    lines.append(f"Total time {report.seconds:.0f}s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    only_sentiment = "--sentiment-only" in args
    args = [a for a in args if a != "--sentiment-only"]
    # --compare-branch PATH (repeatable): another branch file scored in the same pass.
    compare: list[Path] = []
    while "--compare-branch" in args:
        at = args.index("--compare-branch")
        compare.append(Path(args[at + 1]))
        del args[at : at + 2]
    data_dir = Path(args[0]) if args else Path("data/eval")
    if only_sentiment:
        started = time.perf_counter()
        report = evaluate_tweeteval(data_dir / "tweeteval_sentiment", compare=compare)
        print("\n".join(format_sentiment(report)))
        print(f"Total time {time.perf_counter() - started:.0f}s")
        return
    print(format_report(run_all(data_dir, compare=compare)))


if __name__ == "__main__":
    main()
