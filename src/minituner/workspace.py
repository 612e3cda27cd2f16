"""Learner workspaces: learners/NAME/phase-28/ with exercise notebooks, a lora.py to write, and notes.

Exercise notebooks are generated from the reference notebooks: the code between
`### BEGIN SOLUTION` and `### END SOLUTION` becomes a TODO that raises NotImplementedError, check
cells (those starting with `# Check`) keep their reference outputs and are marked for nbval, and
every other output is cleared.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .breaks import CATALOGUE, NAME, PROMPT, ROOT

EXERCISES = ["00-lora-by-hand"]  # the notebooks with TODO cells
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.S | re.M)
TODO = {"en": "TODO: write this part (lab 00)", "es": "TODO: escribe esta parte (laboratorio 00)"}

LORA_SKELETON = '''"""My LoRA, written by hand (lab 00). Check it with:
    pytest tests/test_minituner.py --impl learners/{name}/phase-28/lab/lora.py
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
                 freeze_base: bool = True) -> None:
        super().__init__()
        raise NotImplementedError("{todo}")

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError("{todo}")

    def merge_(self, safe: bool = False) -> None:
        raise NotImplementedError("{todo}")

    def unmerge_(self) -> None:
        raise NotImplementedError("{todo}")


TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")


def wrap_minigpt_with_lora(model: nn.Module, r: int = 8, alpha: float = 16.0,
                           target_modules: Iterable[str] = TARGETS, dropout: float = 0.0) -> nn.Module:
    raise NotImplementedError("{todo}")


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    raise NotImplementedError("{todo}")


def load_lora_state_dict(model: nn.Module, state: dict[str, Tensor]) -> None:
    raise NotImplementedError("{todo}")
'''

README = {
    "en": """# {name}: your phase-28 workspace

1. Read `lab/00-lora-by-hand.md` on the site, then fill in the TODO cells of
   `notebooks/00-lora-by-hand.ipynb` in JupyterLab (`make lab`). Do not edit the `# Check` cells.
2. Write the same code in `lab/lora.py` and run the contract on it:
   `pytest tests/test_minituner.py --impl learners/{name}/phase-28/lab/lora.py`
3. Record your measured values in `notes/notes.md`.
4. For each /break: `minituner break start ID --learner {name}` asks for your prediction in
   `notes/breaks.md` first.
""",
    "es": """# {name}: tu espacio de trabajo de la fase 28

1. Lee `lab/00-lora-by-hand.es.md` en el sitio y completa las celdas TODO de
   `notebooks/00-lora-by-hand.ipynb` en JupyterLab (`make lab`). No edites las celdas `# Check`.
2. Escribe el mismo código en `lab/lora.py` y pasa el contrato sobre él:
   `pytest tests/test_minituner.py --impl learners/{name}/phase-28/lab/lora.py`
3. Anota tus valores medidos en `notes/notes.md`.
4. Para cada /break: `minituner break start ID --learner {name}` te pide antes tu predicción en
   `notes/breaks.md`.
""",
}

NOTES = {
    "en": "# Lab 00 — measured values\n\n- initial output diff:\n"
    "- post-merge diff:\n- trainable parameters of Linear(64, 64) at r=8:\n",
    "es": "# Laboratorio 00 — valores medidos\n\n- diferencia inicial de salida:\n"
    "- diferencia tras fusionar:\n- parámetros entrenables de Linear(64, 64) con r=8:\n",
}


def is_check(cell: dict[str, Any]) -> bool:
    source = "".join(cell["source"]).lstrip().removeprefix(CHECK_MARK).lstrip()
    return cell["cell_type"] == "code" and source.startswith("# Check")


def exercise(reference: dict[str, Any], lang: str, keep_solutions: bool = False) -> dict[str, Any]:
    """A learner's copy of a reference notebook (solutions kept only for the worked example)."""
    nb: dict[str, Any] = json.loads(json.dumps(reference))
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if is_check(cell):
            cell["source"] = source if source.startswith(CHECK_MARK) else f"{CHECK_MARK}\n{source}"
            continue
        if not keep_solutions:
            source = SOLUTION.sub(
                lambda m: f'{m.group(1)}raise NotImplementedError("{TODO[lang]}")\n', source
            )
        cell["source"], cell["outputs"], cell["execution_count"] = source, [], None
    return nb


def reference_notebook(name: str, lang: str) -> dict[str, Any]:
    suffix = ".es.ipynb" if lang == "es" else ".ipynb"
    return dict(json.loads((ROOT / "notebooks" / f"{name}{suffix}").read_text()))


def new(name: str, lang: str = "en", learners: Path | None = None, keep_solutions: bool = False) -> Path:
    """Create learners/NAME/phase-28/; an existing workspace is never touched."""
    if not NAME.fullmatch(name):
        raise ValueError(f"learner name {name!r}: use 1-32 lowercase letters, digits, '-' or '_'")
    if lang not in TODO:
        raise ValueError(f"language {lang!r}: expected one of {sorted(TODO)}")
    home = (learners or ROOT / "learners") / name / "phase-28"
    if home.parent.exists():
        raise FileExistsError(f"{home.parent} already exists; nothing was changed")
    for sub in ("notebooks", "lab", "notes"):
        (home / sub).mkdir(parents=True)
    for nb in EXERCISES:
        text = json.dumps(
            exercise(reference_notebook(nb, lang), lang, keep_solutions), indent=1, ensure_ascii=False
        )
        (home / "notebooks" / f"{nb}.ipynb").write_text(text + "\n")
    (home / "lab" / "lora.py").write_text(LORA_SKELETON.format(name=name, todo=TODO[lang]))
    (home / "notes" / "notes.md").write_text(NOTES[lang])
    sections = "".join(
        f"\n## Break {b.id} — {b.title if lang == 'en' else b.title_es}\n\n{PROMPT}\n" for b in CATALOGUE
    )
    (home / "notes" / "breaks.md").write_text(f"# Break predictions\n{sections}")
    (home / "README.md").write_text(README[lang].format(name=name))
    return home
