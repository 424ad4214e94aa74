"""Audit rules: examples of the default policy, and properties over generated methods and paths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccaudit.capture.rules import AuditRules, Kind, should_record
from ccaudit.settings import Settings

RULES = AuditRules.from_settings(Settings(personal_data_paths=("/admin/users", "/admin/users/{id}", "/api/people/**")))

methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"])
segments = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.%@{}*", min_size=0, max_size=12)
paths = st.lists(segments, min_size=0, max_size=6).map(lambda parts: "/" + "/".join(parts))


@pytest.mark.parametrize(
    ("method", "path", "kind", "admin"),
    [
        ("POST", "/admin/users/7", Kind.STATE_CHANGE, True),
        ("DELETE", "/posts/3", Kind.STATE_CHANGE, False),
        ("POST", "/administrator", Kind.STATE_CHANGE, False),  # a prefix is a path segment, not a string prefix
        ("GET", "/admin/users/7", Kind.PERSONAL_READ, True),
        ("GET", "/admin/users", Kind.PERSONAL_READ, True),
        ("GET", "/admin/users/7/extra", Kind.NONE, True),
        ("GET", "/api/people/1/addresses/2", Kind.PERSONAL_READ, False),
        ("GET", "/about", Kind.NONE, False),
        ("POST", "/login", Kind.LOGIN, False),
        ("GET", "/login", Kind.NONE, False),  # showing the form is not a login
        ("POST", "/logout/", Kind.LOGOUT, False),
        ("POST", "/health", Kind.EXCLUDED, False),
        ("GET", "/static/app.css", Kind.EXCLUDED, False),
        ("PUT", "/assets/x.js", Kind.EXCLUDED, False),
    ],
)
def test_default_policy(method: str, path: str, kind: Kind, admin: bool) -> None:
    assert RULES.classify(method, path) == (kind, admin)


def test_anonymous_state_change_is_recorded_only_in_the_admin_area() -> None:
    assert should_record(Kind.STATE_CHANGE, admin=True, authenticated=False)
    assert not should_record(Kind.STATE_CHANGE, admin=False, authenticated=False)
    assert should_record(Kind.STATE_CHANGE, admin=False, authenticated=True)
    assert should_record(Kind.PERSONAL_READ, admin=False, authenticated=False)
    assert not should_record(Kind.NONE, admin=True, authenticated=True)
    assert not should_record(Kind.EXCLUDED, admin=True, authenticated=True)


@given(methods, paths)
def test_excluded_and_static_paths_are_never_audited(method: str, path: str) -> None:
    for prefix in ("/static", "/assets"):
        assert RULES.classify(method, prefix + path)[0] is Kind.EXCLUDED
    assert RULES.classify(method, "/health")[0] is Kind.EXCLUDED


@given(methods, paths)
def test_reads_are_audited_only_on_personal_data_paths(method: str, path: str) -> None:
    kind, admin = RULES.classify(method, path)
    if method in ("GET", "HEAD", "OPTIONS", "TRACE", "PROPFIND"):
        assert kind in (Kind.NONE, Kind.EXCLUDED, Kind.PERSONAL_READ)
        if kind is Kind.PERSONAL_READ:
            assert method in ("GET", "HEAD")
            assert path.startswith(("/admin/users", "/api/people/"))
    else:
        assert kind in (Kind.STATE_CHANGE, Kind.LOGIN, Kind.LOGOUT, Kind.EXCLUDED)
    assert admin == (path == "/admin" or path.startswith("/admin/")) or kind is Kind.EXCLUDED


@given(paths)
def test_every_state_changing_method_is_a_candidate_outside_exclusions(path: str) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        kind, _ = RULES.classify(method, path)
        assert kind is not Kind.NONE
