"""minituner: LoRA built by hand on a 103,680-parameter Mini-GPT."""

from .checkpoint import load_adapter, load_base, load_model, save_adapter, save_model
from .lora import (
    LoRALinear,
    count_parameters,
    load_lora_state_dict,
    lora_parameter_count,
    lora_state_dict,
    trainable_parameters_report,
    wrap_minigpt_with_lora,
)
from .model import MiniGPT, MiniGPTConfig

__all__ = [
    "LoRALinear",
    "MiniGPT",
    "MiniGPTConfig",
    "count_parameters",
    "load_adapter",
    "load_base",
    "load_lora_state_dict",
    "load_model",
    "lora_parameter_count",
    "lora_state_dict",
    "save_adapter",
    "save_model",
    "trainable_parameters_report",
    "wrap_minigpt_with_lora",
]
