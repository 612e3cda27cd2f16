"""The workbooks' self-checks (minituner.course.checks), as a learner meets them and as the grader
judges them: the right code passes both; a constant, the reference notebook's printed number and a
plausible wrong implementation fail both, at any seed; a record holds for its own seed only; and
what a learner's kernel can do to `check()`, to this module or to the record makes no check pass.
"""

from __future__ import annotations

import ast
import base64
import builtins
import json
import marshal
import math
import os
import pickle
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from time import perf_counter
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from minituner import load_base
from minituner.course import checks
from minituner.course.checks import CHECKS, DEFAULT_SEED, RECORD_ENV, SEED_ENV, Check, NotYet, check
from minituner.grammar import make_splits
from minituner.i18n import gettext_for
from minituner.lora import load_lora_state_dict, lora_parameter_count, lora_state_dict
from minituner.recipes import FinetuneConfig, FinetuneResult, finetune
from minituner.train import lm_loss

# --- The workbooks' solutions, as a learner writes them ---------------------------------------------


def lora_params_per_linear(d_in: int, d_out: int, r: int) -> int:
    return r * (d_in + d_out)


def lora_params_for(model: nn.Module, targets: list[str], r: int) -> int:
    return sum(
        lora_params_per_linear(m.in_features, m.out_features, r)
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets
    )


def break_even_rank(d_in: int, d_out: int) -> int:
    return math.ceil(d_in * d_out / (d_in + d_out))


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any) -> float:
    loss = lm_loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def sweep(ranks: list[int], config: FinetuneConfig, data: Any) -> dict[int, FinetuneResult]:
    return {r: finetune(load_base(), replace(config, r=r), data, progress=False) for r in ranks}


def at_budget(budget: int, placements: dict[str, Any], config: FinetuneConfig, data: Any) -> dict[str, Any]:
    results = {}
    for placement, targets in placements.items():
        r = max(1, round(budget / lora_parameter_count(load_base(), 1, targets)))
        results[placement] = finetune(
            load_base(), replace(config, r=r, target_modules=targets), data, progress=False
        )
    return results


def merge(layer: Any) -> None:
    if layer.merged:
        return
    with torch.no_grad():
        layer.base.weight += layer.scaling * (layer.lora_B @ layer.lora_A)
    layer.merged = True


def unmerge(layer: Any) -> None:
    if not layer.merged:
        return
    with torch.no_grad():
        layer.base.weight -= layer.scaling * (layer.lora_B @ layer.lora_A)
    layer.merged = False


def time_forward(model: nn.Module, tokens: torch.Tensor, repeats: int = 5) -> float:
    times = []
    with torch.no_grad():
        model(tokens)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(tokens)
            times.append(time.perf_counter() - start)
    return min(times)


def save(model: nn.Module, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(lora_state_dict(model), str(folder / "adapter.safetensors"))


def load(model: nn.Module, folder: Path) -> None:
    load_lora_state_dict(model, load_file(str(folder / "adapter.safetensors")))


def to_peft(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"base_model.model.{key}.weight": value for key, value in state.items()}


def from_peft(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.removeprefix("base_model.model.").removesuffix(".weight"): v for k, v in state.items()}


def max_output_diff(a: nn.Module, b: nn.Module, tokens: torch.Tensor) -> float:
    with torch.no_grad():
        return (a(tokens) - b(tokens)).abs().max().item()


RIGHT: dict[str, Any] = {
    "01.per_linear": lora_params_per_linear,
    "01.targets": lora_params_for,
    "01.break_even": break_even_rank,
    "02.step": train_step,
    "02.sweep": sweep,
    "02.budget": at_budget,
    "03.merge": (merge, unmerge),
    "03.save_load": (save, load),
    "03.timing": time_forward,
    "04.to_peft": to_peft,
    "04.from_peft": from_peft,
    "04.parity": max_output_diff,
}

# --- What must fail: a constant, the reference notebook's printed number, a plausible mistake -------


def step_without_zero_grad(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any) -> float:
    loss = lm_loss(model, batch)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_returning_the_tensor(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any) -> Any:
    loss = lm_loss(model, batch)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def step_clearing_after_backward(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any) -> float:
    loss = lm_loss(model, batch)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def forged(trainable: int, irregular: float, retention: float) -> FinetuneResult:
    """A result made up from the reference notebook's figures, losses included."""
    return FinetuneResult(None, irregular, retention, trainable, 14.0, [3.9, 1.2, 0.4])  # type: ignore[arg-type]


def sweep_keeping_only_the_steps(ranks: list[int], config: FinetuneConfig, data: Any) -> dict[int, Any]:
    return {
        r: finetune(load_base(), FinetuneConfig(r=r, steps=config.steps), data, progress=False) for r in ranks
    }


def sweep_ignoring_the_rank(ranks: list[int], config: FinetuneConfig, data: Any) -> dict[int, Any]:
    return {r: finetune(load_base(), config, data, progress=False) for r in ranks}


def sweep_on_the_course_splits(ranks: list[int], config: FinetuneConfig, data: Any) -> dict[int, Any]:
    return {r: finetune(load_base(), replace(config, r=r), make_splits(), progress=False) for r in ranks}


def sweep_on_one_base(ranks: list[int], config: FinetuneConfig, data: Any) -> dict[int, Any]:
    base = load_base()
    return {r: finetune(base, replace(config, r=r), data, progress=False) for r in ranks}


def sweep_as_tuples(ranks: list[int], config: FinetuneConfig, data: Any) -> dict[int, Any]:
    results = sweep(ranks, config, data)
    return {r: (res.irregular_accuracy, res.retention) for r, res in results.items()}


def budget_with(rank: Callable[[int, int], int], same_targets: bool = False) -> Callable[..., dict[str, Any]]:
    def at(budget: int, placements: dict[str, Any], config: FinetuneConfig, data: Any) -> dict[str, Any]:
        results = {}
        for placement, targets in placements.items():
            r = rank(budget, lora_parameter_count(load_base(), 1, targets))
            cfg = replace(config, r=r) if same_targets else replace(config, r=r, target_modules=targets)
            results[placement] = finetune(load_base(), cfg, data, progress=False)
        return results

    return at


def merge_every_time(layer: Any) -> None:
    with torch.no_grad():
        layer.base.weight += layer.scaling * (layer.lora_B @ layer.lora_A)
    layer.merged = True


def merge_without_scaling(layer: Any) -> None:
    if not layer.merged:
        with torch.no_grad():
            layer.base.weight += layer.lora_B @ layer.lora_A
        layer.merged = True


def unmerge_keeping_the_flag(layer: Any) -> None:
    if layer.merged:
        with torch.no_grad():
            layer.base.weight -= layer.scaling * (layer.lora_B @ layer.lora_A)


def save_everything(model: nn.Module, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "adapter.safetensors"))


def save_a_pickle(model: nn.Module, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(lora_state_dict(model), folder / "adapter.pt")


def timer(
    pick: Callable[[list[float]], float],
    warm_up: bool = True,
    no_grad: bool = True,
    fixed: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Callable[..., Any]:
    def time_it(model: nn.Module, tokens: torch.Tensor, repeats: int = 5) -> Any:
        times = []
        with torch.no_grad() if no_grad else torch.enable_grad():
            if warm_up:
                model(tokens)
            for _ in range(fixed or repeats):
                start = clock()
                model(tokens)
                times.append(clock() - start)
        return pick(times)

    return time_it


def to_peft_in_place(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for key in list(state):
        state[f"base_model.model.{key}.weight"] = state.pop(key)
    return state


def diff_with(
    reduce: Callable[[torch.Tensor], torch.Tensor], no_grad: bool = True, evaluate: bool = False
) -> Callable[..., Any]:
    def diff(a: nn.Module, b: nn.Module, tokens: torch.Tensor) -> Any:
        if evaluate:
            a.eval(), b.eval()
        with torch.no_grad() if no_grad else torch.enable_grad():
            return reduce(a(tokens) - b(tokens)).item()

    return diff


WRONG: list[tuple[str, str, Any]] = [
    ("01.per_linear", "the printed 1,024", lambda d_in, d_out, r: 1024),
    ("01.per_linear", "A only", lambda d_in, d_out, r: r * d_in),
    ("01.per_linear", "a float", lambda d_in, d_out, r: r * (d_in + d_out) / 1),
    ("01.targets", "the printed 2,048", lambda model, targets, r: 2048),
    (
        "01.targets",
        "substrings",
        lambda model, targets, r: sum(
            r * (m.in_features + m.out_features)
            for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and any(t in n for t in targets)
        ),
    ),
    (
        "01.targets",
        "name endings",
        lambda model, targets, r: sum(
            r * (m.in_features + m.out_features)
            for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and n.endswith(tuple(targets))
        ),
    ),
    (
        "01.targets",
        "any module",
        lambda model, targets, r: sum(
            r * (m.in_features + m.out_features)
            for n, m in model.named_modules()
            if n.rsplit(".", 1)[-1] in targets
        ),
    ),
    ("01.break_even", "the printed 2", lambda d_in, d_out: 2),
    ("01.break_even", "rounded down", lambda d_in, d_out: int(d_in * d_out / (d_in + d_out))),
    ("01.break_even", "rounded", lambda d_in, d_out: round(d_in * d_out / (d_in + d_out))),
    ("01.break_even", "more than", lambda d_in, d_out: d_in * d_out // (d_in + d_out) + 1),
    ("02.step", "a constant loss, no step", lambda model, optimizer, batch: 3.8),
    ("02.step", "no zero_grad", step_without_zero_grad),
    ("02.step", "the loss tensor", step_returning_the_tensor),
    ("02.step", "zero_grad after backward", step_clearing_after_backward),
    ("02.sweep", "the printed figures", lambda ranks, config, data: {r: (0.75, 0.921) for r in ranks}),
    (
        "02.sweep",
        "forged results",
        lambda ranks, config, data: {r: forged(2304 * r, 0.75, 0.921) for r in ranks},
    ),
    ("02.sweep", "only the steps of config", sweep_keeping_only_the_steps),
    ("02.sweep", "the rank ignored", sweep_ignoring_the_rank),
    ("02.sweep", "the course's splits", sweep_on_the_course_splits),
    ("02.sweep", "one base", sweep_on_one_base),
    ("02.sweep", "tuples", sweep_as_tuples),
    (
        "02.budget",
        "forged results",
        lambda budget, placements, config, data: {p: forged(18_432, 0.9, 0.95) for p in placements},
    ),
    ("02.budget", "ranks 18 and 14", budget_with(lambda budget, per_rank: 18 if per_rank % 640 else 14)),
    ("02.budget", "rounded down", budget_with(lambda budget, per_rank: max(1, budget // per_rank))),
    ("02.budget", "rounded up", budget_with(lambda budget, per_rank: -(-budget // per_rank))),
    ("02.budget", "the config's targets", budget_with(lambda b, c: max(1, round(b / c)), same_targets=True)),
    ("03.merge", "nothing", (lambda layer: None, lambda layer: None)),
    ("03.merge", "merging twice", (merge_every_time, unmerge)),
    ("03.merge", "no scaling", (merge_without_scaling, unmerge)),
    ("03.merge", "the flag kept", (merge, unmerge_keeping_the_flag)),
    ("03.save_load", "nothing", (lambda model, folder: None, lambda model, folder: None)),
    ("03.save_load", "the whole state_dict", (save_everything, load)),
    ("03.save_load", "a pickle", (save_a_pickle, load)),
    ("03.save_load", "nothing loaded", (save, lambda model, folder: None)),
    ("03.timing", "a printed 4.2 ms", lambda model, tokens, repeats=5: 0.0042),
    ("03.timing", "milliseconds", timer(lambda t: 1000 * min(t))),
    ("03.timing", "the mean", timer(lambda t: sum(t) / len(t))),
    ("03.timing", "the total", timer(sum)),
    ("03.timing", "the last pass", timer(lambda t: t[-1])),
    ("03.timing", "no warm-up", timer(min, warm_up=False)),
    ("03.timing", "always 5 repeats", timer(min, fixed=5)),
    ("03.timing", "with gradients", timer(min, no_grad=False)),
    ("03.timing", "time.time", timer(min, clock=time.time)),
    ("04.to_peft", "an empty dict", lambda state: {}),
    ("04.to_peft", "no .weight", lambda state: {f"base_model.model.{k}": v for k, v in state.items()}),
    (
        "04.to_peft",
        "transposed",
        lambda state: {f"base_model.model.{k}.weight": v.T for k, v in state.items()},
    ),
    ("04.to_peft", "in place", to_peft_in_place),
    ("04.from_peft", "unchanged", lambda state: dict(state)),
    (
        "04.from_peft",
        "str.replace",
        lambda state: {
            k.replace("base_model.model.", "").replace(".weight", ""): v for k, v in state.items()
        },
    ),
    (
        "04.from_peft",
        "the suffix kept",
        lambda state: {k.removeprefix("base_model.model."): v for k, v in state.items()},
    ),
    ("04.parity", "zero", lambda a, b, tokens: 0.0),
    ("04.parity", "no abs", diff_with(lambda d: d.max())),
    ("04.parity", "the mean", diff_with(lambda d: d.abs().mean())),
    ("04.parity", "a tensor", lambda a, b, tokens: (a(tokens) - b(tokens)).abs().max().detach()),
    ("04.parity", "with gradients", diff_with(lambda d: d.abs().max(), no_grad=False)),
    ("04.parity", "eval() first", diff_with(lambda d: d.abs().max(), evaluate=True)),
]


def messages() -> set[str]:
    """Every N_() message of checks.py: what judge() may answer."""
    tree = ast.parse(Path(checks.__file__).read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "N_"
        and isinstance(node.args[0], ast.Constant)
    }


PROBLEMS = messages()


def lines(records: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r) for r in records]


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The record file the grader names; its seed left unset: the learner's own."""
    path = tmp_path / "checks.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(path))
    monkeypatch.delenv(SEED_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def judged(path: Path, at: int = DEFAULT_SEED) -> dict[str, str | None]:
    return checks.judge(path.read_text().splitlines(), at)


def test_every_check_has_its_right_code_and_its_wrong_ones() -> None:
    assert set(RIGHT) == set(CHECKS) == {name for name, _label, _value in WRONG}


# --- The right code passes; the wrong code fails, in the notebook and before the judge --------------


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_right_code_passes_in_the_notebook_and_before_the_judge(
    name: str, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check(name, RIGHT[name])
    assert capsys.readouterr().out == f"✓ {name}\n"
    (line,) = recorded.read_text().splitlines()
    assert set(json.loads(line)) == {"check", "data"} and json.loads(line)["check"] == name
    assert judged(recorded) == {name: None}


@pytest.mark.parametrize(("name", "value"), [pytest.param(n, v, id=f"{n}: {why}") for n, why, v in WRONG])
def test_a_constant_the_printed_number_and_a_wrong_implementation_fail(
    name: str, value: Any, recorded: Path
) -> None:
    with pytest.raises(NotYet, match=rf"^{name}: not yet\. .* Hint: "):
        check(name, value)
    problem = judged(recorded)[name]
    assert problem in PROBLEMS, problem  # a fixed message: no hidden input, no expected value
    for other in (1, 2):  # and at the grader's seeds
        assert checks.judge(lines([checks.record(name, value, other)]), other)[name] in PROBLEMS


@pytest.mark.parametrize("name", list(CHECKS))
def test_a_record_holds_for_its_own_seed_only(name: str) -> None:
    line = lines([checks.record(name, RIGHT[name], 11)])
    assert checks.judge(line, 11) == {name: None}
    assert checks.judge(line, 12)[name] in PROBLEMS
    assert checks.judge(line, DEFAULT_SEED)[name] in PROBLEMS


def test_the_grader_seed_comes_from_the_environment(recorded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEED_ENV, "20261203")
    check("01.break_even", break_even_rank)
    assert judged(recorded, 20261203) == {"01.break_even": None}
    assert judged(recorded, DEFAULT_SEED) == {"01.break_even": "The rank is wrong for some shape."}


def test_every_record_of_a_check_must_be_right(recorded: Path) -> None:
    check("01.per_linear", lora_params_per_linear)
    with pytest.raises(NotYet):
        check("01.per_linear", lambda d_in, d_out, r: 1024)
    check("01.per_linear", lora_params_per_linear)
    assert judged(recorded) == {"01.per_linear": "The count is wrong for some shape or rank."}


def test_code_that_raises_is_recorded_and_fails(recorded: Path) -> None:
    def broken(d_in: int, d_out: int, r: int) -> int:
        raise NotImplementedError("TODO: write this part")

    with pytest.raises(NotYet, match="your code raised NotImplementedError: TODO: write this part"):
        check("01.per_linear", broken)
    assert json.loads(recorded.read_text())["raised"] == "NotImplementedError: TODO: write this part"
    assert judged(recorded) == {"01.per_linear": checks.RAISED}


def test_the_messages_are_in_the_workspace_language(recorded: Path) -> None:
    (recorded.parent / "learner.toml").write_text('language = "es"\n')
    with pytest.raises(NotYet, match=r"^01.per_linear: todavía no\. El recuento falla .* Pista: A es r × in"):
        check("01.per_linear", lambda d_in, d_out, r: r * d_in)
    es = gettext_for("es")
    untranslated = sorted(m for m in PROBLEMS | {c.hint for c in CHECKS.values()} if es(m) == m)
    assert not untranslated, untranslated


def time_forward_imported(model: nn.Module, tokens: torch.Tensor, repeats: int = 5) -> float:
    """`from time import perf_counter`, as some learners write it."""
    times = []
    with torch.no_grad():
        model(tokens)
        for _ in range(repeats):
            start = perf_counter()
            model(tokens)
            times.append(perf_counter() - start)
    return min(times)


def time_forward_ns(model: nn.Module, tokens: torch.Tensor, repeats: int = 5) -> float:
    with torch.no_grad():
        model(tokens)
        times = []
        for _ in range(repeats):
            start = time.perf_counter_ns()
            model(tokens)
            times.append(time.perf_counter_ns() - start)
    return min(times) / 1e9


@pytest.mark.parametrize("value", [time_forward_imported, time_forward_ns], ids=lambda f: f.__name__)
def test_timing_takes_any_spelling_of_perf_counter(value: Any, recorded: Path) -> None:
    real = time.perf_counter
    check("03.timing", value)
    assert judged(recorded) == {"03.timing": None}
    assert time.perf_counter is real and perf_counter is real  # the clocks are the machine's again


def test_a_check_leaves_the_notebook_random_numbers_and_threads_alone(recorded: Path) -> None:
    torch.manual_seed(3)
    want = torch.rand(4)
    torch.manual_seed(3)
    threads = torch.get_num_threads()
    for name in ("02.step", "03.merge", "04.parity"):
        check(name, RIGHT[name])
    assert torch.equal(torch.rand(4), want) and torch.get_num_threads() == threads


def test_judging_a_workspace_takes_well_under_two_seconds() -> None:
    records = lines([checks.record(name, value, 31) for name, value in RIGHT.items()])
    checks.judge(lines([checks.record(name, value, 32) for name, value in RIGHT.items()]), 32)  # imports
    start = time.process_time()
    verdicts = checks.judge(records, 31)
    seconds = time.process_time() - start
    assert verdicts == dict.fromkeys(CHECKS)
    assert seconds < 2.0, f"judging 12 records took {seconds:.2f} s of CPU"


def test_the_inputs_are_the_same_on_every_cpu(tmp_path: Path) -> None:
    """Records made with PyTorch's scalar kernels and another thread count pass the judge here."""
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_checks import RIGHT
        from minituner.course import checks
        print("\\n".join(json.dumps(checks.record(n, v, 41)) for n, v in RIGHT.items()))
        """
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert checks.judge(done.stdout.splitlines(), 41) == dict.fromkeys(CHECKS)


# --- Nothing the learner's kernel does makes a check pass --------------------------------------------


def test_a_redefined_check_passes_nothing(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cell that redefines check() prints ✓ and writes a record of the right code's data, replayed
    from the learner's own run: right for the learner's inputs, not for the grader's."""
    replayed = {name: checks.record(name, value, DEFAULT_SEED) for name, value in RIGHT.items()}

    def check(name: str, value: Any) -> None:
        print(f"✓ {name}")
        with open(os.environ[RECORD_ENV], "a") as f:
            f.write(json.dumps(replayed[name]) + "\n")

    for name in CHECKS:
        check(name, None)
    assert capsys.readouterr().out.count("✓") == len(CHECKS)
    verdicts = judged(recorded, 20261204)
    assert set(verdicts) == set(CHECKS) and all(v in PROBLEMS for v in verdicts.values()), verdicts


def test_a_silent_redefined_check_leaves_no_record(recorded: Path) -> None:
    def check(name: str, value: Any) -> None:
        print(f"✓ {name}")

    for name in CHECKS:
        check(name, None)
    assert not recorded.exists() or judged(recorded) == {}  # the grader fails a check with no record


def test_a_patched_checks_module_passes_nothing(
    recorded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def anything(value: Any, seed: int) -> Any:
        return 0

    def nothing_wrong(data: Any, seed: int) -> None:
        return None

    for name in CHECKS:
        monkeypatch.setitem(checks.CHECKS, name, Check(anything, nothing_wrong, ""))
    monkeypatch.setattr(checks, "_per_linear_judge", nothing_wrong)
    for name in CHECKS:
        check(name, None)
    assert capsys.readouterr().out.count("✓") == len(CHECKS)
    for _ in ("patched", "as in the grader's own process"):
        verdicts = judged(recorded)  # judge() uses the checks as they were at import
        assert verdicts.keys() == CHECKS.keys() and all(v in PROBLEMS for v in verdicts.values())
        monkeypatch.undo()


def test_a_shadow_package_beside_the_notebooks_passes_nothing(tmp_path: Path) -> None:
    """A `minituner/` folder beside the notebooks comes first on the kernel's path."""
    shadow = tmp_path / "minituner" / "course"
    shadow.mkdir(parents=True)
    (tmp_path / "minituner" / "__init__.py").write_text("")
    (shadow / "__init__.py").write_text("")
    (shadow / "checks.py").write_text(
        textwrap.dedent(
            """
            import json, os

            def check(name, value):
                print("✓", name)
                with open(os.environ["MINITUNER_CHECK_RECORD"], "a") as f:
                    f.write(json.dumps({"check": name, "data": 1}) + "\\n")
            """
        )
    )
    record = tmp_path / "checks.jsonl"
    code = f"from minituner.course.checks import check\nfor n in {list(CHECKS)!r}:\n    check(n, None)"
    env = {**os.environ, RECORD_ENV: str(record), SEED_ENV: "7"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count("✓") == len(CHECKS), done.stderr
    verdicts = judged(record, 7)
    assert verdicts.keys() == CHECKS.keys() and all(v is not None for v in verdicts.values())


def test_a_swallowed_not_yet_still_fails(recorded: Path) -> None:
    """IPython's set_custom_exc can hide every error of a cell: the record is still there."""
    try:
        check("03.timing", lambda model, tokens, repeats=5: 0.0042)
    except NotYet:
        pass
    assert judged(recorded) == {"03.timing": "Do one warm-up pass, then time exactly `repeats` passes."}


GARBAGE: list[Any] = [
    "",
    "✓ 01.per_linear",
    "not json",
    "[]",
    "null",
    '"01.per_linear"',
    '{"check": "01.per_linear"}',
    '{"check": "01.per_linear", "data": 1, "raised": "x"}',
    '{"check": "01.per_linear", "data": 1, "seed": 28}',
    '{"check": "01.per_linear", "raised": 5}',
    '{"check": "99.everything", "data": 1}',
    '{"check": 1, "data": 1}',
    '{"check": ["01.per_linear"], "data": 1}',
    "[" * 100_000 + "]" * 100_000,
    json.dumps({"check": "01.per_linear", "data": [1] * 400_000}),
    b'{"check": "01.per_linear", "data": [1]}',
    None,
    7,
]


def test_lines_that_are_not_records_are_ignored() -> None:
    assert checks.judge(GARBAGE, DEFAULT_SEED) == {}
    right = lines([checks.record("01.per_linear", lora_params_per_linear, DEFAULT_SEED)])
    assert checks.judge(GARBAGE + right + GARBAGE, DEFAULT_SEED) == {"01.per_linear": None}


WRONG_SHAPES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    1e308,
    "✓",
    "NaN",
    [],
    {},
    [None] * 8,
    [1] * 8,
    [[1]] * 8,
    [1e400] * 8,
    {"losses": [1.0], "adapter": [], "frozen": []},
    {"files": [], "saved": {}, "loaded": {}},
    {"seconds": 0.05, "calls": 4, "grad": [False] * 4},
    {"out": {}, "given": {}},
    {"values": [0.1, 0.2, 0.3], "grad": [False], "modes": []},
    {"'a'": {"trainable": 1}},
]


@pytest.mark.parametrize("name", list(CHECKS))
def test_data_of_any_other_shape_fails(name: str) -> None:
    records = [json.dumps({"check": name, "data": data}) for data in WRONG_SHAPES]
    records.append(json.dumps({"check": name, "data": 0}).replace("0}", "NaN}"))
    for line in records:
        assert checks.judge([line], DEFAULT_SEED)[name] in PROBLEMS, line


def test_judge_never_runs_what_a_record_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No eval, exec, compile, pickle, marshal or torch.load ever sees a byte of a record."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.touch, (marker,))

    source = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    pickled = base64.b64encode(pickle.dumps(Payload())).decode()
    payloads: list[Any] = [source, pickled, pickle.dumps(Payload()).decode("latin-1"), {source: pickled}]
    seen: list[str] = []

    def watch(module: Any, attr: str) -> None:
        real = getattr(module, attr)

        def watched(*args: Any, **kwargs: Any) -> Any:
            if any(str(marker) in repr(a) or pickled in repr(a) for a in (*args, *kwargs.values())):
                seen.append(attr)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, attr, watched)

    for module, attr in [
        (builtins, "eval"),
        (builtins, "exec"),
        (builtins, "compile"),
        (pickle, "loads"),
        (pickle, "load"),
        (marshal, "loads"),
        (torch, "load"),
    ]:
        watch(module, attr)
    records = [json.dumps({"check": name, "raised": source}) for name in CHECKS]
    for name in CHECKS:
        for payload in payloads:
            records += [
                json.dumps({"check": name, "data": d}) for d in (payload, [payload] * 8, {"x": payload})
            ]
    records.append(json.dumps({"check": source, "data": pickled}))
    verdicts = checks.judge(records, DEFAULT_SEED)
    assert verdicts.keys() == CHECKS.keys() and all(v in PROBLEMS for v in verdicts.values())
    assert not marker.exists() and not seen
