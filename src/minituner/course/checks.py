"""Self-checks for the lab workbooks, as otter-grader's `grader.check("q1")`: in a notebook,
`check("01.per_linear", lora_params)` prints `✓ 01.per_linear` when the learner's code is right, and
otherwise stops with what is wrong and a hint, in the workspace's language, never with the answer.
The grader runs the very same cells. Each check compares the learner's code with the library on
inputs of its own, so it cannot be passed by pasting a number.
"""

from __future__ import annotations

import copy
import math
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import interop
from ..i18n import N_, gettext_for
from ..lora import LoRALinear, count_parameters, lora_parameter_count, lora_state_dict, wrap_minigpt_with_lora
from ..model import MiniGPT
from ..train import lm_loss
from .breaks import with_random_B

SETTINGS = "learner.toml"  # written by `minituner learner new`: the workspace's language


class NotYet(AssertionError):
    """A self-check that does not pass yet: the message says what is wrong and gives a hint."""


@dataclass(frozen=True)
class Check:
    test: Callable[[Any], str | None]  # None when right, else what is wrong (English, translated)
    hint: str


def workspace_language(start: Path | None = None) -> str:
    """The language in the nearest learner.toml above `start` (the notebook's folder), else English."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SETTINGS).is_file():
            return str(tomllib.loads((folder / SETTINGS).read_text()).get("language", "en"))
    return "en"


def check(name: str, value: Any) -> None:
    """Print `✓ name` if `value` is right; else raise NotYet with what is wrong and a hint."""
    _ = gettext_for(workspace_language())
    if name not in CHECKS:
        raise KeyError(
            _("unknown check {name!r}; the checks are: {names}").format(name=name, names=", ".join(CHECKS))
        )
    spec = CHECKS[name]
    try:
        problem = spec.test(value)
    except Exception as err:  # noqa: BLE001 - whatever the learner's code raises is the answer
        problem = N_("your code raised {error}")
        detail = f"{type(err).__name__}: {err}"
    else:
        detail = ""
    if problem is None:
        print(f"✓ {name}")
        return
    raise NotYet(
        _("{name}: not yet. {problem} Hint: {hint}").format(
            name=name, problem=_(problem).format(error=detail), hint=_(spec.hint)
        )
    )


# --- Lab 01: counting -----------------------------------------------------------------------------

SHAPES = [(64, 64, 8), (64, 256, 4), (256, 64, 1), (1024, 4096, 16), (3, 5, 2)]
TARGET_LISTS = [
    ["q_proj"],
    ["q_proj", "v_proj"],
    ["fc1", "fc2"],
    ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"],
]


def _per_linear(f: Callable[[int, int, int], int]) -> str | None:
    for d_in, d_out, r in SHAPES:
        if f(d_in, d_out, r) != count_parameters(LoRALinear(nn.Linear(d_in, d_out), r=r))[0]:
            return N_("The count is wrong for some shape or rank.")
    return None


def _targets(f: Callable[[nn.Module, list[str], int], int]) -> str | None:
    for targets in TARGET_LISTS:
        for r in (1, 8):
            if f(MiniGPT(), targets, r) != lora_parameter_count(MiniGPT(), r, targets):
                return N_("The total is wrong for some list of target modules.")
    return None


def _break_even(f: Callable[[int, int], int]) -> str | None:
    for d_in, d_out, _r in SHAPES:
        smallest = next(r for r in range(1, d_in * d_out + 1) if r * (d_in + d_out) >= d_in * d_out)
        if f(d_in, d_out) != smallest:
            return N_("The rank is wrong for some shape.")
    return None


# --- Lab 02: training ----------------------------------------------------------------------------


def _train_step(step: Callable[[nn.Module, torch.optim.Optimizer, Any], float]) -> str | None:
    torch.manual_seed(0)
    mine = wrap_minigpt_with_lora(MiniGPT(), r=2)
    with_random_B(mine, std=0.02)
    ref = copy.deepcopy(mine)
    opt_mine = torch.optim.AdamW([p for p in mine.parameters() if p.requires_grad], lr=1e-2)
    opt_ref = torch.optim.AdamW([p for p in ref.parameters() if p.requires_grad], lr=1e-2)
    frozen = {n: p.detach().clone() for n, p in mine.named_parameters() if not p.requires_grad}
    batches = [(torch.randint(1, 45, (4, 10)), torch.randint(1, 45, (4, 10))) for _ in range(2)]
    for batch in batches:  # two steps: a missing zero_grad shows in the second
        loss = step(mine, opt_mine, batch)
        expected = lm_loss(ref, batch)
        opt_ref.zero_grad(set_to_none=True)
        expected.backward()  # type: ignore[no-untyped-call]
        opt_ref.step()
        if not isinstance(loss, float) or not math.isclose(loss, expected.item(), rel_tol=1e-5):
            return N_("The step should return the batch's loss as a Python float (loss.item()).")
    if any(not torch.equal(p, frozen[n]) for n, p in mine.named_parameters() if n in frozen):
        return N_("A frozen parameter of the base model changed.")
    for p, q in zip(mine.parameters(), ref.parameters(), strict=True):
        if not torch.allclose(p, q, atol=1e-6):
            return N_("After two steps the adapter is not where one optimizer step per batch puts it.")
    return None


def _sweep(results: dict[int, tuple[float, float]]) -> str | None:
    if not {1, 8} <= set(results):
        return N_("Measure at least ranks 1 and 8.")
    if any(not (0 <= a <= 1 and 0 <= b <= 1) for a, b in results.values()):
        return N_("Each rank needs (irregular accuracy, retention), both fractions between 0 and 1.")
    return None


def _budget(results: dict[str, tuple[int, float]]) -> str | None:
    if set(results) != {"attention", "mlp", "all"}:
        return N_("Give the three placements: 'attention', 'mlp' and 'all'.")
    counts = [n for n, _acc in results.values()]
    if max(counts) > 1.1 * min(counts):
        return N_("The three placements should train about the same number of parameters (within 10%).")
    if any(not 0 <= acc <= 1 for _n, acc in results.values()):
        return N_("Each placement needs (trainable parameters, irregular accuracy as a fraction).")
    return None


# --- Lab 03: merge and ship ----------------------------------------------------------------------


def _merge(functions: tuple[Callable[[LoRALinear], None], Callable[[LoRALinear], None]]) -> str | None:
    merge, unmerge = functions
    for d_in, d_out, r in SHAPES[:3]:
        layer = with_random_B(LoRALinear(nn.Linear(d_in, d_out), r=r))
        assert isinstance(layer, LoRALinear)
        x = torch.randn(4, d_in)
        with torch.no_grad():
            before, weight = layer(x), layer.base.weight.clone()
            merge(layer)
            if not layer.merged:
                return N_("After merging, layer.merged should be True.")
            if (layer(x) - before).abs().max() > 1e-5:
                return N_("Merging changed the layer's output.")
            merge(layer)
            if (layer(x) - before).abs().max() > 1e-5:
                return N_("A second merge changed the output: merging must happen once.")
            unmerge(layer)
            if layer.merged or (layer.base.weight - weight).abs().max() > 1e-6:
                return N_("Unmerging should restore the base weight and set merged back to False.")
    return None


def _save_load(
    functions: tuple[Callable[[nn.Module, Path], None], Callable[[nn.Module, Path], None]],
) -> str | None:
    save, load = functions
    trained = with_random_B(wrap_minigpt_with_lora(MiniGPT(), r=4)).eval()
    fresh = copy.deepcopy(trained)
    with_random_B(fresh)
    tokens = torch.randint(1, 45, (2, 10))
    with tempfile.TemporaryDirectory() as tmp:
        save(trained, Path(tmp))
        files = sorted(p.suffix for p in Path(tmp).rglob("*") if p.is_file())
        if ".safetensors" not in files or {".pt", ".pth", ".bin", ".pkl"} & set(files):
            return N_("Save the adapter as a .safetensors file (never pickle).")
        load(fresh, Path(tmp))
    with torch.no_grad():
        if not torch.equal(fresh(tokens), trained(tokens)):
            return N_("The loaded model does not give the saved model's outputs.")
    if sum(t.numel() for t in lora_state_dict(trained).values()) != 2304 * 4:
        return N_("Only the adapter (lora_A and lora_B) belongs in the file.")
    return None


def _timing(time_forward: Callable[[nn.Module, torch.Tensor], float]) -> str | None:
    seconds = time_forward(MiniGPT().eval(), torch.randint(1, 45, (8, 12)))
    if not isinstance(seconds, float) or not 0 < seconds < 10:
        return N_("Return the seconds of one forward pass as a float.")
    return None


# --- Lab 04: to peft and back ---------------------------------------------------------------------


def _state() -> dict[str, torch.Tensor]:
    return lora_state_dict(with_random_B(wrap_minigpt_with_lora(MiniGPT(), r=2)))


def _to_peft(f: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]) -> str | None:
    state = _state()
    got, want = f(state), interop.to_peft_state_dict(state)
    if sorted(got) != sorted(want):
        return N_("Some key does not have peft's name.")
    return None if all(torch.equal(got[k], want[k]) for k in want) else N_("A tensor changed on the way.")


def _from_peft(f: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]) -> str | None:
    state = _state()
    back = f(interop.to_peft_state_dict(state))
    if sorted(back) != sorted(state):
        return N_("Some key does not come back to minituner's name.")
    return None if all(torch.equal(back[k], state[k]) for k in state) else N_("A tensor changed on the way.")


def _parity(f: Callable[[nn.Module, nn.Module, torch.Tensor], float]) -> str | None:
    a = MiniGPT().eval()
    b = with_random_B(wrap_minigpt_with_lora(copy.deepcopy(a), r=2), std=0.01).eval()
    tokens = torch.randint(1, 45, (3, 10))
    with torch.no_grad():
        want = (a(tokens) - b(tokens)).abs().max().item()
    got = f(a, b, tokens)
    if not isinstance(got, float) or not math.isclose(got, want, rel_tol=1e-6):
        return N_(
            "The largest absolute difference of the two models' outputs is not what your function returns."
        )
    return None


CHECKS: dict[str, Check] = {
    "01.per_linear": Check(_per_linear, N_("A is r × in and B is out × r: count both.")),
    "01.targets": Check(
        _targets, N_("Sum the per-Linear count over every Linear whose name ends in a target.")
    ),
    "01.break_even": Check(_break_even, N_("The smallest r with r·(in + out) ≥ in·out.")),
    "02.step": Check(_train_step, N_("Loss, zero_grad, backward, step: the optimizer holds only A and B.")),
    "02.sweep": Check(_sweep, N_("A dict rank -> (irregular accuracy, retention) from finetune().")),
    "02.budget": Check(
        _budget, N_("Lab 01's counts: choose each placement's rank so that the trainable parameters match.")
    ),
    "03.merge": Check(_merge, N_("Merge adds scaling·B·A to the base weight once; unmerge subtracts it.")),
    "03.save_load": Check(_save_load, N_("safetensors' save_file and load_file on lora_state_dict.")),
    "03.timing": Check(_timing, N_("time.perf_counter() around a forward pass under torch.no_grad().")),
    "04.to_peft": Check(
        _to_peft, N_("In peft's file a key is base_model.model. + minituner's key + .weight.")
    ),
    "04.from_peft": Check(_from_peft, N_("Undo exactly what to_peft did, in the reverse order.")),
    "04.parity": Check(
        _parity, N_("Both models on the same tokens, under torch.no_grad(); then .abs().max().item().")
    ),
}
