"""Benchmark: minituner's LoRALinear against peft's lora.Linear, loralib's Linear and nn.Linear.

Run with `make bench`. Prints the tables and writes them to tools/benchmark-results.md, which the
site's benchmark page includes. Times are the best, over five rounds in which the
implementations take turns, of the median of torch.utils.benchmark's blocked_autorange, in one
process on the same inputs.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import loralib
import peft
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from torch.utils.benchmark import Timer

from minituner import LoRALinear, MiniGPT, count_parameters, wrap_minigpt_with_lora

OUT = Path(__file__).with_name("benchmark-results.md")  # and benchmark-results.es.md
SPANISH = {  # the same tables for the Spanish page: only the words change
    "Measured with": "Medido con",
    "threads": "hilos",
    "**Forward and forward+backward of one layer** (median time per call):": (
        "**Pasada hacia delante, y hacia delante y atrás, de una capa** (tiempo mediano por llamada):"
    ),
    "| shape | r | batch | pass |": "| forma | r | lote | pasada |",
    "**Merged forward against nn.Linear** (r = 8, merged into the weight):": (
        "**Pasada hacia delante fusionada frente a nn.Linear** (r = 8, fusionado en el peso):"
    ),
    "| shape | batch | nn.Linear | minituner merged | merged / nn.Linear |": (
        "| forma | lote | nn.Linear | minituner fusionado | fusionado / nn.Linear |"
    ),
    "**Memory to train**: gradient and AdamW bytes (two fp32 moments per trainable parameter):": (
        "**Memoria para entrenar**: bytes de gradientes y de AdamW "
        "(dos momentos fp32 por parámetro entrenable):"
    ),
    "| model | method | trainable | gradients | AdamW states |": (
        "| modelo | método | entrenables | gradientes | estados de AdamW |"
    ),
    "full fine-tuning": "ajuste fino completo",
    "fp16 gradients": "gradientes fp16",
    "q_proj and v_proj": "q_proj y v_proj",
    " over ": " en ",
    " cases.": " casos.",
    "worst": "peor",
    "best": "mejor",
}
SHAPES = [(64, 64), (64, 256), (1024, 1024), (4096, 4096)]
RANKS = [8, 64]
BATCHES = [16, 128]


class One(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.lin = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.lin(x)
        return out


def layers(d_in: int, d_out: int, r: int) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    base = nn.Linear(d_in, d_out)
    ours = LoRALinear(nn.Linear(d_in, d_out), r=r, alpha=2.0 * r)
    ref = get_peft_model(
        One(nn.Linear(d_in, d_out)), LoraConfig(r=r, lora_alpha=2 * r, target_modules=["lin"])
    )
    ms = loralib.Linear(d_in, d_out, r=r, lora_alpha=2 * r, merge_weights=False)
    return {"nn.Linear": base, "minituner": ours, "peft": ref.base_model.model.lin, "loralib": ms}


def seconds(fn: object, backward: bool, x: torch.Tensor) -> float:
    if backward:
        stmt = "fn(x).sum().backward()"
        x = x.clone().requires_grad_(True)
    else:
        stmt = "with torch.no_grad(): fn(x)"
    timer = Timer(stmt=stmt, globals={"fn": fn, "x": x, "torch": torch})
    return timer.blocked_autorange(min_run_time=0.05).median


def interleaved(
    mods: dict[str, nn.Module], backward: bool, x: torch.Tensor, rounds: int = 5
) -> dict[str, float]:
    """Best of several rounds, the implementations taking turns, so that a busy moment of the
    machine does not fall on one implementation only."""
    best = dict.fromkeys(mods, float("inf"))
    for _ in range(rounds):
        for name, m in mods.items():
            best[name] = min(best[name], seconds(m, backward, x))
    return best


def speed_table() -> tuple[list[str], list[float]]:
    rows = [
        "| shape | r | batch | pass | nn.Linear | minituner | peft | loralib | minituner / peft |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for d_in, d_out in SHAPES:
        for r in RANKS:
            mods = layers(d_in, d_out, r)
            for batch in BATCHES:
                x = torch.randn(batch, d_in)
                for backward in (False, True):
                    t = interleaved(mods, backward, x)
                    ratios.append(t["minituner"] / t["peft"])
                    cells = " | ".join(
                        f"{1e6 * t[n]:,.1f} µs" for n in ("nn.Linear", "minituner", "peft", "loralib")
                    )
                    rows.append(
                        f"| {d_in}→{d_out} | {r} | {batch} | {'fwd+bwd' if backward else 'fwd'} | "
                        f"{cells} | {ratios[-1]:.2f} |"
                    )
    return rows, ratios


def merged_table() -> list[str]:
    rows = ["| shape | batch | nn.Linear | minituner merged | merged / nn.Linear |", "|---|---|---|---|---|"]
    for d_in, d_out in SHAPES:
        mods = layers(d_in, d_out, 8)
        mods["minituner"].merge_()
        for batch in BATCHES:
            x = torch.randn(batch, d_in)
            t = interleaved({"plain": mods["nn.Linear"], "merged": mods["minituner"]}, False, x)
            plain, merged = t["plain"], t["merged"]
            rows.append(
                f"| {d_in}→{d_out} | {batch} | {1e6 * plain:,.1f} µs | {1e6 * merged:,.1f} µs | "
                f"{merged / plain:.3f} |"
            )
    return rows


def memory_table() -> list[str]:
    """Bytes to train: fp32 Mini-GPT here; the 7B line by arithmetic, as in theory 01."""
    full = sum(p.numel() for p in MiniGPT().parameters())
    lora, _ = count_parameters(wrap_minigpt_with_lora(MiniGPT(), r=8))
    llama, qv = 6_738_415_616, 2 * 32 * 8 * (4096 + 4096)
    rows = ["| model | method | trainable | gradients | AdamW states |", "|---|---|---|---|---|"]
    for model, method, n, grad_bytes in [
        ("Mini-GPT (fp32)", "full fine-tuning", full, 4),
        ("Mini-GPT (fp32)", "LoRA r=8, 12 Linears", lora, 4),
        ("LLaMA-7B (fp16 gradients)", "full fine-tuning", llama, 2),
        ("LLaMA-7B (fp16 gradients)", "LoRA r=8, q_proj and v_proj", qv, 2),
    ]:
        rows.append(f"| {model} | {method} | {n:,} | {grad_bytes * n:,} B | {8 * n:,} B |")
    return rows


def main() -> int:
    torch.manual_seed(0)
    header = (
        f"torch {torch.__version__}, peft {peft.__version__}, loralib 0.1.2, "
        f"{torch.get_num_threads()} threads, "
        f"{platform.machine()}, Python {platform.python_version()}"
    )
    speed, ratios = speed_table()
    text = "\n".join(
        [
            f"Measured with {header}.",
            "",
            "**Forward and forward+backward of one layer** (median time per call):",
            "",
            *speed,
            "",
            f"minituner / peft: worst {max(ratios):.2f}, best {min(ratios):.2f} over {len(ratios)} cases.",
            "",
            "**Merged forward against nn.Linear** (r = 8, merged into the weight):",
            "",
            *merged_table(),
            "",
            "**Memory to train**: gradient and AdamW bytes (two fp32 moments per trainable parameter):",
            "",
            *memory_table(),
            "",
        ]
    )
    OUT.write_text(text)
    for english, spanish in SPANISH.items():
        text = text.replace(english, spanish)
    OUT.with_suffix(".es.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
