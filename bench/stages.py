"""Per-stage timers and query counts for the per-message analysis (`bench/analysis.py --stages`).

Wraps the functions `analysis_run` calls, in this process only, with timers that add up each
stage's own wall time and the database queries it makes. Stages nest (the models run inside
`Engine.analyse`): each row is the stage's inclusive time, as a profiler's cumulative column.
"""

from __future__ import annotations

import inspect
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from bench.common import percentile

# (label, module path, attribute path): wrapped in this order, printed in this order.
STAGES: list[tuple[str, str, str]] = [
    ("pick up (lock, status)", "copilot.services.analysis", "analysis_pick_up"),
    ("read the customer's text", "copilot.services.analysis", "customer_text_for_version"),
    ("models + search (Engine.analyse)", "copilot.engine", "Engine.analyse_many"),
    ("  encoder pass + sentiment branch", "copilot.engine", "Engine.signals"),
    ("    encoder + branch forward", "copilot.nlp.embeddings", "Encoder.encode_with_branch"),
    ("    intent (LR + tf-idf)", "copilot.nlp.intent", "IntentClassifier.predict"),
    ("  FAISS search (team-scoped)", "copilot.nlp.index.similar", "SimilarCaseIndex.search"),
    ("  intent re-rank (case intents)", "copilot.engine", "Engine._rerank"),
    ("similar cases re-checked in the DB", "copilot.services.analysis", "similar_case_resolutions"),
    ("de-identified draft", "copilot.services.analysis", "draft_for_ticket"),
    ("reply suggestions (ranking)", "copilot.services.analysis", "_suggestion_fields"),
    ("conversation state", "copilot.services.analysis", "_conversation_fields"),
    ("write (lock, save, insight, publish)", "copilot.services.analysis", "_analysis_finish"),
]


class StageTimer:
    def __init__(self, services: Any = None) -> None:
        # Another module to time in place of copilot.services.analysis (the main branch's).
        self.services = services
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.queries: dict[str, int] = defaultdict(int)
        self._current: list[str] = []
        self._per_message: dict[str, float] = defaultdict(float)
        self._per_message_q: dict[str, int] = defaultdict(int)
        self.messages = 0
        self.total_queries: list[int] = []
        self._undo: list[Callable[[], object]] = []
        # Print the statements of the first message, each under its stage.
        self.show_sql = bool(os.environ.get("BENCH_SQL"))

    def install(self) -> None:
        import importlib

        from django.db import connection

        for label, module_name, attr in STAGES:
            module = importlib.import_module(module_name)
            if module_name == "copilot.services.analysis" and self.services is not None:
                module = self.services
            owner: Any = module
            parts = attr.split(".")
            for part in parts[:-1]:
                owner = getattr(owner, part)
            original = inspect.getattr_static(owner, parts[-1])
            wrapped: Any = self._wrap(label, getattr(owner, parts[-1]))
            if isinstance(original, staticmethod):
                wrapped = staticmethod(wrapped)
            setattr(owner, parts[-1], wrapped)
            self._undo.append(partial(setattr, owner, parts[-1], original))
        wrapper = connection.execute_wrapper(self._count)
        wrapper.__enter__()
        self._undo.append(partial(wrapper.__exit__, None, None, None))

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo = []

    def _wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        timer = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            timer._current.append(label)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timer._per_message[label] += (time.perf_counter() - started) * 1000
                timer._current.pop()

        return timed

    def _count(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        for label in set(self._current):
            self._per_message_q[label] += 1
        self._per_message_q["(all)"] += 1
        if self.show_sql and self.messages == 0:
            print(f"  [{' > '.join(self._current) or '-'}] {sql[:160]}")
        return execute(sql, params, many, context)

    @contextmanager
    def message(self) -> Iterator[None]:
        self._per_message.clear()
        self._per_message_q.clear()
        yield
        for label, _, _ in STAGES:
            self.ms[label].append(self._per_message.get(label, 0.0))
            self.queries[label] += self._per_message_q.get(label, 0)
        self.total_queries.append(self._per_message_q.get("(all)", 0))
        self.messages += 1

    def report(self, totals: list[float]) -> str:
        n = max(1, self.messages)
        lines = [
            f"  {'stage (inclusive)':40} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'queries':>8}",
        ]
        for label, _, _ in STAGES:
            values = self.ms[label]
            lines.append(
                f"  {label:40} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
                f"{sum(values) / n:8.1f} {self.queries[label] / n:8.1f}"
            )
        lines.append(
            f"  {'whole analysis_run':40} {percentile(totals, 50):8.1f} "
            f"{percentile(totals, 95):8.1f} {sum(totals) / len(totals):8.1f} "
            f"{sum(self.total_queries) / n:8.1f}"
        )
        return "\n".join(lines)
