"""Benchmark: minituner's LoRALinear against peft's lora.Linear, loralib's Linear and nn.Linear.

Run with `make bench`. Prints the tables and writes them to tools/benchmark-results.md, which the
site's benchmark page includes. Times are the best, over five rounds in which the
implementations take turns, of the median of torch.utils.benchmark's blocked_autorange, in one
process on the same inputs.
"""

from __future__ import annotations

import platform
import re
import sys
from pathlib import Path

import loralib
import peft
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from torch.utils.benchmark import Timer

from minituner import LoRALinear, MiniGPT, count_parameters, wrap_minigpt_with_lora
from minituner.i18n import LANGUAGES, N_, gettext_for, number

OUT = Path(__file__).with_name("benchmark-results.md")  # and benchmark-results.es.md
SHAPES = [(64, 64), (64, 256), (1024, 1024), (4096, 4096)]
RANKS = [8, 64]
BATCHES = [16, 128]


def layers(d_in: int, d_out: int, r: int) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    base = nn.Linear(d_in, d_out)
    ours = LoRALinear(nn.Linear(d_in, d_out), r=r, alpha=2.0 * r)
    ref = get_peft_model(
        nn.Sequential(nn.Linear(d_in, d_out)), LoraConfig(r=r, lora_alpha=2 * r, target_modules=["0"])
    )
    ms = loralib.Linear(d_in, d_out, r=r, lora_alpha=2 * r, merge_weights=False)
    return {"nn.Linear": base, "minituner": ours, "peft": ref.base_model.model[0], "loralib": ms}


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


Row = tuple[str, ...]


def speed_rows() -> tuple[list[Row], list[float]]:
    rows, ratios = [], []
    for d_in, d_out in SHAPES:
        for r in RANKS:
            mods = layers(d_in, d_out, r)
            for batch in BATCHES:
                x = torch.randn(batch, d_in)
                for backward in (False, True):
                    t = interleaved(mods, backward, x)
                    ratios.append(t["minituner"] / t["peft"])
                    times = (f"{1e6 * t[n]:,.1f} µs" for n in ("nn.Linear", "minituner", "peft", "loralib"))
                    rows.append(
                        (f"{d_in}→{d_out}", str(r), str(batch), "fwd+bwd" if backward else "fwd", *times)
                        + (f"{ratios[-1]:.2f}",)
                    )
    return rows, ratios


def merged_rows() -> list[Row]:
    rows = []
    for d_in, d_out in SHAPES:
        mods = layers(d_in, d_out, 8)
        mods["minituner"].merge_()
        for batch in BATCHES:
            x = torch.randn(batch, d_in)
            t = interleaved({"plain": mods["nn.Linear"], "merged": mods["minituner"]}, False, x)
            plain, merged = t["plain"], t["merged"]
            rows.append(
                (f"{d_in}→{d_out}", str(batch), f"{1e6 * plain:,.1f} µs", f"{1e6 * merged:,.1f} µs")
                + (f"{merged / plain:.3f}",)
            )
    return rows


def memory_rows() -> list[tuple[str, str, int, int]]:
    """Bytes to train: fp32 Mini-GPT here; the 7B line by arithmetic, as in theory 01."""
    full = sum(p.numel() for p in MiniGPT().parameters())
    lora, _ = count_parameters(wrap_minigpt_with_lora(MiniGPT(), r=8))
    llama, qv = 6_738_415_616, 2 * 32 * 8 * (4096 + 4096)
    return [
        (N_("Mini-GPT (fp32)"), N_("full fine-tuning"), full, 4),
        (N_("Mini-GPT (fp32)"), N_("LoRA r=8, 12 Linears"), lora, 4),
        (N_("LLaMA-7B (fp16 gradients)"), N_("full fine-tuning"), llama, 2),
        (N_("LLaMA-7B (fp16 gradients)"), N_("LoRA r=8, q_proj and v_proj"), qv, 2),
    ]


def localised(text: str, lang: str) -> str:
    """The numbers of a table cell as the language writes them: 53,360.3 and 0.998 in English;
    53 360,3 and 0,998 in Spanish (thousands grouped by a space from five digits on, decimal comma)."""
    if lang != "es":
        return text

    def spanish(m: re.Match[str]) -> str:
        english = m.group(0).replace(",", "")
        return number(float(english), "es", len(english.partition(".")[2]))

    return re.sub(r"(?<![\w.])\d{1,3}(?:,\d{3})*(?:\.\d+)?|(?<![\w.])\d+(?:\.\d+)?", spanish, text)


def table(header: list[str], rows: list[Row]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"] + [
        "| " + " | ".join(row) + " |" for row in rows
    ]


def render(
    lang: str,
    setup: dict[str, object],
    speed: list[Row],
    ratios: list[float],
    merged: list[Row],
    memory: list[tuple[str, str, int, int]],
) -> str:
    """The three tables in one language: the numbers are the same, only the words change."""
    _ = gettext_for(lang)
    worst, best = (localised(f"{x:.2f}", lang) for x in (max(ratios), min(ratios)))
    memory_table = [
        (_(model), _(method), f"{n:,}", f"{g * n:,} B", f"{8 * n:,} B") for model, method, n, g in memory
    ]
    speed, merged, memory_table = (
        [tuple(localised(cell, lang) for cell in row) for row in rows]
        for rows in (speed, merged, memory_table)
    )
    speed_header = [_("shape"), "r", _("batch"), _("passes"), "nn.Linear", "minituner", "peft", "loralib"]
    lines = [
        _("Measured with {versions}, {threads} threads, {machine}.").format(**setup),
        "",
        _("**Forward and forward+backward of one layer** (median time per call):"),
        "",
        *table([*speed_header, "minituner / peft"], speed),
        "",
        _("minituner / peft: worst {worst}, best {best} over {n} cases.").format(
            worst=worst, best=best, n=len(ratios)
        ),
        "",
        _("**Merged forward against nn.Linear** (r = 8, merged into the weight):"),
        "",
        *table([_("shape"), _("batch"), "nn.Linear", _("minituner merged"), _("merged / nn.Linear")], merged),
        "",
        _("**Memory to train**: gradient and AdamW bytes (two fp32 moments per trainable parameter):"),
        "",
        *table([_("model"), _("method"), _("trainable"), _("gradients"), _("AdamW states")], memory_table),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    torch.manual_seed(0)
    setup = {
        "versions": f"torch {torch.__version__}, peft {peft.__version__}, loralib 0.1.2",
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }
    speed, ratios = speed_rows()
    measured = (speed, ratios, merged_rows(), memory_rows())
    for lang in LANGUAGES:
        text = render(lang, setup, *measured)
        OUT.with_suffix(".es.md" if lang == "es" else ".md").write_text(text)
    print(render("en", setup, *measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
