"""The middleware's own routes in each kit over real HTTP (uvicorn, and gunicorn for Flask and Django):
the banner is served, gpc.json answers, and a receipt posted to the platform lands at the service."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ccaudit.consent.banner import text_sha256
from tests.conftest import Proc, Service, wait_until

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("kit_name", "platform"), [("kit", "coop"), ("flask_kit", "learning"), ("django_kit", "library")]
)
def test_each_kit_serves_the_banner_and_ships_receipts(
    kit_name: str, platform: str, service: Service, request: pytest.FixtureRequest
) -> None:
    kit: Proc = request.getfixturevalue(kit_name)
    with httpx.Client(base_url=kit.url, timeout=10) as client:
        page = client.get("/")
        assert '<script src="/.ccaudit/banner.js" defer></script>' in page.text
        script = client.get("/.ccaudit/banner.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert client.get("/.ccaudit/banner.js", headers={"If-None-Match": script.headers["etag"]}).status_code == 304
        assert client.get("/.well-known/gpc.json").json()["gpc"] is True
        consent_id = str(uuid.uuid4())
        receipt = {
            "consent_id": consent_id, "accepted": ["necessary"], "rejected": ["analytics"], "action": "reject_all",
            "revision": 1, "banner_text_sha256": text_sha256("en"), "language": "en",
        }  # fmt: skip
        assert client.post("/.ccaudit/consent", json=receipt, headers={"Sec-GPC": "1"}).status_code == 204
        refused = client.post("/.ccaudit/consent", content=b"{", headers={"Content-Type": "application/json"})
        assert refused.status_code == 400
    [stored] = wait_until(lambda: service.consent_history(consent_id))
    assert (stored["platform"], stored["action"], stored["gpc"], stored["language"]) == (
        platform,
        "reject_all",
        True,
        "en",
    )
