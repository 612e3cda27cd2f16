from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from minituner.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_prints_the_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert "103,680" in out and "LoRA = 2304·r" in out and "18,432" in out
    assert "blocks.1.mlp.fc2.weight" in out


def test_info_in_spanish(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "info", "--lang", "es")  # --lang goes anywhere on the line
    assert "parámetros" in out and "103,680" in out


def test_finetune_prints_what_it_measured(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "finetune", "--r", "2", "--steps", "5", "--save", str(tmp_path / "a"))
    assert code == 0
    for label in ("irregular accuracy", "regular retention", "trainable parameters: 4,608", "wall time"):
        assert label in out
    assert (tmp_path / "a" / "adapter.safetensors").is_file()
    code, out, _ = run(capsys, "eval", "--adapter", str(tmp_path / "a"))
    assert code == 0 and "held-out regular accuracy" in out and "futuro" in out


def test_irregular_accuracy_is_labelled_as_the_training_cells(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The 120 irregular cells are what a fine-tune trains on: the label says so, in both languages."""
    _, out, _ = run(capsys, "finetune", "--r", "1", "--steps", "1", "--save", str(tmp_path / "a"))
    assert "irregular accuracy (the 120 training cells): " in out
    _, out, _ = run(capsys, "eval", "--adapter", str(tmp_path / "a"), "--lang", "es")
    assert "exactitud irregular (las 120 celdas de entrenamiento): " in out
    _, out, _ = run(capsys, "finetune", "--r", "1", "--steps", "1", "--lang", "es")
    assert "tiempo de reloj: " in out and "tiempo real" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["finetune", "--r", "0"], "expected an integer >= 1, got 0"),
        (["finetune", "--r", "2.5"], "expected an integer >= 1, got '2.5'"),
        (["finetune", "--alpha", "-1"], "expected a number > 0, got -1"),
        (["launch"], "invalid choice: 'launch'"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_is_one_line_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "eval", "--checkpoint", "nowhere.safetensors")
    assert code == 1
    assert err == "minituner: error: checkpoint not found: nowhere.safetensors\n"


def test_corrupt_adapter_in_spanish(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "minituner_config.json").write_text("{not json")
    code, _, err = run(capsys, "--lang", "es", "eval", "--adapter", str(tmp_path))
    assert code == 1 and err.startswith("minituner: error: ") and "Traceback" not in err
    assert err.count("\n") == 1


def test_console_script_and_module_agree() -> None:
    a = subprocess.run(
        [sys.executable, "-m", "minituner", "info"], capture_output=True, text=True, check=True
    )
    assert "103,680" in a.stdout


@pytest.mark.parametrize(
    ("argv", "english", "spanish"),
    [
        (["break", "run", "99", "--learner", "ana"], "unknown break '99'", "break desconocido '99'"),
        (["break", "list", "--learner", "Ana!"], "learner name 'Ana!'", "nombre de estudiante 'Ana!'"),
        (["grade", "nowhere"], "no such folder: nowhere", "no existe la carpeta: nowhere"),
    ],
)
def test_bad_input_is_one_line_in_both_languages(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], english: str, spanish: str
) -> None:
    (tmp_path / "learners").mkdir()
    for lang, message in (("en", english), ("es", spanish)):
        code, _, err = run(capsys, *argv, "--course", str(tmp_path), "--lang", lang)
        assert code == 1 and err.startswith("minituner: error: ") and message in err, err
        assert err.count("\n") == 1


def test_a_workspace_that_exists_and_a_learner_copy_that_raises_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    course = ["--course", str(tmp_path)]
    assert run(capsys, "learner", "new", "ana", *course)[0] == 0
    code, _, err = run(capsys, "learner", "new", "ana", *course, "--lang", "es")
    assert code == 1 and err.endswith("ya existe; no se ha cambiado nada\n") and err.count("\n") == 1
    copy = tmp_path / "learners" / "ana" / "phase-28" / "breaks" / "00" / "lora.py"
    copy.parent.mkdir(parents=True)
    copy.write_text("def broken(:\n")
    code, _, err = run(capsys, "break", "run", "00", "--learner", "ana", *course)
    assert code == 1 and f"{copy} raised SyntaxError: " in err and err.count("\n") == 1


def test_an_adapter_config_of_the_wrong_type_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """r = "8" passes int() but not LoRALinear (a TypeError): told as the adapter's fault, in one line."""
    run(capsys, "finetune", "--r", "1", "--steps", "1", "--save", str(tmp_path))
    config = tmp_path / "minituner_config.json"
    config.write_text(config.read_text().replace('"r": 1', '"r": "1"'))
    code, _, err = run(capsys, "eval", "--adapter", str(tmp_path))
    assert code == 1 and f"{tmp_path} does not fit a Mini-GPT: LoRA rank r must be an int" in err
    assert err.count("\n") == 1


def test_a_bug_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only bad input is told in one line: a TypeError or a plain ValueError of minituner's own code
    keeps its traceback."""
    import minituner.cli

    for bug in (TypeError("a bug"), ValueError("a bug"), KeyError("a bug")):

        def broken(args: object, lang: str, bug: Exception = bug) -> int:
            raise bug

        monkeypatch.setattr(minituner.cli, "cmd_info", broken)
        with pytest.raises(type(bug), match="a bug"):
            main(["info"])


def test_pretrain_refuses_an_output_folder_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "pretrain", "--out", str(tmp_path / "no" / "base.safetensors"))
    assert code == 1 and err == f"minituner: error: no such folder: {tmp_path / 'no'}\n"


def test_a_contract_run_writes_nothing_beside_the_learners_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """pytest imports the learner's lora.py in `python -I -B`: no __pycache__ appears in their folder."""
    from minituner import lora

    copy = tmp_path / "lora.py"
    copy.write_text(Path(lora.__file__).read_text())
    code, out, _ = run(capsys, "contract", str(copy), "-k", "test_merge_equivalence")
    assert code == 0 and "pass" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lora.py"]
