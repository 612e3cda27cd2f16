"""The course's policy on a JupyterHub, one module for both deployments: `jupyterhub_config.py` (one
machine, `make hub`) and `z2jh-values.yaml` (Kubernetes, through `hub.extraConfig`).

It says which names a learner may sign up with, asks the language of a new workspace, builds the one
command that creates it (`minituner learner new NAME --lang LANG --course HOME`) and names the notebook
the learner's server opens on. It needs only the standard library: the hub image of Zero to
JupyterHub has no minituner, and `tests/test_hub.py` checks the constants below against
`minituner.course.workspace`.

The hub's pages speak the reader's language (?lang=, else the browser's Accept-Language), with
minituner's gettext catalogue: the installed package's where there is one (`make hub`), else the
compiled catalogue mounted beside this file, locale/es/LC_MESSAGES/minituner.mo (Kubernetes:
hub.extraFiles.catalogue); without either, English.
"""

from __future__ import annotations

import functools
import gettext
import importlib.util
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
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


def N_(message: str) -> str:
    """Mark a string for `make messages` (minituner.i18n.N_); it is translated where it is shown."""
    return message


def locale() -> Path:
    """Where minituner's catalogues are: the installed package's, else beside this file."""
    spec = importlib.util.find_spec("minituner")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent / "locale"
    return Path(__file__).resolve().parent / "locale"


@functools.cache
def translator(lang: str) -> Callable[[str], str]:
    """The gettext of `lang` (one of LANGUAGES) from minituner's catalogue; English without one."""
    languages = [lang if lang in LANGUAGES else "en"]
    return gettext.translation("minituner", locale(), languages=languages, fallback=True).gettext


def page_language(asked: str, accept: str) -> str:
    """`asked` (a page's ?lang=) if it is one of LANGUAGES, else the first of the browser's
    Accept-Language ("es-ES,es;q=0.9,en;q=0.8") that is, by weight, else English."""
    if asked in LANGUAGES:
        return asked
    ranked = []
    for i, part in enumerate(accept.split(",")):
        tag, _, weight = part.strip().partition(";q=")
        try:
            ranked.append((-float(weight or 1), i, tag.split("-")[0].strip().lower()))
        except ValueError:
            continue
    return next((tag for *_, tag in sorted(ranked) if tag in LANGUAGES), "en")


# NativeAuthenticator's own messages, which its pages show (templates/): translated as they are. A
# name in one of them is the placeholder {username} (tests/test_hub.py checks them against its code).
NATIVE = (
    N_("Invalid username or password."),
    N_("User {username} has not been authorized by an administrator yet."),
    N_(
        "Something went wrong!\nIt appears that this username is already in use. Please try again with a "
        "different username."
    ),
    N_("Your password did not match the confirmation. Please try again."),
    N_(
        "Something went wrong!\nBe sure your username does not contain spaces, commas or slashes, your "
        "password has at least {minimum_password_length} characters and is not too common."
    ),
    N_("The signup was successful! You can now go to the home page and log in to the system."),
    N_("Your information has been sent to the admin."),
)


def native(message: str, lang: str) -> str:
    """One of NativeAuthenticator's messages (NATIVE, its placeholders filled in) in `lang`; any
    other message (the course's own) as gettext finds it."""
    for msgid in NATIVE:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(msgid))
        found = re.fullmatch(pattern, message, re.S)
        if found:
            return translator(lang)(msgid).format(**found.groupdict())
    return translator(lang)(message)


def page_namespace(handler: Any) -> dict[str, object]:
    """What the hub's templates get beside JupyterHub's own: the page's language, its `_`, and
    `native` for NativeAuthenticator's messages."""
    lang = page_language(handler.get_argument("lang", ""), handler.request.headers.get("Accept-Language", ""))
    return {
        "lang": lang,
        "_": translator(lang),
        "native": functools.partial(native, lang=lang),
        "other_lang": (other := next(code for code in LANGUAGES if code != lang)),
        "other_name": LANGUAGES[other],
    }


def speak_the_reader_s_language() -> None:
    """Every page of the hub gets `page_namespace` (JupyterHub has no hook for a template's
    variables that sees the request: its template_vars see only the user)."""
    from jupyterhub.handlers.base import BaseHandler

    own = BaseHandler.template_namespace
    if getattr(own.fget, "minituner", False):
        return

    def template_namespace(self: Any) -> dict[str, object]:
        return {**own.fget(self), **page_namespace(self)}

    template_namespace.minituner = True  # type: ignore[attr-defined]
    BaseHandler.template_namespace = property(template_namespace)  # type: ignore[method-assign]


# The spawn page's form, shown once: the language is kept with the hub's user (user_options) and the
# workspace, once created, keeps its own (learner.toml).
INTRO = N_("Your workbooks are created the first time your server starts, in the language you choose here.")
FORM = """
<p>{intro}</p>
<div class="form-group">
  <label><input type="radio" name="lang" value="en"{en}> English</label><br>
  <label><input type="radio" name="lang" value="es"{es}> Español</label>
</div>
"""


def is_instructor(spawner: Any) -> bool:
    """The instructor is the hub's admin: no workspace, no form."""
    return bool(spawner.user.admin)


def language(spawner: Any) -> str:
    lang = (spawner.user_options or {}).get("lang")
    return lang if lang in LANGUAGES else "en"


def options_form(spawner: Any) -> str:
    """The language form, until the learner has chosen (then the server starts straight away), in
    the page's language, which it offers first."""
    chosen = (spawner.user_options or {}).get("lang") in LANGUAGES
    if is_instructor(spawner) or chosen:
        return ""
    handler = getattr(spawner, "handler", None)  # set by JupyterHub's spawn page
    lang = page_namespace(handler)["lang"] if handler is not None else "en"
    intro = translator(str(lang))(INTRO)
    checked = {code: " checked" if code == lang else "" for code in LANGUAGES}
    return FORM.format(intro=intro, **checked)


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
    speak_the_reader_s_language()
    c.Authenticator.username_pattern = USERNAME_PATTERN
    c.KubeSpawner.options_form = options_form
    c.KubeSpawner.options_from_form = options_from_form
    c.KubeSpawner.apply_user_options = apply_user_options
    c.KubeSpawner.pre_spawn_hook = kubernetes_pre_spawn
    c.KubeSpawner.notebook_dir = POD_HOME
