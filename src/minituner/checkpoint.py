"""Files: the shipped base model, and adapters as safetensors plus a small JSON config (never pickle)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import Tensor, nn

from .errors import BadInput, NotFound
from .lora import LoRALinear, load_lora_state_dict, lora_state_dict, wrap_minigpt_with_lora
from .model import MiniGPT

BASE_FILE = "minigpt-base.safetensors"
SHIPPED_ADAPTER = "irregular-r8"  # `minituner finetune --r 8 --save`: the course's rank-8 adapter
ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_CONFIG = "minituner_config.json"  # not peft's adapter_config.json: another schema


def read_safetensors(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise NotFound(f"checkpoint not found: {path}")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise BadInput(f"{path} is not a readable safetensors file ({err})") from None


def write_safetensors(tensors: dict[str, Tensor], path: str | Path) -> None:
    """Like safetensors' save_file, but the file gets the permissions of any other file the user
    writes (their umask): save_file makes it readable by its owner only, which a shared adapter is not."""
    Path(path).write_bytes(save(tensors))


def save_model(model: MiniGPT, path: str | Path) -> None:
    write_safetensors({k: v.contiguous() for k, v in model.state_dict().items()}, path)


def load_model(path: str | Path) -> MiniGPT:
    """A Mini-GPT from a safetensors file; every key and shape must match."""
    path = Path(path)
    state = read_safetensors(path)
    model = MiniGPT()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # PyTorch's list of missing, unexpected and mis-shaped keys
        reason = " ".join(str(err).split()).removeprefix("Error(s) in loading state_dict for MiniGPT: ")
        raise BadInput(f"{path} is not a Mini-GPT: {reason}") from None
    return model.eval()


def base_path() -> Path:
    return Path(str(resources.files("minituner") / BASE_FILE))


def shipped_adapter() -> Path:
    """The rank-8 adapter of the course recipe, trained on the 120 irregular cells (labs 03 and 04)."""
    return Path(str(resources.files("minituner") / SHIPPED_ADAPTER))


def load_base() -> MiniGPT:
    """The pretrained Mini-GPT that ships with the package (rebuilt by `minituner pretrain`)."""
    return load_model(base_path())


@dataclass(frozen=True)
class AdapterSpec:
    """What a saved adapter's config says: one rank and one alpha for every wrapped Linear."""

    r: int
    alpha: float
    target_modules: list[str]  # the Linears' own names (q_proj...), sorted


def adapter_spec(model: nn.Module) -> AdapterSpec:
    """The r, alpha and targets of a wrapped model; a model whose LoRA layers disagree on r or alpha
    is refused (one config could not describe it), with each layer's (r, alpha)."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}
    if not layers:
        raise ValueError("model has no LoRA adapters; call wrap_minigpt_with_lora first")
    specs = {(m.r, m.alpha) for m in layers.values()}
    if len(specs) > 1:
        each = ", ".join(f"{n} (r={m.r}, alpha={m.alpha:g})" for n, m in layers.items())
        raise ValueError(f"the LoRA layers disagree on r or alpha, which one config cannot hold: {each}")
    ((r, alpha),) = specs
    return AdapterSpec(r, alpha, sorted({n.rsplit(".", 1)[-1] for n in layers}))


def save_adapter(model: nn.Module, directory: str | Path) -> Path:
    """Write adapter.safetensors (A and B only) and minituner_config.json (r, alpha, targets)."""
    spec = adapter_spec(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"model": "mini-gpt", "r": spec.r, "alpha": spec.alpha, "target_modules": spec.target_modules}
    write_safetensors(lora_state_dict(model), directory / ADAPTER_WEIGHTS)
    (directory / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def read_adapter(directory: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The adapter's config (r, alpha, target_modules) and its tensors."""
    config_path = Path(directory) / ADAPTER_CONFIG
    if not config_path.is_file():
        raise NotFound(f"adapter config not found: {config_path}")
    try:
        config = json.loads(config_path.read_text())
        int(config["r"]), float(config["alpha"]), list(config["target_modules"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise BadInput(f"{config_path} is not an adapter config ({err!r})") from None
    if config.get("model") != "mini-gpt":
        raise BadInput(f"{config_path} is for model {config.get('model')!r}, expected 'mini-gpt'")
    return config, read_safetensors(Path(directory) / ADAPTER_WEIGHTS)


def load_adapter(model: nn.Module, directory: str | Path) -> nn.Module:
    """Load an adapter into `model`: a plain Mini-GPT is wrapped first, as the config says.

    Everything is checked before the model changes: a bad adapter leaves it as it was.
    """
    config, state = read_adapter(directory)
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    wrap_args = {"r": config["r"], "alpha": config["alpha"], "target_modules": config["target_modules"]}
    if not layers:
        try:  # on a copy: what does not fit is the adapter's fault, and the model stays as it was
            load_lora_state_dict(wrap_minigpt_with_lora(copy.deepcopy(model), **wrap_args), state)
        except (TypeError, KeyError, ValueError) as err:
            reason = " ".join(map(str, err.args))
            raise BadInput(f"{directory} does not fit a Mini-GPT: {reason}") from None
        wrap_minigpt_with_lora(model, **wrap_args)
    elif any((m.r, m.alpha) != (config["r"], float(config["alpha"])) for m in layers):
        found = sorted({(m.r, m.alpha) for m in layers})
        raise BadInput(
            f"adapter has r={config['r']}, alpha={config['alpha']}; the model's adapters have "
            f"(r, alpha) {found}"
        )
    load_lora_state_dict(model, state)
    return model
