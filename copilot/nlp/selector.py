"""Response selector: which past agent reply fits this customer request.

A dual encoder on top of the frozen sentence encoder: the request's embedding and each reply's
embedding go through their own small map, and the score is the cosine of the two results. Each
map is residual, `x + x @ W + b` then L2-normalised, with W and b starting at zero, so an
untrained selector scores exactly like the encoder's own cosine and training only has to learn
the difference between "says the same thing" and "answers it".

Training uses the organisation's own (request, reply that followed) pairs with in-batch
negatives: in a batch of B pairs every other reply is a wrong answer to a request, and a softmax
over the B cosines divided by a temperature pushes the true reply up (Henderson et al. 2017,
"Efficient Natural Language Response Suggestion for Smart Reply"). Replies that are the same
text as the true one (a team's stock "Please DM us") are masked out of the negatives.

The trigger is a threshold on the top score (Smart Reply's "should we suggest at all"): `top`
returns nothing when the best reply scores below it. It is chosen on held-out pairs for a
target precision by the training code.

Ranking costs two small matrix products plus one over the team's entries: the reply maps can be
applied once to a whole library (`replies_map`), so ranking at analysis time is one product.
Saved as .npz + JSON (no pickle), about 1.2 MB for MiniLM's 384 dimensions.

With a request branch (`copilot/nlp/selector_branch.py`, the shipped default) the request side
reads the encoder's fine-tuned top block instead of its final embedding: `request_inputs` gives
the vectors that `requests_map` takes, from the hidden state of the encoder pass. The reply side
is unchanged (the library's stored embeddings), so a library never needs new vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from copilot.nlp.embeddings import Encoder

MODEL_NPZ = "selector.npz"
MODEL_JSON = "selector.json"
FORMAT_VERSION = 1

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SelectorConfig:
    # Chosen on a quarter of the train tickets of `manage.py evaluate --replies`, never on its
    # test split: R@1 of the real conversations there was 24.7 at 10 epochs of lr 3e-4, 22.5
    # at 12 epochs of 1e-3 and 19.6 at 30 (the maps overfit a few thousand pairs quickly),
    # 19.8 untrained. Temperature 0.02 / 0.1 and batches of one company each did no better.
    temperature: float = 0.05
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 3e-4
    weight_decay: float = 1e-3
    seed: int = 0


@dataclass(frozen=True)
class ResponseSelector:
    # Residual maps, float32: request side (dim, dim) + (dim,), reply side the same.
    request_weight: FloatArray
    request_bias: FloatArray
    reply_weight: FloatArray
    reply_bias: FloatArray
    # Top scores below this suggest nothing (see `top`).
    threshold: float
    encoder_version: str
    config: SelectorConfig = field(default_factory=SelectorConfig)
    training: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    # The request side's fine-tuned encoder block(s) (a `selector_branch.RequestBlocks`), or
    # None: requests are then read from the encoder's own embedding.
    request_branch: Any = field(default=None, compare=False, repr=False)
    # The branch file's own version (its blocks' content), part of this selector's version.
    branch_version: str = ""

    @property
    def dim(self) -> int:
        return int(self.request_weight.shape[0])

    def branch_inputs(self, hidden_states: tuple[Any, ...], attention_mask: Any) -> Any:
        """(B, dim) torch request vectors from one batch of the encoder's hidden states
        (index i = output of block i), for `Encoder.encode_with_branch`."""
        if self.request_branch is None:
            raise ValueError("this response selector has no request branch")
        return self.request_branch(hidden_states, attention_mask)

    def request_inputs(self, texts: Sequence[str], encoder: Encoder) -> FloatArray:
        """The vectors `requests_map` takes for these texts: the encoder's embeddings, or the
        request branch's on the encoder's hidden states."""
        if self.request_branch is None:
            return encoder.encode(list(texts))
        return encoder.encode_with_branch(list(texts), self.branch_inputs)[1]

    # --- training --------------------------------------------------------------------

    @classmethod
    def identity(
        cls, dim: int, *, encoder_version: str, threshold: float = 0.0
    ) -> ResponseSelector:
        """The untrained selector: scores are the encoder's cosine."""
        zeros = np.zeros((dim, dim), dtype=np.float32)
        bias = np.zeros(dim, dtype=np.float32)
        model = cls(zeros, bias, zeros.copy(), bias.copy(), threshold, encoder_version)
        return replace(model, version=model._content_version())

    @classmethod
    def fit(
        cls,
        request_vecs: FloatArray,
        reply_vecs: FloatArray,
        *,
        encoder_version: str,
        reply_keys: Sequence[str] | None = None,
        group_keys: Sequence[str] | None = None,
        threshold: float = 0.0,
        config: SelectorConfig | None = None,
    ) -> ResponseSelector:
        """Learn from aligned pairs: `reply_vecs[i]` is the reply that followed request i.

        `reply_keys` (e.g. the de-identified reply text) marks replies that are the same: such
        a reply is not used as a negative for a request whose true reply it equals.
        `group_keys` (e.g. the company) fills each batch from one group where the group is
        large enough: the negatives are then the same team's other replies, which is what
        ranking a team's library has to tell apart.
        Deterministic for a given seed (single-threaded torch for the fit).
        """
        import torch

        config = config or SelectorConfig()
        if request_vecs.shape != reply_vecs.shape or request_vecs.ndim != 2:
            raise ValueError(
                f"requests {request_vecs.shape} and replies {reply_vecs.shape} must be aligned"
            )
        n, dim = request_vecs.shape
        if n < 2:
            raise ValueError("a response selector needs at least two pairs to train")
        if reply_keys is None:
            reply_keys = [str(i) for i in range(n)]
        if len(reply_keys) != n:
            raise ValueError(f"{n} pairs but {len(reply_keys)} reply keys")
        key_ids: dict[str, int] = {}
        keys = torch.tensor([key_ids.setdefault(k, len(key_ids)) for k in reply_keys])

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # same sums in the same order: bit-identical runs
        started = time.perf_counter()
        try:
            generator = torch.Generator().manual_seed(config.seed)
            queries = torch.from_numpy(np.ascontiguousarray(request_vecs, dtype=np.float32))
            answers = torch.from_numpy(np.ascontiguousarray(reply_vecs, dtype=np.float32))
            params = [
                torch.zeros(dim, dim),
                torch.zeros(dim),
                torch.zeros(dim, dim),
                torch.zeros(dim),
            ]
            for p in params:
                p.requires_grad_(True)
            optimiser = torch.optim.AdamW(
                params, lr=config.learning_rate, weight_decay=config.weight_decay
            )
            losses: list[float] = []
            for _ in range(config.epochs):
                total = 0.0
                for rows in _batches(n, group_keys, config.batch_size, generator):
                    if len(rows) < 2:
                        continue
                    q = _residual(queries[rows], params[0], params[1])
                    r = _residual(answers[rows], params[2], params[3])
                    logits = q @ r.T / config.temperature
                    batch_keys = keys[rows]
                    same = batch_keys[:, None] == batch_keys[None, :]
                    same.fill_diagonal_(False)
                    logits = logits.masked_fill(same, float("-inf"))
                    target = torch.arange(len(rows))
                    # Both directions: requests choose among replies and replies among requests.
                    loss = 0.5 * (
                        torch.nn.functional.cross_entropy(logits, target)
                        + torch.nn.functional.cross_entropy(logits.T, target)
                    )
                    optimiser.zero_grad()
                    loss.backward()  # type: ignore[no-untyped-call]
                    optimiser.step()
                    total += float(loss.detach()) * len(rows)
                losses.append(round(total / n, 4))
        finally:
            torch.set_num_threads(threads)
        arrays = [p.detach().numpy().astype(np.float32) for p in params]
        model = cls(
            request_weight=arrays[0],
            request_bias=arrays[1],
            reply_weight=arrays[2],
            reply_bias=arrays[3],
            threshold=threshold,
            encoder_version=encoder_version,
            config=config,
            training={
                "n_pairs": n,
                "distinct_replies": len(key_ids),
                "fit_seconds": round(time.perf_counter() - started, 2),
                "epoch_losses": losses,
            },
        )
        return replace(model, version=model._content_version())

    # --- scoring ---------------------------------------------------------------------

    def requests_map(self, request_vecs: FloatArray) -> FloatArray:
        return _residual_np(_rows(request_vecs, self.dim), self.request_weight, self.request_bias)

    def replies_map(self, reply_vecs: FloatArray) -> FloatArray:
        """The replies as the selector sees them: map a library once, then `scores_mapped`."""
        return _residual_np(_rows(reply_vecs, self.dim), self.reply_weight, self.reply_bias)

    def scores(self, request_vecs: FloatArray, reply_vecs: FloatArray) -> FloatArray:
        """(n requests, m replies) cosines in [-1, 1] from encoder embeddings."""
        return self.scores_mapped(self.requests_map(request_vecs), self.replies_map(reply_vecs))

    @staticmethod
    def scores_mapped(mapped_requests: FloatArray, mapped_replies: FloatArray) -> FloatArray:
        out: FloatArray = (mapped_requests @ mapped_replies.T).astype(np.float32, copy=False)
        return out

    def top(
        self,
        request_vec: FloatArray,
        reply_vecs: FloatArray,
        *,
        k: int = 3,
        threshold: float | None = None,
    ) -> list[tuple[int, float]]:
        """Up to `k` (reply index, score), best first, each scoring at least the trigger
        threshold: nothing at all when even the best reply is below it."""
        if len(reply_vecs) == 0 or k <= 0:
            return []
        limit = self.threshold if threshold is None else threshold
        row = self.scores(request_vec.reshape(1, -1), reply_vecs)[0]
        return top_scores(row, k=k, threshold=limit)

    def with_threshold(self, threshold: float) -> ResponseSelector:
        changed = replace(self, threshold=float(threshold))
        return replace(changed, version=changed._content_version())

    # --- persistence -----------------------------------------------------------------

    def _arrays(self) -> dict[str, FloatArray]:
        return {
            "request_weight": self.request_weight,
            "request_bias": self.request_bias,
            "reply_weight": self.reply_weight,
            "reply_bias": self.reply_bias,
        }

    def _spec(self) -> dict[str, Any]:
        """Everything in the JSON file that affects scores or suggestions."""
        spec = self._base_spec()
        if self.branch_version:
            spec["branch_version"] = self.branch_version
        return spec

    def _base_spec(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "threshold": round(self.threshold, 6),
            "encoder_version": self.encoder_version,
            "config": {
                "temperature": self.config.temperature,
                "epochs": self.config.epochs,
                "batch_size": self.config.batch_size,
                "learning_rate": self.config.learning_rate,
                "weight_decay": self.config.weight_decay,
                "seed": self.config.seed,
            },
        }

    def _content_version(self) -> str:
        digest = hashlib.sha256()
        for name, array in sorted(self._arrays().items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        digest.update(json.dumps(self._spec(), sort_keys=True).encode())
        return f"selector-{digest.hexdigest()[:12]}"

    def save(self, directory: str | os.PathLike[str]) -> str:
        """Write `selector.npz` + `selector.json` into `directory`; returns the version.
        A selector with a request branch is saved by `selector_branch.save_selector`."""
        if self.request_branch is not None:
            raise ValueError("a selector with a request branch is saved as its branch file")
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        npz_tmp = target / f".{MODEL_NPZ}.tmp.npz"
        arrays = self._arrays()
        np.savez_compressed(
            npz_tmp,
            request_weight=arrays["request_weight"],
            request_bias=arrays["request_bias"],
            reply_weight=arrays["reply_weight"],
            reply_bias=arrays["reply_bias"],
        )
        document = {**self._spec(), "version": self.version, "training": self.training}
        json_tmp = target / f".{MODEL_JSON}.tmp"
        json_tmp.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
        # Arrays first: a reader that sees new JSON with old arrays fails the version check.
        os.replace(npz_tmp, target / MODEL_NPZ)
        os.replace(json_tmp, target / MODEL_JSON)
        return self.version

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ResponseSelector:
        source = Path(directory)
        try:
            document = json.loads((source / MODEL_JSON).read_text(encoding="utf-8"))
            with np.load(source / MODEL_NPZ, allow_pickle=False) as data:
                arrays = {name: np.asarray(data[name], dtype=np.float32) for name in data.files}
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"No response selector in {source} ({exc.filename} missing); train one first."
            ) from exc
        if document.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{source}: unsupported response selector format")
        model = cls(
            request_weight=arrays["request_weight"],
            request_bias=arrays["request_bias"],
            reply_weight=arrays["reply_weight"],
            reply_bias=arrays["reply_bias"],
            threshold=float(document["threshold"]),
            encoder_version=str(document["encoder_version"]),
            config=SelectorConfig(**document["config"]),
            training=dict(document.get("training", {})),
        )
        version = model._content_version()
        if version != document.get("version"):
            raise ValueError(
                f"{source}: response selector files do not match their recorded version "
                f"({document.get('version')} != {version}); retrain and save it again."
            )
        return replace(model, version=version)


def top_scores(row: FloatArray, *, k: int, threshold: float) -> list[tuple[int, float]]:
    """The k best (index, score) of one row of scores, best first, those below `threshold`
    left out. Ties keep index order."""
    if len(row) == 0 or k <= 0:
        return []
    count = min(k, len(row))
    # argpartition keeps this linear in the library size; only k entries are sorted.
    candidates = (
        np.argpartition(-row, count - 1)[:count] if count < len(row) else np.arange(len(row))
    )
    ordered = sorted(candidates.tolist(), key=lambda i: (-float(row[i]), i))
    return [(int(i), float(row[i])) for i in ordered if float(row[i]) >= threshold]


def _batches(n: int, group_keys: Sequence[str] | None, size: int, generator: Any) -> list[Any]:
    """One epoch's batches of row indexes: random, or each from one group where it can be."""
    import torch

    order = torch.randperm(n, generator=generator)
    if group_keys is None:
        return [order[start : start + size] for start in range(0, n, size)]
    if len(group_keys) != n:
        raise ValueError(f"{n} pairs but {len(group_keys)} group keys")
    by_group: dict[str, list[int]] = {}
    for i in order.tolist():
        by_group.setdefault(group_keys[i], []).append(i)
    batches: list[list[int]] = []
    leftovers: list[int] = []
    for members in by_group.values():
        full = len(members) - len(members) % size
        batches += [members[s : s + size] for s in range(0, full, size)]
        leftovers += members[full:]
    # Rows of small groups and the ends of large ones are batched together, as they come.
    batches += [leftovers[s : s + size] for s in range(0, len(leftovers), size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [torch.tensor(batches[i]) for i in shuffle]


def _rows(vectors: FloatArray, dim: int) -> FloatArray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.shape[1] != dim:
        raise ValueError(f"vectors of dimension {matrix.shape[1]}, the selector expects {dim}")
    return matrix


def _residual_np(x: FloatArray, weight: FloatArray, bias: FloatArray) -> FloatArray:
    mapped = x + x @ weight + bias
    norms = np.linalg.norm(mapped, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    out: FloatArray = (mapped / norms).astype(np.float32, copy=False)
    return out


def _residual(x: Any, weight: Any, bias: Any) -> Any:
    import torch

    return torch.nn.functional.normalize(x + x @ weight + bias, dim=1)
