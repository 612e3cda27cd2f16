"""Adapters in Hugging Face peft's on-disk format, without importing peft.

peft stores a LoRA adapter as adapter_config.json + adapter_model.safetensors, with keys such as
`base_model.model.blocks.0.attn.q_proj.lora_A.weight`: minituner's `lora_A` / `lora_B` hold the
same matrices (r × in and out × r), under another name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from torch import Tensor, nn

from .checkpoint import adapter_spec, read_safetensors, write_safetensors
from .lora import load_lora_state_dict, lora_state_dict, wrap_minigpt_with_lora

PEFT_PREFIX = "base_model.model."
PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"


def to_peft_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """`blocks.0.attn.q_proj.lora_A` -> `base_model.model.blocks.0.attn.q_proj.lora_A.weight`."""
    return {f"{PEFT_PREFIX}{key}.weight": value.contiguous() for key, value in state.items()}


def from_peft_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of `to_peft_state_dict`; any other key is an error that names it."""
    out = {}
    for key, value in state.items():
        if not (key.startswith(PEFT_PREFIX) and key.endswith((".lora_A.weight", ".lora_B.weight"))):
            raise ValueError(f"{key!r} is not a peft LoRA key (base_model.model.<module>.lora_A.weight)")
        out[key[len(PEFT_PREFIX) : -len(".weight")]] = value
    return out


def export_peft_adapter(model: nn.Module, directory: str | Path) -> Path:
    """Write a wrapped Mini-GPT's adapter so that `PeftModel.from_pretrained` can load it."""
    spec = adapter_spec(model)
    config = {
        "peft_type": "LORA",
        "r": spec.r,
        "lora_alpha": spec.alpha,
        "target_modules": spec.target_modules,
        "lora_dropout": 0.0,
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "task_type": None,
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_safetensors(to_peft_state_dict(lora_state_dict(model)), directory / PEFT_WEIGHTS)
    (directory / PEFT_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def import_peft_adapter(model: nn.Module, directory: str | Path) -> nn.Module:
    """Wrap a plain Mini-GPT as a peft LoRA adapter's config says, and load its A and B.

    An rsLoRA adapter (`use_rslora=true`) scales B·A by lora_alpha/√r; minituner scales by alpha/r,
    so it gets alpha = lora_alpha·√r, the same scale. DoRA has no minituner equivalent: refused."""
    directory = Path(directory)
    config = json.loads((directory / PEFT_CONFIG).read_text())
    if config.get("peft_type") != "LORA":
        raise ValueError(f"{directory / PEFT_CONFIG}: peft_type {config.get('peft_type')!r}, expected 'LORA'")
    if config.get("use_dora"):
        raise ValueError(f"{directory / PEFT_CONFIG}: use_dora=true has no minituner equivalent")
    r, alpha = config["r"], float(config["lora_alpha"])
    if config.get("use_rslora"):
        alpha *= math.sqrt(r)  # alpha/r = lora_alpha/√r
    state = from_peft_state_dict(read_safetensors(directory / PEFT_WEIGHTS))
    wrap_minigpt_with_lora(model, r=r, alpha=alpha, target_modules=list(config["target_modules"]))
    load_lora_state_dict(model, state)
    return model
