"""The structure of docker-compose.yml (no compose engine runs here): services, images, ports,
volumes, health checks, start order, the store DSN, and every file it mounts or builds from."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_three_services(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"clickhouse", "ccaudit", "grafana"}


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert svc["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert svc["grafana"]["image"].startswith("grafana/grafana:")
    for name, service in svc.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        assert tag[0].isdigit(), f"{name}: image {image!r} should carry a version tag"


def test_ccaudit_is_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    build = services(compose)["ccaudit"]["build"]
    dockerfile = ROOT / build["context"] / build["dockerfile"]
    assert dockerfile.is_file()
    text = dockerfile.read_text()
    assert "FROM python:3.11-slim" in text
    assert "pip install '.[service]'" in text
    assert 'CMD ["ccaudit", "serve"]' in text
    assert "USER " in text  # not root


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert svc["clickhouse"]["ports"] == ["127.0.0.1:8123:8123"]
    assert svc["grafana"]["ports"] == ["127.0.0.1:3000:3000"]
    # The service binds the loopback itself; it shares the host's network instead of publishing.
    assert svc["ccaudit"]["network_mode"] == "host"
    assert "ports" not in svc["ccaudit"]


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for service in services(compose).values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared
    assert {"clickhouse-data", "grafana-data"} <= declared
    assert "clickhouse-data:/var/lib/clickhouse" in services(compose)["clickhouse"]["volumes"]


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    mounted = [
        volume.split(":")[0]
        for service in services(compose).values()
        for volume in service.get("volumes", [])
        if volume.startswith((".", "/"))
    ]
    assert mounted
    for source in mounted:
        # A folder (the generated dashboards) must hold files; a file must exist.
        assert (ROOT / source).is_file() or any((ROOT / source).glob("*.json")), f"{source} is not in the repository"


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval"), name
        assert check.get("retries"), name


def test_start_order_waits_for_a_healthy_clickhouse(compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name in ("ccaudit", "grafana"):
        assert svc[name]["depends_on"] == {"clickhouse": {"condition": "service_healthy"}}


def test_the_service_reaches_clickhouse_as_its_own_user(compose: dict[str, Any]) -> None:
    env = services(compose)["ccaudit"]["environment"]
    dsn = urlsplit(env["CCAUDIT_DSN"])
    assert dsn.scheme in ("http", "https")
    assert dsn.username == "ccaudit"
    assert (dsn.password or "").startswith("${")  # from the environment, never in the file
    published = services(compose)["clickhouse"]["ports"][0]
    assert f"{dsn.hostname}:{dsn.port}" == published.rsplit(":", 1)[0]
    assert env["CCAUDIT_DATABASE"] == "ccaudit"


def test_clickhouse_users_have_least_privilege() -> None:
    root = ET.parse(ROOT / "deploy/clickhouse/users.d/ccaudit.xml").getroot()  # noqa: S314 (our own file)
    users = root.find("users")
    assert users is not None
    grants = {user.tag: [q.text or "" for q in user.iter("query")] for user in users}
    assert grants == {
        "ccaudit": ["GRANT CREATE, INSERT, SELECT, ALTER DELETE ON ccaudit.*"],
        # The dashboards' rollups and the learning state's counted columns: no raw table.
        "grafana": [
            "GRANT SELECT ON ccaudit.usage_daily, ccaudit.usage_pages_daily, ccaudit.usage_devices_daily, "
            "ccaudit.usage_countries_daily, ccaudit.usage_referrers_daily, ccaudit.usage_minutes, ccaudit.usage_closed, "
            "ccaudit.usage_visits, ccaudit.usage_pages, ccaudit.usage_browsers, ccaudit.usage_systems, "
            "ccaudit.usage_devices, ccaudit.usage_countries, ccaudit.usage_referrers, ccaudit.audit_daily, "
            "ccaudit.consent_daily",
            "GRANT SELECT(platform, learner, module, first_seen, first_registered, first_started, organisation) "
            "ON ccaudit.learning_state",
        ],
    }
    for user in users:
        password = user.find("password")
        assert password is not None, user.tag
        assert password.get("from_env"), user.tag
        assert not (password.text or "").strip(), f"{user.tag}: a password in the file"
        assert user.findtext("access_management") == "0"


def test_grafana_provisions_the_clickhouse_data_source(compose: dict[str, Any]) -> None:
    grafana = services(compose)["grafana"]
    assert grafana["environment"]["GF_INSTALL_PLUGINS"].split()[0] == "grafana-clickhouse-datasource"
    assert grafana["environment"]["GF_ANALYTICS_REPORTING_ENABLED"] == "false"
    [mount] = [v for v in grafana["volumes"] if v.startswith("./dashboards/grafana/provisioning/datasources/")]
    provisioning = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    [source] = provisioning["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert (source["jsonData"]["host"], source["jsonData"]["port"]) == ("clickhouse", 8123)
    assert source["jsonData"]["username"] == "grafana"
    assert source["secureJsonData"]["password"].startswith("$")


def test_grafana_provisions_the_generated_dashboards(compose: dict[str, Any]) -> None:
    grafana = services(compose)["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"] if v.startswith("./"))
    provider_file = mounts["./dashboards/grafana/provisioning/dashboards/ccaudit.yaml"]
    assert provider_file == "/etc/grafana/provisioning/dashboards/ccaudit.yaml"
    [provider] = yaml.safe_load((ROOT / "dashboards/grafana/provisioning/dashboards/ccaudit.yaml").read_text())[
        "providers"
    ]
    assert mounts["./dashboards/grafana/json"] == provider["options"]["path"]
    assert provider["allowUiUpdates"] is False
