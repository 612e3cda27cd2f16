"""One small training loop. It knows nothing about LoRA: it trains whatever requires a gradient."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from .grammar import IGNORE

Batch = tuple[Tensor, Tensor]  # inputs (B, T), targets (B, T) with IGNORE where no loss


def make_reproducible(seed: int = 0) -> None:
    """Re-running prints the same numbers on this machine: one seed and one thread.

    The thread count changes how a sum is split, so one thread keeps the numbers independent of the
    machine's cores (a fine-tune takes seconds either way). On the CPU at one thread, every operation
    this course uses is already deterministic: `torch.use_deterministic_algorithms(True)` would change
    no number (tests/test_training.py checks that) and would import PyTorch's compiler, over a second
    per notebook. Another CPU still rounds differently: figures.py says what that changes.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(1)


def lm_loss(model: nn.Module, batch: Batch) -> Tensor:
    x, y = batch
    logits = model(x)  # (B, T, vocab)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE)


def warmup_cosine(step: int, steps: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to 10%."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train(
    model: nn.Module,
    next_batch: Callable[[int], Batch],
    steps: int,
    lr: float,
    warmup: int = 0,
    weight_decay: float = 0.0,
    progress: bool = True,
) -> list[float]:
    """AdamW on the parameters that require a gradient; returns the loss of every step.

    The model trains in train mode and is left in the mode it came in (a model in eval mode stays so).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (every requires_grad is False)")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, warmup))
    was_training = model.training
    model.train()
    losses = []
    bar = tqdm(range(steps), disable=not progress, desc="train", leave=False)
    for step in bar:
        loss = lm_loss(model, next_batch(step))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.train(was_training)
    return losses
