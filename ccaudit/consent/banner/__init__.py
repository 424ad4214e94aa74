# ruff: noqa: RUF001  (typographic quotes and apostrophes in the texts are deliberate)
"""The consent banner: its texts per language, and the script the middleware serves.

The banner is one self-contained script (``banner.js``, which injects ``banner.css`` itself): no
external fonts, scripts or images (DESIGN R8). The middleware renders it once per process with the
configuration below embedded, and serves it on the platform's own origin.

Texts are plain language, one set per language (Dutch first: it is the default), and follow the
purposes of the privacy statement: necessary cookies (identification and authorisation, §4.1) and
anonymous usage statistics (analytical purposes, §4.5). Each language's receipt carries the SHA-256
of exactly the text the banner shows in it (``shown_text``), so a receipt proves what the visitor
read (GDPR art. 7(1)). Changing a text changes that hash; changing what consent is asked for should
also raise ``CCAUDIT_CONSENT_REVISION``, which asks every visitor again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources

from ccaudit.settings import Settings

DEFAULT_LANGUAGE = "nl"
_CONFIG_MARK = "/*CCAUDIT_CONFIG*/null"
_CSS_MARK = '/*CCAUDIT_CSS*/""'


@dataclass(frozen=True, slots=True)
class Category:
    """A consent category: its name in cookies and receipts, and its title and explanation per language."""

    name: str
    required: bool
    title: dict[str, str]
    description: dict[str, str]


CATEGORIES: tuple[Category, ...] = (
    Category(
        name="necessary",
        required=True,
        title={"nl": "Noodzakelijk", "fr": "Nécessaires", "en": "Necessary"},
        description={
            "nl": "Nodig om het platform te laten werken: je aangemeld houden en deze keuze onthouden. "
            "Deze staan altijd aan.",
            "fr": "Indispensables au fonctionnement de la plateforme : vous garder connecté et retenir ce choix. "
            "Ils sont toujours actifs.",
            "en": "Needed for the platform to work: keeping you logged in and remembering this choice. "
            "They are always on.",
        },
    ),
    Category(
        name="analytics",
        required=False,
        title={"nl": "Gebruiksstatistieken", "fr": "Statistiques d’utilisation", "en": "Usage statistics"},
        description={
            "nl": "Anonieme statistieken over het gebruik van de website: browsertype, besturingsprogramma, "
            "bezochte pagina's en land. We bewaren je IP-adres niet en kunnen je niet van dag tot dag "
            "herkennen. We maken er rapporten mee en verbeteren er het platform mee.",
            "fr": "Des statistiques anonymes sur l’utilisation du site : type de navigateur, système "
            "d’exploitation, pages visitées et pays. Nous ne conservons pas votre adresse IP et ne pouvons "
            "pas vous reconnaître d’un jour à l’autre. Elles servent à établir des rapports et à améliorer "
            "la plateforme.",
            "en": "Anonymous statistics about how the website is used: browser type, operating system, pages "
            "visited and country. We do not keep your IP address and cannot recognise you from one day to "
            "the next. We use them for reports and to improve the platform.",
        },
    ),
)

# The banner's own words, per language.
TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Cookies en gebruiksstatistieken",
        "intro": "We gebruiken alleen noodzakelijke cookies, tenzij je ons toestemming geeft om anonieme "
        "gebruiksstatistieken bij te houden. Jij kiest, en je kan je keuze altijd wijzigen of intrekken "
        "via ‘Mijn keuzes wijzigen’.",
        "accept_all": "Alles accepteren",
        "reject_all": "Alles weigeren",
        "customise": "Zelf kiezen",
        "always_on": "Altijd aan",
        "save": "Keuze bewaren",
        "change": "Mijn keuzes wijzigen",
    },
    "fr": {
        "title": "Cookies et statistiques d’utilisation",
        "intro": "Nous n’utilisons que des cookies nécessaires, sauf si vous nous autorisez à tenir des "
        "statistiques d’utilisation anonymes. Vous choisissez, et vous pouvez modifier ou retirer votre "
        "choix à tout moment via « Modifier mes choix ».",
        "accept_all": "Tout accepter",
        "reject_all": "Tout refuser",
        "customise": "Choisir moi-même",
        "always_on": "Toujours actifs",
        "save": "Enregistrer mon choix",
        "change": "Modifier mes choix",
    },
    "en": {
        "title": "Cookies and usage statistics",
        "intro": "We only use necessary cookies, unless you allow us to keep anonymous usage statistics. "
        "You choose, and you can change or withdraw your choice at any time via “Change my choices”.",
        "accept_all": "Accept all",
        "reject_all": "Reject all",
        "customise": "Let me choose",
        "always_on": "Always on",
        "save": "Save my choice",
        "change": "Change my choices",
    },
}
LANGUAGES = tuple(TEXTS)


def categories_for(settings: Settings) -> tuple[Category, ...]:
    """The categories the banner asks about: ``necessary``, then each consent category the processing
    register declares for this platform, explained in plain language (a category we have no text for
    is explained by the register's description of its stream)."""
    streams = settings.processing_register.streams(settings.platform)
    known = {c.name: c for c in CATEGORIES}
    chosen = [c for c in CATEGORIES if c.required]
    for declaration in streams.values():
        name = declaration.consent_category
        if name is None or any(c.name == name for c in chosen):
            continue
        text = declaration.description or name
        chosen.append(
            known.get(name) or Category(name, False, dict.fromkeys(LANGUAGES, name), dict.fromkeys(LANGUAGES, text))
        )
    return tuple(chosen)


def shown_text(language: str, categories: tuple[Category, ...] = CATEGORIES) -> str:
    """Every text the banner's dialog shows in ``language``, in the order it shows them, one per line.

    ``banner.js`` builds the dialog from the same strings in the same order; the receipt's
    ``banner_text_sha256`` is the SHA-256 of this text (UTF-8).
    """
    t = TEXTS[language]
    parts = [t["title"], t["intro"], t["accept_all"], t["reject_all"], t["customise"]]
    for category in categories:
        parts += [category.title[language], category.description[language]]
        if category.required:
            parts.append(t["always_on"])
    parts.append(t["save"])
    return "\n".join(parts)


def text_sha256(language: str, categories: tuple[Category, ...] = CATEGORIES) -> str:
    return hashlib.sha256(shown_text(language, categories).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RenderedBanner:
    """The script as served, its ETag, and the text hash per language (receipts must carry one of them)."""

    script: bytes
    etag: str
    hashes: dict[str, str]
    revision: int
    categories: tuple[Category, ...]


def banner_config(
    prefix: str, cookie: str, revision: int, max_age_days: int, categories: tuple[Category, ...] = CATEGORIES
) -> dict[str, object]:
    """What the script needs to know, embedded in it as JSON."""
    languages: dict[str, object] = {}
    for lang in LANGUAGES:
        languages[lang] = {
            "texts": TEXTS[lang],
            "categories": [
                {"name": c.name, "required": c.required, "title": c.title[lang], "description": c.description[lang]}
                for c in categories
            ],
            "sha256": text_sha256(lang, categories),
        }
    return {
        "prefix": prefix,
        "cookie": cookie,
        "revision": revision,
        "maxAgeDays": max_age_days,
        "defaultLanguage": DEFAULT_LANGUAGE,
        "languages": languages,
    }


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _render(
    prefix: str, cookie: str, revision: int, max_age_days: int, categories: tuple[Category, ...]
) -> RenderedBanner:
    config = banner_config(prefix, cookie, revision, max_age_days, categories)
    config_json = json.dumps(config, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    css = json.dumps(_asset("banner.css"), ensure_ascii=True)
    script = _asset("banner.js")
    if _CONFIG_MARK not in script or _CSS_MARK not in script:
        raise RuntimeError("banner.js lacks its configuration marks")
    body = script.replace(_CONFIG_MARK, config_json).replace(_CSS_MARK, css).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    hashes = {lang: text_sha256(lang, categories) for lang in LANGUAGES}
    return RenderedBanner(body, etag, hashes, revision, categories)


def render_banner(settings: Settings) -> RenderedBanner:
    """The banner script for these settings (the middleware renders it once, at start)."""
    return _render(
        settings.consent_path_prefix,
        settings.consent_cookie,
        settings.consent_revision,
        settings.consent_max_age_days,
        categories_for(settings),
    )


__all__ = [
    "CATEGORIES",
    "LANGUAGES",
    "TEXTS",
    "Category",
    "RenderedBanner",
    "categories_for",
    "render_banner",
    "shown_text",
]
