"""Internationalisation: the language comes from the environment, and the panel is ready for catalogs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template import Engine
from django.template.base import Lexer, Token, TokenType
from django.urls import reverse

from dms_admin.settings import panel_languages

REPO = Path(__file__).resolve().parent.parent

PRINT_LANGUAGE = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.LANGUAGE_CODE, [code for code, _ in settings.LANGUAGES])"
)


def start(language: str | None) -> subprocess.CompletedProcess[str]:
    """Start Django with the test settings and LANGUAGE_CODE set to `language` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "LANGUAGE_CODE"}
    env["DJANGO_SETTINGS_MODULE"] = "dms_admin.settings_test"
    if language is not None:
        env["LANGUAGE_CODE"] = language
    command = [sys.executable, "-c", PRINT_LANGUAGE]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "en-us"), ("", "en-us"), ("de", "de"), ("pt-BR", "pt-br"), ("en-gb", "en-gb"), ("de-ch", "de-ch")],
)
def test_language_code_comes_from_the_environment(value: str | None, expected: str) -> None:
    result = start(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == expected
    # No catalog in locale/ yet: the panel offers its own language and no other.
    assert result.stdout.strip().endswith(f"['{expected}']")


@pytest.mark.parametrize("value", ["xx", "klingon", "en_US", "de;rm -rf /", "en-", "de\nfr"])
def test_a_language_django_does_not_know_stops_the_start(value: str) -> None:
    result = start(value)
    assert result.returncode != 0
    assert "ImproperlyConfigured: LANGUAGE_CODE must be a language code Django knows" in result.stderr
    assert repr(value) in result.stderr


def test_a_compiled_catalog_in_locale_adds_its_language(tmp_path: Path) -> None:
    for name, compiled in (("de", True), ("pt_BR", True), ("fr", False), ("xx", True)):
        folder = tmp_path / name / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "django.po").write_text("")
        if compiled:
            (folder / "django.mo").write_bytes(b"")
    expected = [("en-us", "English"), ("de", "German"), ("pt-br", "Brazilian Portuguese")]
    assert panel_languages("en-us", tmp_path) == expected
    assert panel_languages("de", tmp_path)[0] == ("de", "German")
    assert panel_languages("en-us", tmp_path / "missing") == [("en-us", "English")]


def test_locale_folder_and_middleware_are_set(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.USE_I18N is True
    assert settings.LOCALE_PATHS == [REPO / "locale"]
    middleware = settings.MIDDLEWARE
    locale = middleware.index("django.middleware.locale.LocaleMiddleware")
    assert middleware.index("django.contrib.sessions.middleware.SessionMiddleware") < locale
    assert locale < middleware.index("django.middleware.common.CommonMiddleware")


def test_a_browser_asking_for_german_gets_one_language_not_a_mix(admin_client) -> None:  # type: ignore[no-untyped-def]
    # Django ships German for its own strings ("Dieses Feld ist zwingend erforderlich."); the panel
    # has no German catalog, so the whole page stays in LANGUAGE_CODE.
    url = reverse("accounts:mailbox-create")
    response = admin_client.post(url, {"address": "", "password": ""}, HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code in (200, 400)
    assert response["Content-Language"] == "en-us"
    assert "Accept-Language" in response["Vary"]
    body = response.content.decode()
    assert "This field is required." in body
    assert "erforderlich" not in body


# ---- Every user-visible word in a template is marked for translation --------------------------

TEMPLATES_DIR = REPO / "templates"
# Files a program reads, not a person (Thunderbird autoconfig, Outlook autodiscover).
MACHINE_TEMPLATES = {"accounts/self_autoconfig.xml", "accounts/self_autodiscover.xml"}
# Attributes a person sees or hears (tooltips, placeholders, screen readers).
VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "label"}
# Their content is code, file names or commands, the same in every language.
CODE_ELEMENTS = {"code", "kbd", "samp", "pre", "script", "style"}
# Names that are not words of a language.
NOT_WORDS = ("dms-admin",)
# Filters whose string argument is shown in the variable's place.
SHOWN_ARGUMENT = re.compile(r"\|(default|default_if_none|yesno):(\"[^\"]*\"|'[^']*')")
LETTER = re.compile(r"[^\W\d_]")
MARKED_OPEN = {"blocktranslate", "blocktrans", "comment", "verbatim"}
MARKED_CLOSE = {"endblocktranslate", "endblocktrans", "endcomment", "endverbatim"}
TAG = "\uf8ff"  # stands for a template tag, or for text already marked


def flatten(source: str) -> tuple[str, list[Token]]:
    """The template as HTML, each {{ variable }} one private-use character (U+E000 + its index in
    the returned list) and each {% tag %} (or marked text) U+F8FF; {# comments #} dropped."""
    parts: list[str] = []
    variables: list[Token] = []
    marked = 0
    for token in Lexer(source).tokenize():
        name = token.contents.split()[0] if token.contents.strip() else ""
        if token.token_type == TokenType.BLOCK:
            marked += (name in MARKED_OPEN) - (name in MARKED_CLOSE)
            parts.append(TAG)
        elif token.token_type == TokenType.VAR and not marked:
            parts.append(chr(0xE000 + len(variables)))
            variables.append(token)
        elif token.token_type != TokenType.COMMENT:
            parts.append(TAG if marked else token.contents)
    return "".join(parts), variables


class UnmarkedWords(HTMLParser):
    """Collects text a person would see that is neither in a translate tag nor code."""

    def __init__(self, variables: list[Token]) -> None:
        super().__init__(convert_charrefs=True)
        self.variables = variables
        self.code = 0
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CODE_ELEMENTS:
            self.code += 1
        submit = tag == "input" and ("type", "submit") in attrs
        for name, value in attrs:
            if value and (name in VISIBLE_ATTRIBUTES or (submit and name == "value")):
                self.check(value, f"<{tag} {name}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE_ELEMENTS:
            self.code = max(0, self.code - 1)

    def handle_data(self, data: str) -> None:
        if not self.code:
            self.check(data, "text")

    def check(self, text: str, where: str) -> None:
        line = self.getpos()[0]
        words = text
        for char in text:
            if 0xE000 <= ord(char) < 0xF8FF:
                variable = self.variables[ord(char) - 0xE000]
                for _, literal in SHOWN_ARGUMENT.findall(variable.contents):
                    if LETTER.search(literal):
                        self.found.append(f"line {line}: {{{{ {variable.contents} }}}}: use _({literal})")
                words = words.replace(char, " ")
        words = words.replace(TAG, " ")
        for name in NOT_WORDS:
            words = words.replace(name, " ")
        if LETTER.search(words):
            self.found.append(f"line {line}, {where}: {' '.join(text.split())[:100]!r}")


def unmarked_words(source: str) -> list[str]:
    flat, variables = flatten(source)
    parser = UnmarkedWords(variables)
    parser.feed(flat)
    parser.close()
    return parser.found


def template_names() -> list[str]:
    names = [p.relative_to(TEMPLATES_DIR).as_posix() for p in sorted(TEMPLATES_DIR.rglob("*")) if p.is_file()]
    return [n for n in names if n not in MACHINE_TEMPLATES]


@pytest.mark.parametrize("name", template_names())
def test_every_visible_word_in_a_template_is_marked_for_translation(name: str) -> None:
    source = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
    Engine.get_default().get_template(name)  # it compiles: every translate tag is well formed
    assert re.search(r"{% load [^%]*\bi18n\b", source), f"{name} does not load i18n"
    found = unmarked_words(source)
    assert not found, f"{name} has words outside translate/blocktranslate:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "unmarked"),
    [
        ("<p>Saved.</p>", True),
        ('<p>{% translate "Saved." %}</p>', False),
        ("<p>{{ n }} files</p>", True),
        ("<p>{% blocktranslate %}{{ n }} files{% endblocktranslate %}</p>", False),
        ("<p>{{ n }} · {{ total|floatformat:1 }} % &nbsp;&rarr; (3)</p>", False),
        ('<input placeholder="name or domain">', True),
        ('<input placeholder="{% translate "name or domain" %}" name="search" class="wide">', False),
        ('<button type="submit" name="action" value="save">{% translate "Save" %}</button>', False),
        ('<input type="submit" value="Save">', True),
        ("<p><code>postfix-accounts.cf</code> · <pre>doveadm pw</pre></p>", False),
        ("<script>let words = 1;</script><style>p { color: red }</style>", False),
        ('{# a note #}<a class="brand">dms-admin</a>{% comment %}notes{% endcomment %}', False),
        ('{{ message|default:"(no message)" }}', True),
        ('{{ message|default:_("(no message)") }} {{ flag|yesno:"0,1" }}', False),
        ('<input type="hidden" value="{{ on|yesno:\'on,off\' }}">', False),
        ("{% block title %}Mailboxes{% endblock %}", True),
    ],
)
def test_the_check_finds_unmarked_words(source: str, unmarked: bool) -> None:
    assert bool(unmarked_words(source)) is unmarked, unmarked_words(source)
