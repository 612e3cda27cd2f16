"""One way to translate a Python string: gettext, with the catalogues in minituner/locale.

English is the source language; `make messages` extracts every `_()`/`N_()` string (and argparse's
own) with Babel into locale/es/LC_MESSAGES/minituner.po and compiles it. Pages and notebooks are
translated in their `.es.md`/`.es.ipynb` twins instead.
"""

from __future__ import annotations

import argparse
import gettext
import os
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

LANGUAGES = ("en", "es")
DOMAIN = "minituner"
LOCALE = Path(str(resources.files("minituner") / "locale"))


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def known_language(lang: str) -> str:
    """`lang` if the course speaks it, else a ValueError naming it and the known ones."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    return lang


def translation(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE, languages=[known_language(lang)], fallback=lang == "en")


def gettext_for(lang: str) -> Callable[[str], str]:
    """The `_` of one language, for text written in a language other than the messages'."""
    return translation(lang).gettext


def language(argv: Sequence[str]) -> str:
    """`--lang X` or `--lang=X` anywhere on the command line, else $MINITUNER_LANG, else English."""
    for i, arg in enumerate(argv):
        if arg.startswith("--lang="):
            value = arg.split("=", 1)[1]
        elif arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        else:
            continue
        return value if value in LANGUAGES else "en"  # argparse then names the bad value
    env = os.environ.get("MINITUNER_LANG", "en")
    return env if env in LANGUAGES else "en"


_current = translation("en")


def use(lang: str) -> None:
    """Show messages in `lang`, argparse's usage and errors included (it looks up its `_` at call time)."""
    global _current
    _current = translation(lang)
    argparse._ = _current.gettext  # type: ignore[attr-defined]
    argparse.ngettext = _current.ngettext  # type: ignore[attr-defined]


def _(message: str) -> str:
    """`message` in the language chosen with `use()`."""
    return _current.gettext(message)
