"""The Django middleware in-process, through Django's own WSGI handler, with events collected in memory.

Configures Django once for this test process with the kit's settings module.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from ccaudit import WsgiCaptureMiddleware
from ccaudit.capture.core import CaptureCore
from ccaudit.capture.wsgi import environ_identity
from ccaudit.events import UsageEvent
from ccaudit.integrations.django import AuditMiddleware
from tests.capture.test_wsgi import Call, environ_for
from tests.conftest import MemorySink, settings_for_tests

SINK = MemorySink()


class MemoryAuditMiddleware(AuditMiddleware):
    """The real middleware, with the memory sink in place of the recorder."""

    def __init__(self, get_response: Any) -> None:
        settings = settings_for_tests(platform="library", personal_data_paths=("/admin/members/*",))
        super().__init__(get_response, core=CaptureCore(settings, SINK, environ_identity))


MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    f"{__name__}.MemoryAuditMiddleware",
]


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[WSGIHandler]:
    import django

    # Read once by django.setup(); not left in the environment of processes that later tests start.
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "middleware.django_kit.settings")
    django.setup()
    SINK.events.clear()
    with override_settings(MIDDLEWARE=MIDDLEWARE, CCAUDIT_ORGANISATION="bibliotheek-west"):
        yield WSGIHandler()


def login_cookie(app: Any) -> str:
    environ = environ_for("POST", "/login", CONTENT_TYPE="application/x-www-form-urlencoded")
    body = b"username=alice&password=demo"
    environ.update({"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)})
    cookies: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        cookies.extend(v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie")
        return lambda data: None

    result = app(environ, start_response)
    list(result)
    result.close()
    return "; ".join(cookies)


def test_admin_edit_is_recorded_once_with_the_resolver_route_and_the_django_user(handler: WSGIHandler) -> None:
    cookie = login_cookie(handler)
    SINK.events.clear()
    Call(handler, environ_for("GET", "/admin/members/301", HTTP_COOKIE=cookie, HTTP_X_REQUEST_ID="r-1"))
    [event] = SINK.events
    assert event.route == "/admin/members/{member_id}"
    assert (event.actor_account_id, event.actor_role, event.organisation) == ("alice", "admin", "bibliotheek-west")
    assert (event.status, event.outcome, event.subject_id) == (200, "success", "member:301")


def test_view_exception_is_error_500(handler: WSGIHandler) -> None:
    cookie = login_cookie(handler)
    SINK.events.clear()
    call = Call(handler, environ_for("POST", "/admin/boom", HTTP_COOKIE=cookie))
    assert call.status.startswith("500")
    [event] = SINK.events
    assert (event.outcome, event.status, event.route) == ("error", 500, "/admin/boom")


def test_with_the_wsgi_app_also_wrapped_nothing_is_recorded_twice(handler: WSGIHandler) -> None:
    outer_sink = MemorySink()
    outer: Any = outer_sink
    app = WsgiCaptureMiddleware(handler, settings_for_tests(platform="library"), recorder=outer)
    cookie = login_cookie(app)
    outer_sink.events.clear()
    Call(app, environ_for("POST", "/admin/members/300", HTTP_COOKIE=cookie, CONTENT_LENGTH="0"))
    assert SINK.events == []  # the Django middleware stood back: the outer middleware is the capture point
    [event] = outer_sink.events
    # ... and it handed over what only Django knows: the route template and the actor.
    assert (event.route, event.actor_account_id, event.actor_role) == ("/admin/members/{member_id}", "alice", "admin")


def test_under_an_outer_wsgi_middleware_a_page_view_gets_its_route_template(handler: WSGIHandler) -> None:
    from tests.capture.test_page_views import consent_cookie

    outer_sink = MemorySink()
    outer: Any = outer_sink
    app = WsgiCaptureMiddleware(handler, settings_for_tests(platform="library"), recorder=outer)
    cookie = login_cookie(app) + "; " + consent_cookie()
    Call(app, environ_for("GET", "/admin/members/300", HTTP_COOKIE=cookie))
    [view] = [e for e in outer_sink.events if isinstance(e, UsageEvent)]
    assert view.page == "/admin/members/{member_id}"  # the template, not the raw path with its id


def test_a_fail_closed_refusal_is_recorded_as_an_error_503_not_an_aborted_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import django

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "middleware.django_kit.settings")
    django.setup()
    sink = MemorySink()  # no spool: a fail-closed operation cannot be kept, so it is refused
    settings = settings_for_tests(platform="library", fail_closed_paths=("/admin/books/*",))
    middleware = AuditMiddleware(lambda request: HttpResponse("ran"), core=CaptureCore(settings, sink, None))
    request = RequestFactory().post("/admin/books/3")
    assert middleware(request).status_code == 503
    [event] = sink.events
    assert (event.status, event.outcome) == (503, "error")
