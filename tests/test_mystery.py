"""The mystery break: a break the learner has not done, unnamed until the reveal; the diagnosis comes
before `check` and before the reveal, and the grader judges it against the break's clues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from minituner import i18n
from minituner.cli import main
from minituner.course import breaks, feedback, grading, mystery, workspace
from minituner.course.rubric import Rubric
from minituner.course.verdict import Status
from minituner.course.workspace import Learner

PRISTINE = breaks.LORA_FILE.read_text()

# What a learner would write for each break, in English and in Spanish: each names its own cause and
# no other break's.
RIGHT = {
    "00": (
        "The guard `if r < 1: raise ValueError(...)` was deleted from __init__, so r=0 builds an empty "
        "adapter instead of being refused.",
        "Se borró la comprobación `if r < 1: raise ValueError(...)` de __init__: con rango 0 se construye "
        "un adaptador vacío en lugar de rechazarlo.",
    ),
    "01": (
        "lora_B is initialised with torch.randn instead of torch.zeros, so ΔW is not zero at step 0.",
        "lora_B se inicializa con torch.randn en vez de torch.zeros: ΔW no es cero en el paso 0.",
    ),
    "02": (
        "`self.scaling = self.alpha` should be `self.alpha / r`: the update is not divided by the rank.",
        "`self.scaling = self.alpha` debería ser `self.alpha / r`: la actualización no se divide entre r.",
    ),
    "03": (
        "`base.requires_grad_(False)` and `model.requires_grad_(False)` were removed: the base model is "
        "not frozen and every weight trains.",
        "Se quitaron `base.requires_grad_(False)` y `model.requires_grad_(False)`: el modelo base no está "
        "congelado y se entrena entero.",
    ),
    "04": (
        "forward calls F.dropout(x, self.p), which drops inputs whatever the mode: dropout stays active in "
        "eval.",
        "forward llama a F.dropout(x, self.p), que descarta entradas sea cual sea el modo: sigue activo en "
        "modo eval.",
    ),
    "05": (
        "merge_() neither checks nor sets `self.merged = True`, so forward adds ΔW twice after a merge.",
        "merge_() ni mira ni pone `self.merged = True`, así que forward suma ΔW dos veces tras fusionar.",
    ),
    "06": (
        "The check of the `unmatched` names is gone, so a typo in target_modules (q_porj) wraps no layer.",
        "Falta la comprobación de `unmatched`: una errata en target_modules (q_porj) no envuelve ninguna "
        "capa.",
    ),
    "07": (
        "delta_weight returns lora_A.T @ lora_B.T, the transpose of the product: a 64 -> 256 layer crashes.",
        "delta_weight devuelve lora_A.T @ lora_B.T, el producto traspuesto: una capa 64 -> 256 falla.",
    ),
    "08": (
        "load_lora_state_dict calls load_state_dict(state, strict=False) and skips unexpected keys, so "
        "renamed keys load nothing.",
        "load_lora_state_dict llama a load_state_dict(state, strict=False) y omite las claves renombradas: "
        "no carga nada.",
    ),
    "09": (
        "merge_() adds the weights in float16 (.half()), so the merged layer keeps a few correct decimals.",
        "merge_() suma los pesos en float16 (.half()): la capa fusionada conserva pocos decimales correctos.",
    ),
}


def cli(capsys: pytest.CaptureFixture[str], course: Path, *args: str) -> tuple[int, str, str]:
    """The command line, in this process (as `minituner ...` runs it, without a new interpreter)."""
    code = main([*args, "--course", str(course)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    yield
    i18n.use("en")  # main() with --lang es leaves the messages in Spanish for the next test


def started(course: Path, name: str, lang: str, done: list[str]) -> Learner:
    """A new workspace in which the breaks `done` were started after a prediction, as `start` does."""
    learner = Learner(course, name)
    workspace.new(learner, lang)
    for break_id in done:
        lines = learner.notes.read_text().splitlines(keepends=True)
        heading = next(i for i, line in enumerate(lines) if line.startswith(f"## Break {break_id} "))
        lines.insert(heading + 1, "It will fail.\n")  # the learner's prediction, under its heading
        learner.notes.write_text("".join(lines))
        assert workspace.start_break(learner, breaks.get(break_id))[0]
    return learner


def with_mystery(course: Path, name: str, lang: str, break_id: str) -> Learner:
    """A workspace whose mystery break is `break_id` (its choice recorded as `take` records it)."""
    learner = started(course, name, lang, [])
    mystery.log(learner, "applied", sealed=mystery.seal(break_id))
    mystery.take(learner)
    return learner


def diagnose(learner: Learner, text: str) -> None:
    with learner.notes.open("a") as f:  # the diagnosis heading is the last section of the notes
        f.write(text + "\n")


def names(brk: breaks.Break) -> list[str]:
    """What would name a break: its id as the log or a message would write it, its slug, its titles."""
    spanish = i18n.gettext_for("es")
    return [f'"{brk.id}"', f"break {brk.id}", f"Break {brk.id}", brk.slug, brk.title, spanish(brk.title)]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("course")
    (folder / "learners").mkdir()
    return folder


# --- the round trip, as a learner runs it --------------------------------------------------------


@pytest.mark.slow
def test_round_trip_mystery_run_check_diagnose_fix_reveal(
    course: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learner = started(course, "ana", "en", [b.id for b in breaks.CATALOGUE if b.id != "07"])
    brk, home = breaks.get("07"), learner.home
    copy = home / "breaks/mystery/lora.py"
    code, _, err = cli(capsys, course, "break", "run", "mystery", "--learner", "ana")
    assert code == 1 and "no mystery break for ana yet" in err

    code, out, _ = cli(capsys, course, "break", "mystery", "--learner", "ana")
    assert code == 0 and f"your mystery break is in {copy}" in out
    assert "## Mystery — diagnosis" in out and str(learner.notes) in out
    assert copy.read_text() == breaks.apply(PRISTINE, brk)  # the only break ana had not done
    printed = [out]

    code, out, _ = cli(capsys, course, "break", "run", "mystery", "--learner", "ana")
    assert code == 0 and out.splitlines() == breaks.observe("07", breaks.broken_module("07"))
    printed.append(out)

    for action in ("check", "reveal"):  # no diagnosis yet: both refuse, and say where to write it
        code, out, err = cli(capsys, course, "break", action, "mystery", "--learner", "ana")
        assert code == 1 and not out
        assert f"write your diagnosis under '## Mystery — diagnosis' in {learner.notes}" in err
        printed.append(err)
    assert "--give-up" in err

    diagnose(learner, RIGHT["07"][0])
    code, out, _ = cli(capsys, course, "break", "check", "mystery", "--learner", "ana")
    assert code == 1 and out.startswith("mystery break: the contract tests: fail: test_")
    assert "see break" not in out  # a named break's check points at its page: this one must not
    printed.append(out)

    fixed = breaks.revert(copy.read_text(), brk) + "# my fix\n"
    copy.write_text(fixed)
    code, out, _ = cli(capsys, course, "break", "check", "mystery", "--learner", "ana")
    assert (code, out) == (0, "mystery break: the contract tests: pass\n")
    code, out, _ = cli(capsys, course, "break", "mystery", "--learner", "ana")  # again: the same one
    assert code == 0 and "already in" in out and copy.read_text() == fixed
    listing = cli(capsys, course, "break", "list", "--learner", "ana")[1].splitlines()[-1]
    assert listing.startswith("mystery  a break you have not done, not named") and listing.endswith("fixed")
    printed += [out, listing]

    log = learner.log_file.read_text().splitlines()
    mine = [line for line in log if '"mystery"' in line]
    for text in [*printed, *mine, (home / "notes/breaks.md").read_text().split("## Mystery")[1], fixed]:
        assert not [n for n in names(brk) if n in text], text  # nothing names it before the reveal
    assert {p.name for p in copy.parent.iterdir()} - {"__pycache__"} == {"lora.py"}  # pytest's, of lora.py

    code, out, _ = cli(capsys, course, "break", "reveal", "mystery", "--learner", "ana")
    assert code == 0 and out.splitlines() == [
        "the mystery break is break 07 — Merge with B·A transposed (its page: break/07-merge-transposed.md)",
        "your diagnosis, as it was at the first reveal, names its cause",
    ]
    listing = cli(capsys, course, "break", "list", "--learner", "ana")[1].splitlines()[-1]
    assert listing.startswith("mystery  = 07 — Merge with B·A transposed")
    assert json.loads(learner.log_file.read_text().splitlines()[-1])["event"] == "revealed"

    code, out, _ = cli(capsys, course, "break", "reset", "mystery", "--learner", "ana")
    assert code == 0 and "your edits of lora.py are kept in" in out
    assert Path(out.strip().rsplit(" ", 1)[-1]).read_text() == fixed  # nothing the learner wrote is lost
    assert copy.read_text() == breaks.apply(PRISTINE, brk)
    part = grading.grade_breaks(learner.workspace).parts[-1]
    assert (part.where, part.status, part.args) == ("mystery", Status.PASS, {"id": "07"})


def test_in_spanish_every_message_and_symptom(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    learner = started(course, "bea", "es", [])
    code, out, _ = cli(capsys, course, "break", "mystery", "--learner", "bea", "--lang", "es")
    assert code == 0 and out.startswith("tu break misterioso está en ")
    assert "'## Misterio — diagnóstico'" in out and "muestra sus síntomas" in out
    assert learner.notes.read_text().rstrip().endswith("el calificador lo lee. -->")  # the notes' language
    brk = mystery.current(learner.workspace)
    assert brk is not None
    i18n.use("en")
    english = breaks.observe(brk.brk.id, breaks.broken_module(brk.brk.id))
    code, out, _ = cli(capsys, course, "break", "run", "mystery", "--learner", "bea", "--lang", "es")
    assert code == 0 and len(out.splitlines()) == len(english)
    assert all(es != en for es, en in zip(out.splitlines(), english, strict=True)), out  # translated
    code, out, err = cli(capsys, course, "break", "check", "mystery", "--learner", "bea", "--lang", "es")
    assert code == 1 and err.startswith("escribe tu diagnóstico bajo '## Misterio — diagnóstico' en ")
    code, out, err = cli(capsys, course, "break", "reveal", "mystery", "--learner", "bea", "--lang", "es")
    assert code == 1 and "pasa --give-up" in err
    code, _, err = cli(capsys, course, "break", "start", "mystery", "--learner", "bea", "--lang", "es")
    assert code == 1 and "el break misterioso no pide predicción" in err
    diagnose(learner, RIGHT[brk.brk.id][1])
    code, out, _ = cli(capsys, course, "break", "reveal", "mystery", "--learner", "bea", "--lang", "es")
    title = i18n.gettext_for("es")(brk.brk.title)
    page = f"break/{brk.brk.id}-{brk.brk.slug}.md"
    assert code == 0 and out.splitlines() == [
        f"el break misterioso es el break {brk.brk.id} — {title} (su página: {page})",
        "tu diagnóstico, tal como estaba en la primera revelación, nombra su causa",
    ]


# --- which break, and the learner's files ------------------------------------------------------------


def test_the_mystery_is_a_break_not_done_and_stays_the_same(
    course: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learner = started(course, "cai", "en", ["00", "03", "05"])
    picked = set()
    for _ in range(3):
        taken = mystery.take(learner)
        known = mystery.current(learner.workspace)
        assert known is not None and not taken.again
        picked.add(known.brk.id)
    assert len(picked) == 1 and picked <= {b.id for b in breaks.CATALOGUE} - {"00", "03", "05"}
    assert sum('"applied"' in line for line in learner.log_file.read_text().splitlines()) == 4
    taken_file = learner.home / "breaks/mystery/lora.py"
    taken_file.unlink()  # lost: `mystery` writes the same break again
    mystery.take(learner)
    assert taken_file.read_text() == breaks.apply(PRISTINE, breaks.get(picked.pop()))

    every = started(course, "dan", "en", [b.id for b in breaks.CATALOGUE])
    code, out, _ = cli(capsys, course, "break", "mystery", "--learner", "dan")
    assert code == 0 and out.startswith("you have done every break: this mystery is one of them again")
    assert json.loads(every.log_file.read_text().splitlines()[-1])["again"] is True


def test_a_file_without_a_record_is_never_overwritten(
    course: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learner = started(course, "eve", "en", [])
    mine = learner.home / "breaks/mystery/lora.py"
    mine.parent.mkdir(parents=True)
    mine.write_text("# my own experiment\n")
    notes = learner.notes.read_text()
    code, _, err = cli(capsys, course, "break", "mystery", "--learner", "eve")
    assert code == 1 and "the break log has no mystery break; move it away" in err
    assert err.count("\n") == 1 and mine.read_text() == "# my own experiment\n"
    assert learner.notes.read_text() == notes and not learner.log_file.exists()


# --- the grade ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "es"])
def test_each_right_diagnosis_names_its_break_and_no_other(lang: str) -> None:
    for brk in breaks.CATALOGUE:
        text = RIGHT[brk.id][lang == "es"]
        assert mystery.names_cause(text, brk, lang), (brk.id, text)
        for other in breaks.CATALOGUE:
            if other != brk:
                assert not mystery.names_cause(text, other, lang), (brk.id, other.id, text)
    assert not mystery.names_cause("", breaks.get("00"), lang)
    assert not mystery.names_cause("I have no idea what is wrong.", breaks.get("00"), lang)


def test_the_match_ignores_case_accents_and_spaces_and_knows_the_language() -> None:
    transposed = breaks.get("07")
    assert mystery.names_cause("DELTA_WEIGHT: LORA_A.T@LORA_B.T", transposed, "en")
    assert mystery.names_cause("El producto está TRASPUESTO.", transposed, "es")
    assert mystery.names_cause("El producto esta traspuesto.", transposed, "es")  # without the accent
    assert not mystery.names_cause("El producto está traspuesto.", transposed, "en")  # a Spanish word
    assert mystery.names_cause("The product is transposed.", transposed, "es")  # English counts too
    scaling = breaks.get("02")
    assert mystery.names_cause("scaling=self.alpha, not α/r", scaling, "en")


def test_a_right_and_a_wrong_diagnosis_are_graded_differently(tmp_path: Path) -> None:
    (tmp_path / "learners").mkdir()

    def part(learner: Learner) -> tuple[Status, str]:
        verdict = grading.grade_breaks(learner.workspace)
        assert [p.where for p in verdict.parts] == [*(b.id for b in breaks.CATALOGUE), "mystery"]
        return verdict.parts[-1].status, verdict.parts[-1].detail

    untaken = started(tmp_path, "none", "en", [])
    assert part(untaken) == (Status.MISSING, "no mystery break taken")
    right, wrong = with_mystery(tmp_path, "right", "es", "09"), with_mystery(tmp_path, "wrong", "en", "09")
    assert part(right) == (Status.MISSING, "no diagnosis written")
    diagnose(right, RIGHT["09"][1])
    diagnose(wrong, RIGHT["05"][0])  # another break's cause
    assert part(right) == (Status.PASS, "the diagnosis names the cause")
    assert part(wrong) == (Status.FAIL, "the diagnosis does not name the cause")
    rubric = Rubric.load()
    earned = [rubric.score("breaks", grading.grade_breaks(x.workspace))[0] for x in (right, wrong)]
    assert earned == [rubric.points("breaks", "mystery"), 0] and rubric.points("breaks", "mystery") == 2

    # The reveal records the diagnosis as it is: what is written after it never counts.
    assert mystery.reveal(wrong) is not None
    diagnose(wrong, RIGHT["09"][0])
    assert part(wrong) == (Status.FAIL, "the diagnosis does not name the cause")
    gave_up = with_mystery(tmp_path, "gave-up", "en", "09")
    assert mystery.reveal(gave_up) is None  # no diagnosis: no reveal, unless giving up
    shown = mystery.reveal(gave_up, give_up=True)
    assert shown is not None and shown.brk.id == "09" and not shown.named
    diagnose(gave_up, RIGHT["09"][0])
    assert part(gave_up) == (Status.FAIL, "revealed before a diagnosis was written")
    assert grading.grade_breaks(gave_up.workspace).status is Status.PASS  # the column: predictions only


def test_feedback_names_the_mystery_only_after_the_reveal(tmp_path: Path) -> None:
    (tmp_path / "learners").mkdir()
    brk = breaks.get("04")
    kinds = {"breaks": "breaks"}
    for lang in ("en", "es"):
        learner = with_mystery(tmp_path, f"fb-{lang}", lang, "04")
        diagnose(learner, RIGHT["04"][lang == "es"])
        row = {"breaks": grading.grade_breaks(learner.workspace)}
        before = "\n".join(feedback.lines(learner.name, row, Rubric.load(), lang, kinds))
        (line,) = [x for x in before.splitlines() if "break/mystery/" in x]
        said = {"en": "- ✓ [The mystery break](", "es": "- ✓ [El break misterioso]("}[lang]
        assert line.startswith(said) and line.endswith(
            {"en": ": the diagnosis names the cause", "es": ": el diagnóstico nombra la causa"}[lang]
        )
        assert brk.slug not in line and i18n.gettext_for(lang)(brk.title) not in line and "04" not in line
        mystery.reveal(learner)
        row = {"breaks": grading.grade_breaks(learner.workspace)}
        after = "\n".join(feedback.lines(learner.name, row, Rubric.load(), lang, kinds))
        assert f"04 — {i18n.gettext_for(lang)(brk.title)}]({feedback.break_link(brk, lang)})" in after
