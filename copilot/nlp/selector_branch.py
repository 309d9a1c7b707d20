"""The response selector's request branch: the encoder's top block(s), fine-tuned to read a
customer request as "what reply answers this", run on the hidden state that the per-message
encoder pass already computed.

The selector is an asymmetric dual encoder. The request side is this branch: a copy of the
encoder's blocks after `start_layer` (the same plain-torch BERT block as the sentiment branch),
mean pooling, then the selector's residual request map. The reply side stays the frozen
encoder's embedding, which the reply library already stores, through the selector's residual
reply map; so library entries need no new vectors and ranking stays one product. With the
blocks copied unchanged and the maps at zero, the branch scores exactly like the encoder's
cosine: training learns only the difference.

Training caches the frozen bottom blocks' output once per request text, then runs only the
branch blocks for every epoch, with in-batch negatives (Henderson et al. 2017; ConveRT,
Henderson et al. 2020): in a batch of B pairs every other reply is a wrong answer, replies with
the same text as the true one are masked out, and a softmax over the cosines divided by a
temperature pushes the true reply up, in both directions.

Weights: one `.safetensors` file (fp16 blocks and maps) with JSON metadata: the encoder version
the branch sits on, `start_layer`, the trigger threshold and the training record.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

from copilot.nlp.embeddings import _CHARS_PER_TOKEN_BOUND, Encoder
from copilot.nlp.selector import MODEL_JSON, ResponseSelector
from copilot.nlp.sentiment_branch import (
    Block,
    BranchConfig,
    blocks_copy_from,
    branch_config_from,
)

FORMAT = "copilot-selector-branch/1"
# In a selector directory (COPILOT_SELECTOR_MODEL_DIR), next to or instead of the npz maps.
BRANCH_FILE = "selector_branch.safetensors"
SHIPPED = Path(__file__).resolve().parent / "weights" / BRANCH_FILE
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BranchTraining:
    # Chosen on a tenth of the train tickets of `manage.py evaluate --replies` (never its test
    # split); see README, "Suggested replies".
    start_layer: int = 5
    epochs: int = 4
    batch_size: int = 64
    block_lr: float = 2e-5
    map_lr: float = 3e-4
    weight_decay: float = 1e-3
    temperature: float = 0.05
    dropout: float = 0.1
    seed: int = 0


class SelectorBranch(nn.Module):
    """Request side: blocks + masked mean + residual map, L2-normalised; reply side: residual
    map of the frozen embedding, L2-normalised."""

    def __init__(self, config: BranchConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden_size
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.request_weight = nn.Parameter(torch.zeros(h, h))
        self.request_bias = nn.Parameter(torch.zeros(h))
        self.reply_weight = nn.Parameter(torch.zeros(h, h))
        self.reply_bias = nn.Parameter(torch.zeros(h))

    def pooled(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        key_mask = attention_mask.bool()[:, None, None, :]
        for block in self.blocks:
            hidden = block(hidden, key_mask)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, H) hidden state after `start_layer` -> (B, H) unit request vectors."""
        x = F.normalize(self.pooled(hidden, attention_mask), dim=1)
        return F.normalize(x + x @ self.request_weight + self.request_bias, dim=1)

    def replies(self, reply_vecs: torch.Tensor) -> torch.Tensor:
        """(B, H) encoder embeddings of replies -> (B, H) unit reply vectors."""
        return F.normalize(reply_vecs + reply_vecs @ self.reply_weight + self.reply_bias, dim=1)

    @classmethod
    def from_encoder(
        cls, auto_model: Any, start_layer: int, dropout: float = 0.1
    ) -> SelectorBranch:
        """A branch that scores exactly like the encoder's cosine: the encoder's blocks after
        `start_layer` copied, the maps at zero."""
        branch = cls(branch_config_from(auto_model, start_layer, dropout))
        blocks_copy_from(branch.blocks, auto_model, start_layer)
        return branch


class RequestBlocks(nn.Module):
    """The request branch at analysis time: the fine-tuned blocks on the encoder's hidden
    state after `start_layer`, masked mean, L2-normalised: the input of the selector's request
    map (`ResponseSelector.requests_map`)."""

    def __init__(self, blocks: nn.Module, start_layer: int) -> None:
        super().__init__()
        self.blocks = blocks
        self.start_layer = start_layer

    def forward(
        self, hidden_states: tuple[torch.Tensor, ...], attention_mask: torch.Tensor
    ) -> torch.Tensor:
        hidden = hidden_states[self.start_layer]
        key_mask = attention_mask.bool()[:, None, None, :]
        for block in self.blocks.children():  # a ModuleList, int8 or not: in order
            hidden = block(hidden, key_mask)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return F.normalize(pooled, dim=1)


@dataclass
class SelectorBranchFile:
    branch: SelectorBranch
    encoder_version: str
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)
    version: str = ""

    def selector(self, *, quantise: bool = True) -> ResponseSelector:
        """The branch as a `ResponseSelector`: its maps as numpy arrays, its blocks (int8
        dynamic quantisation where this torch has it) as the request branch."""
        b = self.branch
        blocks: nn.Module = b.blocks
        if quantise:
            blocks = _quantised(blocks)
        model = ResponseSelector(
            request_weight=_array(b.request_weight),
            request_bias=_array(b.request_bias),
            reply_weight=_array(b.reply_weight),
            reply_bias=_array(b.reply_bias),
            threshold=self.threshold,
            encoder_version=self.encoder_version,
            training=dict(self.info),
            request_branch=RequestBlocks(blocks, b.config.start_layer).eval(),
            branch_version=self.version + ("-int8" if blocks is not b.blocks else ""),
        )
        return replace(model, version=model._content_version())


def _array(parameter: torch.Tensor) -> FloatArray:
    out: FloatArray = parameter.detach().numpy().astype(np.float32)
    return out


def _quantised(blocks: nn.Module) -> nn.Module:
    """Dynamic int8 Linear layers for CPU (as the sentiment branch), or the blocks unchanged
    where this torch no longer has torch.ao.quantization."""
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError:
        return blocks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor", category=UserWarning)
        out: nn.Module = quantize_dynamic(  # type: ignore[no-untyped-call]
            copy.deepcopy(blocks), {nn.Linear}, dtype=torch.qint8
        )
    return out


def branch_version(tensors: dict[str, torch.Tensor], spec: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].to(torch.float16).contiguous().numpy().tobytes())
    digest.update(json.dumps(spec, sort_keys=True).encode())
    return f"selector-branch-{digest.hexdigest()[:12]}"


def _spec(branch: SelectorBranch, encoder_version: str, threshold: float) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "config": branch.config.__dict__,
        "encoder_version": encoder_version,
        "threshold": round(float(threshold), 6),
    }


def save_selector_branch(
    path: Path,
    branch: SelectorBranch,
    *,
    encoder_version: str,
    threshold: float,
    info: dict[str, Any],
) -> str:
    """Write the branch (fp16) with its metadata; returns its version."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in branch.state_dict().items()}
    spec = _spec(branch, encoder_version, threshold)
    version = branch_version(tensors, spec)
    metadata = {
        "format": FORMAT,
        "spec": json.dumps(spec, sort_keys=True),
        "version": version,
        "info": json.dumps(info, sort_keys=True),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)
    return version


def load_selector_branch(path: Path) -> SelectorBranchFile:
    """Read a branch file; ValueError if it is not one, or its tensors do not match."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} is not a response selector branch ({FORMAT})")
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
    spec = json.loads(metadata["spec"])
    version = branch_version(tensors, spec)
    if version != metadata.get("version"):
        raise ValueError(f"{path}: tensors do not match the recorded version")
    branch = SelectorBranch(BranchConfig(**spec["config"]))
    try:
        branch.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: tensors do not match the branch configuration: {exc}") from exc
    branch.eval()
    return SelectorBranchFile(
        branch=branch,
        encoder_version=str(spec["encoder_version"]),
        threshold=float(spec["threshold"]),
        info=json.loads(metadata.get("info", "{}")),
        version=version,
    )


# --- training -----------------------------------------------------------------------------


def bottom_states(
    auto_model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    start_layer: int,
    max_length: int,
    batch_size: int = 64,
) -> list[torch.Tensor]:
    """Each text's hidden state after block `start_layer` of the frozen encoder, unpadded,
    fp16: computed once, then every epoch runs only the branch on it."""
    out: list[torch.Tensor | None] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            states = auto_model(**enc, output_hidden_states=True).hidden_states[start_layer]
            lengths = enc["attention_mask"].sum(dim=1).tolist()
            for j, i in enumerate(rows):
                out[i] = states[j, : lengths[j]].to(torch.float16).clone()
    return [t for t in out if t is not None]


def collate(
    states: Sequence[torch.Tensor], rows: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(states[i].shape[0] for i in rows)
    hidden = torch.zeros(len(rows), width, states[rows[0]].shape[1])
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for j, i in enumerate(rows):
        n = states[i].shape[0]
        hidden[j, :n] = states[i].to(torch.float32)
        mask[j, :n] = 1
    return hidden, mask


def request_vectors(
    branch: SelectorBranch, states: Sequence[torch.Tensor], batch_size: int = 128
) -> FloatArray:
    """The branch's unit request vectors for cached bottom states."""
    branch.eval()
    out = np.zeros((len(states), branch.config.hidden_size), dtype=np.float32)
    order = sorted(range(len(states)), key=lambda i: states[i].shape[0])
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            hidden, mask = collate(states, rows)
            out[rows] = branch(hidden, mask).numpy()
    return out


def reply_vectors(branch: SelectorBranch, reply_vecs: FloatArray) -> FloatArray:
    with torch.inference_mode():
        out: FloatArray = branch.replies(torch.from_numpy(reply_vecs)).numpy()
    return out


def train_branch(
    branch: SelectorBranch,
    states: Sequence[torch.Tensor],
    reply_vecs: FloatArray,
    *,
    reply_keys: Sequence[str],
    config: BranchTraining,
    after_epoch: Callable[[int, SelectorBranch], None] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Fine-tune `branch` in place on aligned (request state, reply embedding) pairs.
    Returns the training record."""
    n = len(states)
    if n < 2 or reply_vecs.shape[0] != n:
        raise ValueError(f"{n} request states and {reply_vecs.shape[0]} replies: need >= 2 aligned")
    if len(reply_keys) != n:
        raise ValueError(f"{n} pairs but {len(reply_keys)} reply keys")
    key_ids: dict[str, int] = {}
    keys = torch.tensor([key_ids.setdefault(k, len(key_ids)) for k in reply_keys])
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    answers = torch.from_numpy(np.ascontiguousarray(reply_vecs, dtype=np.float32))
    maps = [branch.request_weight, branch.request_bias, branch.reply_weight, branch.reply_bias]
    optimiser = torch.optim.AdamW(
        [
            {"params": list(branch.blocks.parameters()), "lr": config.block_lr},
            {"params": maps, "lr": config.map_lr},
        ],
        weight_decay=config.weight_decay,
    )
    lengths = [s.shape[0] for s in states]
    started = time.perf_counter()
    losses: list[float] = []
    for epoch in range(config.epochs):
        branch.train()
        # Random batches, but of similar lengths (little padding): sort by length plus noise.
        keyed = sorted(range(n), key=lambda i: lengths[i] + rng.random() * 24)
        batches = [keyed[s : s + config.batch_size] for s in range(0, n, config.batch_size)]
        rng.shuffle(batches)
        total = 0.0
        for rows in batches:
            if len(rows) < 2:
                continue
            hidden, mask = collate(states, rows)
            q = branch(hidden, mask)
            r = branch.replies(answers[rows])
            logits = q @ r.T / config.temperature
            batch_keys = keys[rows]
            same = batch_keys[:, None] == batch_keys[None, :]
            same.fill_diagonal_(False)
            logits = logits.masked_fill(same, float("-inf"))
            target = torch.arange(len(rows))
            loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            total += float(loss.detach()) * len(rows)
        losses.append(round(total / n, 4))
        log(f"epoch {epoch + 1}: loss {losses[-1]} ({time.perf_counter() - started:.0f}s)")
        if after_epoch is not None:
            after_epoch(epoch + 1, branch)
    branch.eval()
    return {
        "n_pairs": n,
        "distinct_replies": len(key_ids),
        "epoch_losses": losses,
        "fit_seconds": round(time.perf_counter() - started, 1),
        "config": config.__dict__,
    }


def load_selector(directory: Path, *, quantise: bool = True) -> ResponseSelector:
    """The selector saved in `directory`: its branch file if it has one, else the npz maps."""
    if (directory / BRANCH_FILE).is_file():
        return load_selector_branch(directory / BRANCH_FILE).selector(quantise=quantise)
    return ResponseSelector.load(directory)


def has_selector(directory: Path) -> bool:
    return (directory / BRANCH_FILE).is_file() or (directory / MODEL_JSON).is_file()


def save_selector(
    directory: Path,
    branch: SelectorBranch,
    *,
    encoder_version: str,
    threshold: float,
    info: dict[str, Any],
) -> str:
    """Write the branch as the selector of `directory` (the npz maps of an earlier selector
    are removed: one selector per directory). Returns the selector's version as loaded."""
    save_selector_branch(
        directory / BRANCH_FILE,
        branch,
        encoder_version=encoder_version,
        threshold=threshold,
        info=info,
    )
    for name in (MODEL_JSON, "selector.npz"):
        (directory / name).unlink(missing_ok=True)
    return load_selector(directory).version


def start_branch(
    encoder: Encoder, *, shipped: Path | None = SHIPPED, dropout: float = 0.1
) -> tuple[SelectorBranch, str]:
    """Where fine-tuning starts: the shipped branch when it sits on this encoder, else the
    encoder's own top block (which scores as its cosine). Returns the branch and its origin."""
    if shipped is not None and shipped.is_file():
        loaded = load_selector_branch(shipped)
        if loaded.encoder_version == encoder.version:
            return loaded.branch, loaded.version
    auto_model, _ = encoder._transformer()
    return SelectorBranch.from_encoder(auto_model, BranchTraining.start_layer, dropout), "encoder"


def encoder_bottom_states(
    encoder: Encoder, texts: Sequence[str], start_layer: int
) -> list[torch.Tensor]:
    """`bottom_states` with the encoder's own model, tokenizer and length limit."""
    auto_model, tokenizer = encoder._transformer()
    auto_model.eval()
    max_length = encoder.max_seq_length
    # Cut as the analysis pass cuts (Encoder._forward), so training sees what analysis sees.
    limit = max_length * _CHARS_PER_TOKEN_BOUND
    return bottom_states(
        auto_model,
        tokenizer,
        [t[:limit] for t in texts],
        start_layer=start_layer,
        max_length=max_length,
    )
