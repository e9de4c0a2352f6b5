"""The translation catalogues: every English text of the dashboard has its Simplified Chinese
one, and the template that lists them is current with the code."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dashboard import i18n

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "ngettext_": (1, 2)}
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]


def catalogue(path):
    with path.open("rb") as f:
        return read_po(f)


def source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(i18n.LOCALE_DIR.parent), METHODS, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_the_template_lists_every_text_of_the_code():
    template = {
        m.id[0] if isinstance(m.id, tuple) else m.id
        for m in catalogue(i18n.LOCALE_DIR / "messages.pot")
        if m.id
    }
    assert source_messages() == template


def test_simplified_chinese_translates_every_text():
    zh = catalogue(i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po")
    untranslated = [
        m.id
        for m in zh
        if m.id and not all(m.string if isinstance(m.string, tuple) else [m.string])
    ]
    assert untranslated == []
    assert len([m for m in zh if m.id]) == len(source_messages())


def test_a_request_renders_in_its_own_language():
    i18n.use("zh_CN")
    assert i18n._("Servers") == "云主机"
    assert (
        i18n.ngettext_("%(num)d server launched.", "%(num)d servers launched.", 3)
        == "已创建 3 台云主机。"
    )
    i18n.use("en")
    assert i18n._("Servers") == "Servers"
    i18n.use("xx")  # unknown: English
    assert i18n._("Servers") == "Servers"
