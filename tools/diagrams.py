"""The pictures of the theory pages, drawn by code in the language of each page.

Three pictures, each in English and Spanish:

- `lora-bypass`: the frozen W₀ beside A then B, the α/r scale and the sum (theory 01 and 04);
- `lora-shapes`: the shapes of A (r × in) and B (out × r) against W₀ (out × in) (theory 02);
- `energy-curve`: the energy E(r) kept by the top r singular values of the shipped rank-8
  adapter's ΔW, of the shipped base's W₀ and of a random Gaussian matrix (theory 03).

As an mkdocs hook it adds them to the site at build time, so no drawing is committed: the English
build serves `assets/diagrams/<name>.svg`, the Spanish build `<name>.es.svg` at
`es/assets/diagrams/<name>.svg`, the address a Spanish page reaches with the same link
`../assets/diagrams/<name>.svg` (mkdocs-static-i18n, `docs_structure: suffix`).

Run as a script, it writes `<name>.svg` and `<name>.es.svg` into a folder to look at:
`python tools/diagrams.py OUT_DIR`.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

from minituner.i18n import LANGUAGES, N_, gettext_for, number

FOLDER = "assets/diagrams"
ENERGY_LAYER = "blocks.0.mlp.fc1"  # 256 × 64: the tallest Linear, so W₀'s shape shows in the picture
THRESHOLD = 0.9

FROZEN, TRAINED, SUM, INK = "#c9d3de", "#fbd3a6", "#ffffff", "#1f2933"

LEGEND = {  # the energy curve's three lines
    "adapter": N_("ΔW of the shipped rank-8 adapter"),
    "base": N_("W₀ of the shipped base model"),
    "gaussian": N_("random Gaussian matrix, same shape"),
}

RC = {
    "svg.fonttype": "none",  # text stays text: searchable, and a test can read the labels
    "svg.hashsalt": "minituner",  # the same ids on every build
    "font.family": "sans-serif",
    "font.size": 10,
}


def _svg(draw: Callable[[Any, str], None], lang: str, size: tuple[float, float]) -> str:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=size)
        draw(fig, lang)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


# --- the LoRA bypass ------------------------------------------------------------------------------


def _box(ax: Any, x: float, y: float, w: float, h: float, color: str, **kw: Any) -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=1.2", fc=color, ec=INK, lw=1.2, **kw)
    )


def _trapezoid(ax: Any, x: float, y: float, w: float, h_left: float, h_right: float, color: str) -> None:
    from matplotlib.patches import Polygon

    points = [
        (x, y - h_left / 2),
        (x + w, y - h_right / 2),
        (x + w, y + h_right / 2),
        (x, y + h_left / 2),
    ]
    ax.add_patch(Polygon(points, closed=True, fc=color, ec=INK, lw=1.2))


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": INK, "lw": 1.2})


def draw_bypass(fig: Any, lang: str) -> None:
    _ = gettext_for(lang)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, 100), ylim=(0, 44))
    ax.set_axis_off()
    # input, split into the frozen path (above) and the LoRA path (below)
    ax.text(6, 22, _("input x"), ha="center", va="center", fontsize=11)
    _arrow(ax, (12, 22), (17, 22))
    ax.plot([17, 17], [9, 33], color=INK, lw=1.2)
    _arrow(ax, (17, 33), (26, 33))
    _arrow(ax, (17, 9), (26, 9))
    # frozen W0
    _box(ax, 26, 27, 30, 12, FROZEN)
    ax.text(41, 35, "W₀  (out × in)", ha="center", va="center", fontsize=11)
    ax.text(41, 30, _("frozen"), ha="center", va="center", fontsize=10, style="italic")
    # A narrows in -> r, B widens r -> out
    _trapezoid(ax, 26, 9, 11, 12, 3, TRAINED)
    ax.text(31.5, 17.5, "A  (r × in)", ha="center", va="bottom", fontsize=10)
    _trapezoid(ax, 42, 9, 11, 3, 12, TRAINED)
    ax.text(47.5, 17.5, "B  (out × r)", ha="center", va="bottom", fontsize=10)
    _arrow(ax, (37, 9), (42, 9))
    ax.text(31.5, 0.5, _("trained\nrandom at start"), ha="center", va="bottom", fontsize=8)
    ax.text(47.5, 0.5, _("trained\nzero at start"), ha="center", va="bottom", fontsize=8)
    # the scale, then the sum
    _arrow(ax, (53, 9), (59, 9))
    _box(ax, 59, 5, 10, 8, SUM)
    ax.text(64, 9, "× α/r", ha="center", va="center", fontsize=11)
    _arrow(ax, (56, 33), (75.2, 23.6))
    _arrow(ax, (69, 9), (75.2, 20.4))
    from matplotlib.patches import Circle

    ax.add_patch(Circle((77, 22), 2.6, fc=SUM, ec=INK, lw=1.2))
    ax.text(77, 22, "+", ha="center", va="center", fontsize=14)
    _arrow(ax, (79.6, 22), (84, 22))
    ax.text(91.5, 25, _("output y"), ha="center", va="center", fontsize=11)
    ax.text(91.5, 19, "y = W₀x + (α/r)·B·A·x", ha="center", va="center", fontsize=9)
    ax.text(
        77,
        40.5,
        _("only A and B train;  r ≪ min(in, out)"),
        ha="center",
        va="center",
        fontsize=9,
        style="italic",
    )


# --- the shapes of A and B ------------------------------------------------------------------------


def draw_shapes(fig: Any, lang: str) -> None:
    _ = gettext_for(lang)
    from matplotlib.patches import Rectangle

    out, inp, r = 256, 64, 8

    def n(x: float) -> str:
        return number(x, lang)

    ax = fig.add_axes((0, 0, 1, 0.93))
    ax.set(xlim=(-12, 362), ylim=(-30, out + 30), aspect="equal")
    ax.set_axis_off()
    # W0, to scale: one unit per row and per column
    ax.add_patch(Rectangle((0, 0), inp, out, fc=FROZEN, ec=INK, lw=1.2))
    ax.text(
        inp / 2,
        out / 2,
        "W₀: out × in = 256 × 64\n" + _("{n} weights, frozen").format(n=n(out * inp)),
        ha="center",
        va="center",
        fontsize=8,
        rotation=90,
    )
    ax.text(inp / 2, -6, "in = 64", ha="center", va="top", fontsize=9)
    ax.text(-4, out / 2, "out = 256", ha="right", va="center", fontsize=9, rotation=90)
    # B beside the product (same rows as W0), A above it (same columns as W0)
    bx, px = 188, 188 + r + 8
    ax.add_patch(Rectangle((bx, 0), r, out, fc=TRAINED, ec=INK, lw=1.2))
    ax.add_patch(Rectangle((px, out + 8), inp, r, fc=TRAINED, ec=INK, lw=1.2))
    ax.add_patch(Rectangle((px, 0), inp, out, fc="none", ec=INK, lw=1.2, ls="--"))
    ax.text(bx - 6, out / 2, f"B: out × r\n256 × 8 = {n(out * r)}", ha="right", va="center", fontsize=9)
    ax.text(px + inp / 2, out + 8 + r + 4, "A: r × in = 8 × 64 = 512", ha="center", va="bottom", fontsize=9)
    ax.text(
        px + inp / 2,
        out / 2,
        "ΔW = (α/r)·B·A: 256 × 64, " + _("rank ≤ 8\nmade from A and B, not stored"),
        ha="center",
        va="center",
        fontsize=8,
        rotation=90,
    )
    ax.text(84, out / 2, "+", ha="center", va="center", fontsize=20)
    ax.text(bx + r / 2, -6, "r = 8", ha="center", va="top", fontsize=9)
    ax.text(px + inp / 2, -6, "in = 64", ha="center", va="top", fontsize=9)
    ax.text(px + inp + 6, out + 8 + r / 2, "r = 8", ha="left", va="center", fontsize=9)
    ax.text(px + inp + 6, out / 2, "out = 256", ha="left", va="center", fontsize=9, rotation=90)
    fig.suptitle(
        _("{layer} of Mini-GPT at r = 8:  {b} + {a} = {total} = r·(in + out)").format(
            layer=ENERGY_LAYER, b=n(out * r), a=n(r * inp), total=n(r * (inp + out))
        ),
        fontsize=9,
    )


# --- the energy curve -----------------------------------------------------------------------------


def energy(matrix: Any) -> list[float]:
    """E(r) for r = 1 .. min(out, in): the share of ‖M‖²_F kept by the top r singular values."""
    import torch

    s2 = torch.linalg.svdvals(matrix.detach().double()).pow(2)
    return (s2.cumsum(0) / s2.sum()).tolist()  # type: ignore[no-any-return]


def first_rank_reaching(curve: list[float], threshold: float = THRESHOLD) -> int:
    return next(r for r, e in enumerate(curve, start=1) if e >= threshold - 1e-9)


@cache
def energy_curves() -> dict[str, list[float]]:
    """The three curves of the picture, from the shipped files: no training, well under a second."""
    import torch

    from minituner.checkpoint import load_adapter, load_base, shipped_adapter

    model = load_adapter(load_base(), shipped_adapter())
    layer = model.get_submodule(ENERGY_LAYER)
    gaussian = torch.randn(tuple(layer.base.weight.shape), generator=torch.Generator().manual_seed(0))
    return {
        "adapter": energy(layer.delta_weight()),
        "base": energy(layer.base.weight),
        "gaussian": energy(gaussian),
    }


def draw_energy(fig: Any, lang: str) -> None:
    _ = gettext_for(lang)
    curves = energy_curves()
    ax = fig.add_axes((0.1, 0.13, 0.86, 0.77))
    styles = {"adapter": ("#e15759", "-"), "base": ("#4e79a7", "-"), "gaussian": ("#7f7f7f", "--")}
    for name, curve in curves.items():
        color, ls = styles[name]
        ranks = list(range(len(curve) + 1))
        reach = first_rank_reaching(curve)
        reaches = _("E(r) ≥ {x} from r = {r}").format(x=number(THRESHOLD, lang, 1), r=reach)
        label = _(LEGEND[name]) + f"  ({reaches})"
        ax.plot(ranks, [0.0, *curve], color=color, ls=ls, lw=1.8, label=label)
        ax.plot([reach], [curve[reach - 1]], "o", color=color, ms=5)
    ax.axhline(THRESHOLD, color=INK, lw=0.8, ls=":")
    ax.set(xlim=(0, 64), ylim=(0, 1.02), xlabel=_("rank r"), ylabel=_("energy E(r)"))
    ax.set_xticks([0, 8, 16, 32, 48, 64])
    ax.set_yticks([0, 0.25, 0.5, 0.75, 0.9, 1])
    ax.set_yticklabels([number(y, lang, 2, trim=True) for y in (0, 0.25, 0.5, 0.75, THRESHOLD, 1)])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=True)
    ax.set_title(
        _("{layer} (256 × 64): energy kept by the top r singular values").format(layer=ENERGY_LAYER),
        fontsize=9,
    )


DIAGRAMS: dict[str, tuple[Callable[[Any, str], None], tuple[float, float]]] = {
    "lora-bypass": (draw_bypass, (8.0, 3.5)),
    "lora-shapes": (draw_shapes, (6.2, 4.6)),
    "energy-curve": (draw_energy, (7.0, 4.2)),
}


@cache
def render(name: str, lang: str) -> str:
    draw, size = DIAGRAMS[name]
    return _svg(draw, lang, size)


def file_name(name: str, lang: str) -> str:
    return f"{name}.svg" if lang == "en" else f"{name}.{lang}.svg"


# --- mkdocs hook ----------------------------------------------------------------------------------


@event_priority(-150)  # after mkdocs-static-i18n's on_files (-100)
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """After mkdocs-static-i18n (priority -100) has built this language's file list, add the
    pictures of this language at the address its pages link."""
    i18n = config.plugins["i18n"]
    lang, default = i18n.current_language, i18n.default_language
    for name in DIAGRAMS:
        file = File.generated(config, f"{FOLDER}/{file_name(name, lang)}", content=render(name, lang))
        file.dest_uri = f"{FOLDER}/{name}.svg" if lang == default else f"{lang}/{FOLDER}/{name}.svg"
        files.append(file)
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tools/diagrams.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name in DIAGRAMS:
        for lang in LANGUAGES:
            (out / file_name(name, lang)).write_text(render(name, lang), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
