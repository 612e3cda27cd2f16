"""One way to translate: every string of the code is in the Spanish catalogue, compiled, and used."""

from __future__ import annotations

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
SOURCES = [*sorted((ROOT / "src" / "minituner").rglob("*.py")), ROOT / "tools" / "bench.py"]
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


def test_every_string_of_the_code_is_translated() -> None:
    keywords = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    found = {
        msgid if isinstance(msgid, str) else msgid[0]
        for path in SOURCES
        for _, msgid, _, _ in extract_from_file("python", str(path), keywords=keywords)
    }
    messages = catalogue()
    assert sorted((found | set(ARGPARSE)) - messages.keys()) == [], (
        "run `make messages`, translate the new entries"
    )
    for msgid, message in messages.items():
        assert message.string and not message.fuzzy, f"untranslated: {msgid!r}"  # type: ignore[attr-defined]
        assert not list(message.check()), f"{msgid!r}: {list(message.check())}"  # type: ignore[attr-defined]


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
