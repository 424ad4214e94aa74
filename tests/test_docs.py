"""The documentation: the site builds strictly, loads nothing from elsewhere, and says what the code does.

- The MkDocs site (docs/, mkdocs.yml) builds with ``--strict``: a broken link or anchor, a page left
  out of the navigation, any warning fails. This is how ``make test`` runs the strict build.
- The built site loads nothing from another host and links to none (privacy statement §5, R8): no
  web fonts, scripts, stylesheets or images from elsewhere, no links out. The few URLs the theme's
  script holds are allow-listed below, each with the reason it is never fetched here.
- README.md stays the front door: under 12 KB, its deployment quick start the one in the docs.
- Drift: every setting is in the configuration reference and every ``CCAUDIT_*`` key the docs name
  exists; every command is on the command-line page; every service route is on the API page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
MKDOCS_YML = ROOT / "mkdocs.yml"
README_LIMIT = 12 * 1024

# Scripts of the theme (Material for MkDocs) hold a few URLs on code paths this site never takes.
# Each is allowed only in the theme's own files, with the reason it is never fetched.
THEME_SCRIPT_URLS = {
    "https://unpkg.com/resize-observer-polyfill": "loaded only by browsers without ResizeObserver "
    "(none still supported: every current browser has it)",
    "https://unpkg.com/mermaid": "loaded only on a page with a Mermaid diagram; "
    "test_the_theme_takes_no_path_that_fetches checks there is none",
    "https://api.github.com/": "asked only when mkdocs.yml sets a GitHub repo_url; "
    "test_the_theme_takes_no_path_that_fetches checks it sets none",
}
# XML namespace names: identifiers in SVG markup, never fetched.
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink", "http://www.w3.org/1999/xhtml")

# CCAUDIT_* names in the docs that are not environment settings of ccaudit.Settings, and why.
NOT_SETTINGS = {
    "CCAUDIT_ORGANISATION": "a Django setting (settings.py) read by the Django middleware",
    "CCAUDIT_IDENTITY": "a Django setting (settings.py) read by the Django middleware",
    "CCAUDIT_CLICKHOUSE_PASSWORD": "a variable of docker-compose.yml, read by the ClickHouse server's user file",
}
TEST_PREFIX = "CCAUDIT_TEST_"
_KEY = re.compile(r"\bCCAUDIT_[A-Z0-9_]*[A-Z0-9]\b")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as ``make docs`` builds it (strict), into a temporary folder."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    assert mkdocs.exists(), f"{mkdocs} is missing: `make install` installs the dev extra, which has mkdocs"
    out = tmp_path_factory.mktemp("site")
    # The theme prints a notice about its future unless told not to; it is not a warning about this site.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    args = [str(mkdocs), "build", "--strict", "--config-file", str(MKDOCS_YML), "--site-dir", str(out)]
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    warnings = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    return out


def _doc_texts() -> dict[str, str]:
    texts = {str(path.relative_to(ROOT)): path.read_text() for path in sorted(DOCS.rglob("*.md"))}
    texts["README.md"] = README.read_text()
    return texts


# --- the site loads nothing from elsewhere ----------------------------------------------------------


def _is_local(url: str, *, data_ok: bool) -> bool:
    """Whether ``url`` stays on this site: no scheme and no host (``data:`` where it is inline)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme == "data" and data_ok:
        return True
    return not parts.scheme and not parts.netloc and not url.startswith("//")


_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.I | re.S)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?['"]?([^'")\s;]+)""", re.I)
# A string literal in a script that starts with an absolute or protocol-relative URL of a host.
_JS_URL = re.compile(r"""["'`]((?:[a-z][a-z0-9+.-]*:)?//[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+[^"'`\s]*)""", re.I)


def _css_problems(text: str) -> Iterator[str]:
    for match in _CSS_URL.finditer(text):
        if not _is_local(match.group(2), data_ok=True):
            yield f"url({match.group(2)[:120]})"
    for match in _CSS_IMPORT.finditer(text):
        if not _is_local(match.group(1), data_ok=False):
            yield f"@import {match.group(1)[:120]}"


def _js_problems(text: str, theme_file: bool) -> Iterator[str]:
    for match in _JS_URL.finditer(text):
        url = match.group(1)
        if url.startswith(NAMESPACES):
            continue
        if theme_file and url.startswith(tuple(THEME_SCRIPT_URLS)):
            continue
        yield f"script URL {url[:120]}"


_LOADING_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background"}


class _PageScanner(HTMLParser):
    """Every URL a page loads or links to, and the inline styles and scripts to scan."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._inline: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        rel = values.get("rel", "").lower().split()
        if tag == "link" and {"preconnect", "dns-prefetch", "preload", "prefetch"} & set(rel):
            href = values.get("href", "")
            if not _is_local(href, data_ok=False):
                self.problems.append(f"<link rel={'/'.join(rel)} href={href}>")
        for name, value in values.items():
            if name in _LOADING_ATTRIBUTES or name.endswith(":href"):
                urls = [part.strip().split(" ")[0] for part in value.split(",")] if name == "srcset" else [value]
                for url in urls:
                    if url and not _is_local(url, data_ok=tag != "a"):
                        self.problems.append(f"<{tag} {name}={url[:120]}>")
            elif name == "style":
                self.problems.extend(_css_problems(value))
            elif name == "http-equiv" and value.lower() == "refresh":
                self.problems.append(f"<meta http-equiv=refresh content={values.get('content', '')}>")
        self._inline = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag: str) -> None:
        self._inline = None

    def handle_data(self, data: str) -> None:
        if self._inline == "style":
            self.problems.extend(_css_problems(data))
        elif self._inline == "script":
            self.problems.extend(_js_problems(data, theme_file=False))


def test_the_site_loads_nothing_from_elsewhere(site: Path) -> None:
    problems: list[str] = []
    checked = 0
    for path in sorted(site.rglob("*")):
        if path.suffix not in (".html", ".css", ".js"):
            continue
        checked += 1
        where = path.relative_to(site)
        text = path.read_text(errors="replace")
        if path.suffix == ".html":
            scanner = _PageScanner()
            scanner.feed(text)
            found = scanner.problems
        elif path.suffix == ".css":
            found = list(_css_problems(text))
        else:
            found = list(_js_problems(text, theme_file=where.parts[:2] == ("assets", "javascripts")))
        problems.extend(f"{where}: {problem}" for problem in found)
    assert checked > 20, f"only {checked} files scanned: is the site complete?"
    assert not problems, "the site must not load or link to anything elsewhere:\n" + "\n".join(problems)


def test_the_theme_takes_no_path_that_fetches(site: Path) -> None:
    """The conditions under which the allow-listed theme URLs stay unused."""
    config = MKDOCS_YML.read_text()
    assert not re.search(r"^\s*repo_url\s*:", config, re.M), "a repo_url makes the theme ask GitHub's API"
    assert re.search(r"^\s*font:\s*false\b", config, re.M), "the theme fetches web fonts unless font is false"
    pages = [p for p in site.rglob("*.html") if 'class="mermaid"' in p.read_text()]
    assert not pages, f"a Mermaid diagram makes the theme fetch Mermaid: {pages}"


def test_no_page_links_out_in_its_source() -> None:
    """Markdown links and autolinks to other hosts, caught in the source with the file named."""
    link = re.compile(r"\]\(\s*<?((?:[a-z][a-z0-9+.-]*:)?//[^)\s>]+)|<((?:https?|ftp)://[^>\s]+)>", re.I)
    found = [
        f"{name}: {match.group(1) or match.group(2)}"
        for name, text in _doc_texts().items()
        for match in link.finditer(text)
    ]
    assert not found, "links to other hosts:\n" + "\n".join(found)


# --- README: the front door -------------------------------------------------------------------------


def test_the_readme_is_a_front_door() -> None:
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; keep it under {README_LIMIT}: move reference into docs/"
    head = README.read_text()[:1500]
    assert "make run" in head, "the two commands come first"
    assert "make test" in head, "the two commands come first"


def test_the_readme_links_only_to_files_that_exist() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)", README.read_text())
    missing = [t for t in targets if not t.startswith(("http:", "https:")) and not (ROOT / t).exists()]
    assert targets, "the README links into the docs"
    assert not missing, f"README.md links to missing files: {missing}"


def _quickstart(text: str) -> str | None:
    marker = "<!-- quickstart: deployment -->\n```sh\n"
    start = text.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return text[start : text.index("\n```\n", start)]


def test_the_readme_quick_start_is_the_tested_one() -> None:
    """tests/test_quickstart.py runs the block in docs/quickstart.md; the README's copy must be it."""
    tested = _quickstart((DOCS / "quickstart.md").read_text())
    assert tested is not None, "docs/quickstart.md has lost its quickstart block"
    copy = _quickstart(README.read_text())
    if copy is not None:
        assert copy == tested, "README.md's deployment quick start differs from docs/quickstart.md's"


# --- drift between the docs and the code ------------------------------------------------------------


def test_every_setting_is_in_the_configuration_reference() -> None:
    from ccaudit.settings import ENV_PREFIX, Settings

    page = (DOCS / "configuration.md").read_text()
    named = set(_KEY.findall(page))
    missing = sorted(key for key in (ENV_PREFIX + f.upper() for f in Settings.model_fields) if key not in named)
    assert not missing, f"docs/configuration.md does not describe: {missing}"


def test_every_key_the_docs_name_exists() -> None:
    from ccaudit.settings import ENV_PREFIX, Settings

    settings = {ENV_PREFIX + f.upper() for f in Settings.model_fields}
    used_by_tests = {
        key
        for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / ".ci").glob("*")]
        if path.is_file() and path.name != "test_docs.py"
        for key in _KEY.findall(path.read_text(errors="replace"))
        if key.startswith(TEST_PREFIX)
    }
    wrong = []
    for name, text in _doc_texts().items():
        for key in sorted(set(_KEY.findall(text))):
            if key in settings or key in NOT_SETTINGS:
                continue
            if key.startswith(TEST_PREFIX) and key in used_by_tests:
                continue
            wrong.append(f"{name}: {key}")
    assert not wrong, "keys that are no setting (misspelt, or gone from the code):\n" + "\n".join(wrong)
    development = (DOCS / "development.md").read_text()
    undocumented = sorted(key for key in used_by_tests if key not in development)
    assert not undocumented, f"test-only keys missing from docs/development.md: {undocumented}"


def _commands(command: object, prefix: str = "") -> Iterator[str]:
    sub = getattr(command, "commands", None)
    if sub is None:
        yield prefix
        return
    for name, child in sub.items():
        yield from _commands(child, f"{prefix} {name}".strip())


def test_every_command_is_on_the_command_line_page() -> None:
    import typer.main

    from ccaudit.cli import app

    page = (DOCS / "cli.md").read_text()
    commands = sorted(_commands(typer.main.get_command(app)))
    assert "tokens create" in commands, commands
    missing = [c for c in commands if f"`ccaudit {c}" not in page]
    assert not missing, f"docs/cli.md does not describe: {missing}"


def test_every_service_route_is_on_the_api_page() -> None:
    routes = {
        path
        for source in (ROOT / "ccaudit" / "service").glob("*.py")
        for path in re.findall(r"""Route\(\s*["'](/[^"']*)["']""", source.read_text())
    }
    assert "/v1/events" in routes, f"the routes are no longer declared as Route('/…'): update this test ({routes})"
    page = (DOCS / "service.md").read_text()
    missing = sorted(path for path in routes if path not in page)
    assert not missing, f"docs/service.md does not describe: {missing}"


def test_the_consent_record_and_the_outcomes_are_documented() -> None:
    from ccaudit.capture.context import Outcome
    from ccaudit.consent import ConsentRecord

    consent = (DOCS / "consent.md").read_text()
    missing = [field for field in ConsentRecord._fields if f"`{field}`" not in consent]
    assert not missing, f"docs/consent.md does not describe ConsentRecord's {missing}"
    audited = (DOCS / "audited.md").read_text()
    outcomes = Outcome.__args__  # type: ignore[attr-defined]
    missing = [outcome for outcome in outcomes if f"`{outcome}`" not in audited]
    assert not missing, f"docs/audited.md's outcome table does not name {missing}"


def test_the_migrations_the_docs_name_exist() -> None:
    files = {path.stem for path in (ROOT / "migrations").glob("*.sql")}
    named = {f"{name}: {m}" for name, text in _doc_texts().items() for m in re.findall(r"\b\d{4}_[a-z0-9_]+\b", text)}
    missing = sorted(item for item in named if item.split(": ")[1] not in files)
    assert not missing, f"migrations named in the docs but not in migrations/: {missing}"
