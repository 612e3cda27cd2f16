"""One way to translate: every string of the code is in the Spanish catalogue, compiled, and used."""

from __future__ import annotations

import ast
import gettext
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from minituner import i18n
from minituner.cli import main

ROOT = Path(__file__).parent.parent
PO = i18n.LOCALE / "es" / "LC_MESSAGES" / "minituner.po"
TOOLS = [ROOT / "tools" / f"{name}.py" for name in ("bench", "capacity", "diagrams")]
HUB = sorted((ROOT / "deploy").glob("*.py"))
PAGES = sorted((ROOT / "deploy" / "templates").glob("*.html"))
SOURCES = [*sorted((ROOT / "src" / "minituner").rglob("*.py")), *TOOLS, *HUB]
# argparse's own strings differ a little between Python versions; these must be translated in any.
ARGPARSE = [
    "usage: ",
    "options",
    "positional arguments",
    "show this help message and exit",
    "invalid choice: %(value)r (choose from %(choices)s)",
    "the following arguments are required: %s",
    "unrecognized arguments: %s",
    "argument %(argument_name)s: %(message)s",
    "%(prog)s: error: %(message)s\n",
]


def catalogue() -> dict[str, object]:
    with PO.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0]: m for m in read_po(f) if m.id}


def test_every_marked_string_is_in_the_catalogue_and_translated() -> None:
    keywords = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    found = {
        msgid if isinstance(msgid, str) else msgid[0]
        for path in SOURCES
        for _, msgid, _, _ in extract_from_file("python", str(path), keywords=keywords)
    }
    found |= {msgid for path in PAGES for _, msgid, _, _ in extract_from_file("jinja2", str(path))}
    marked = {text for path in SOURCES for text in marked_literals(path)}  # Babel misses f-strings' `_()`
    messages = catalogue()
    assert sorted((found | marked | set(ARGPARSE)) - messages.keys()) == [], (
        "run `make messages`, translate the new entries"
    )
    for msgid, message in messages.items():
        assert message.string and not message.fuzzy, f"untranslated: {msgid!r}"  # type: ignore[attr-defined]
        assert not list(message.check()), f"{msgid!r}: {list(message.check())}"  # type: ignore[attr-defined]


# --- Strings a user sees that are not translated ---------------------------------------------------
# What the code shows: print(), sys.exit(), sys.stdout/stderr.write(), a logger's message, an
# exception it raises, tornado's HTTPError, and argparse's help, description and usage. A string
# literal there (an f-string's text too) with a word in it must go through a translator: `_()`,
# `N_()`, `gettext_for(lang)(...)`, `translator(lang)(...)` or the hub's `native()`.
TRANSLATORS = {"_", "N_", "gettext_for", "translator", "native"}
SHOWN = {"print", "exit", "echo", "debug", "info", "warning", "error", "critical", "HTTPError"}
ARGPARSE_CALLS = {"ArgumentParser", "add_argument", "add_parser", "add_subparsers", "add_argument_group"}
ARGPARSE_TEXT = {"help", "description", "epilog", "title", "usage"}
WORD = re.compile(r"[^\W\d_]{3,}")
# The library (model, LoRA, training, checkpoints, peft interop) raises errors for Python code, in
# English as torch's and peft's do; the course and the hub around it translate what they show.
LIBRARY = {"model", "lora", "train", "checkpoint", "interop", "grammar", "figures", "data"}
# Strings shown as they are, each for a reason (file, text).
SHOWN_AS_IS = {
    ("cli.py", "minituner: "),  # the program's name before its (translated) error
    ("cli.py", "LoRA = ·r\n  "),  # a formula
    ("i18n.py", "language : expected one of "),  # raised while the catalogue is being chosen
    ("handin.py", "usage: python -I -m minituner.course.handin pack HOME | unpack DEST"),  # the grader's own
    # The contract's pytest plugin: `minituner contract` checks the file first; an import that ends
    # the process is reported, as the learner's own errors are, in Python's words.
    ("conftest.py", "--impl : no such file"),
    ("conftest.py", ": importing it raised "),
    ("breaks.py", "break : lora.py does not contain exactly one "),  # a broken catalogue, a course bug
    ("accounts.py", "not a file name"),  # a grading step's error line, shown as the grading's own are
    ("accounts.py", ": not a folder"),
    ("grader.py", "no workspace"),
    ("grader.py", "no account "),
    ("jupyterhub_config.py", "MINITUNER_INSTRUCTOR_PASSWORD_FILE: "),  # a setting's name, then the OS's error
}


def called(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def translates(call: ast.Call) -> bool:
    """`_(...)`, `N_(...)`, `gettext_for(lang)(...)`, `t.gettext(...)`: a translator's call."""
    if isinstance(call.func, ast.Call):
        return translates(call.func)
    return called(call) in TRANSLATORS | {"gettext", "ngettext"}


def literals(node: ast.AST) -> list[tuple[int, str]]:
    """The text of every string literal in `node` that no translator's call holds (an f-string's
    constant parts together); a nested call's keyword values (errors="replace") are not shown."""
    if isinstance(node, ast.Call):
        if translates(node):
            return []
        return [found for child in [node.func, *node.args] for found in literals(child)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.lineno, node.value)]
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        inner = [
            found for v in node.values if isinstance(v, ast.FormattedValue) for found in literals(v.value)
        ]
        return [(node.lineno, text), *inner]
    return [found for child in ast.iter_child_nodes(node) for found in literals(child)]


def shown(tree: ast.AST) -> list[ast.expr]:
    """The expressions of `tree` that the code shows to a user (see SHOWN)."""
    out: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            out += node.exc.args
        if not isinstance(node, ast.Call) or translates(node):
            continue
        f = node.func
        standard = isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute)
        if called(node) in SHOWN or (
            called(node) == "write" and standard and f.value.attr in ("stdout", "stderr")
        ):  # type: ignore[union-attr]
            out += node.args
        if called(node) in ARGPARSE_CALLS:
            out += [k.value for k in node.keywords if k.arg in ARGPARSE_TEXT]
    return out


def untranslated(path: Path) -> list[str]:
    """'file:line: text' for every string of `path` a user sees that is not translated."""
    return [
        f"{path.name}:{line}: {text!r}"
        for expr in shown(ast.parse(path.read_text()))
        for line, text in literals(expr)
        if WORD.search(text) and (path.name, text) not in SHOWN_AS_IS
    ]


def marked_literals(path: Path) -> list[str]:
    """Every string literal given to `_()` or `N_()` in `path`."""
    return [
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and called(node) in ("_", "N_")
        and isinstance(node.func, ast.Name)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def page_text(html: str) -> list[str]:
    """The words of a page that are neither in a Jinja expression, tag or comment nor in HTML."""
    text = re.sub(r"<style.*?</style>|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|<[^>]*>|\{\w+\}", " ", html, flags=re.S)
    return [word for word in WORD.findall(text) if word not in LANGUAGE_NAMES]


LANGUAGE_NAMES = {"English", "Español", "JupyterHub"}  # names, the same in every language


def test_every_string_a_user_sees_is_translated() -> None:
    code = [path for path in sorted((ROOT / "src" / "minituner").rglob("*.py")) if path.stem not in LIBRARY]
    found = [line for path in [*code, *HUB] for line in untranslated(path)]
    assert found == [], "\n".join(found)
    for path in PAGES:
        assert page_text(path.read_text()) == [], path.name
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import minituner_hub
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    assert page_text(minituner_hub.FORM) == []
    grader_page = (ROOT / "deploy" / "grader.py").read_text().split('PAGE = """', 1)[1].split('"""', 1)[0]
    assert page_text(grader_page) == [], "the grading page's words come from gettext"


def test_the_check_finds_an_untranslated_string(tmp_path: Path) -> None:
    """Planted: each way a user sees a string, untranslated, then translated."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import argparse, sys\n"
        "print('Hello there')\n"
        "sys.exit(f'cannot read {path}')\n"
        "sys.stderr.write('Bad input')\n"
        "raise ValueError('rank must be positive')\n"
        "argparse.ArgumentParser().add_argument('--x', help='the width')\n"
        "print(_('Hello there'), f'{n:,}', _('{n} files').format(n=f'{m} more'), file=open('log', 'w'))\n"
        "raise ValueError(gettext_for(lang)('rank must be positive'))\n"
    )
    flagged = sorted(line.split(": ", 1)[0] for line in untranslated(planted))
    assert flagged == [f"planted.py:{n}" for n in range(2, 7)], untranslated(planted)
    assert page_text("<p>{{ _('Sign in') }}</p><p>Sign up</p>") == ["Sign"]
    assert marked_literals(planted) == ["Hello there", "{n} files"]


def test_the_catalogue_follows_the_glossary() -> None:
    """The command line speaks the pages' Spanish: no word that the glossary says to avoid (wall time
    is tiempo de reloj, not tiempo real; a flag is an indicador)."""
    from pages import glossary

    avoid = {word.lower() for _, _, words in glossary() for word in words}
    wrong = []
    for msgid, message in catalogue().items():
        string = message.string  # type: ignore[attr-defined]
        text = " ".join([string] if isinstance(string, str) else string)
        text = re.sub(r"\{[^}]*\}|%\(\w+\)\w|--[\w-]+", " ", text).lower()  # placeholders and options
        wrong += [(msgid, w) for w in sorted(avoid) if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
    assert len(avoid) >= 10 and not wrong, wrong


def test_compiled_catalogue_is_the_po() -> None:
    compiled = gettext.GNUTranslations(io.BytesIO((PO.with_suffix(".mo")).read_bytes()))
    for msgid, message in catalogue().items():
        string = message.string  # type: ignore[attr-defined]
        expected = string if isinstance(string, str) else string[0]
        assert compiled.gettext(msgid) == expected, f"{msgid!r}: the .mo is stale, run `make messages`"


def test_spanish_usage_and_errors_from_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["launch", "--lang", "es"])
    err = capsys.readouterr().err
    assert err.startswith("uso: minituner") and "opción no válida: 'launch'" in err
    with pytest.raises(SystemExit):
        main(["--lang=es", "--help"])
    out = capsys.readouterr().out
    assert "mostrar este mensaje de ayuda y salir" in out and "el inventario de parámetros" in out


def test_environment_picks_the_language_and_english_is_the_default() -> None:
    env = {"MINITUNER_LANG": "es", "PATH": ""}
    spanish = subprocess.run(
        [sys.executable, "-m", "minituner", "info"], env=env, capture_output=True, text=True
    )
    assert "capa" in spanish.stdout and "parámetros" in spanish.stdout
    english = subprocess.run([sys.executable, "-m", "minituner", "info"], capture_output=True, text=True)
    assert "layer" in english.stdout


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="language 'fr': expected one of en, es"):
        i18n.translation("fr")
