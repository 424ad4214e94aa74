"""The middleware's own routes on the platform's origin: banner.js, receipts, gpc.json.

Through real ASGI and WSGI apps; the recorder is a MemorySink so each test sees exactly what was emitted.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import uuid
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, WsgiCaptureMiddleware
from ccaudit.capture.platform_routes import MAX_RECEIPT_BYTES
from ccaudit.consent.banner import CATEGORIES, LANGUAGES, TEXTS, render_banner, shown_text
from ccaudit.events import ConsentEvent
from ccaudit.settings import Settings
from tests.conftest import MemorySink, settings_for_tests

SETTINGS = settings_for_tests(consent_revision=3)
HASHES = render_banner(SETTINGS).hashes
APP_CALLS: list[str] = []


class AsgiClient:
    """httpx over the ASGI app in this thread, one event loop per request (no server, no socket)."""

    def __init__(self, app: Any, base_url: str = "http://platform.test") -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("198.51.100.4", 1234))
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


async def anything(request: Request) -> Response:
    APP_CALLS.append(request.url.path)
    return HTMLResponse("<p>app</p>")


def make_asgi(resolver: Any = None) -> tuple[AsgiClient, MemorySink]:
    sink = MemorySink()
    recorder: Any = sink
    app = CaptureMiddleware(
        Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])]),
        SETTINGS,
        recorder=recorder,
        resolver=resolver,
    )
    return AsgiClient(app, base_url="http://platform.test"), sink


def receipt(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "consent_id": str(uuid.uuid4()),
        "accepted": ["analytics", "necessary"],
        "rejected": [],
        "action": "accept_all",
        "revision": 3,
        "banner_text_sha256": HASHES["nl"],
        "language": "nl",
    }
    body.update(overrides)
    return body


def post(client: AsgiClient, body: bytes | str | dict[str, Any], **headers: str) -> Any:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return client.post("/.ccaudit/consent", content=data, headers={"Content-Type": "application/json", **headers})


def test_banner_js_is_served_as_javascript_with_an_etag_and_revalidates() -> None:
    client, sink = make_asgi()
    APP_CALLS.clear()
    first = client.get("/.ccaudit/banner.js")
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    assert first.headers["x-content-type-options"] == "nosniff"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert "CCAUDIT_CONFIG" not in first.text  # the configuration was rendered in
    again = client.get("/.ccaudit/banner.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/.ccaudit/banner.js", headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.post("/.ccaudit/banner.js").status_code == 405
    assert client.get("/.ccaudit/nothing").status_code == 404
    assert APP_CALLS == []  # never the app's business
    assert sink.events == []


def test_banner_loads_nothing_from_elsewhere() -> None:
    script = render_banner(SETTINGS).script.decode()
    assert not re.search(r"https?://", script)  # no CDN, no external fonts or scripts (R8)
    assert "@import" not in script
    assert "url(" not in script


def embedded_config(script: str) -> dict[str, Any]:
    match = re.search(r"var CONFIG = (\{.*?\});\n", script)
    assert match is not None
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def test_the_script_embeds_the_hash_of_exactly_the_text_it_shows() -> None:
    config = embedded_config(render_banner(SETTINGS).script.decode())
    assert config["revision"] == 3
    assert config["prefix"] == "/.ccaudit"
    assert set(config["languages"]) == set(LANGUAGES) == {"nl", "fr", "en"}
    for lang, entry in config["languages"].items():
        # The dialog's texts in the order banner.js lays them out, from the embedded strings themselves.
        t = entry["texts"]
        parts = [t["title"], t["intro"], t["accept_all"], t["reject_all"], t["customise"]]
        for category in entry["categories"]:
            parts += [category["title"], category["description"]] + ([t["always_on"]] if category["required"] else [])
        parts.append(t["save"])
        text = "\n".join(parts)
        assert text == shown_text(lang)
        assert entry["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert config["languages"]["nl"]["texts"]["accept_all"] == "Alles accepteren"
    assert len({e["sha256"] for e in config["languages"].values()}) == 3


def test_every_language_explains_every_category() -> None:
    for category in CATEGORIES:
        assert set(category.title) == set(category.description) == set(TEXTS)
    assert [c.name for c in CATEGORIES if c.required] == ["necessary"]


def test_gpc_json_follows_the_spec() -> None:
    client, _ = make_asgi()
    response = client.get("/.well-known/gpc.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["gpc"] is True
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", body["lastUpdate"])
    assert client.post("/.well-known/gpc.json").status_code == 405


def test_a_valid_receipt_becomes_a_consent_event_with_account_and_signals_but_no_ip_or_agent() -> None:
    client, sink = make_asgi(resolver=lambda scope: Identity(account_id="acct-7"))
    body = receipt()
    response = post(client, body, **{"Sec-GPC": "1", "User-Agent": "Secret/1.0", "X-Forwarded-For": "198.51.100.9"})
    assert response.status_code == 204
    [event] = sink.events
    assert isinstance(event, ConsentEvent)
    assert event.consent_id == body["consent_id"]
    assert event.account_id == "acct-7"
    assert (event.method, event.action, event.policy_revision, event.language) == ("banner", "accept_all", 3, "nl")
    assert event.categories_accepted == ("analytics", "necessary")
    assert event.banner_text_sha256 == HASHES["nl"]
    assert (event.gpc, event.dnt) == (True, False)
    wire = json.dumps(event.to_wire())
    for secret in ("198.51.100.4", "198.51.100.9", "Secret"):
        assert secret not in wire
    assert not {"client_ip", "peer_ip", "user_agent"} & set(event.to_wire())


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"{not json", {}, "not valid JSON"),
        (b"[1, 2]", {}, "JSON object"),
        (json.dumps(receipt(consent_id="x" * 10)), {}, "consent_id"),
        (json.dumps(receipt(consent_id=12)), {}, "consent_id"),
        (json.dumps(receipt(accepted="analytics")), {}, "accepted"),
        (json.dumps(receipt(accepted=[1])), {}, "accepted"),
        (json.dumps(receipt(revision="3")), {}, "revision"),
        (json.dumps(receipt(revision=2)), {}, "revision"),
        (json.dumps(receipt(revision=True)), {}, "revision"),
        (json.dumps(receipt(action="maybe")), {}, "action"),
        (json.dumps(receipt(language="de")), {}, "language"),
        (json.dumps(receipt(banner_text_sha256="0" * 64)), {}, "banner_text_sha256"),
        (json.dumps(receipt(banner_text_sha256=HASHES["fr"])), {}, "banner_text_sha256"),
        (json.dumps(receipt(accepted=["marketing"])), {}, "marketing"),
        (json.dumps(receipt(rejected=["necessary"], accepted=["analytics"])), {}, "necessary"),
        (json.dumps(receipt(accepted=["analytics"], rejected=["analytics"])), {}, "both"),
        (json.dumps(receipt(surprise=1)), {}, "surprise"),
        (json.dumps({k: v for k, v in receipt().items() if k != "action"}), {}, "action"),
        (json.dumps(receipt(padding="x" * MAX_RECEIPT_BYTES)), {}, "larger than"),
        (json.dumps(receipt()), {"Content-Type": "text/plain"}, "application/json"),
    ],
)
def test_bad_receipts_are_refused_with_a_reason_and_emit_nothing(
    body: Any, headers: dict[str, str], reason: str
) -> None:
    client, sink = make_asgi()
    response = post(client, body, **headers)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    assert sink.events == []


def test_cross_site_receipts_are_refused() -> None:
    client, sink = make_asgi()
    assert post(client, receipt(), **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert post(client, receipt(), **{"Sec-Fetch-Site": "same-origin"}).status_code == 204
    assert len(sink.events) == 1


def test_other_paths_still_reach_the_app() -> None:
    client, _ = make_asgi()
    APP_CALLS.clear()
    for path in ("/", "/.ccaudit", "/.ccauditx/banner.js", "/.well-known/other"):
        assert client.get(path).status_code == 200
    assert APP_CALLS == ["/", "/.ccaudit", "/.ccauditx/banner.js", "/.well-known/other"]


def test_the_prefix_is_configurable() -> None:
    sink = MemorySink()
    recorder: Any = sink
    settings = settings_for_tests(consent_path_prefix="/_privacy")
    app = CaptureMiddleware(Starlette(routes=[Route("/{p:path}", anything)]), settings, recorder=recorder)
    client = AsgiClient(app)
    assert client.get("/_privacy/banner.js").status_code == 200
    assert '"prefix":"/_privacy"' in client.get("/_privacy/banner.js").text
    assert client.get("/.ccaudit/banner.js").text == "<p>app</p>"


# --- WSGI ---


def wsgi_call(app: Any, method: str, path: str, body: bytes = b"", **environ: Any) -> tuple[str, dict[str, str], bytes]:
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body)}
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = "application/json"
    env.update(environ)
    setup_testing_defaults(env)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, dict(headers)
        return lambda data: None

    out = b"".join(app(env, start_response))
    return seen["status"], seen["headers"], out


def test_wsgi_serves_the_same_routes() -> None:
    calls: list[str] = []

    def inner(environ: Any, start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"app"]

    sink = MemorySink()
    recorder: Any = sink
    app = WsgiCaptureMiddleware(inner, SETTINGS, recorder=recorder)
    status, headers, body = wsgi_call(app, "GET", "/.ccaudit/banner.js")
    assert status == "200 OK"
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert body == render_banner(SETTINGS).script
    status, _, _ = wsgi_call(app, "GET", "/.ccaudit/banner.js", HTTP_IF_NONE_MATCH=headers["ETag"])
    assert status.startswith("304")
    _, _, gpc = wsgi_call(app, "GET", "/.well-known/gpc.json")
    assert json.loads(gpc)["gpc"] is True
    status, _, _ = wsgi_call(app, "POST", "/.ccaudit/consent", json.dumps(receipt()).encode(), HTTP_DNT="1")
    assert status.startswith("204")
    [event] = sink.events
    assert isinstance(event, ConsentEvent)
    assert event.dnt is True
    status, _, reason = wsgi_call(app, "POST", "/.ccaudit/consent", b"x" * (MAX_RECEIPT_BYTES + 1))
    assert status.startswith("400")
    assert b"larger than" in reason
    status, _, _ = wsgi_call(app, "POST", "/.ccaudit/consent", b"{oops")
    assert status.startswith("400")
    assert len(sink.events) == 1
    assert calls == []
    wsgi_call(app, "GET", "/about")
    assert calls == ["/about"]


def test_the_banner_asks_for_the_categories_the_register_declares() -> None:
    from ccaudit.consent.banner import categories_for
    from ccaudit.register import DEFAULT_REGISTER, Declaration

    statistics = Declaration(purposes=("P5",), legal_basis="consent", consent_category="statistics",
                             retention_days=30, description="counting page views")  # fmt: skip
    audit_only = {"audit": DEFAULT_REGISTER.default["audit"]}
    register = DEFAULT_REGISTER.model_copy(update={"platforms": {"lib": audit_only, "stats": {"usage": statistics}}})
    assert [c.name for c in categories_for(Settings(platform="coop", processing_register=register))] == [
        "necessary",
        "analytics",
    ]
    assert [c.name for c in categories_for(Settings(platform="lib", processing_register=register))] == ["necessary"]
    [_, stats] = categories_for(Settings(platform="stats", processing_register=register))
    assert (stats.name, stats.description["nl"]) == ("statistics", "counting page views")
