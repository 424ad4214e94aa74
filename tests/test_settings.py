"""Settings: bad values fail at start naming the environment key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccaudit.errors import ConfigurationError
from ccaudit.settings import Settings, load_settings


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
        (
            "CCAUDIT_PROCESSING_REGISTER",
            '{"default": {"audit": {"purposes": ["P2"], "legal_basis": "legitimate_interests", "retention_days": 0}}}',
        ),
        ("CCAUDIT_PROCESSING_REGISTER", '{"default": {"clicks": {}}}'),
        (
            "CCAUDIT_PROCESSING_REGISTER",
            '{"default": {"usage": {"purposes": ["P5"], "legal_basis": "contract", "retention_days": 9}}}',
        ),
        ("CCAUDIT_PROCESSING_REGISTER", "two years"),
        ("CCAUDIT_REGISTER_FILE", "/no/such/register.json"),
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


def test_register_file_sets_retention_per_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    audit = {"purposes": ["P2", "P3"], "legal_basis": "legitimate_interests", "retention_days": 730}
    register = {"default": {"audit": audit}, "platforms": {"library": {"audit": {**audit, "retention_days": 365}}}}
    (tmp_path / "register.json").write_text(json.dumps(register))
    monkeypatch.setenv("CCAUDIT_REGISTER_FILE", str(tmp_path / "register.json"))
    settings = load_settings()
    assert settings.retention_for("library", "audit") == 365
    assert settings.retention_for("coop", "audit") == 730
    assert settings.processing_register.declaration("coop", "usage") is None


def test_a_usage_stream_without_consent_is_refused(tmp_path: Path) -> None:
    usage = {"purposes": ["P5"], "legal_basis": "legitimate_interests", "retention_days": 30}
    (tmp_path / "register.json").write_text(json.dumps({"default": {"usage": usage}}))
    with pytest.raises(ConfigurationError, match=r"CCAUDIT_REGISTER_FILE: .*legal_basis 'consent'"):
        load_settings(register_file=tmp_path / "register.json")


def test_default_dsn_is_embedded_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("CCAUDIT_DATA_DIR", str(tmp_path))
    assert load_settings().store_dsn == f"chdb://{tmp_path}/chdb"


def test_the_default_spool_lives_in_the_state_folder_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    here = Settings(platform="coop").spool_file
    monkeypatch.chdir(tmp_path)
    assert Settings(platform="coop").spool_file == here == tmp_path / "state" / "ccaudit" / "spool-coop.sqlite3"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # the XDG rules ignore a relative one
    assert Settings(platform="coop").spool_file == Path.home() / ".local" / "state" / "ccaudit" / "spool-coop.sqlite3"
    assert Settings(platform="coop", spool_path=tmp_path / "s.sqlite3").spool_file == tmp_path / "s.sqlite3"


def test_a_spool_inside_a_source_tree_or_an_unwritable_folder_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ccaudit.shipping.recorder import warn_about_spool_place

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "manage.py").write_text("")
    with caplog.at_level("WARNING", logger="ccaudit.recorder"):
        warn_about_spool_place(tmp_path / "app" / "data" / "spool.sqlite3")
        warn_about_spool_place(tmp_path / "elsewhere" / "spool.sqlite3")
    [inside] = caplog.messages
    assert "inside a source tree" in inside
    assert "manage.py" in inside
    caplog.clear()
    # A folder no process may write, even as root (CI runs as root, for whom most folders are writable).
    with caplog.at_level("WARNING", logger="ccaudit.recorder"):
        warn_about_spool_place(Path("/proc/1/spool.sqlite3"))
    assert any("cannot be written" in m for m in caplog.messages)
