"""LoRA by hand: y = W₀x + (α/r)·B·A·x, with A (r × in) random and B (out × r) zero at the start.

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models" (2021), §4.1.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable low-rank update ΔW = (α/r)·B·A."""

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
        freeze_base: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear) or isinstance(base, LoRALinear):
            raise TypeError(f"base must be an nn.Linear, got {type(base).__name__}")
        if isinstance(r, bool) or not isinstance(r, int):
            raise TypeError(f"LoRA rank r must be an int >= 1, got {r!r} ({type(r).__name__})")
        if r < 1:
            raise ValueError(f"LoRA rank r must be >= 1, got r={r}: rank 0 has no update space")
        if isinstance(alpha, bool) or not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a finite number > 0, got alpha={alpha!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout!r}")

        self.base = base
        self.r = r
        self.alpha = float(alpha)
        self.scaling = self.alpha / r
        self.merged = False
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        # A as nn.Linear initialises its weight; B = 0 makes ΔW = 0, so step 0 is the base model.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if freeze_base:
            base.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.base(x)  # W₀x
        if self.merged:  # ΔW already lives inside base.weight
            return y
        return y + self.scaling * F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)

    def delta_weight(self) -> Tensor:
        """ΔW = (α/r)·B·A, shaped like base.weight (out × in)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    @torch.no_grad()
    def merge_(self, safe: bool = False) -> None:
        """Fold ΔW into base.weight, so inference costs one matmul. `safe` refuses NaN/inf results."""
        if self.merged:
            warnings.warn("LoRALinear is already merged; merging again would add ΔW twice", stacklevel=2)
            return
        merged = self.base.weight + self.delta_weight()
        if safe and not torch.isfinite(merged).all():
            raise ValueError("merge refused: W + ΔW has non-finite values (NaN or inf); weights unchanged")
        self.base.weight.copy_(merged)
        self.merged = True

    @torch.no_grad()
    def unmerge_(self) -> None:
        """Take ΔW back out of base.weight; the adapter is used in forward again."""
        if not self.merged:
            warnings.warn("LoRALinear is not merged; nothing to unmerge", stacklevel=2)
            return
        self.base.weight.sub_(self.delta_weight())
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, merged={self.merged}"


def _matches(name: str, targets: list[str]) -> bool:
    """Suffix match on whole dotted parts: 'fc1' matches 'blocks.0.mlp.fc1', never 'xfc1'."""
    return any(name == t or name.endswith("." + t) for t in targets)


def wrap_minigpt_with_lora(
    model: nn.Module,
    r: int = 8,
    alpha: float = 16.0,
    target_modules: Iterable[str] = DEFAULT_TARGETS,
    dropout: float = 0.0,
) -> nn.Module:
    """Replace, in place, every nn.Linear whose dotted name ends with a target by a LoRALinear.

    Everything else in the model is frozen: only the adapters' A and B train.
    """
    if any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("model already has LoRA adapters; wrap a fresh base model")
    targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    if not targets:
        raise ValueError("target_modules is empty; name at least one Linear, e.g. 'q_proj'")
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    unmatched = [t for t in targets if not any(_matches(n, [t]) for n in linears)]
    if unmatched:
        raise ValueError(f"target_modules {unmatched} match no nn.Linear; the Linears are: {sorted(linears)}")
    model.requires_grad_(False)
    for name, linear in linears.items():
        if _matches(name, targets):
            parent_name, _, child = name.rpartition(".")
            lora = LoRALinear(linear, r=r, alpha=alpha, dropout=dropout).train(linear.training)
            setattr(model.get_submodule(parent_name), child, lora)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The adapter only: every LoRA A and B, under its full dotted name."""
    return {
        name: t.detach().clone()
        for name, t in model.state_dict().items()
        if name.endswith((".lora_A", ".lora_B"))
    }


def load_lora_state_dict(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Load an adapter into a wrapped model: every key and shape is checked before anything is copied."""
    expected = lora_state_dict(model)
    if not expected:
        raise ValueError("model has no LoRA adapters; call wrap_minigpt_with_lora first")
    merged = [n for n, m in model.named_modules() if isinstance(m, LoRALinear) and m.merged]
    if merged:  # the old ΔW lives in the weights: unmerge_() would later subtract the new one
        raise ValueError(f"unmerge_() before loading another adapter; merged: {merged}")
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise KeyError(f"adapter keys do not match the model: missing {missing}, unexpected {unexpected}")
    for key, want in expected.items():
        got = tuple(state[key].shape)
        if got != tuple(want.shape):
            raise ValueError(f"{key}: expected shape {tuple(want.shape)}, found {got}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, value in state.items():
            params[key].copy_(value)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def trainable_parameters_report(model: nn.Module) -> str:
    """The line peft's `print_trainable_parameters` prints, for the same habits."""
    trainable, total = count_parameters(model)
    return (
        f"trainable params: {trainable:,} || all params: {total:,} "
        f"|| trainable%: {100 * trainable / total:.4f}"
    )


def lora_parameter_count(model: nn.Module, r: int, target_modules: Iterable[str] = DEFAULT_TARGETS) -> int:
    """Σ r·(in + out) over the Linears that `wrap_minigpt_with_lora` would wrap (2304·r for Mini-GPT)."""
    targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    return sum(
        r * (m.in_features + m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and _matches(name, targets)
    )
