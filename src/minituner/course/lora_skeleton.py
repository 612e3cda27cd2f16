"""My LoRA, written by hand (lab 00). Check it from the workspace with: minituner contract lab/lora.py"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn


class LoRALinear(nn.Module):
    def __init__(
        self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0, freeze_base: bool = True
    ) -> None:
        super().__init__()
        raise NotImplementedError("TODO")

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError("TODO")

    def delta_weight(self) -> Tensor:
        raise NotImplementedError("TODO")

    def merge_(self, safe: bool = False) -> None:
        raise NotImplementedError("TODO")

    def unmerge_(self) -> None:
        raise NotImplementedError("TODO")


TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")


def wrap_minigpt_with_lora(
    model: nn.Module,
    r: int = 8,
    alpha: float = 16.0,
    target_modules: Iterable[str] = TARGETS,
    dropout: float = 0.0,
) -> nn.Module:
    raise NotImplementedError("TODO")


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    raise NotImplementedError("TODO")


def load_lora_state_dict(model: nn.Module, state: dict[str, Tensor]) -> None:
    raise NotImplementedError("TODO")
