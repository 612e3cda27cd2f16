"""The course's policy on a JupyterHub, one module for both deployments: `jupyterhub_config.py` (one
machine, `make hub`) and `z2jh-values.yaml` (Kubernetes, through `hub.extraConfig`).

It says which names a learner may sign up with, asks the language of a new workspace, builds the one
command that creates it (`minituner learner new NAME --lang LANG --course HOME`) and names the notebook
the learner's server opens on. It needs only the standard library: the hub image of Zero to
JupyterHub has no minituner, and `tests/test_hub.py` checks the constants below against
`minituner.course.workspace`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

PHASE = "phase-28"  # minituner.course.workspace.PHASE
FIRST_NOTEBOOK = "00-lora-by-hand"  # minituner.course.workspace.EXERCISES[0]
# A hub name is a learner's name (minituner's NAME) and, on a hub run as root, a system user's name,
# which useradd wants to start with a letter.
USERNAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
LANGUAGES = {"en": "English", "es": "Español"}
POD_HOME = "/home/jovyan"  # the learner's volume in a pod: singleuser.storage.homeMountPath
# JupyterLab's defaults for the course (deploy/lab-settings): the servers' argument that names them.
LAB_SETTINGS = "--LabApp.app_settings_dir="

# The spawn page's form, shown once: the language is kept with the hub's user (user_options) and the
# workspace, once created, keeps its own (learner.toml).
FORM = """
<p>Your workbooks are created the first time your server starts, in the language you choose here.
<br><em>Tus cuadernos de trabajo se crean la primera vez que arranca tu servidor, en el idioma que
elijas aquí.</em></p>
<div class="form-group">
  <label><input type="radio" name="lang" value="en" checked> English</label><br>
  <label><input type="radio" name="lang" value="es"> Español</label>
</div>
"""


def is_instructor(spawner: Any) -> bool:
    """The instructor is the hub's admin: no workspace, no form."""
    return bool(spawner.user.admin)


def language(spawner: Any) -> str:
    lang = (spawner.user_options or {}).get("lang")
    return lang if lang in LANGUAGES else "en"


def options_form(spawner: Any) -> str:
    """The language form, until the learner has chosen (then the server starts straight away)."""
    chosen = (spawner.user_options or {}).get("lang") in LANGUAGES
    return "" if is_instructor(spawner) or chosen else FORM


def options_from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
    lang = (formdata.get("lang") or ["en"])[0]
    return {"lang": lang if lang in LANGUAGES else "en"}


def apply_user_options(spawner: Any, user_options: dict[str, str]) -> None:
    """The language into the learner's environment (`minituner` in their terminal speaks it) and
    into JupyterLab's: a Spanish workspace opens in a Spanish JupyterLab, from the settings folder's
    es/ subfolder (the learner can still change it in Settings > Language)."""
    if is_instructor(spawner):
        return
    lang = language(spawner)
    spawner.environment = {**spawner.environment, "MINITUNER_LANG": lang}
    if lang != "en":  # idempotent: a spawner's args outlive a restart
        spawner.args = [
            f"{arg.removesuffix(f'/{lang}')}/{lang}" if arg.startswith(LAB_SETTINGS) else arg
            for arg in spawner.args
        ]


def workspace(name: str) -> str:
    """The learner's workspace, relative to their home (the course folder)."""
    return f"learners/{name}/{PHASE}"


def default_url(name: str, instructor: bool = False) -> str:
    """Where the server opens: the instructor on JupyterLab, a learner on their lab 00 notebook."""
    return "/lab" if instructor else f"/lab/tree/{workspace(name)}/notebooks/{FIRST_NOTEBOOK}.ipynb"


def new_workspace(name: str, lang: str, home: str, minituner: Sequence[str] = ("minituner",)) -> list[str]:
    """The command that creates a learner's workspace; the learner's home is the course folder."""
    return [*minituner, "learner", "new", name, "--lang", lang, "--course", home]


def post_start(name: str, lang: str, home: str = POD_HOME) -> list[str]:
    """A pod's postStart hook: the workspace, unless it is there (a failing hook kills the pod)."""
    command = shlex.join(new_workspace(name, lang, home))
    return ["sh", "-c", f"test -e {shlex.quote(f'{home}/learners/{name}')} || {command}"]


def kubernetes_pre_spawn(spawner: Any) -> None:
    """KubeSpawner's pre-spawn hook: the same workspace and first page as on one machine."""
    name, instructor = spawner.user.name, is_instructor(spawner)
    spawner.default_url = default_url(name, instructor)
    if not instructor:
        command = post_start(name, language(spawner))
        spawner.lifecycle_hooks = {"postStart": {"exec": {"command": command}}}


def kubernetes(c: Any) -> None:
    """Zero to JupyterHub's hub.extraConfig calls this with the hub's config object."""
    c.Authenticator.username_pattern = USERNAME_PATTERN
    c.KubeSpawner.options_form = options_form
    c.KubeSpawner.options_from_form = options_from_form
    c.KubeSpawner.apply_user_options = apply_user_options
    c.KubeSpawner.pre_spawn_hook = kubernetes_pre_spawn
    c.KubeSpawner.notebook_dir = POD_HOME
