"""Translations: gettext catalogues under locale/ (English is the source text), read from their
.po files with Babel at start, and the language of the request being served."""

from __future__ import annotations

import contextvars
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}

_NULL = gettext.NullTranslations()
_catalogues: dict[str, gettext.NullTranslations] = {}
_current: contextvars.ContextVar[gettext.NullTranslations] = contextvars.ContextVar(
    "translations", default=_NULL
)


def _load(language: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return _NULL
    with po.open("rb") as f:
        catalogue = read_po(f, locale=language)
    mo = io.BytesIO()
    write_mo(mo, catalogue)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def use(language: str) -> None:
    """Translate what this request renders into `language` (unknown ones fall back to English)."""
    if language not in _catalogues:
        _catalogues[language] = _load(language) if language in LANGUAGES else _NULL
    _current.set(_catalogues[language])


def gettext_(message: str, **variables: object) -> str:
    text = _current.get().gettext(message)
    return text % variables if variables else text


def ngettext_(singular: str, plural: str, n: int, **variables: object) -> str:
    text = _current.get().ngettext(singular, plural, n)
    return text % {"num": n, **variables}


_ = gettext_


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message
