"""One way to translate a Python string: gettext, with the catalogues in minituner/locale.

English is the source language; `make messages` extracts every `_()`/`N_()` string (and argparse's
own) with Babel into locale/es/LC_MESSAGES/minituner.po and compiles it. Pages and notebooks are
translated in their `.es.md`/`.es.ipynb` twins instead.

Three ways to reach a translation: `_` (the messages' language, chosen once with `use()`),
`gettext_for(lang)` (the translator of one language, for text written in a document's or a reader's
language), and `current()` (the language of the environment, $MINITUNER_LANG). Numbers are written
with `number()` and `percent()`.
"""

from __future__ import annotations

import argparse
import gettext
import os
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path

from babel.numbers import format_decimal, format_percent

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


@cache
def gettext_for(lang: str) -> Callable[[str], str]:
    """The translator of one language, for text written in a language other than the messages'."""
    return translation(lang).gettext


def current() -> str:
    """The language of the environment: $MINITUNER_LANG if it is one of LANGUAGES, else English."""
    env = os.environ.get("MINITUNER_LANG", "en")
    return env if env in LANGUAGES else "en"


def language(argv: Sequence[str]) -> str:
    """`--lang X` or `--lang=X` anywhere on the command line, else the environment's (`current()`)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--lang="):
            value = arg.split("=", 1)[1]
        elif arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        else:
            continue
        return value if value in LANGUAGES else "en"  # argparse then names the bad value
    return current()


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


# --- Numbers ---------------------------------------------------------------------------------------
# Babel writes each language's symbols: 18,432.5 in English, a decimal comma in Spanish. The course's
# Spanish groups thousands with a space, and only from five digits on (18 432, but 4096; 0,64).


def _grouped(text: str, x: float, lang: str, space: str) -> str:
    if lang != "es":
        return text
    return text.replace(".", space if abs(x) >= 10_000 else "")


def number(x: float, lang: str, decimals: int = 0, trim: bool = False, space: str = " ") -> str:
    """`x` with `decimals` decimals (`trim`: at most, trailing zeros dropped), as `lang` writes it:
    103,680.5 or 103 680,5 (`space`: the thousands separator of Spanish, a no-break one in HTML)."""
    pattern = "#,##0" + ("." + ("#" if trim else "0") * decimals if decimals else "")
    return _grouped(format_decimal(x, pattern, locale=known_language(lang)), x, lang, space)


def percent(x: float, lang: str, decimals: int = 1, space: str = " ") -> str:
    """A share `x` in percent, at most `decimals` decimals: 23.3% in English, 23,3 % in Spanish
    (a no-break space before %, as Babel's Spanish writes it)."""
    rounded = Decimal(f"{100 * float(x):.{decimals}f}") / 100
    text = format_percent(rounded, locale=known_language(lang), decimal_quantization=False)
    return _grouped(text, 100 * x, lang, space)
