"""Self-checks for the lab workbooks, as otter-grader's `grader.check("q1")`: in a notebook,
`check("01.per_linear", lora_params)` prints `✓ 01.per_linear` when the learner's code is right, and
otherwise stops with what is wrong and a hint, in the workspace's language, never with the answer.

Every check has two halves. `run` executes in the learner's kernel: it calls the learner's code on
inputs of its own, derived from a seed, and returns plain JSON data (numbers, lists, strings), or
the record says that the learner's code raised. `judge` is trusted: it recomputes the expected data
for the same seed with the library and compares; its problem is an untranslated message that never
holds a hidden input or an expected value. `check()` does both in the kernel; when
MINITUNER_CHECK_RECORD names a file it also appends the record there, one JSON line per call:
{"check": name, "data": ...} or {"check": name, "raised": "TypeName: message"}.

The grader sets MINITUNER_CHECK_SEED to a fresh random seed, runs the notebooks, and calls
`judge(lines, seed)` on the record in its own process: what a check cell prints is not evidence, and
neither is anything the learner's kernel did to this module. A record that passes holds the right
outputs for inputs that nobody knew before the grading started, so it takes code that works.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .. import interop
from ..checkpoint import load_base
from ..grammar import Splits, make_splits
from ..i18n import N_, gettext_for
from ..lora import (
    DEFAULT_TARGETS,
    LoRALinear,
    count_parameters,
    load_lora_state_dict,
    lora_parameter_count,
    lora_state_dict,
    wrap_minigpt_with_lora,
)
from ..model import MiniGPT, MiniGPTConfig
from ..recipes import FinetuneConfig, FinetuneResult, finetune
from ..train import lm_loss

SETTINGS = "learner.toml"  # written by `minituner learner new`: the workspace's language
SEED_ENV = "MINITUNER_CHECK_SEED"  # the grader's seed for the checks' inputs
RECORD_ENV = "MINITUNER_CHECK_RECORD"  # a file that every check() call appends its record to
DEFAULT_SEED = 28  # the inputs a learner's own runs get
MAX_LINE = 1_000_000  # characters: a record line is far shorter; a longer line is not a record
MAX_ERROR = 500  # characters of a raised error kept in the record

Data = Any  # JSON: None, bool, int, float, str, lists and dicts of them


class NotYet(AssertionError):
    """A self-check that does not pass yet: the message says what is wrong and gives a hint."""


@dataclass(frozen=True)
class Check:
    run: Callable[[Any, int], Data]  # in the learner's kernel: (learner's value, seed) -> JSON data
    judge: Callable[[Data, int], str | None]  # trusted: (data, seed) -> None or a problem (N_)
    hint: str


def workspace_language(start: Path | None = None) -> str:
    """The language in the nearest learner.toml above `start` (the notebook's folder), else English."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SETTINGS).is_file():
            return str(tomllib.loads((folder / SETTINGS).read_text()).get("language", "en"))
    return "en"


def current_seed() -> int:
    """The grader's seed when it set one, else the fixed seed of a learner's own runs."""
    text = os.environ.get(SEED_ENV)
    return DEFAULT_SEED if text is None else int(text)


def record(name: str, value: Any, seed: int) -> dict[str, Data]:
    """Check `name`'s first half, on `value`: {"check": name, "data": ...} or {..., "raised": ...}."""
    spec = CHECKS[name]
    try:
        with _isolated():
            data = spec.run(value, seed)
    except Exception as err:  # noqa: BLE001 - whatever the learner's code raises is the answer
        return {"check": name, "raised": f"{type(err).__name__}: {err}"[:MAX_ERROR]}
    return {"check": name, "data": data}


def check(name: str, value: Any) -> None:
    """Print `✓ name` if `value` is right; else raise NotYet with what is wrong and a hint."""
    _ = gettext_for(workspace_language())
    if name not in CHECKS:
        raise KeyError(
            _("unknown check {name!r}; the checks are: {names}").format(name=name, names=", ".join(CHECKS))
        )
    spec, seed = CHECKS[name], current_seed()
    line = record(name, value, seed)
    path = os.environ.get(RECORD_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
    problem: str | None
    if "raised" in line:
        problem, detail = N_("your code raised {error}"), str(line["raised"])
    else:  # the data as the grader reads it, back from JSON
        problem, detail = _verdict(spec, json.loads(json.dumps(line["data"])), seed), ""
    if problem is None:
        print(f"✓ {name}")
        return
    raise NotYet(
        _("{name}: not yet. {problem} Hint: {hint}").format(
            name=name, problem=_(problem).format(error=detail), hint=_(spec.hint)
        )
    )


def judge(lines: Iterable[str], seed: int) -> dict[str, str | None]:
    """For every known check that has a record among `lines` (JSON, one a line, as check() writes
    them): None when every record of it is right for `seed`, else its first problem (untranslated).

    Only JSON is parsed; nothing of a record is executed or unpickled. Lines that are not a record,
    and unknown check names, are ignored. The expected data is recomputed by the library, here."""
    verdicts: dict[str, str | None] = {}
    for line in lines:
        parsed = _parse(line)
        if parsed is None:
            continue
        name = parsed["check"]
        if verdicts.get(name) is not None:
            continue  # already wrong: its first problem stands
        verdicts[name] = _judged(name, parsed, seed)
    return verdicts


def hint(name: str) -> str:
    """The untranslated hint of a check, for a grader that shows a problem."""
    return _REGISTRY[name].hint


RAISED = N_("Your code raised an error on the check's inputs.")
MALFORMED = N_("The record of this check is not what the check writes.")


def _parse(line: object) -> dict[str, Data] | None:
    if not isinstance(line, str) or len(line) > MAX_LINE:
        return None
    try:
        parsed = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or set(parsed) not in ({"check", "data"}, {"check", "raised"}):
        return None
    if not isinstance(parsed["check"], str) or parsed["check"] not in _REGISTRY:
        return None
    if "raised" in parsed and not isinstance(parsed["raised"], str):
        return None
    return parsed


def _judged(name: str, parsed: dict[str, Data], seed: int) -> str | None:
    return RAISED if "raised" in parsed else _verdict(_REGISTRY[name], parsed["data"], seed)


def _verdict(spec: Check, data: Data, seed: int) -> str | None:
    with _LOCK, _isolated():
        try:
            return spec.judge(data, seed)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError):
            return MALFORMED  # data of another shape than the check's own


# --- Both halves: inputs from a seed, isolated from the notebook, plain data -------------------------

_LOCK = threading.RLock()  # the judge computes with torch: one at a time, on one thread


@contextmanager
def _isolated() -> Iterator[None]:
    """One thread, float32 and gradients on, and the notebook's random state left as it was: the
    inputs depend on the seed only, and the notebook's next cells do not depend on the check."""
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    state = random.getstate()
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.set_num_threads(1)
        torch.set_default_dtype(torch.float32)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.set_default_dtype(dtype)
            random.setstate(state)


def _rng(name: str, seed: int) -> random.Random:
    """The check's own random inputs: another check, or another seed, gets others."""
    digest = hashlib.sha256(f"{name}/{seed}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    torch.manual_seed(rng.randrange(2**62))
    return rng


def _fill(params: Iterable[Tensor], rng: random.Random, std: float) -> None:
    """Values from Python's random numbers, the same on every CPU (torch's normal_ draws with the
    vectorised kernels of the CPU it runs on, and another CPU's kernels draw other last bits)."""
    with torch.no_grad():
        for p in params:
            p.copy_(torch.tensor([rng.gauss(0.0, std) for _ in range(p.numel())]).view_as(p))


def _lora(module: nn.Module) -> list[Tensor]:
    return [p for n, p in module.named_parameters() if n.endswith(("lora_A", "lora_B"))]


def _tokens(rng: random.Random, rows: int, length: int) -> Tensor:
    return torch.tensor([[rng.randrange(1, 64) for _ in range(length)] for _ in range(rows)])


def _number(x: object) -> int | float | str:
    """A learner's scalar as JSON: an int or a finite float as it is, anything else by its type."""
    if type(x) is int and abs(x) < 2**63:
        return x
    if type(x) is float:
        return x if math.isfinite(x) else "<non-finite float>"
    return f"<{type(x).__name__}>"


def _floats(t: Tensor) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in t.detach().double().flatten().tolist()]


def _checksum(t: Tensor) -> list[float | None]:
    """Two numbers that any change of a tensor's values moves: its sum and a weighted sum."""
    v = t.detach().double().flatten()
    weights = torch.cos(torch.arange(v.numel(), dtype=torch.float64))
    return [float(s) if math.isfinite(s) else None for s in (v.sum().item(), (v * weights).sum().item())]


def _key(k: object) -> str:
    if (type(k) is str and len(k) <= 200) or (type(k) is int and abs(k) < 2**63):
        return repr(k)
    return f"<{type(k).__name__}>"


def _tensors(state: object) -> Data:
    """A dict of tensors as JSON: {key: [shape, dtype, checksum, checksum]}."""
    if not isinstance(state, dict):
        return f"<{type(state).__name__}>"
    return {
        _key(k): [list(v.shape), str(v.dtype), *_checksum(v)]
        if isinstance(v, Tensor)
        else f"<{type(v).__name__}>"
        for k, v in list(state.items())[:1000]
    }


def _is_number(x: object) -> bool:
    return type(x) in (int, float) and math.isfinite(x)  # type: ignore[arg-type]


def _close(got: object, want: object, rel: float = 1e-6, tol: float = 1e-9) -> bool:
    if want is None or isinstance(want, bool | str):
        return got == want and type(got) is type(want)
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_close(g, w, rel, tol) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_close(got[k], want[k], rel, tol) for k in want)
        )
    if type(want) is int:
        return type(got) is int and got == want
    assert isinstance(want, float)
    return _is_number(got) and math.isclose(got, want, rel_tol=rel, abs_tol=tol)  # type: ignore[arg-type]


@lru_cache(maxsize=256)
def _expected_json(run: Callable[[Any, int], Data], reference: Any, seed: int) -> str:
    with _isolated():
        return json.dumps(run(reference, seed))


def _expected(run: Callable[[Any, int], Data], reference: Any, seed: int) -> Data:
    """The data of the library's own solution for this seed (a fresh copy: callers may not share it)."""
    return json.loads(_expected_json(run, reference, seed))


# --- Lab 01: counting -----------------------------------------------------------------------------

NAMES = list(DEFAULT_TARGETS)


def _per_linear_inputs(seed: int) -> list[tuple[int, int, int]]:
    rng = _rng("01.per_linear", seed)
    return [(rng.randint(1, 4096), rng.randint(1, 4096), rng.randint(1, 64)) for _ in range(8)]


def _per_linear_run(f: Callable[[int, int, int], int], seed: int) -> Data:
    return [_number(f(d_in, d_out, r)) for d_in, d_out, r in _per_linear_inputs(seed)]


def _per_linear_reference(d_in: int, d_out: int, r: int) -> int:
    return count_parameters(LoRALinear(nn.Linear(d_in, d_out, device="meta"), r=r))[0]


def _per_linear_judge(data: Data, seed: int) -> str | None:
    if not isinstance(data, list) or any(type(x) is not int for x in data):
        return N_("Return the count as a Python int.")
    if not _close(data, _expected(_per_linear_run, _per_linear_reference, seed)):
        return N_("The count is wrong for some shape or rank.")
    return None


def _config(rng: random.Random, width: tuple[int, int], d_ff: int, layers: int) -> MiniGPTConfig:
    """A Mini-GPT of random sizes, its width even (the position table pairs sines and cosines) and in
    `width`: a LayerNorm over two or four numbers saturates, and its gradients vanish."""
    heads = rng.choice([1, 2])
    return MiniGPTConfig(
        d_model=2 * heads * rng.randint(max(1, width[0] // (2 * heads)), width[1] // (2 * heads)),
        n_heads=heads,
        d_ff=rng.randint(4, d_ff),
        n_layers=rng.randint(1, layers),
    )


def _decoyed_model(rng: random.Random) -> nn.Module:
    """A Mini-GPT of random sizes beside Linears whose names only look like targets (fc10, xq_proj)
    and a module named like a target that is not a Linear."""
    cfg = _config(rng, (2, 24), 96, 3)
    extra = nn.ModuleDict(
        {
            "fc10": nn.Linear(rng.randint(1, 32), rng.randint(1, 32)),
            "xq_proj": nn.Linear(rng.randint(1, 32), rng.randint(1, 32)),
            rng.choice(NAMES): nn.LayerNorm(rng.randint(1, 32)),
        }
    )
    return nn.ModuleDict({"gpt": MiniGPT(cfg), "extra": extra})


def _targets_inputs(seed: int) -> list[tuple[nn.Module, list[str], int]]:
    rng = _rng("01.targets", seed)
    cases = []
    for _ in range(6):
        targets = rng.sample(NAMES, rng.randint(1, len(NAMES)))
        cases.append((_decoyed_model(rng), targets, rng.randint(1, 16)))
    return cases


def _targets_run(f: Callable[[nn.Module, list[str], int], int], seed: int) -> Data:
    return [_number(f(model, targets, r)) for model, targets, r in _targets_inputs(seed)]


def _targets_reference(model: nn.Module, targets: list[str], r: int) -> int:
    return lora_parameter_count(model, r, targets)


def _targets_judge(data: Data, seed: int) -> str | None:
    if not isinstance(data, list) or any(type(x) is not int for x in data):
        return N_("Return the count as a Python int.")
    if not _close(data, _expected(_targets_run, _targets_reference, seed)):
        return N_("The total is wrong for some list of target modules.")
    return None


def _break_even_inputs(seed: int) -> list[tuple[int, int]]:
    """Shapes where rounding down, to the nearest, or '>' instead of '≥' each give another rank."""
    rng = _rng("01.break_even", seed)
    while True:
        side = 2 * rng.randint(1, 1024)
        shapes = [(side, side)] + [(rng.randint(1, 4096), rng.randint(1, 4096)) for _ in range(7)]
        fractions = [(a * b) % (a + b) / (a + b) for a, b in shapes]
        if any(0 < f < 0.5 for f in fractions) and any(f > 0.5 for f in fractions):
            rng.shuffle(shapes)
            return shapes


def _break_even_run(f: Callable[[int, int], int], seed: int) -> Data:
    return [_number(f(d_in, d_out)) for d_in, d_out in _break_even_inputs(seed)]


def _break_even_reference(d_in: int, d_out: int) -> int:
    per_rank = _per_linear_reference(d_in, d_out, 1)
    return -(-(d_in * d_out) // per_rank)  # the smallest r with r·per_rank >= in·out, in integers


def _break_even_judge(data: Data, seed: int) -> str | None:
    if not isinstance(data, list) or any(type(x) is not int for x in data):
        return N_("Return the rank as a Python int.")
    if not _close(data, _expected(_break_even_run, _break_even_reference, seed)):
        return N_("The rank is wrong for some shape.")
    return None


# --- Lab 02: training ----------------------------------------------------------------------------

Batch = tuple[Tensor, Tensor]


def _step_inputs(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, list[Batch]]:
    """A small wrapped Mini-GPT with a trained-looking adapter, its optimizer, and a batch three times."""
    rng = _rng("02.step", seed)
    cfg = _config(rng, (8, 16), 32, 2)
    targets = rng.sample(NAMES, rng.randint(2, len(NAMES)))
    model = wrap_minigpt_with_lora(
        MiniGPT(cfg), r=rng.randint(1, 4), alpha=rng.choice([1.0, 4.0, 16.0]), target_modules=targets
    )
    _fill(model.parameters(), rng, std=rng.uniform(0.2, 0.5))  # B too: a trained-looking adapter
    trainable = [p for p in model.parameters() if p.requires_grad]
    # SGD at a small learning rate, not the recipe's AdamW: Adam divides by the gradient's size, and
    # a large step lets an error grow from step to step; here another CPU's rounding stays in the
    # last bits.
    optimizer = torch.optim.SGD(
        trainable,
        lr=rng.uniform(0.01, 0.1),
        momentum=rng.choice([0.0, 0.5]),
    )
    rows, length = rng.randint(2, 4), rng.randint(4, 12)
    x, y = _tokens(rng, rows, length), _tokens(rng, rows, length)
    for row in y:
        row[: rng.randrange(length)] = -100  # no loss on a prompt's tokens
    # The same batch three times: without zero_grad the second step moves by two gradients, the
    # third by three.
    batches = [(x, y)] * 3
    return model, optimizer, batches


def _adapter(model: nn.Module) -> list[float | None]:
    return [v for _k, t in sorted(lora_state_dict(model).items()) for v in _floats(t)]


def _step_run(step: Callable[[nn.Module, torch.optim.Optimizer, Batch], float], seed: int) -> Data:
    model, optimizer, batches = _step_inputs(seed)
    losses = [_number(step(model, optimizer, batch)) for batch in batches]
    adapter = lora_state_dict(model)
    frozen = [p.detach().flatten() for n, p in model.state_dict().items() if n not in adapter]
    return {"losses": losses, "adapter": _adapter(model), "frozen": _checksum(torch.cat(frozen))}


def _step_reference(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch) -> float:
    loss = lm_loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return loss.item()


def _moved_like(got: object, want: list[Any], start: list[Any], rel: float) -> bool:
    """Did the adapter move where the reference moved it, within `rel` of the reference's move? (A
    bound on each weight would be too tight where the move is large, too loose where it is small.)"""
    if not isinstance(got, list) or len(got) != len(want) or not all(_is_number(g) for g in got):
        return False
    gap = math.sqrt(sum((g - w) ** 2 for g, w in zip(got, want, strict=True)))
    move = math.sqrt(sum((w - s) ** 2 for w, s in zip(want, start, strict=True)))
    return gap <= rel * move


def _step_judge(data: Data, seed: int) -> str | None:
    want = _expected(_step_run, _step_reference, seed)
    if not isinstance(data, dict) or not _close(data.get("losses"), want["losses"], rel=1e-5, tol=1e-7):
        return N_("The step should return the batch's loss as a Python float (loss.item()).")
    if not _close(data.get("frozen"), want["frozen"], rel=1e-9):
        return N_("A frozen parameter of the base model changed.")
    start = _adapter(_step_inputs(seed)[0])
    if not _moved_like(data.get("adapter"), want["adapter"], start, rel=1e-3):
        return N_("After these steps the adapter is not where one optimizer step per batch puts it.")
    return None


@cache
def _splits() -> Splits:
    """Cells to sample the small runs' data from (fewer made-up verbs than the course's: quicker)."""
    return make_splits(n_made_up=400)


def _small_run(rng: random.Random) -> tuple[FinetuneConfig, Splits]:
    """A recipe of a few steps on a few cells: cheap, and still far from the base model."""
    full = _splits()
    data = Splits(rng.sample(full.train, 256), rng.sample(full.heldout, 100), rng.sample(full.irregular, 40))
    config = FinetuneConfig(
        r=rng.randint(1, 16),
        alpha=rng.choice([4.0, 8.0, 16.0, 32.0]),
        target_modules=tuple(rng.sample(NAMES, rng.randint(1, len(NAMES)))),
        steps=rng.randint(2, 4),
        lr=rng.uniform(0.01, 0.04),
        irregular_per_batch=rng.randint(4, 8),
        replay_per_batch=rng.randint(4, 8),
        seed=rng.randrange(10_000),
    )
    return config, data


def _sweep_inputs(seed: int) -> tuple[list[int], FinetuneConfig, Splits]:
    rng = _rng("02.sweep", seed)
    config, data = _small_run(rng)
    ranks = rng.sample([r for r in range(1, 17) if r != config.r], 2)  # the config's own rank is not one
    return ranks, config, data


def _results(results: object) -> Data:
    """A dict {key: the result of finetune()} as JSON: {repr(key): {"trainable", "accuracy", "losses"}}."""
    if not isinstance(results, dict):
        return f"<{type(results).__name__}>"
    table: dict[str, Data] = {}
    for k, v in list(results.items())[:100]:
        fields = ("trainable", "irregular_accuracy", "retention", "losses")
        if not all(hasattr(v, f) for f in fields):
            table[_key(k)] = f"<{type(v).__name__}>"
            continue
        losses = v.losses if isinstance(v.losses, list) else []
        table[_key(k)] = {
            "trainable": _number(v.trainable),
            "accuracy": [_number(v.irregular_accuracy), _number(v.retention)],
            "losses": [_number(x) for x in losses[:100]],
        }
    return table


def _results_problem(data: Data, want: Data) -> str | None:
    """What differs between two tables of results: the keys, a trainable count, or the run."""
    if not isinstance(data, dict) or any(not isinstance(v, dict) for v in data.values()):
        return N_("Return a dict whose values are the results of finetune().")
    if data.keys() != want.keys():
        return N_("Return one entry for each key of what you are given, and no other.")
    if any(not _close(data[k].get("trainable"), want[k]["trainable"]) for k in want):
        return N_("Some run does not train the number of parameters it should.")
    for k in want:
        # The losses tell the run; the accuracies may differ by a cell on a CPU that rounds otherwise.
        if not _close(data[k].get("losses"), want[k]["losses"], rel=1e-3, tol=1e-6) or not _close(
            data[k].get("accuracy"), want[k]["accuracy"], rel=0.0, tol=0.03
        ):
            return N_("Some run is not the recipe with the config and the data you are given.")
    return None


def _sweep_run(sweep: Callable[[list[int], FinetuneConfig, Splits], Any], seed: int) -> Data:
    ranks, config, data = _sweep_inputs(seed)
    return _results(sweep(ranks, config, data))


def _sweep_reference(ranks: list[int], config: FinetuneConfig, data: Splits) -> dict[int, FinetuneResult]:
    return {r: finetune(load_base(), replace(config, r=r), data, progress=False) for r in ranks}


def _sweep_judge(data: Data, seed: int) -> str | None:
    return _results_problem(data, _expected(_sweep_run, _sweep_reference, seed))


def _budget_inputs(seed: int) -> tuple[int, dict[str, tuple[str, ...]], FinetuneConfig, Splits]:
    """Two placements and a budget where rounding down, and rounding up, each miss a nearest rank."""
    rng = _rng("02.budget", seed)
    config, data = _small_run(rng)
    model = MiniGPT()
    while True:
        chosen = [set(rng.sample(NAMES, rng.randint(1, 5))) for _ in range(2)]
        placements = {"+".join(t): t for t in (tuple(n for n in NAMES if n in c) for c in chosen)}
        budget = rng.randint(3_000, 15_000)
        if len(placements) < 2:
            continue
        low, high = sorted(
            budget % c / c for c in (lora_parameter_count(model, 1, t) for t in placements.values())
        )
        if 0 < low < 0.45 and high > 0.55:
            return budget, placements, config, data


def _budget_run(
    f: Callable[[int, dict[str, tuple[str, ...]], FinetuneConfig, Splits], Any], seed: int
) -> Data:
    budget, placements, config, data = _budget_inputs(seed)
    return _results(f(budget, placements, config, data))


def _budget_reference(
    budget: int, placements: dict[str, tuple[str, ...]], config: FinetuneConfig, data: Splits
) -> dict[str, FinetuneResult]:
    results = {}
    for placement, targets in placements.items():
        r = max(1, round(budget / lora_parameter_count(MiniGPT(), 1, targets)))
        results[placement] = finetune(
            load_base(), replace(config, r=r, target_modules=targets), data, progress=False
        )
    return results


def _budget_judge(data: Data, seed: int) -> str | None:
    return _results_problem(data, _expected(_budget_run, _budget_reference, seed))


# --- Lab 03: merge and ship ----------------------------------------------------------------------

MergeFunctions = tuple[Callable[[LoRALinear], None], Callable[[LoRALinear], None]]


def _merge_inputs(seed: int) -> list[LoRALinear]:
    rng = _rng("03.merge", seed)
    layers = []
    for _ in range(3):
        base = nn.Linear(rng.randint(2, 10), rng.randint(2, 10), bias=rng.random() < 0.5)
        layer = LoRALinear(base, r=rng.randint(1, 4), alpha=rng.choice([1.0, 4.0, 16.0, 32.0]))
        _fill(layer.parameters(), rng, std=rng.uniform(0.05, 0.5))
        layers.append(layer)
    return layers


def _merge_run(functions: MergeFunctions, seed: int) -> Data:
    merge, unmerge = functions
    states = []
    for layer in _merge_inputs(seed):
        for op in (merge, merge, unmerge, unmerge):  # each twice: the second must change nothing
            op(layer)
            weight = layer.base.weight
            states.append(
                {
                    "merged": layer.merged is True,
                    "weight": _floats(weight),
                    "tracked": bool(weight.requires_grad or weight.grad_fn is not None),
                    "adapter": _checksum(layer.lora_A) + _checksum(layer.lora_B),
                }
            )
    return states


def _merge_reference() -> MergeFunctions:
    def merge(layer: LoRALinear) -> None:
        if not layer.merged:
            layer.merge_()

    def unmerge(layer: LoRALinear) -> None:
        if layer.merged:
            layer.unmerge_()

    return merge, unmerge


MERGE_REFERENCE = _merge_reference()


def _merge_judge(data: Data, seed: int) -> str | None:
    want = _expected(_merge_run, MERGE_REFERENCE, seed)
    if not isinstance(data, list) or len(data) != len(want) or not all(isinstance(s, dict) for s in data):
        return MALFORMED
    problems = [
        N_("Merging changed the layer's output."),
        N_("A second merge changed the output: merging must happen once."),
        N_("Unmerging should restore the base weight and set merged back to False."),
        N_("A second unmerge changed the layer: unmerge only a merged layer."),
    ]
    for i, (got, expected) in enumerate(zip(data, want, strict=True)):
        if i % 4 == 0 and got.get("merged") is not True:
            return N_("After merging, layer.merged should be True.")
        if got.get("tracked") is not False:
            return N_("Change the weight under torch.no_grad(): it must not join autograd's graph.")
        if not _close(got.get("adapter"), expected["adapter"], rel=1e-9):
            return N_("Merging or unmerging changed lora_A or lora_B: leave them as they are.")
        if got.get("merged") is not expected["merged"] or not _close(
            got.get("weight"), expected["weight"], 1e-5, 1e-6
        ):
            return problems[i % 4]
    return None


SaveLoad = tuple[Callable[[nn.Module, Path], None], Callable[[nn.Module, Path], None]]


def _save_load_inputs(seed: int) -> tuple[nn.Module, nn.Module, str]:
    """A wrapped model with a trained-looking adapter, a copy with another adapter, a folder name."""
    rng = _rng("03.save_load", seed)
    targets = rng.sample(NAMES, rng.randint(1, len(NAMES)))
    model = MiniGPT(_config(rng, (2, 16), 32, 2))
    trained = wrap_minigpt_with_lora(model, r=rng.randint(1, 4), target_modules=targets).eval()
    _fill(trained.parameters(), rng, std=0.1)
    other = copy.deepcopy(trained)
    _fill(_lora(other), rng, std=0.1)
    return trained, other, f"adapter-{rng.randrange(10**6)}"


def _save_load_run(functions: SaveLoad, seed: int) -> Data:
    save, load = functions
    trained, other, name = _save_load_inputs(seed)
    with tempfile.TemporaryDirectory() as tmp:
        save(trained, Path(tmp) / name)  # the folder does not exist yet
        files = sorted(p.relative_to(tmp).as_posix() for p in Path(tmp).rglob("*") if p.is_file())
        saved: dict[str, Data] = {}
        for file in files[:20]:
            if file.endswith(".safetensors"):
                try:
                    saved[file] = _tensors(load_file(str(Path(tmp) / file)))
                except Exception:  # noqa: BLE001 - a file that safetensors cannot read
                    saved[file] = "<unreadable>"
        load(other, Path(tmp) / name)
    return {"files": files[:20], "saved": saved, "loaded": _tensors(lora_state_dict(other))}


def _save_load_reference() -> SaveLoad:
    def save(model: nn.Module, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file(lora_state_dict(model), str(folder / "adapter.safetensors"))

    def load(model: nn.Module, folder: Path) -> None:
        load_lora_state_dict(model, load_file(str(folder / "adapter.safetensors")))

    return save, load


SAVE_LOAD_REFERENCE = _save_load_reference()
PICKLES = (".pt", ".pth", ".bin", ".pkl", ".pickle")


def _save_load_judge(data: Data, seed: int) -> str | None:
    want = _expected(_save_load_run, SAVE_LOAD_REFERENCE, seed)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("files"), list)
        or not isinstance(data.get("saved"), dict)
    ):
        return MALFORMED
    (file,) = want["files"]
    if data["files"] != want["files"]:
        names = [f for f in data["files"] if isinstance(f, str)]
        if not any(f.endswith(".safetensors") for f in names) or any(f.endswith(PICKLES) for f in names):
            return N_("Save the adapter as a .safetensors file (never pickle).")
        return N_("Write one file, adapter.safetensors, in the folder you are given.")
    saved = data["saved"].get(file)
    if not isinstance(saved, dict):
        return N_("Save the adapter as a .safetensors file (never pickle).")
    if saved.keys() > want["saved"][file].keys():
        return N_("Only the adapter (lora_A and lora_B) belongs in the file.")
    if not _close(saved, want["saved"][file], rel=1e-9):
        return N_("The file should hold lora_state_dict(model): its keys and its tensors.")
    if not _close(data.get("loaded"), want["loaded"], rel=1e-9):
        return N_("The loaded model does not give the saved model's outputs.")
    return None


class _Clocked(nn.Module):
    """A model whose forward takes a known time on a clock of the check's own."""

    def __init__(self, clock: list[float], durations: list[float]) -> None:
        super().__init__()
        self.clock, self.durations = clock, durations
        self.grad_enabled: list[bool] = []
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, tokens: Tensor) -> Tensor:
        call = len(self.grad_enabled)
        self.grad_enabled.append(torch.is_grad_enabled())
        self.clock[0] += self.durations[call] if call < len(self.durations) else 1.0
        return tokens.float() * self.scale


def _timing_inputs(seed: int) -> tuple[float, list[float], int]:
    """The clock's start, each forward's duration (the warm-up's first, the slowest), the repeats."""
    rng = _rng("03.timing", seed)
    repeats = rng.randint(3, 7)
    timed = [rng.uniform(0.01, 0.1) for _ in range(repeats)]
    return rng.uniform(1e3, 1e4), [rng.uniform(0.2, 0.5), *timed], repeats


@contextmanager
def _clock(clock: list[float], function: object) -> Iterator[None]:
    """time.perf_counter (and _ns) read `clock` meanwhile, also where the function imported them."""
    real = {"perf_counter": time.perf_counter, "perf_counter_ns": time.perf_counter_ns}
    fake: dict[str, Callable[[], float | int]] = {
        "perf_counter": lambda: clock[0],
        "perf_counter_ns": lambda: round(clock[0] * 1e9),
    }
    names: dict[str, Any] = getattr(function, "__globals__", {})
    bound = {k: v for k, v in names.items() if any(v is f for f in real.values())}
    try:
        for attr, f in fake.items():
            setattr(time, attr, f)
        for k, v in bound.items():
            names[k] = fake["perf_counter" if v is real["perf_counter"] else "perf_counter_ns"]
        yield
    finally:
        for attr, f in real.items():
            setattr(time, attr, f)
        names.update(bound)


def _timing_run(time_forward: Callable[[nn.Module, Tensor, int], float], seed: int) -> Data:
    start, durations, repeats = _timing_inputs(seed)
    clock = [start]
    model = _Clocked(clock, durations).eval()
    with _clock(clock, time_forward):
        seconds = time_forward(model, torch.ones(8, 12, dtype=torch.long), repeats)
    return {"seconds": _number(seconds), "grad": model.grad_enabled[:50], "calls": len(model.grad_enabled)}


def _timing_judge(data: Data, seed: int) -> str | None:
    _start, durations, repeats = _timing_inputs(seed)
    if not isinstance(data, dict) or type(data.get("seconds")) is not float:
        return N_("Return the seconds of one forward pass as a float.")
    if data.get("calls") != repeats + 1:
        return N_("Do one warm-up pass, then time exactly `repeats` passes.")
    grad = data.get("grad")
    if not isinstance(grad, list) or len(grad) != repeats + 1 or any(g is not False for g in grad):
        return N_("Run the passes under torch.no_grad().")
    best = min(durations[1:])
    if abs(data["seconds"]) < best / 10:
        return N_("Time model(tokens) with time.perf_counter(), just before and just after it.")
    if not math.isclose(data["seconds"], best, rel_tol=1e-9, abs_tol=1e-8):  # perf_counter_ns: 1 ns
        return N_("That is not the best of the timed passes, in seconds.")
    return None


# --- Lab 04: to peft and back ---------------------------------------------------------------------

DECOYS = ["heads.weight_mix", "base_model.model.inner", "mix.weights", "model.weight.proj"]


def _peft_inputs(name: str, seed: int) -> dict[str, Tensor]:
    """An adapter's state dict, plus modules whose names hold `.weight` or the prefix inside them."""
    rng = _rng(name, seed)
    r = rng.randint(1, 4)
    targets = rng.sample(NAMES, rng.randint(1, len(NAMES)))
    model = wrap_minigpt_with_lora(MiniGPT(_config(rng, (2, 16), 32, 2)), r=r, target_modules=targets)
    _fill(_lora(model), rng, std=0.1)
    state = lora_state_dict(model)
    for module in rng.sample(DECOYS, 2):
        d_in, d_out = rng.randint(2, 16), rng.randint(2, 16)
        state[f"{module}.lora_A"], state[f"{module}.lora_B"] = torch.empty(r, d_in), torch.empty(d_out, r)
        _fill([state[f"{module}.lora_A"], state[f"{module}.lora_B"]], rng, std=0.1)
    return dict(sorted(state.items(), key=lambda _: rng.random()))


def _renaming_run(f: Callable[[dict[str, Tensor]], Any], given: dict[str, Tensor]) -> Data:
    out = f(given)
    return {"out": _tensors(out), "given": _tensors(given)}


def _to_peft_run(f: Callable[[dict[str, Tensor]], Any], seed: int) -> Data:
    return _renaming_run(f, _peft_inputs("04.to_peft", seed))


def _from_peft_run(f: Callable[[dict[str, Tensor]], Any], seed: int) -> Data:
    return _renaming_run(f, interop.to_peft_state_dict(_peft_inputs("04.from_peft", seed)))


def _renaming_judge(data: Data, want: Data, wrong_key: str) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("out"), dict):
        return N_("Return a new dict, from keys to tensors.")
    if not _close(data.get("given"), want["given"], rel=1e-9):
        return N_("Your function changed the dict it was given: build a new one.")
    if data["out"].keys() != want["out"].keys():
        return wrong_key
    if not _close(data["out"], want["out"], rel=1e-9):
        return N_("A tensor changed on the way.")
    return None


def _to_peft_judge(data: Data, seed: int) -> str | None:
    want = _expected(_to_peft_run, interop.to_peft_state_dict, seed)
    return _renaming_judge(data, want, N_("Some key does not have peft's name."))


def _from_peft_judge(data: Data, seed: int) -> str | None:
    want = _expected(_from_peft_run, interop.from_peft_state_dict, seed)
    return _renaming_judge(data, want, N_("Some key does not come back to minituner's name."))


def _parity_inputs(seed: int) -> list[tuple[nn.Module, nn.Module, Tensor]]:
    """Pairs of models, each in a mode of its own; in the first pair the largest difference a - b is
    negative, in the second positive, so that forgetting abs() shows."""
    rng = _rng("04.parity", seed)
    cases: list[tuple[nn.Module, nn.Module, Tensor]] = []
    for i in range(3):
        a: nn.Module = MiniGPT(_config(rng, (8, 24), 64, 2))
        _fill(a.parameters(), rng, std=0.1)
        b = wrap_minigpt_with_lora(copy.deepcopy(a), r=rng.randint(1, 4))
        _fill(_lora(b), rng, std=rng.uniform(0.05, 0.3))
        tokens = _tokens(rng, rng.randint(1, 4), rng.randint(2, 16))
        with torch.no_grad():
            diff = a(tokens) - b(tokens)
        if (i == 0 and diff.max() > -diff.min()) or (i == 1 and diff.max() < -diff.min()):
            a, b = b, a
        cases.append((a.train(rng.random() < 0.5), b.train(rng.random() < 0.5), tokens))
    return cases


def _parity_run(f: Callable[[nn.Module, nn.Module, Tensor], float], seed: int) -> Data:
    values, grad, modes = [], [], []
    for a, b, tokens in _parity_inputs(seed):
        hooks = [m.register_forward_hook(lambda *_: grad.append(torch.is_grad_enabled())) for m in (a, b)]
        values.append(_number(f(a, b, tokens)))
        modes.append([a.training, b.training])
        for hook in hooks:
            hook.remove()
    return {"values": values, "grad": grad[:50], "modes": modes}


def _parity_reference(a: nn.Module, b: nn.Module, tokens: Tensor) -> float:
    with torch.no_grad():
        return float((a(tokens) - b(tokens)).abs().max().item())


def _parity_judge(data: Data, seed: int) -> str | None:
    want = _expected(_parity_run, _parity_reference, seed)
    if not isinstance(data, dict) or not isinstance(data.get("values"), list):
        return MALFORMED
    if any(type(v) is not float for v in data["values"]):
        return N_("Return the difference as a Python float, with .item().")
    if data.get("modes") != want["modes"]:
        return N_("Measure the models as they are given: do not call .train() or .eval() on them.")
    grad = data.get("grad")
    if not isinstance(grad, list) or not grad or any(g is not False for g in grad):
        return N_("Call the models under torch.no_grad().")
    if not _close(data["values"], want["values"], rel=1e-4, tol=1e-6):  # rounding of another CPU
        return N_(
            "The largest absolute difference of the two models' outputs is not what your function returns."
        )
    return None


CHECKS: dict[str, Check] = {
    "01.per_linear": Check(
        _per_linear_run, _per_linear_judge, N_("A is r × in and B is out × r: count both.")
    ),
    "01.targets": Check(
        _targets_run,
        _targets_judge,
        N_("Sum the per-Linear count over every nn.Linear whose name's last part is a target."),
    ),
    "01.break_even": Check(
        _break_even_run, _break_even_judge, N_("The smallest r with r·(in + out) ≥ in·out.")
    ),
    "02.step": Check(
        _step_run, _step_judge, N_("Loss, zero_grad, backward, step: the optimizer holds only A and B.")
    ),
    "02.sweep": Check(
        _sweep_run,
        _sweep_judge,
        N_("For each rank, finetune(load_base(), replace(config, r=r), data, progress=False)."),
    ),
    "02.budget": Check(
        _budget_run,
        _budget_judge,
        N_(
            "Lab 01's counts: a placement at rank r trains r times its count at rank 1; take the r "
            "nearest the budget, then the recipe with config at that rank and those targets, on data."
        ),
    ),
    "03.merge": Check(
        _merge_run, _merge_judge, N_("Merge adds scaling·B·A to the base weight once; unmerge subtracts it.")
    ),
    "03.save_load": Check(
        _save_load_run, _save_load_judge, N_("safetensors' save_file and load_file on lora_state_dict.")
    ),
    "03.timing": Check(
        _timing_run,
        _timing_judge,
        N_("Under torch.no_grad(): one untimed pass, then the minimum of `repeats` timed ones."),
    ),
    "04.to_peft": Check(
        _to_peft_run,
        _to_peft_judge,
        N_("In peft's file a key is base_model.model. + minituner's key + .weight."),
    ),
    "04.from_peft": Check(
        _from_peft_run, _from_peft_judge, N_("Undo exactly what to_peft did, in the reverse order.")
    ),
    "04.parity": Check(
        _parity_run,
        _parity_judge,
        N_("Both models on the same tokens, under torch.no_grad(); then .abs().max().item()."),
    ),
}

# What judge() uses: a copy made at import, so that replacing an entry of CHECKS (or a function of
# this module) afterwards changes what check() does in that process, never what judge() expects.
_REGISTRY = MappingProxyType(dict(CHECKS))
