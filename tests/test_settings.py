"""Settings: bad values fail at start naming the environment key."""

from __future__ import annotations

import pytest

from ccaudit.errors import ConfigurationError
from ccaudit.settings import load_settings


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CCAUDIT_") and not key.startswith("CCAUDIT_TEST_"):
            monkeypatch.delenv(key)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CCAUDIT_QUEUE_SIZE", "0"),
        ("CCAUDIT_QUEUE_SIZE", "many"),
        ("CCAUDIT_PORT", "70000"),
        ("CCAUDIT_TRUSTED_PROXIES", "10.0.0.0/8,not-a-network"),
        ("CCAUDIT_ADMIN_PREFIXES", "admin"),
        ("CCAUDIT_DATABASE", "x; DROP TABLE y"),
        ("CCAUDIT_PLATFORM", "Coop Platform"),
        ("CCAUDIT_SERVICE_URL", "ftp://x"),
        ("CCAUDIT_RETENTION_DAYS", '{"audit": 0}'),
        ("CCAUDIT_RETENTION_DAYS", '{"audit": 30, "coop:clicks": 5}'),
        ("CCAUDIT_RETENTION_DAYS", "two years"),
        ("CCAUDIT_TRANSPORT", "carrier-pigeon"),
    ],
)
def test_bad_setting_names_its_key(monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value).startswith(key + ":")


def test_unknown_key_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCAUDIT_ADMIN_PREFIX", "/beheer")  # misspelt: PREFIXES
    with pytest.raises(ConfigurationError, match="CCAUDIT_ADMIN_PREFIX: unknown setting"):
        load_settings()


def test_lists_as_json_or_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCAUDIT_ADMIN_PREFIXES", "/admin, /beheer")
    monkeypatch.setenv("CCAUDIT_LOGIN_PATHS", '["/inloggen"]')
    monkeypatch.setenv("CCAUDIT_AUDITED_METHODS", "post,delete")
    settings = load_settings()
    assert settings.admin_prefixes == ("/admin", "/beheer")
    assert settings.login_paths == ("/inloggen",)
    assert settings.audited_methods == ("POST", "DELETE")


def test_retention_more_specific_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCAUDIT_RETENTION_DAYS", '{"audit": 730, "library:audit": 365}')
    settings = load_settings()
    assert settings.retention_for("library", "audit") == 365
    assert settings.retention_for("coop", "audit") == 730


def test_default_dsn_is_embedded_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("CCAUDIT_DATA_DIR", str(tmp_path))
    assert load_settings().store_dsn == f"chdb://{tmp_path}/chdb"
