"""The two recipes of the course: pretrain the base on regular verbs, fine-tune it on irregular ones."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .evaluate import accuracy
from .grammar import Example, Splits, encode_batch, make_splits
from .lora import DEFAULT_TARGETS, count_parameters, wrap_minigpt_with_lora
from .model import MiniGPT
from .train import Batch, train


def sampler(pools: list[tuple[list[Example], int]], seed: int) -> Callable[[int], Batch]:
    """Batches drawn with replacement: `n` examples from each (pool, n), shuffled together."""
    rng = random.Random(seed)

    def next_batch(step: int) -> Batch:
        batch = [e for pool, n in pools for e in rng.choices(pool, k=n)]
        return encode_batch(batch)

    return next_batch


@dataclass(frozen=True)
class PretrainConfig:
    steps: int = 2000
    batch_size: int = 256
    lr: float = 5e-3
    warmup: int = 100
    weight_decay: float = 0.01
    seed: int = 0


def pretrain(cfg: PretrainConfig = PretrainConfig(), progress: bool = True) -> MiniGPT:
    """Train Mini-GPT from scratch on the regular verbs only; deterministic for a given seed."""
    torch.manual_seed(cfg.seed)
    splits = make_splits(seed=cfg.seed)
    model = MiniGPT()
    batches = sampler([(splits.train, cfg.batch_size)], seed=cfg.seed)
    train(model, batches, cfg.steps, cfg.lr, cfg.warmup, cfg.weight_decay, progress=progress)
    return model.eval()


@dataclass(frozen=True)
class FinetuneConfig:
    r: int | None = 8  # None: full fine-tuning, every parameter trains
    alpha: float = 16.0
    target_modules: tuple[str, ...] = DEFAULT_TARGETS  # the Linears LoRA adapts (all 12 by default)
    steps: int = 200
    lr: float | None = None  # None: 1e-2 for LoRA, 3e-3 for full fine-tuning (each the best we found)
    irregular_per_batch: int = 32
    replay_per_batch: int = 32  # regular training examples mixed in, so the rules are not forgotten
    seed: int = 0


@dataclass
class FinetuneResult:
    model: nn.Module
    irregular_accuracy: float
    retention: float  # accuracy on held-out regular verbs after fine-tuning
    trainable: int
    seconds: float
    losses: list[float] = field(repr=False)


def finetune(
    base: nn.Module, cfg: FinetuneConfig, splits: Splits | None = None, progress: bool = True
) -> FinetuneResult:
    """Fine-tune `base` in place (LoRA if cfg.r is set, else full) on the 120 irregular cells."""
    splits = splits or make_splits()
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    if cfg.r is not None:
        wrap_minigpt_with_lora(base, r=cfg.r, alpha=cfg.alpha, target_modules=cfg.target_modules)
    pools = [(splits.irregular, cfg.irregular_per_batch), (splits.train, cfg.replay_per_batch)]
    lr = cfg.lr if cfg.lr is not None else (1e-2 if cfg.r is not None else 3e-3)
    losses = train(base, sampler(pools, cfg.seed), cfg.steps, lr, progress=progress)
    irregular = accuracy(base, splits.irregular)
    retention = accuracy(base, splits.heldout)
    return FinetuneResult(
        base, irregular, retention, count_parameters(base)[0], time.perf_counter() - start, losses
    )
