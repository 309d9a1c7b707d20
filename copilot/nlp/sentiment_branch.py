"""The fine-tuned sentiment branch: the encoder's top transformer blocks, fine-tuned, plus a
3-way classifier, run on the hidden states that the shared encoder pass already computed.

The retrieval encoder (all-MiniLM-L6-v2) stays frozen and unchanged. The branch is a copy of
its blocks `start_layer+1 .. n_layers`, fine-tuned for sentiment, that starts from the hidden
state after block `start_layer`. One forward pass of the encoder thus serves the embedding and
sentiment; sentiment costs only the branch's blocks on top of it.

The blocks are written out here in plain torch (BERT's post-LayerNorm block: self-attention,
residual, LayerNorm, GELU feed-forward, residual, LayerNorm) so that the branch does not depend
on the internals of a transformers version; `tests/nlp/test_sentiment.py` checks that a branch
built from the encoder's own blocks reproduces the encoder's last hidden state.

Weights are one `.safetensors` file (fp16) with a JSON metadata entry: the encoder version the
branch must sit on, `start_layer`, the label order, the per-class logit offsets chosen on
TweetEval validation, and the training record.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

FORMAT = "copilot-sentiment-branch/1"


@dataclass(frozen=True)
class BranchConfig:
    hidden_size: int
    num_heads: int
    intermediate_size: int
    num_layers: int  # blocks in the branch
    start_layer: int  # encoder block whose output feeds the branch (1 = first block)
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1


class Block(nn.Module):
    """One BERT encoder block (post-LayerNorm), same parameters as transformers' BertLayer."""

    def __init__(self, config: BranchConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.num_heads = config.num_heads
        self.head_dim = h // config.num_heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(h, config.intermediate_size)
        self.ffn_out = nn.Linear(config.intermediate_size, h)
        self.ffn_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.attn_dropout = config.dropout

    def forward(self, hidden: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        # hidden (B, T, H); key_mask (B, 1, 1, T) bool, True where a token may be attended to.
        b, t, h = hidden.shape

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

        context = F.scaled_dot_product_attention(
            heads(self.query(hidden)),
            heads(self.key(hidden)),
            heads(self.value(hidden)),
            attn_mask=key_mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
            scale=1.0 / math.sqrt(self.head_dim),
        )
        context = context.transpose(1, 2).reshape(b, t, h)
        attended = self.attn_norm(self.dropout(self.attn_out(context)) + hidden)
        inner = F.gelu(self.ffn_in(attended))
        out: torch.Tensor = self.ffn_norm(self.dropout(self.ffn_out(inner)) + attended)
        return out


# transformers BertLayer parameter names -> Block parameter names
_HF_NAMES = {
    "attention.self.query": "query",
    "attention.self.key": "key",
    "attention.self.value": "value",
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "ffn_in",
    "output.dense": "ffn_out",
    "output.LayerNorm": "ffn_norm",
}


class SentimentBranch(nn.Module):
    """Top blocks + masked mean pooling + linear classifier -> logits (B, 3)."""

    def __init__(self, config: BranchConfig) -> None:
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, 3)

    def hidden(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        key_mask = attention_mask.bool()[:, None, None, :]
        for block in self.blocks:
            hidden = block(hidden, key_mask)
        return hidden

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.hidden(hidden, attention_mask)
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        logits: torch.Tensor = self.classifier(self.dropout(pooled))
        return logits

    @classmethod
    def from_encoder(
        cls, auto_model: Any, start_layer: int, dropout: float = 0.1
    ) -> SentimentBranch:
        """A branch initialised from a BERT-like transformers model's blocks after
        `start_layer` (the classifier starts at zero)."""
        branch = cls(branch_config_from(auto_model, start_layer, dropout))
        blocks_copy_from(branch.blocks, auto_model, start_layer)
        nn.init.zeros_(branch.classifier.weight)
        nn.init.zeros_(branch.classifier.bias)
        return branch

    def start_from(self, trained: SentimentBranch) -> None:
        """Copy a trained branch into this one's top blocks and classifier.

        This branch may have more blocks than `trained`: its lower ones keep their weights
        (the encoder's own, from `from_encoder`), so before any training it computes exactly
        what `trained` computes, and fine-tuning one more block starts from there."""
        extra = self.config.num_layers - trained.config.num_layers
        if extra < 0 or self.config.start_layer + extra != trained.config.start_layer:
            raise ValueError(
                f"a branch from block {trained.config.start_layer} with "
                f"{trained.config.num_layers} blocks does not sit on top of one from block "
                f"{self.config.start_layer} with {self.config.num_layers}"
            )
        for block, source in zip(self.blocks[extra:], trained.blocks, strict=True):
            block.load_state_dict(source.state_dict())
        self.classifier.load_state_dict(trained.classifier.state_dict())


def _rename(hf_name: str) -> str:
    module, _, param = hf_name.rpartition(".")
    return f"{_HF_NAMES[module]}.{param}"


def branch_config_from(auto_model: Any, start_layer: int, dropout: float) -> BranchConfig:
    """The shape of a branch on a BERT-like transformers model's blocks after `start_layer`."""
    cfg = auto_model.config
    n_layers = int(cfg.num_hidden_layers)
    if not 0 <= start_layer < n_layers:
        raise ValueError(f"start_layer {start_layer} out of range 0..{n_layers - 1}")
    return BranchConfig(
        hidden_size=int(cfg.hidden_size),
        num_heads=int(cfg.num_attention_heads),
        intermediate_size=int(cfg.intermediate_size),
        num_layers=n_layers - start_layer,
        start_layer=start_layer,
        layer_norm_eps=float(cfg.layer_norm_eps),
        dropout=dropout,
    )


def blocks_copy_from(blocks: Any, auto_model: Any, start_layer: int) -> None:
    """Load a branch's blocks with the model's own blocks from `start_layer` on."""
    layers = auto_model.encoder.layer
    for i, block in enumerate(blocks):
        source = layers[start_layer + i].state_dict()
        block.load_state_dict({_rename(name): value for name, value in source.items()}, strict=True)


@dataclass(frozen=True)
class BranchFile:
    branch: SentimentBranch
    encoder_version: str
    # Added to the logits before the softmax: chosen on TweetEval validation so that the
    # classes are balanced for macro-recall (see the training record in `info`).
    logit_offsets: tuple[float, float, float]
    labels: tuple[str, ...]
    max_length: int
    info: dict[str, Any]


def save_branch(
    path: Path,
    branch: SentimentBranch,
    *,
    encoder_version: str,
    logit_offsets: tuple[float, float, float],
    labels: tuple[str, ...],
    max_length: int,
    info: Mapping[str, Any],
) -> None:
    from safetensors.torch import save_file

    config = branch.config
    metadata = {
        "format": FORMAT,
        "config": json.dumps(config.__dict__),
        "encoder_version": encoder_version,
        "logit_offsets": json.dumps(list(logit_offsets)),
        "labels": json.dumps(list(labels)),
        "max_length": str(max_length),
        "info": json.dumps(dict(info), sort_keys=True),
    }
    tensors = {
        name: value.detach().to(torch.float16).contiguous()
        for name, value in branch.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def load_branch(path: Path) -> BranchFile:
    """Read a branch file; raises ValueError if it is not one or its tensors do not fit."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} is not a sentiment branch file ({FORMAT})")
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
    config = BranchConfig(**json.loads(metadata["config"]))
    branch = SentimentBranch(config)
    try:
        branch.load_state_dict(
            {name: value.to(torch.float32) for name, value in tensors.items()}, strict=True
        )
    except RuntimeError as exc:
        raise ValueError(f"{path}: tensors do not match the branch configuration: {exc}") from exc
    branch.eval()
    offsets = json.loads(metadata["logit_offsets"])
    return BranchFile(
        branch=branch,
        encoder_version=metadata["encoder_version"],
        logit_offsets=(float(offsets[0]), float(offsets[1]), float(offsets[2])),
        labels=tuple(json.loads(metadata["labels"])),
        max_length=int(metadata["max_length"]),
        info=json.loads(metadata["info"]),
    )


def quantise_branch(branch: SentimentBranch) -> nn.Module | None:
    """Dynamic int8 quantisation of the Linear layers (weights int8, activations quantised on
    the fly) for CPU inference, or None where this torch no longer has it.

    torch.ao.quantization is deprecated in favour of torchao (pytorch/ao#2259) but still ships
    in the pinned torch 2.13; torchao is not a dependency, so without it the branch runs fp32.
    """
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError:
        return None
    with warnings.catch_warnings():
        # Both deprecations point at torchao (pytorch/ao#2259, pytorch/pytorch#184982).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor", category=UserWarning)
        quantised: nn.Module = quantize_dynamic(  # type: ignore[no-untyped-call]
            branch, {nn.Linear}, dtype=torch.qint8
        )
    return quantised
