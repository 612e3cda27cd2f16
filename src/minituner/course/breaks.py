"""/break exercises: one real LoRA bug each, as an edit of lora.py, with the symptom it shows.

A break is a list of (old, new) text edits of the reference `lora.py`. `minituner break start`
writes the broken file into the learner's workspace, notebooks and tests load it in memory with
`broken_module`, and a break's `observe` prints its symptom on whatever `lora` module it is given.
The reference library is only ever read.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from .. import lora as reference
from ..errors import LearnerCodeFailed, Unknown
from ..i18n import N_, _

LORA_FILE = Path(reference.__file__)


@dataclass(frozen=True)
class Clues:
    """What a diagnosis of the break names (the mystery break's is graded on them): fragments of the
    lines it changes, and words of its cause in each language. Case, accents and the spaces around
    operators do not count, and a word matches at the start of a word ("transpos" finds
    "transposed")."""

    code: tuple[str, ...]
    en: tuple[str, ...]
    es: tuple[str, ...]


@dataclass(frozen=True)
class Break:
    id: str
    slug: str
    title: str  # English; the Spanish is in the gettext catalogue
    edits: tuple[tuple[str, str], ...]  # (pristine text, broken text) in lora.py
    catching_test: str  # the contract test that catches it
    symptom: str  # a phrase of that test's failure message (contract.error_lines), this break's only
    observe: Callable[[ModuleType], list[str]]  # the symptom, measured on any lora module
    clues: Clues  # what a diagnosis of it names


def apply(source: str, brk: Break) -> str:
    """The broken source; every edit must match exactly once."""
    for old, new in brk.edits:
        if source.count(old) != 1:
            raise ValueError(f"break {brk.id}: lora.py does not contain exactly one {old.strip()[:60]!r}")
        source = source.replace(old, new)
    return source


def revert(source: str, brk: Break) -> str:
    """The fix: every broken text back to the pristine one."""
    for old, new in reversed(brk.edits):
        if source.count(new) != 1:
            raise ValueError(f"break {brk.id}: lora.py does not contain exactly one {new.strip()[:60]!r}")
        source = source.replace(new, old)
    return source


def load_module(source: str, name: str) -> ModuleType:
    """Execute a lora.py source as a module of its own (lora.py imports nothing from minituner)."""
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look modules up by name
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def broken_module(break_id: str) -> ModuleType:
    """minituner.lora with the bug of `break_id`, loaded in memory; the file on disk is untouched."""
    return load_module(apply(LORA_FILE.read_text(), get(break_id)), f"lora_break_{break_id}")


# --- What a learner sees: one short observation per break, on any lora module ----------------------


def with_random_B(module: nn.Module, std: float = 0.1) -> nn.Module:
    """Give every lora_B in `module` random values, as training would: ΔW is no longer zero."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(std=std)
    return module


def _raised(err: Exception) -> str:
    """An exception as a symptom line quotes it: its type and its own message (never translated)."""
    return f"{type(err).__name__}: {err}"


def _observe_rank_zero(lora: ModuleType) -> list[str]:
    try:
        layer = lora.LoRALinear(nn.Linear(64, 64), r=0)
    except Exception as err:  # noqa: BLE001 - the symptom is whatever it raises
        lines = [_("LoRALinear(Linear(64, 64), r=0) raised {error}").format(error=_raised(err))]
    else:
        lines = [
            _("LoRALinear(Linear(64, 64), r=0) was built: A {a}, B {b}").format(
                a=tuple(layer.lora_A.shape), b=tuple(layer.lora_B.shape)
            )
        ]
    A, B = nn.Parameter(torch.empty(0, 64)), nn.Parameter(torch.zeros(64, 0))
    optimizer = torch.optim.AdamW([A, B])
    lines.append(
        _(
            "a rank-0 pair A {a}, B {b}: AdamW accepted {n} parameters with {elements} elements; "
            "B @ A is a {shape} matrix of zeros (max |B @ A| = {largest})"
        ).format(
            a=tuple(A.shape),
            b=tuple(B.shape),
            n=len(optimizer.param_groups[0]["params"]),
            elements=A.numel() + B.numel(),
            shape=tuple((B @ A).shape),
            largest=(B @ A).abs().max().item(),
        )
    )
    return lines


def _observe_b_random(lora: ModuleType) -> list[str]:
    from ..checkpoint import load_base
    from ..evaluate import accuracy
    from ..grammar import make_splits

    heldout = make_splits().heldout
    base = load_base()
    before = accuracy(base, heldout)
    lora.wrap_minigpt_with_lora(base, r=8, alpha=16.0)
    return [
        _(
            "held-out regular accuracy: base {before:.1%}, wrapped at step 0 (before any training) {after:.1%}"
        ).format(before=before, after=accuracy(base, heldout))
    ]


def _observe_scaling(lora: ModuleType) -> list[str]:
    lines = []
    for r in (1, 4, 16):
        torch.manual_seed(0)
        layer = lora.LoRALinear(nn.Linear(64, 64), r=r, alpha=16.0)
        optimizer = torch.optim.AdamW([layer.lora_A, layer.lora_B], lr=1e-2)
        layer(torch.randn(32, 64)).pow(2).sum().backward()
        optimizer.step()  # Adam moves every entry of B by about lr, whatever r is
        delta = layer.scaling * (layer.lora_B @ layer.lora_A)
        lines.append(
            _("r={r:>2}: scaling {scaling:g}, |ΔW| after one AdamW step {norm:.3f}").format(
                r=r, scaling=layer.scaling, norm=delta.norm().item()
            )
        )
    return lines


def _observe_base_not_frozen(lora: ModuleType) -> list[str]:
    from ..model import MiniGPT

    model = lora.wrap_minigpt_with_lora(MiniGPT(), r=8, alpha=16.0)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    saved = sum(t.numel() for t in lora.lora_state_dict(model).values())
    return [
        _(
            "trainable parameters after wrapping at r=8: {trainable:,} of {total:,} (LoRA alone: {lora:,})"
        ).format(trainable=trainable, total=total, lora=2304 * 8),
        _(
            "parameters in the adapter file: {saved:,}: the other {lost:,} trained ones are never saved"
        ).format(saved=saved, lost=trainable - saved),
    ]


def _observe_dropout(lora: ModuleType) -> list[str]:
    layer = with_random_B(lora.LoRALinear(nn.Linear(64, 64), r=8, dropout=0.5)).eval()
    x = torch.randn(4, 64)
    with torch.no_grad():
        diff = (layer(x) - layer(x)).abs().max().item()
    return [_("in eval mode, two forward passes on the same input differ by {diff:.3f}").format(diff=diff)]


def _shift(x: float) -> str:
    """A merge error as the pages quote it. Rounding noise differs between CPUs: nbval's sanitizer
    hides its value and compares the bound."""
    return _("{x:.1e} (float32 rounding, below 1e-5)").format(x=x) if x < 1e-5 else f"{x:.2e}"


def _merge_shift(layer: Any, x: torch.Tensor) -> float:
    """How far merge_() moves the layer's output on x (0 up to rounding, if merging is right)."""
    before = layer(x)
    layer.merge_()
    return float((layer(x) - before).abs().max().item())


def _observe_merge(lora: ModuleType) -> list[str]:
    layer = with_random_B(lora.LoRALinear(nn.Linear(64, 256), r=8))
    x = torch.randn(4, 64)
    with torch.no_grad():
        try:
            shift = _merge_shift(layer, x)
        except Exception as err:  # noqa: BLE001 - the symptom is whatever it raises
            return [_("merge_() on a 64 -> 256 layer raised {error}").format(error=_raised(err))]
        lines = [_("max |output after merge_() - before| = {shift}").format(shift=_shift(shift))]
        if not getattr(layer, "merged", False):
            lines.append(
                _("the layer does not know it is merged: forward adds ΔW on top of the merged weight")
            )
    return lines


def _observe_square_merge(lora: ModuleType) -> list[str]:
    square = with_random_B(lora.LoRALinear(nn.Linear(64, 64), r=8))
    x = torch.randn(4, 64)
    with torch.no_grad():
        diff = _merge_shift(square, x)
    return [
        _("on a square 64 -> 64 layer merge_() runs, and the output moves by {shift}").format(
            shift=_shift(diff)
        )
    ] + _observe_merge(lora)


def _observe_target_typo(lora: ModuleType) -> list[str]:
    from ..model import MiniGPT

    try:
        model = lora.wrap_minigpt_with_lora(MiniGPT(), r=8, alpha=16.0, target_modules=["q_porj"])
    except Exception as err:  # noqa: BLE001 - the symptom is whatever it raises
        return [
            _("wrap_minigpt_with_lora(target_modules=['q_porj']) raised {error}").format(error=_raised(err))
        ]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return [
        _(
            "wrap_minigpt_with_lora(target_modules=['q_porj']) returned without an error: "
            "{trainable} trainable parameters, {tensors} adapter tensors"
        ).format(trainable=trainable, tensors=len(lora.lora_state_dict(model)))
    ]


def _observe_not_strict(lora: ModuleType) -> list[str]:
    from ..model import MiniGPT

    trained = with_random_B(lora.wrap_minigpt_with_lora(MiniGPT(), r=8, alpha=16.0).eval())
    renamed = {
        "base_model.model." + k: v for k, v in lora.lora_state_dict(trained).items()
    }  # peft-style keys
    fresh = lora.wrap_minigpt_with_lora(MiniGPT(), r=8, alpha=16.0).eval()
    tokens = torch.randint(1, 45, (2, 12))
    with torch.no_grad():
        before = fresh(tokens)
        try:
            lora.load_lora_state_dict(fresh, renamed)
        except Exception as err:  # noqa: BLE001 - the symptom is whatever it raises
            reason = str(err.args[0] if err.args else err).split(":")[0]  # the first clause, not the key list
            error = f"{type(err).__name__}: {reason}"
            return [_("loading an adapter with renamed keys raised {error}").format(error=error)]
        changed = (fresh(tokens) - before).abs().max().item()
    return [
        _("loading an adapter with renamed keys raised nothing; max change of the outputs: {changed}").format(
            changed=changed
        )
    ]


def _observe_float16(lora: ModuleType) -> list[str]:
    layer = with_random_B(lora.LoRALinear(nn.Linear(256, 64), r=8))
    x = torch.randn(32, 256)
    with torch.no_grad():
        diff = _merge_shift(layer, x)
    if diff < 1e-5:
        return [
            _("max |merged - unmerged| output = {shift}, as the contract asks").format(shift=_shift(diff))
        ]
    return [
        _(
            "max |merged - unmerged| output = {diff:.1e}, above the contract's 1e-5: about {digits:.0f} correct decimals"
        ).format(diff=diff, digits=-math.log10(diff))
    ]


CATALOGUE = (
    Break(
        id="00",
        slug="rank-zero",
        title=N_("LoRA rank r = 0"),
        edits=(
            (
                "        if r < 1:\n"
                '            raise ValueError(f"LoRA rank r must be >= 1, got r={r}: rank 0 has no update space")\n'
                "        if isinstance(alpha, bool)",
                "        if isinstance(alpha, bool)",
            ),
        ),
        catching_test="test_bad_arguments_fail_at_construction",
        symptom="ZeroDivisionError",
        observe=_observe_rank_zero,
        clues=Clues(
            code=("r < 1", "r = 0", "raise ValueError", "must be >= 1"),
            en=("rank 0", "rank zero", "zero rank", "rank-0", "refus", "reject", "guard"),
            es=("rango 0", "rango cero", "rango nulo", "r igual a 0", "r igual a cero", "rechaz"),
        ),
    ),
    Break(
        id="01",
        slug="b-random",
        title=N_("B initialised randomly instead of zeros"),
        edits=(("torch.zeros(base.out_features, r,", "torch.randn(base.out_features, r,"),),
        catching_test="test_lora_init_identity",
        symptom="a new adapter changes the base's output",
        observe=_observe_b_random,
        clues=Clues(
            code=("torch.randn", "torch.zeros", "randn", "zeros("),
            en=("random", "zeros", "non-zero", "nonzero", "not zero", "initiali"),
            es=("aleatori", "ceros", "no es cero", "no nul", "inicializ"),
        ),
    ),
    Break(
        id="02",
        slug="alpha-not-over-r",
        title=N_("The update scaled by α instead of α/r"),
        edits=(("self.scaling = self.alpha / r", "self.scaling = self.alpha"),),
        catching_test="test_lora_forward_is_base_plus_scaled_BA",
        symptom="the output is not base(x) + alpha/r * B A x",
        observe=_observe_scaling,
        clues=Clues(
            code=("alpha / r", "self.scaling", "scaling = self.alpha"),
            en=("scaling", "divid", "over r", "by r", "grows with the rank"),
            es=("escalado", "escala", "divid", "entre r", "sobre r"),
        ),
    ),
    Break(
        id="03",
        slug="base-not-frozen",
        title=N_("The base model is not frozen"),
        edits=(
            (
                "        if freeze_base:\n            base.requires_grad_(False)\n\n    def forward(",
                "\n    def forward(",
            ),
            ("    model.requires_grad_(False)\n    for name, linear", "    for name, linear"),
        ),
        catching_test="test_freeze_only_A_and_B_get_gradients",
        symptom="parameters other than lora_A and lora_B are trainable",
        observe=_observe_base_not_frozen,
        clues=Clues(
            code=("requires_grad", "freeze_base"),
            en=("frozen", "freez", "unfrozen", "base trains", "base model trains", "base weights train"),
            es=("congel", "descongel", "base se entrena", "base tambien se entrena"),
        ),
    ),
    Break(
        id="04",
        slug="dropout-in-eval",
        title=N_("LoRA dropout still active in eval"),
        edits=(
            (
                "        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()\n",
                "        self.p = dropout\n",
            ),
            ("F.linear(self.dropout(x), self.lora_A)", "F.linear(F.dropout(x, self.p), self.lora_A)"),
        ),
        catching_test="test_dropout_off_in_eval",
        symptom="Tensor-likes are not equal",
        observe=_observe_dropout,
        clues=Clues(
            code=("F.dropout", "self.p = dropout", "nn.Dropout", "self.dropout", "training="),
            en=("dropout", "eval", "training mode", "train mode"),
            es=("dropout", "evaluacion", "modo eval", "modo de entrenamiento", "modo entrenamiento"),
        ),
    ),
    Break(
        id="05",
        slug="merge-without-flag",
        title=N_("Merge without a merged flag"),
        edits=(
            (
                "        if self.merged:\n"
                '            warnings.warn("LoRALinear is already merged; merging again would add ΔW twice", '
                "stacklevel=2)\n"
                "            return\n"
                "        merged = self.base.weight",
                "        merged = self.base.weight",
            ),
            (
                "        self.base.weight.copy_(merged)\n        self.merged = True\n",
                "        self.base.weight.copy_(merged)\n",
            ),
        ),
        catching_test="test_merge_equivalence",
        symptom="merge_() did not set merged = True",
        observe=_observe_merge,
        clues=Clues(
            code=("self.merged", "merged = True", "if self.merged"),
            en=("flag", "twice", "already merged", "double", "idempoten"),
            es=("indicador", "bandera", "dos veces", "ya fusionad", "doble", "idempoten"),
        ),
    ),
    Break(
        id="06",
        slug="target-typo",
        title=N_("A typo in target_modules silently wraps nothing"),
        edits=(
            (
                "    if unmatched:\n"
                '        raise ValueError(f"target_modules {unmatched} match no nn.Linear; the Linears are: '
                '{sorted(linears)}")\n'
                "    model.requires_grad_(False)\n",
                "    model.requires_grad_(False)\n",
            ),
        ),
        catching_test="test_unknown_target_lists_the_real_names",
        symptom="DID NOT RAISE ValueError",
        observe=_observe_target_typo,
        clues=Clues(
            code=("unmatched", "target_modules", "q_porj", "match no nn.Linear"),
            en=("typo", "misspel", "no layer", "wraps nothing", "matches nothing", "match nothing"),
            es=("errata", "error tipografico", "mal escrit", "no coincid", "ninguna capa", "no envuelve"),
        ),
    ),
    Break(
        id="07",
        slug="merge-transposed",
        title=N_("Merge with B·A transposed"),
        edits=(
            (
                "return self.scaling * (self.lora_B @ self.lora_A)",
                "return self.scaling * (self.lora_A.T @ self.lora_B.T)",
            ),
        ),
        catching_test="test_merge_equivalence",
        symptom="size of tensor a (64) must match the size of tensor b (256)",
        observe=_observe_square_merge,
        clues=Clues(
            code=("lora_A.T", "lora_B.T", ".T @", "lora_B @ self.lora_A"),
            en=("transpos", "swapped", "wrong order", "reversed order", "order of the product"),
            es=(
                "transpuest",
                "traspuest",
                "orden inverso",
                "orden equivocad",
                "orden incorrect",
                "intercambi",
            ),
        ),
    ),
    Break(
        id="08",
        slug="load-not-strict",
        title=N_("An adapter loaded with strict=False"),
        edits=(
            (
                "    params = dict(model.named_parameters())\n"
                "    with torch.no_grad():\n"
                "        for key, value in state.items():\n"
                "            params[key].copy_(value)\n",
                "    model.load_state_dict(state, strict=False)  # load what matches, skip the rest\n",
            ),
            (
                "    if missing or unexpected:\n",
                "    if False:  # strict=False: names that do not match are not an error\n",
            ),
            (
                "    for key, want in expected.items():\n        got = tuple(state[key].shape)\n",
                "    for key, want in expected.items():\n        if key not in state:\n            continue\n"
                "        got = tuple(state[key].shape)\n",
            ),
        ),
        catching_test="test_roundtrip_missing_key_is_named",
        symptom="DID NOT RAISE KeyError",
        observe=_observe_not_strict,
        clues=Clues(
            code=("strict=False", "load_state_dict", "if False", "strict = False"),
            en=("strict", "missing key", "unexpected key", "renamed", "skip"),
            es=("estricto", "clave", "renombrad", "omit", "se salta", "ignora"),
        ),
    ),
    Break(
        id="09",
        slug="merge-float16",
        title=N_("Merge in float16"),
        edits=(
            (
                "        merged = self.base.weight + self.delta_weight()\n",
                "        merged = (self.base.weight.half() + self.delta_weight().half()).to(self.base.weight.dtype)\n",
            ),
        ),
        catching_test="test_merge_equivalence",
        symptom="the merged output differs from the unmerged one",
        observe=_observe_float16,
        clues=Clues(
            code=(".half()", "float16", "fp16", "torch.float16"),
            en=("half", "precision", "decimal", "16-bit", "16 bit"),
            es=("media precision", "precision", "decimal", "16 bits"),
        ),
    ),
)


def get(break_id: str) -> Break:
    for brk in CATALOGUE:
        if brk.id == break_id:
            return brk
    ids = ", ".join(b.id for b in CATALOGUE)
    raise Unknown(_("unknown break {id!r}; the breaks are: {ids}").format(id=break_id, ids=ids))


def observe(break_id: str, lora: ModuleType) -> list[str]:
    """The symptom lines of one break, measured on `lora` (broken or not), from a fixed seed."""
    brk = get(break_id)
    torch.manual_seed(0)
    return brk.observe(lora)


def observe_copy(break_id: str, path: Path, name: str) -> list[str]:
    """The symptom lines of one break, measured on a learner's copy of lora.py (loaded as module
    `name`): whatever that code raises while it loads or runs is the learner's, told in one line."""
    try:
        return observe(break_id, load_module(path.read_text(), name))
    except Exception as err:  # noqa: BLE001 - the learner's code raised it
        raise LearnerCodeFailed(_("{path} raised {error}").format(path=path, error=_raised(err))) from err


def diff(break_id: str, fix: bool = False) -> str:
    """The break (or its fix) as a unified diff of lora.py, as the break pages show it."""
    pristine = LORA_FILE.read_text()
    broken = apply(pristine, get(break_id))
    a, b = (broken, pristine) if fix else (pristine, broken)
    lines = difflib.unified_diff(
        a.splitlines(keepends=True),
        b.splitlines(keepends=True),
        "a/lora.py",
        "b/lora.py",
        n=1,
    )
    return "".join(lines)
