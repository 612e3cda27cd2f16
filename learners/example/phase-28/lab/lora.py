"""My LoRA, written by hand (lab 00). Check it from the workspace with: minituner contract lab/lora.py"""

import math
import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable update ΔW = (α/r)·B·A, with B·A thin."""

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
        freeze_base: bool = True,
    ) -> None:
        super().__init__()
        # Fail where the mistake is made, with the value that caused it.
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear, got {type(base).__name__}")
        if isinstance(r, bool) or not isinstance(r, int):
            raise TypeError(f"r must be an int >= 1, got {r!r}")
        if r < 1:
            raise ValueError(f"r must be >= 1, got r={r}: with r = 0 there is no update to learn")
        if isinstance(alpha, bool) or not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a finite number > 0, got alpha={alpha!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout!r}")

        self.base = base  # registered as a submodule: its weights stay in the state dict
        self.r = r
        self.alpha = float(alpha)
        self.scaling = self.alpha / r  # a plain float: not trained, not saved
        self.merged = False

        # A is (r x in) and B is (out x r): F.linear(x, A) maps in -> r, F.linear(., B) maps r -> out.
        # Same dtype and device as the base weight, so a wrapped model moves and casts as one piece.
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        # A gets nn.Linear's own init; B = 0 alone makes B @ A = 0, so step 0 is the base model.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        # nn.Dropout switches itself off under .eval(); Identity costs nothing when dropout = 0.
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        if freeze_base:
            # requires_grad lives on the Parameter objects themselves, so .to(), .train(), .eval()
            # and load_state_dict (which copies values into them) all keep it.
            base.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.base(x)  # W0 x (+ bias)
        if self.merged:  # ΔW is already inside base.weight: adding it again would count it twice
            return y
        return y + self.scaling * F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)

    # Block D: leave these three for later; check D tells you when.
    def delta_weight(self) -> Tensor:
        """ΔW = (α/r)·B·A, shaped like base.weight (out × in)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    @torch.no_grad()
    def merge_(self, safe: bool = False) -> None:
        """Fold ΔW into base.weight once; with safe=True, refuse a result that is not finite."""
        if self.merged:
            warnings.warn("LoRALinear is already merged; merging again would add ΔW twice", stacklevel=2)
            return
        new_weight = self.base.weight + self.delta_weight()
        if safe and not torch.isfinite(new_weight).all():
            raise ValueError("merge refused: W + ΔW has non-finite values (NaN or inf); weights unchanged")
        self.base.weight.copy_(new_weight)
        self.merged = True  # A and B are kept, so unmerge_() can take ΔW out again

    @torch.no_grad()
    def unmerge_(self) -> None:
        """Take ΔW back out of base.weight."""
        if not self.merged:
            warnings.warn("LoRALinear is not merged; nothing to unmerge", stacklevel=2)
            return
        self.base.weight.sub_(self.delta_weight())
        self.merged = False


TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")


def wrap_minigpt_with_lora(
    model: nn.Module,
    r: int = 8,
    alpha: float = 16.0,
    target_modules: Iterable[str] = TARGETS,
    dropout: float = 0.0,
) -> nn.Module:
    """Swap, in place, every nn.Linear whose dotted name ends with a target for a LoRALinear."""
    if any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("model already has LoRA adapters; wrap a fresh base model")
    targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    if not targets:
        raise ValueError("target_modules is empty; name at least one Linear, e.g. 'q_proj'")
    # Collect first, replace after: never change a module tree while iterating over it.
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    # Suffix match on whole dotted parts: 'fc1' selects 'blocks.0.mlp.fc1', never 'blocks.0.mlp.xfc1'.
    unmatched = [t for t in targets if not any(name == t or name.endswith("." + t) for name in linears)]
    if unmatched:
        # A typo ('q_porj') must not silently train nothing: show the names that do exist.
        raise ValueError(f"target_modules {unmatched} match no nn.Linear; the Linears are: {sorted(linears)}")
    model.requires_grad_(False)  # freeze everything: embedding, LayerNorms, biases, every Linear
    for name, linear in linears.items():
        if any(name == t or name.endswith("." + t) for t in targets):
            parent_name, _, child = name.rpartition(".")
            # The new lora_A / lora_B are created after the freeze, so they are the only trainable ones.
            lora = LoRALinear(linear, r=r, alpha=alpha, dropout=dropout).train(linear.training)
            setattr(model.get_submodule(parent_name), child, lora)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Only the adapter: every lora_A and lora_B under its full dotted name."""
    return {
        name: tensor.detach().clone()
        for name, tensor in model.state_dict().items()
        if name.endswith((".lora_A", ".lora_B"))
    }


def load_lora_state_dict(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Check every key and every shape first; copy only when all of them match."""
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
        if tuple(state[key].shape) != tuple(want.shape):
            raise ValueError(f"{key}: expected shape {tuple(want.shape)}, found {tuple(state[key].shape)}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, value in state.items():
            params[key].copy_(value)  # copy_ keeps the Parameter object, so requires_grad stays True
